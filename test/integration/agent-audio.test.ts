// A camera with a microphone: its AAC track is recorded next to the video, without decoding.
import test from 'ava';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';

const run = promisify(execFile);

test('passthrough segments of a camera with audio hold its H.264 video and its AAC audio', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25, audio: true });
  t.teardown(() => camera.stop());
  const agent = await startAgent({
    config: { boxId: 'box-audio', log: { level: 'debug' }, mqtt: { url: broker.url }, discovery: { enabled: false }, cameras: [{ id: 'mic', rtsp: camera.url }] },
  });
  t.teardown(() => agent.cleanup());
  let closed = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && ++closed >= 3, 40_000, 'segments with audio');
  await agent.stop();
  const db = new Database(agent.databaseFile, { readonly: true });
  const rows = db.prepare('SELECT path FROM segments ORDER BY seq').all() as Array<{ path: string }>;
  db.close();
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name:format=duration', '-of', 'json', rows[1]!.path]);
  const probe = JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string }>; format: { duration: string } };
  const streams = [...new Set(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`))].sort();
  t.deepEqual(streams, ['audio:aac', 'video:h264']);
  t.true(Number(probe.format.duration) > 1.5);
});
