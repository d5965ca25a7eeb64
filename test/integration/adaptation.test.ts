// Uplink adaptation in the real agent: a transcoded camera uploads through a link shaped below its bitrate;
// the agent lowers the encoder's bitrate (the recorded segments shrink), and raises it when the limit is lifted.
// Shaping is a TCP forwarder here (no root); test/system/uplink.test.ts shapes a real link with tc tbf.
import test from 'ava';
import Database from 'better-sqlite3';
import { startIngest, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { startTcpLink } from '../helpers/tcp-link.ts';

function kbpsOfSegmentsAfter(databaseFile: string, afterIso: string): number[] {
  const db = new Database(databaseFile, { readonly: true });
  try {
    const rows = db.prepare('SELECT bytes, duration_ms FROM segments WHERE start_time > ? AND duration_ms > 1000 ORDER BY seq').all(afterIso) as Array<{ bytes: number; duration_ms: number }>;
    return rows.map((r) => Math.round((r.bytes * 8) / r.duration_ms));
  } finally {
    db.close();
  }
}

test('a link below the stream bitrate lowers the transcode bitrate (said as a log and event); lifting it raises it again', async (t) => {
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const link = await startTcpLink({ host: '127.0.0.1', port: Number(new URL(ingest.baseUrl).port) });
  t.teardown(() => link.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25, pattern: 'snow' });
  t.teardown(() => camera.stop());
  const agent = await startAgent({
    config: {
      boxId: 'adapt-1',
      log: { level: 'debug' },
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      cameras: [{ id: 'main', rtsp: camera.url, transcode: { width: 320, height: 240, fps: 25, bitrateKbps: 1600, overlays: [] } }],
      recording: { segmentSeconds: 2, eventId: 'match-1' },
      uplink: { url: link.url(), concurrency: 1 },
    },
  });
  t.teardown(() => agent.cleanup());
  let uploaded = 0;
  await agent.waitForLog((l) => l.msg === 'segment uploaded' && ++uploaded >= 2, 60_000, 'uploads at full rate');
  const before = kbpsOfSegmentsAfter(agent.databaseFile, '1970');
  t.log(`segments before shaping: ${before.join(', ')} kbit/s`);

  link.limit((500 * 1000) / 8); // 500 kbit/s, well below the configured 1600
  const lowered = await agent.waitForLog((l) => l.msg === 'uplink adaptation: bitrate lowered', 60_000, 'bitrate lowered');
  t.true(Number(lowered['toKbps']) < 1600, `lowered to ${lowered['toKbps']} kbit/s`);
  t.truthy(lowered['reason']);
  // The encoder obeys: segments recorded after the change are smaller.
  const changedAt = String(lowered['time']);
  let closedAfter = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && String(l['time']) > changedAt && ++closedAfter >= 3, 30_000, 'segments after the change');
  const after = kbpsOfSegmentsAfter(agent.databaseFile, changedAt).slice(1);
  t.log(`segments after lowering to ${lowered['toKbps']}: ${after.join(', ')} kbit/s`);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  t.true(after.length > 0 && avg(after) < avg(before) * 0.8, `recorded bitrate fell: ${avg(before)} → ${avg(after)} kbit/s`);

  link.limit(undefined);
  const raised = await agent.waitForLog((l) => l.msg === 'uplink adaptation: bitrate raised', 90_000, 'bitrate raised');
  t.true(Number(raised['toKbps']) > Number(raised['fromKbps']));
  t.true(Number(raised['toKbps']) <= 1600, 'never above the configured rate');
});
