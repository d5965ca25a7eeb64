// A transcoded camera in the agent: the encoder is detected (software x264 here), the output carries the
// overlays and silent audio, and when the camera is lost the slate goes on air and comes off again —
// published as events — while segments keep coming without a gap.
import test from 'ava';
import Database from 'better-sqlite3';
import { startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { watchMqtt } from '../helpers/mqtt-watch.ts';
import { probeMedia } from '../helpers/media.ts';

test('a transcoded camera keeps recording through its loss: slate-on, slate-off, no recording gap', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, pattern: 'smpte' });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, 'venuebox/v1/box-tc/#');
  t.teardown(() => watch.stop());
  const agent = await startAgent({
    config: {
      boxId: 'box-tc',
      log: { level: 'debug' },
      mqtt: { url: broker.url },
      discovery: { enabled: false },
      cameras: [{ id: 'main', rtsp: camera.url, transcode: { width: 640, height: 360, fps: 25, bitrateKbps: 800, overlays: [{ kind: 'clock' }, { kind: 'text', text: 'Arena North' }] } }],
    },
  });
  t.teardown(() => agent.cleanup());
  const selected = await agent.waitForLog((l) => l.msg === 'encoder profile' && l['status'] === 'selected', 30_000, 'the encoder profile selected');
  t.is(selected['profile'], 'software-x264');
  let closed = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && ++closed >= 2, 40_000, 'transcoded segments');
  await camera.stop();
  const on = await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'slate-on', 30_000, 'slate-on');
  closed = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && (l.time as string) > new Date(on.at).toISOString() && ++closed >= 2, 30_000, 'segments while the camera is away');
  await camera.start();
  await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'slate-off', 40_000, 'slate-off');
  const exit = await agent.stop();
  t.is(exit.code, 143);
  t.false(agent.logs().some((l) => l.msg === 'pipeline ended; restarting after backoff'), 'the output pipeline was never restarted');
  const db = new Database(agent.databaseFile, { readonly: true });
  const rows = db.prepare('SELECT path, gap_before_ms FROM segments ORDER BY seq').all() as Array<{ path: string; gap_before_ms: number }>;
  db.close();
  t.true(rows.length >= 5, `${rows.length} segments`);
  t.deepEqual(rows.filter((r) => r.gap_before_ms > 0), [], 'no gap: the slate filled the camera loss');
  const media = await probeMedia(rows[1]!.path);
  t.deepEqual([media.codec, media.width, media.height], ['h264', 640, 360]);
});
