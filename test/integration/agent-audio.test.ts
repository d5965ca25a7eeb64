// Cameras with a microphone, recorded passthrough by the real agent: AAC next to the video as it comes,
// G.711 (A-law and u-law, what most IP cameras send) encoded to AAC because MPEG-TS cannot carry it, and a
// codec venuebox does not record (G.726) left out, said once in the log. One agent records all four.
import test from 'ava';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, startMosquitto, startVirtualCamera, type VirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { probeMedia } from '../helpers/media.ts';

const run = promisify(execFile);

interface ProbedStream {
  codec_type: string;
  codec_name: string;
  sample_rate?: string;
  channels?: number;
  start_time?: string;
}

/** The distinct streams of a segment (MPEG-TS lists each once per program and once alone). */
async function streamsOf(path: string): Promise<ProbedStream[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=index,codec_type,codec_name,sample_rate,channels,start_time', '-of', 'json', path]);
  const streams = (JSON.parse(stdout) as { streams: Array<ProbedStream & { index: number }> }).streams;
  return [...new Map(streams.map((s) => [s.index, s])).values()];
}

/** Mean volume of a file's audio in dBFS, by decoding it: a tone is near 0, silence is -91. */
async function meanVolumeDb(path: string): Promise<number> {
  const { stderr } = await run('ffmpeg', ['-hide_banner', '-nostats', '-i', path, '-map', '0:a', '-af', 'volumedetect', '-f', 'null', '-']);
  const match = /mean_volume: (-?[\d.]+) dB/.exec(stderr);
  if (!match) throw new Error(`ffmpeg measured no volume in ${path}:\n${stderr}`);
  return Number(match[1]);
}

test('passthrough segments carry the camera audio as AAC: AAC as is, PCMA and PCMU encoded; G.726 is recorded without audio and said once', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const codecs = ['aac', 'pcma', 'pcmu', 'g726'] as const;
  const cameras = new Map<string, VirtualCamera>();
  for (const audio of codecs) {
    const camera = await startVirtualCamera({ width: 320, height: 240, fps: 15, audio });
    t.teardown(() => camera.stop());
    cameras.set(audio, camera);
  }
  const agent = await startAgent({
    config: {
      boxId: 'box-audio',
      log: { level: 'debug' },
      mqtt: { url: broker.url },
      discovery: { enabled: false },
      cameras: codecs.map((audio) => ({ id: audio, rtsp: cameras.get(audio)!.url })),
    },
  });
  t.teardown(() => agent.cleanup());
  const closed = new Map<string, number>();
  await agent.waitForLog(
    (l) => {
      if (l.msg === 'segment closed') closed.set(String(l['stream']), (closed.get(String(l['stream'])) ?? 0) + 1);
      return codecs.every((c) => (closed.get(c) ?? 0) >= 3);
    },
    60_000,
    'three segments of every camera',
  );
  await agent.stop();

  const unsupported = agent.logs().filter((l) => l['camera'] === 'g726' && /cannot be recorded/.test(l.msg ?? ''));
  t.is(unsupported.length, 1, 'the unrecordable codec is logged once');
  t.regex(unsupported[0]?.msg ?? '', /G726-32/, 'with its name');

  const db = new Database(agent.databaseFile, { readonly: true });
  const second = db.prepare('SELECT path FROM segments WHERE stream_id = ? ORDER BY seq LIMIT 1 OFFSET 1');
  const paths = new Map(codecs.map((c) => [c, (second.get(c) as { path: string } | undefined)?.path]));
  db.close();
  for (const audio of codecs) {
    const path = paths.get(audio);
    if (!path) {
      t.fail(`${audio}: no second segment in the ledger`);
      continue;
    }
    const streams = await streamsOf(path);
    const media = await probeMedia(path);
    t.true(media.durationSeconds > 1.5 && media.frames > 15, `${audio}: a playable segment (${media.frames} frames in ${media.durationSeconds} s)`);
    if (audio === 'g726') {
      t.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`), ['video:h264'], 'G.726: video only');
      continue;
    }
    t.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264'], `${audio}: H.264 and AAC`);
    const sound = streams.find((s) => s.codec_type === 'audio')!;
    // The camera's AAC is 48 kHz stereo and kept as is; G.711 (8 kHz mono) is resampled to 48 kHz mono.
    t.deepEqual([sound.sample_rate, sound.channels], audio === 'aac' ? ['48000', 2] : ['48000', 1], `${audio}: rate and channels`);
    const volume = await meanVolumeDb(path);
    t.true(volume > -20, `${audio}: the camera's 440 Hz tone is heard (mean ${volume} dB), not silence`);
    const video = streams.find((s) => s.codec_type === 'video')!;
    const skew = Math.abs(Number(sound.start_time) - Number(video.start_time));
    t.true(skew < 0.5, `${audio}: audio and video start together (${skew.toFixed(3)} s apart)`);
  }
});

test('a camera down when the agent starts: its sound is learned from its first answer and recorded from then on', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const port = await freePort();
  const agent = await startAgent({
    config: {
      boxId: 'box-audio-late',
      log: { level: 'debug' },
      mqtt: { url: broker.url },
      discovery: { enabled: false },
      cameraHealth: { probeIntervalSeconds: 2 },
      cameras: [{ id: 'late', rtsp: `rtsp://127.0.0.1:${port}/stream` }],
    },
  });
  t.teardown(() => agent.cleanup());
  // Its first pipeline is built without sound (nothing answered the DESCRIBE), and fails: the camera is not there.
  await agent.waitForLog((l) => l.msg === 'starting pipeline', 30_000, 'the first pipeline, without the camera');
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 15, audio: 'pcma', port });
  t.teardown(() => camera.stop());
  const learned = await agent.waitForLog((l) => l.msg === 'camera audio learned from its first answer', 30_000, 'the audio learned');
  t.is(learned['audio'], 'pcma');
  let after = 0;
  const learnedAt = agent.logs().indexOf(learned);
  await agent.waitForLog(() => (after = agent.logs().slice(learnedAt).filter((l) => l.msg === 'segment closed').length) >= 3, 60_000, 'three segments after the audio was learned');
  await agent.stop();
  const db = new Database(agent.databaseFile, { readonly: true });
  const last = (db.prepare("SELECT path FROM segments WHERE stream_id = 'late' ORDER BY seq DESC LIMIT 1").get() as { path: string }).path;
  db.close();
  const streams = await streamsOf(last);
  t.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264'], `the camera's G.711 recorded as AAC (${after} segments after)`);
  t.true((await meanVolumeDb(last)) > -20, 'the camera\'s tone, not silence');
});
