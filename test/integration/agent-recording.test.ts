// The thin end-to-end slice against real services: a virtual camera (gst-rtsp-server), mosquitto, and the
// agent process recording passthrough into 2-second MPEG-TS segments through its pipeline host child.
import test from 'ava';
import { GAP_TOLERANCE_MS } from '../../agent/uplink/spool.ts';
import Database from 'better-sqlite3';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent, type AgentProcess } from '../helpers/agent.ts';
import { watchMqtt } from '../helpers/mqtt-watch.ts';
import { probeMedia } from '../helpers/media.ts';

interface SegmentRow {
  seq: number;
  start_time: string;
  path: string;
  duration_ms: number;
  bytes: number;
}

interface HealthLike {
  cameras: Record<string, { pipeline?: string; fps?: number; keyframeMs?: number; kbps?: number }>;
}

function ledger(agent: AgentProcess): SegmentRow[] {
  const db = new Database(agent.databaseFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT seq, path, start_time, duration_ms, bytes, gap_before_ms FROM segments ORDER BY seq').all() as SegmentRow[];
  } finally {
    db.close();
  }
}

function segmentLogged(count: number) {
  let seen = 0;
  return (line: { msg?: string }) => line.msg === 'segment closed' && ++seen >= count;
}

async function world(t: import('ava').ExecutionContext, boxId: string, level = 'debug') {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25 });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, `venuebox/v1/${boxId}/#`);
  t.teardown(() => watch.stop());
  const agent = await startAgent({
    config: {
      boxId,
      log: { level },
      mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
      cameras: [{ id: 'cam1', rtsp: camera.url }],
      recording: { segmentSeconds: 2 },
    },
  });
  t.teardown(() => agent.cleanup());
  return { broker, camera, watch, agent };
}

test('records the camera into consecutive ~2 s H.264 segments, reports status and health, and stops cleanly on SIGTERM', async (t) => {
  const { watch, agent } = await world(t, 'box-record');

  const online = await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'online', 20_000, 'status online');
  t.is((online.json() as { bootCount: number }).bootCount, 1, 'first boot of this box');
  const health = await watch.waitFor((m) => m.topic.endsWith('/health'), 20_000, 'a health message');
  const report = health.json() as { cpu: { cores: number }; memory: { totalBytes: number }; disk: { freeBytes: number } };
  t.true(report.cpu.cores > 0 && report.memory.totalBytes > 0 && report.disk.freeBytes > 0, JSON.stringify(report));

  await agent.waitForLog(segmentLogged(6), 40_000, '6 closed segments');
  // Health carries what the stream meter measured on the camera: 25 fps, a keyframe every second.
  const measured = await watch.waitFor((m) => m.topic.endsWith('/health') && ((m.json() as HealthLike).cameras['cam1']?.fps ?? 0) > 0, 15_000, 'a health message with measured fps');
  const camera = (measured.json() as HealthLike).cameras['cam1']!;
  t.is(camera.pipeline, 'running');
  t.true(Math.abs(camera.fps! - 25) < 6, `fps ${camera.fps}`);
  t.true(Math.abs(camera.keyframeMs! - 1000) < 400, `keyframe interval ${camera.keyframeMs}`);
  t.true(camera.kbps! > 0);
  const stopStarted = performance.now();
  const exit = await agent.stop();
  const stopMs = performance.now() - stopStarted;
  t.is(exit.code, 143, 'exit code after SIGTERM');
  t.true(stopMs < 10_000, `stopped within systemd's budget of 10 s (took ${Math.round(stopMs)} ms)`);
  t.truthy(agent.logs().find((l) => l.msg === 'stopped'), 'the agent logged its clean stop');

  const rows = ledger(agent);
  t.true(rows.length >= 6, `ledger rows: ${rows.length}`);
  rows.forEach((row, i) => t.is(row.seq, rows[0]!.seq + i, 'sequence numbers are consecutive'));
  // Every segment in the ledger — including the last one, closed by EOS on SIGTERM — is playable.
  for (const row of rows) {
    const media = await probeMedia(row.path);
    t.is(media.codec, 'h264');
    t.is(media.width, 640);
    t.is(media.height, 360);
    t.true(media.frames > 0, `${row.path} decodes`);
  }
  // Full segments (all but the last, cut short by the stop) are ~2 s: a 1 s GOP allows cuts at 2 s exactly.
  for (const row of rows.slice(0, -1)) {
    const media = await probeMedia(row.path);
    t.true(media.durationSeconds > 1.5 && media.durationSeconds < 2.6, `${path.basename(row.path)}: ${media.durationSeconds} s`);
    t.true(Math.abs(row.duration_ms - 2000) < 500, `ledger duration ${row.duration_ms} ms`);
  }
  // Consecutive in time as well as in number: each segment starts where the previous one ended.
  for (const [i, row] of rows.slice(1).entries()) {
    const previous = rows[i]!;
    const gapMs = Date.parse(row.start_time) - (Date.parse(previous.start_time) + previous.duration_ms);
    t.true(Math.abs(gapMs) < 400, `gap before ${row.seq}: ${gapMs} ms`);
  }
  const files = (await readdir(path.join(agent.spoolDir, 'cam1'))).sort();
  t.deepEqual(files, rows.map((r) => path.basename(r.path)), 'every file on disk is in the ledger');

  const offline = await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'offline', 5_000, 'status offline');
  t.is((offline.json() as { reason: string }).reason, 'shutdown');
});

