// Transcoding with a slate, against the virtual camera and real GStreamer (software x264: no hardware here).
// The output pipeline must survive the camera: black "signal lost" frames while it is away, the camera again
// after, segments continuous throughout, the host process never replaced.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { probeMedia } from '../helpers/media.ts';
import { loadHardwareProfiles, type HardwareProfile } from '../../agent/encoder/hardware-profiles.ts';
import { buildTranscode, type TranscodeSpec } from '../../agent/encoder/transcode-builder.ts';
import { PipelineHost } from '../../agent/encoder/pipeline-host.ts';
import type { HostEvent } from '../../agent/encoder/pipeline-host-protocol.ts';

const run = promisify(execFile);

async function softwareProfile(): Promise<HardwareProfile> {
  const profile = (await loadHardwareProfiles()).find((p) => p.id === 'software-x264');
  if (!profile) throw new Error('hardware-profiles/software-x264.json is missing');
  return profile;
}

/** Mean luma (0–255) of each frame sampled at 2 fps: the test pattern's bars are bright, the slate is black. */
async function lumaPerHalfSecond(path: string): Promise<number[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', path, '-vf', 'fps=2,scale=32:18,format=gray', '-f', 'rawvideo', '-'], { encoding: 'buffer', maxBuffer: 1 << 24 });
  const frame = 32 * 18;
  const result: number[] = [];
  for (let i = 0; i + frame <= stdout.length; i += frame) result.push(stdout.subarray(i, i + frame).reduce((a, b) => a + b, 0) / frame);
  return result;
}

function spec(profile: HardwareProfile, uri: string, directory: string): TranscodeSpec {
  return {
    streamId: 'cam1',
    source: { uri, transport: 'tcp', latencyMs: 200 },
    sourceCodec: 'h264',
    profile,
    video: { codec: 'h264', width: 1280, height: 720, fps: 30, bitrateKbps: 2500, rateControl: 'cbr', latency: 'low' },
    overlays: [{ kind: 'clock' }, { kind: 'text', text: 'Arena "North"', position: 'bottom-left' }],
    segment: { seconds: 2, directory, startIndex: 0 },
    audio: 'silent',
  };
}

test('the software profile transcode strings parse in GStreamer (output and source)', async (t) => {
  const built = buildTranscode(spec(await softwareProfile(), 'rtsp://10.0.0.5/s', '/tmp/x'));
  const parse = '\nimport gi, sys\ngi.require_version("Gst", "1.0")\nfrom gi.repository import Gst\nGst.init(None)\nGst.parse_launch(sys.argv[1])\n';
  for (const launch of [built.output, built.source]) {
    const result = await run('/usr/bin/python3', ['-c', parse, launch]).then(() => 'ok', (err: { stderr: string }) => err.stderr);
    t.is(result, 'ok', launch);
  }
  t.deepEqual(built.bitrate, { element: 'enc', property: 'bitrate', unit: 'kbit/s' });
  t.regex(built.output, /x264enc name=enc bitrate=2500 key-int-max=60 /, 'GOP = 2 s segment × 30 fps');
});

test('720p30 software transcode: a camera lost mid-stream, the output keeps going with the slate, then shows the camera again; segments stay continuous', async (t) => {
  const camera = await startVirtualCamera({ width: 1280, height: 720, fps: 30, pattern: 'smpte', bitrateKbps: 2000 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('transcode');
  t.teardown(() => dir.remove());
  const built = buildTranscode(spec(await softwareProfile(), camera.url, dir.path));
  const host = new PipelineHost('cam1');
  t.teardown(() => host.kill());
  const events: HostEvent[] = [];
  const waitFor = (match: (e: HostEvent) => boolean, what: string, timeoutMs = 30_000): Promise<HostEvent> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${events.map((e) => e.type).join(',')}`)), timeoutMs);
      const onEvent = (e: HostEvent): void => {
        if (!match(e)) return;
        clearTimeout(timer);
        host.off('event', onEvent);
        resolve(e);
      };
      host.on('event', onEvent);
    });
  host.on('event', (e) => events.push(e));
  const segmentsSoFar = () => events.filter((e) => e.type === 'segment-closed').length;
  const segments = (n: number) => {
    const target = segmentsSoFar() + n;
    return waitFor(() => segmentsSoFar() >= target, `${n} more segments`);
  };
  host.start({ launch: built.output, properties: {}, source: { launch: built.source, properties: built.sourceProperties, slateElement: built.slateElement, retry: { initialMs: 500, maxMs: 2000 } } });
  await segments(2);
  await camera.stop();
  const lost = await waitFor((e) => e.type === 'source-lost', 'source-lost');
  await segments(3);
  await camera.start();
  const restored = await waitFor((e) => e.type === 'source-restored', 'source-restored', 40_000);
  await segments(3);
  const exit = await host.stop(5000);
  t.is(exit.code, 0, 'the host ran from start to stop: never replaced');
  t.truthy(lost && restored);

  const closed = events.filter((e): e is Extract<HostEvent, { type: 'segment-closed' }> => e.type === 'segment-closed');
  let total = 0;
  const luma: number[][] = [];
  for (const segment of closed) {
    const media = await probeMedia(segment.path);
    t.deepEqual([media.codec, media.width, media.height], ['h264', 1280, 720]);
    if (segment !== closed.at(-1)) t.true(Math.abs(media.frames / media.durationSeconds - 30) < 3, `${media.frames} frames in ${media.durationSeconds} s`);
    total += media.durationSeconds;
    luma.push(await lumaPerHalfSecond(segment.path));
  }
  // Continuous: the segments add up to the time between the first fragment and the stop (no hole while the camera was away).
  const span = (Date.parse(closed.at(-1)!.startTime) + closed.at(-1)!.durationMs - Date.parse(closed[0]!.startTime)) / 1000;
  t.true(Math.abs(total - span) < 1, `segments ${total.toFixed(1)} s vs span ${span.toFixed(1)} s`);
  const flat = luma.flat();
  t.true(flat.some((l) => l < 40), `the slate (black) was on air: ${flat.map((l) => Math.round(l)).join(' ')}`);
  // (The first segment may open black: the output starts before the camera's first frame arrives.)
  t.true(luma[1]!.every((l) => l > 80), `the camera before the loss: ${luma[1]!.map(Math.round).join(' ')}`);
  t.true(luma.at(-1)!.every((l) => l > 80), 'the camera after its return');
  // Audio is there throughout (silent AAC), as live ingests require.
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', closed[2]!.path]);
  // (MPEG-TS lists its streams once per program and once alone: the same stream twice.)
  t.deepEqual([...new Set(stdout.split('\n').map((l) => l.trim()).filter(Boolean))], ['aac']);
});