test('kill -9 of the agent makes the broker publish its last will (offline, connection-lost)', async (t) => {
  const { broker, watch, agent } = await world(t, 'box-will');
  await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'online', 20_000, 'status online');
  agent.child.kill('SIGKILL');
  const will = await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'offline', 10_000, 'the last will');
  t.is((will.json() as { reason: string }).reason, 'connection-lost');
  // The will is retained: a dashboard that subscribes only now still sees the box offline.
  const late = await watchMqtt(broker.url, 'venuebox/v1/box-will/status');
  t.teardown(() => late.stop());
  const retained = await late.waitFor(() => true, 5_000, 'the retained status');
  t.true(retained.retain);
  t.is((retained.json() as { state: string }).state, 'offline');
});

test('killing the pipeline host makes the agent start a new one, and recording continues without overwriting', async (t) => {
  const { agent } = await world(t, 'box-restart');
  await agent.waitForLog(segmentLogged(2), 40_000, '2 closed segments');
  const hostPid = Number(execFileSync('pgrep', ['-P', String(agent.child.pid), '-f', 'pipeline-host-child']).toString().trim().split('\n')[0]);
  t.true(hostPid > 0, 'found the pipeline host child');
  const before = ledger(agent).length;
  process.kill(hostPid, 'SIGKILL');
  await agent.waitForLog((l) => l.msg === 'pipeline ended; restarting after backoff', 10_000, 'the supervisor noticing');
  await agent.waitForLog(segmentLogged(before + 3), 40_000, 'segments after the restart');
  const newPid = Number(execFileSync('pgrep', ['-P', String(agent.child.pid), '-f', 'pipeline-host-child']).toString().trim().split('\n')[0]);
  t.not(newPid, hostPid, 'a new host process');
  await agent.stop();
  const rows = ledger(agent);
  const seqs = rows.map((r) => r.seq);
  t.is(new Set(seqs).size, seqs.length, 'no sequence number reused');
  for (const row of rows.slice(-2)) t.is((await probeMedia(row.path)).codec, 'h264');
});

test('a camera outage ends the run; the agent retries, records again when the camera returns, and marks the gap', async (t) => {
  const { camera, agent, watch } = await world(t, 'box-outage');
  await agent.waitForLog(segmentLogged(2), 40_000, '2 closed segments');
  await camera.stop();
  const lostAt = Date.now();
  await agent.waitForLog((l) => l.msg === 'pipeline ended; restarting after backoff', 40_000, 'the supervisor noticing the camera loss');
  const seen = agent.logs().filter((l) => l.msg === 'segment closed').length;
  await camera.start();
  await agent.waitForLog(segmentLogged(seen + 2), 60_000, 'segments after the camera returned');
  const gapEvent = await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'recording-gap', 10_000, 'the recording-gap event');
  await agent.stop();
  const rows = ledger(agent) as Array<SegmentRow & { gap_before_ms: number }>;
  t.true(rows.length >= seen + 2);
  const gaps = rows.filter((r) => r.gap_before_ms > 0);
  t.is(gaps.length, 1, `one gap: ${JSON.stringify(rows.map((r) => [r.seq, r.gap_before_ms]))}`);
  const gap = gaps[0]!;
  // A gap is footage missing beyond the jitter tolerance; how much depends on how fast the camera came back
  // (here: as soon as the supervisor noticed, so under a second at times — measured 962 ms once).
  t.true(gap.gap_before_ms > GAP_TOLERANCE_MS, `gap of ${gap.gap_before_ms} ms`);
  t.true(Date.parse(gap.start_time) > lostAt, 'the gap ends after the camera was lost');
  t.is((gapEvent.json() as { seq: number }).seq, gap.seq);
  // Segments on either side of the gap are playable.
  for (const row of rows.filter((r) => Math.abs(r.seq - gap.seq) <= 1)) t.is((await probeMedia(row.path)).codec, 'h264');
});

test('the log level changes at run time: SIGUSR2 turns debug lines on and back off without a restart', async (t) => {
  const { agent } = await world(t, 'box-level', 'info');
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent running');
  t.false(agent.logs().some((l) => l.level === 'debug'), 'no debug lines at level info');
  agent.child.kill('SIGUSR2');
  await agent.waitForLog((l) => l.msg === 'segment closed' && l.level === 'debug', 30_000, 'a debug line after SIGUSR2');
  agent.child.kill('SIGUSR2');
  let toggles = 0;
  const back = await agent.waitForLog((l) => l.msg === 'log level changed (SIGUSR2)' && ++toggles === 2, 10_000, 'the second toggle');
  t.is(back['logLevel'], 'info');
  const exit = await agent.stop();
  t.is(exit.code, 143, 'the agent kept running through both toggles');
});
