// Scheduled events in the real agent (issue 7, "Checked by", at the agent level): a virtual camera, mosquitto,
// an nginx WebDAV ingest and the agent with `recording.mode: 'events'`. The schedule comes from a file or from
// the retained MQTT topic written by a controller; the test computes the event's times from the wall clock and
// checks what the box said (schedule-phase, readiness, schedule-refused over MQTT), what it recorded (its
// ledger, read-only) and what reached the cloud (the ingest's folder, ffprobe on the event playlist).
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, makeTempDir, startIngest, startMosquitto, startVirtualCamera, type Ingest } from '../helpers/index.ts';
import { startAgent, type AgentProcess } from '../helpers/agent.ts';
import { watchMqtt, type MqttWatch, type SeenMessage } from '../helpers/mqtt-watch.ts';
import { startController } from '../helpers/controller.ts';
import { probeMedia } from '../helpers/media.ts';

const CAMERA = 'cam1';
const SEGMENT_SECONDS = 2;
/** Allowed distance of a phase change from its schedule boundary (the brief: ±2 s). */
const PHASE_TOLERANCE_MS = 2000;

interface LedgerRow {
  seq: number;
  start_time: string;
  duration_ms: number;
  bytes: number;
  state: string;
  gap_before_ms: number;
  event_id: string | null;
  sha256: string | null;
}

interface PhaseEvent {
  eventId: string;
  from: string;
  to: string;
  at: string;
  plannedAt: string | null;
  reason: string;
  resumed: boolean;
}

interface Readiness {
  eventId: string | null;
  verdict: 'green' | 'amber' | 'red';
  reasons: string[];
  checks: Array<{ check: string; grade: string; reason: string }>;
  at: string;
  minutesBefore?: number;
}

function ledger(agent: AgentProcess): LedgerRow[] {
  const db = new Database(agent.databaseFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT seq, start_time, duration_ms, bytes, state, gap_before_ms, event_id, sha256 FROM segments WHERE stream_id = ? ORDER BY seq').all(CAMERA) as LedgerRow[];
  } finally {
    db.close();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** Whole seconds: a schedule time is ISO 8601 with seconds. */
const wholeSecond = (ms: number): number => Math.ceil(ms / 1000) * 1000;
const isEvent = (type: string) => (m: SeenMessage): boolean => m.topic.endsWith('/events') && (m.json() as { type?: string }).type === type;

function phases(watch: MqttWatch, eventId: string): Array<PhaseEvent & { receivedAt: number }> {
  return watch.messages.filter(isEvent('schedule-phase')).map((m) => ({ ...(m.json() as PhaseEvent), receivedAt: m.at })).filter((p) => p.eventId === eventId);
}

function waitForPhase(watch: MqttWatch, eventId: string, to: string, timeoutMs: number): Promise<SeenMessage> {
  return watch.waitFor((m) => isEvent('schedule-phase')(m) && (m.json() as PhaseEvent).eventId === eventId && (m.json() as PhaseEvent).to === to, timeoutMs, `schedule-phase ${eventId} → ${to}`);
}

/** Polls the ingest for the event playlist until it carries EXT-X-ENDLIST (the uploader's last word on the event). */
async function completeEventPlaylist(ingest: Ingest, boxId: string, eventId: string, timeoutMs: number): Promise<{ file: string; text: string }> {
  const file = path.join(ingest.root, boxId, eventId, CAMERA, 'event.m3u8');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes('#EXT-X-ENDLIST')) return { file, text };
    if (Date.now() > deadline) throw new Error(`no complete event playlist at ${file} within ${timeoutMs} ms; last seen:\n${text || '(none)'}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const playlistSeqs = (text: string): number[] => text.split('\n').filter((l) => /^\d{8}\.ts$/.test(l.trim())).map((l) => Number(l.trim().slice(0, 8)));

async function world(t: ExecutionContext, boxId: string) {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25, bitrateKbps: 600 });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, `venuebox/v1/${boxId}/#`);
  t.teardown(() => watch.stop());
  const dir = await makeTempDir('schedule-agent');
  t.teardown(() => dir.remove());
  const config = (schedule: Record<string, unknown>) => ({
    boxId,
    log: { level: 'debug' },
    mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
    cameras: [{ id: CAMERA, role: 'main', rtsp: camera.url }],
    discovery: { enabled: false },
    recording: { segmentSeconds: SEGMENT_SECONDS, mode: 'events' },
    uplink: { url: ingest.baseUrl },
    schedule,
  });
  return { broker, ingest, camera, watch, dir, config };
}

/** Asserts the phase walk of one event: the given phases in order, each at its boundary ±2 s (as stamped and as received). */
function assertPhaseWalk(t: ExecutionContext, walk: Array<PhaseEvent & { receivedAt: number }>, expected: Array<[string, number]>): void {
  t.log(`phases: ${walk.map((p, i) => `${p.from} → ${p.to} (${p.reason}) ${Date.parse(p.at) - (expected[i]?.[1] ?? NaN)} ms from its boundary, received +${p.receivedAt - Date.parse(p.at)} ms`).join('; ')}`);
  t.deepEqual(walk.map((p) => p.to), expected.map(([to]) => to), 'phases in order');
  for (const [i, [to, plannedMs]] of expected.entries()) {
    const seen = walk[i];
    if (!seen) continue;
    const stampedOff = Date.parse(seen.at) - plannedMs;
    const receivedOff = seen.receivedAt - plannedMs;
    t.true(Math.abs(stampedOff) <= PHASE_TOLERANCE_MS && Math.abs(receivedOff) <= PHASE_TOLERANCE_MS, `${to} at ${seen.at} (received ${iso(seen.receivedAt)}), planned ${iso(plannedMs)}: off by ${stampedOff} ms / ${receivedOff} ms`);
    t.false(seen.resumed, `${to} is not a resume`);
  }
}

test.serial('a scheduled event from a file: warming → live → post-roll → done on time, recorded only inside its window, complete at the ingest, readiness before the start', async (t) => {
  t.timeout(90_000);
  const boxId = 'sched-file-box';
  const eventId = 'file-event-1';
  const w = await world(t, boxId);
  // The event's times, from the wall clock now: it starts ~12 s after the agent is spawned. Not sooner: the
  // agent runs ~3 s after its spawn and the readiness checks take ~5 s (4 s of frames from the camera, a test
  // PUT and a measured upload), and the verdict must come before the start.
  const startMs = wholeSecond(Date.now() + 12_000);
  const preRoll = 4;
  const postRoll = 4;
  const endMs = startMs + 16_000;
  const warmMs = startMs - preRoll * 1000;
  const doneMs = endMs + postRoll * 1000;
  await writeFile(
    path.join(w.dir.path, 'schedule.json'),
    JSON.stringify({
      timezone: 'Europe/Zurich',
      events: [{ id: eventId, title: 'File event', start: iso(startMs), end: iso(endMs), preRollSeconds: preRoll, postRollSeconds: postRoll, program: { cameraId: CAMERA } }],
    }),
  );
  const spawnedAt = Date.now();
  const agent = await startAgent({ dir: w.dir, config: w.config({ file: 'schedule.json', readinessMinutes: [1] }) });
  t.teardown(() => agent.cleanup());
  const running = await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent running');
  t.log(`agent running ${Date.parse(String(running['time'])) - spawnedAt} ms after spawn; warming due ${warmMs - spawnedAt} ms after spawn`);

  // Readiness: the event starts within a minute, so the box checks at once; the verdict comes before the start.
  const readinessMessage = await w.watch.waitFor((m) => m.topic === `venuebox/v1/${boxId}/readiness`, 30_000, 'the readiness verdict');
  const verdict = readinessMessage.json() as Readiness;
  t.log(`readiness ${verdict.verdict} at ${verdict.at} (${startMs - readinessMessage.at} ms before the start): ${verdict.reasons.join('; ') || 'no reasons'}`);
  t.is(verdict.eventId, eventId);
  // The verdict is its worst check, and every check the doctor makes for an event was made.
  const worst = (['red', 'amber', 'green'] as const).find((g) => verdict.checks.some((c) => c.grade === g));
  t.is(verdict.verdict as string | undefined, worst, `verdict ${verdict.verdict}`);
  t.deepEqual(new Set(verdict.checks.map((c) => c.check.split(' ')[0])), new Set(['camera', 'encoder', 'ingest', 'uplink', 'spool', 'clock']), 'every check');
  t.is(verdict.minutesBefore, 1);
  t.true(readinessMessage.at < startMs, `the verdict arrived before the start (${iso(readinessMessage.at)} < ${iso(startMs)})`);
  const cameraCheck = verdict.checks.find((c) => c.check === `camera ${CAMERA}`);
  t.is(cameraCheck?.grade, 'green', `the camera check: ${JSON.stringify(cameraCheck)}`);
  const readinessEvent = await w.watch.waitFor((m) => isEvent('readiness')(m) && (m.json() as Readiness).eventId === eventId, 5000, 'the readiness event');
  t.is((readinessEvent.json() as Readiness).verdict, verdict.verdict, 'the readiness event carries the same verdict');

  await waitForPhase(w.watch, eventId, 'done', doneMs - Date.now() + 15_000);
  assertPhaseWalk(t, phases(w.watch, eventId), [
    ['warming', warmMs],
    ['live', startMs],
    ['post-roll', endMs],
    ['done', doneMs],
  ]);
  const walk = phases(w.watch, eventId);
  const warmedAt = Date.parse(walk[0]!.at);
  const doneAt = Date.parse(walk.at(-1)!.at);

  const { file, text } = await completeEventPlaylist(w.ingest, boxId, eventId, 20_000);
  // The recording stopped with the event: the pipeline ended (its last segment closed) and no further segment came.
  await agent.waitForLog((l) => l.msg === 'recording stopped: no event needs the camera', 10_000, 'the recording to stop after the event');
  const rows = ledger(agent);
  t.log(`ledger: ${rows.map((r) => `${r.seq}@${r.start_time.slice(11, 23)}+${r.duration_ms}/${r.event_id}`).join(' ')}`);
  t.true(rows.length >= 8, `segments recorded: ${rows.length}`);
  // Nothing recorded outside the event: the first segment starts after warming, the last ends by done (its EOS
  // closes it a moment later), and every row is the event's.
  const recordingStarts = agent.logs().filter((l) => l.msg === 'recording starts for the event').map((l) => Date.parse(String(l['time'])));
  t.is(recordingStarts.length, 1, 'the camera starts recording once, for the event');
  t.true((recordingStarts[0] ?? 0) >= warmedAt, `the recording starts at warming (+${(recordingStarts[0] ?? NaN) - warmedAt} ms), not before`);
  const firstStart = Date.parse(rows[0]!.start_time);
  const lastEnd = Math.max(...rows.map((r) => Date.parse(r.start_time) + r.duration_ms));
  t.true(firstStart >= warmedAt - 250, `first segment starts ${firstStart - warmedAt} ms after warming`);
  t.true(lastEnd <= doneAt + 1000, `last segment ends ${lastEnd - doneAt} ms after done`);
  t.deepEqual(rows.filter((r) => r.event_id !== eventId).map((r) => `${r.seq}:${r.event_id}`), [], 'every segment belongs to the event');

  // At the ingest: every segment with its hash, the playlist complete and continuous, nothing unscheduled.
  const streamDir = path.dirname(file);
  for (const row of rows) {
    const body = await readFile(path.join(streamDir, `${String(row.seq).padStart(8, '0')}.ts`)).catch(() => undefined);
    t.truthy(body, `segment ${row.seq} at the ingest`);
    if (body) t.is(createHash('sha256').update(body).digest('hex'), row.sha256 ?? '(no hash in the ledger)', `segment ${row.seq}: sha256 matches the ledger`);
  }
  t.deepEqual(playlistSeqs(text), rows.map((r) => r.seq), 'event.m3u8 lists every segment, in order');
  t.false(text.includes('#EXT-X-DISCONTINUITY\n'), 'event.m3u8 has no discontinuity');
  t.deepEqual(await readdir(path.join(w.ingest.root, boxId)), [eventId], 'nothing uploaded outside the event');

  const media = await probeMedia(file);
  const expectedSeconds = preRoll + (endMs - startMs) / 1000 + postRoll;
  const frameSeconds = media.frames / 25;
  t.log(`ffprobe event.m3u8: ${media.codec} ${media.width}x${media.height}, ${media.durationSeconds.toFixed(2)} s, ${media.frames} frames decoded (${frameSeconds.toFixed(2)} s at 25 fps); expected ${expectedSeconds} s`);
  t.is(media.codec, 'h264');
  t.true(Math.abs(media.durationSeconds - expectedSeconds) <= 3, `duration ${media.durationSeconds.toFixed(2)} s ≈ ${expectedSeconds} s ± 3`);
  t.true(Math.abs(frameSeconds - expectedSeconds) <= 3, `decoded ${frameSeconds.toFixed(2)} s ≈ ${expectedSeconds} s ± 3`);

  // The verdict is retained: a controller that connects now still gets it.
  const late = await watchMqtt(w.broker.url, `venuebox/v1/${boxId}/readiness`);
  t.teardown(() => late.stop());
  const retained = await late.waitFor(() => true, 5000, 'the retained readiness');
  t.true(retained.retain, 'delivered as retained');
  t.is((retained.json() as Readiness).eventId, eventId);

  t.is((await agent.stop()).code, 143);
});

test.serial('a schedule over MQTT: extend by 6 s during live moves done later; a malformed schedule is refused by path and the stored one runs on', async (t) => {
  t.timeout(90_000);
  const boxId = 'sched-mqtt-box';
  const eventId = 'mqtt-event-1';
  const w = await world(t, boxId);
  const agent = await startAgent({ dir: w.dir, config: w.config({ readinessMinutes: [30, 5] }) });
  t.teardown(() => agent.cleanup());
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent running');
  await w.watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state?: string }).state === 'online', 20_000, 'the box online');
  const ctl = await startController(w.broker.url, boxId);
  t.teardown(() => ctl.stop());

  const startMs = wholeSecond(Date.now() + 8000);
  const preRoll = 4;
  const postRoll = 4;
  const endMs = startMs + 16_000;
  const event = { id: eventId, title: 'MQTT event', start: iso(startMs), end: iso(endMs), preRollSeconds: preRoll, postRollSeconds: postRoll, program: { role: 'main' } };
  await ctl.publishSchedule({ version: 1, timezone: 'Europe/Zurich', events: [event] });
  await agent.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('schedule from mqtt applied'), 10_000, 'the schedule applied');

  await waitForPhase(w.watch, eventId, 'live', startMs - Date.now() + 10_000);
  const extendedEndMs = endMs + 6000;
  const extended = await ctl.send('extend', { eventId, end: iso(extendedEndMs), requestedBy: 'test' });
  t.true(extended.ok, extended.error);
  t.is(extended.result?.['end'], iso(extendedEndMs));
  t.is(extended.result?.['previousEnd'], iso(endMs));

  // A malformed schedule (end before start): refused as a whole, the issue named by its path; nothing changes.
  await ctl.publishSchedule({ version: 2, timezone: 'Europe/Zurich', events: [{ ...event, end: iso(startMs - 10_000) }] });
  const refused = await w.watch.waitFor(isEvent('schedule-refused'), 10_000, 'schedule-refused');
  const issues = (refused.json() as { issues: string[] }).issues;
  t.log(`refused: ${issues.join('; ')}`);
  t.true(issues.some((i) => i.startsWith('events[0].end: ')), `an issue names events[0].end: ${issues.join('; ')}`);

  await waitForPhase(w.watch, eventId, 'done', extendedEndMs + postRoll * 1000 - Date.now() + 15_000);
  assertPhaseWalk(t, phases(w.watch, eventId), [
    ['warming', startMs - preRoll * 1000],
    ['live', startMs],
    ['post-roll', extendedEndMs],
    ['done', extendedEndMs + postRoll * 1000],
  ]);
  const notices = w.watch.messages.filter(isEvent('schedule-notice')).map((m) => m.json() as { kind: string; eventId: string });
  t.true(notices.some((n) => n.kind === 'extended' && n.eventId === eventId), 'a schedule-notice extended');

  const { text } = await completeEventPlaylist(w.ingest, boxId, eventId, 20_000);
  const rows = ledger(agent);
  t.log(`ledger: ${rows.map((r) => `${r.seq}@${r.start_time.slice(11, 23)}+${r.duration_ms}/${r.event_id}`).join(' ')}`);
  t.deepEqual(playlistSeqs(text), rows.map((r) => r.seq), 'the event playlist lists every segment');
  const recorded = rows.reduce((sum, r) => sum + r.duration_ms, 0) / 1000;
  t.log(`recorded ${rows.length} segments, ${recorded.toFixed(1)} s (planned ${preRoll + 22 + postRoll} s with the extension)`);
  t.true(Math.abs(recorded - (preRoll + 22 + postRoll)) <= 3, `the recording covers the extension: ${recorded.toFixed(1)} s`);
  t.is((await agent.stop()).code, 143);
});

test('a record-only event keeps the camera\'s live outputs off, and outputs.segments false keeps its footage on the box', async (t) => {
  const boxId = 'sched-outputs';
  const { broker, ingest, camera, dir } = await world(t, boxId);
  const srtPort = await freePort();
  const start = wholeSecond(Date.now() + 8000);
  const scheduleFile = path.join(dir.path, 'schedule.json');
  await writeFile(
    scheduleFile,
    JSON.stringify({
      timezone: 'UTC',
      events: [{ id: 'training', title: 'Training (kept on the box)', start: iso(start), end: iso(start + 6000), preRollSeconds: 2, postRollSeconds: 2, program: { cameraId: CAMERA }, outputs: { segments: false }, recordOnly: true }],
    }),
  );
  const agent = await startAgent({
    dir,
    config: {
      boxId,
      log: { level: 'debug' },
      mqtt: { url: broker.url, keepaliveSeconds: 5 },
      cameras: [{ id: CAMERA, role: 'main', rtsp: camera.url, live: [{ kind: 'srt', url: `srt://127.0.0.1:${srtPort}` }] }],
      discovery: { enabled: false },
      recording: { segmentSeconds: SEGMENT_SECONDS, mode: 'events' },
      uplink: { url: ingest.baseUrl },
      schedule: { file: scheduleFile, readinessMinutes: [1] },
    },
  });
  t.teardown(() => agent.cleanup());
  await agent.waitForLog((l) => l.msg === 'recording stopped: no event needs the camera', 40_000, 'the event to end');
  await agent.stop();
  const rows = ledger(agent);
  t.true(rows.length >= 3, `segments recorded: ${rows.length}`);
  t.true(rows.every((r) => r.event_id === 'training' && r.state === 'pending'), 'every segment is the event\'s and stays on the box');
  // Only the readiness check's scratch objects went to the ingest: no segment, no playlist.
  t.deepEqual(await readdir(path.join(ingest.root, boxId, 'training')).catch(() => []), ['_readiness'], 'no footage at the ingest');
  t.false(agent.logs().some((l) => typeof l.msg === 'string' && /live output/.test(l.msg)), 'no live output was started for a record-only event');
  t.false(JSON.stringify(agent.logs()).includes(`:${srtPort}`), 'its destination was never contacted');
});

test('continuous recording: a segment belongs to the event whose window holds its start, the one straddling the end included', async (t) => {
  const boxId = 'sched-continuous';
  const { ingest, camera, broker, dir, watch } = await world(t, boxId);
  const start = wholeSecond(Date.now() + 8000);
  const warmAt = start - 2000;
  const doneAt = start + 6000 + 2000;
  const scheduleFile = path.join(dir.path, 'schedule.json');
  await writeFile(scheduleFile, JSON.stringify({ timezone: 'UTC', events: [{ id: 'match', title: 'Match', start: iso(start), end: iso(start + 6000), preRollSeconds: 2, postRollSeconds: 2, program: { cameraId: CAMERA } }] }));
  const agent = await startAgent({
    dir,
    config: {
      boxId,
      log: { level: 'debug' },
      mqtt: { url: broker.url, keepaliveSeconds: 5 },
      cameras: [{ id: CAMERA, role: 'main', rtsp: camera.url }],
      discovery: { enabled: false },
      recording: { segmentSeconds: SEGMENT_SECONDS, mode: 'continuous' },
      uplink: { url: ingest.baseUrl, uploadOutsideEvents: false },
      schedule: { file: scheduleFile, readinessMinutes: [1] },
    },
  });
  t.teardown(() => agent.cleanup());
  await waitForPhase(watch, 'match', 'done', 40_000);
  let after = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && Date.parse(String(l['time'])) > doneAt + 1000 && ++after >= 2, 20_000, 'segments after the event');
  await agent.stop();
  const rows = ledger(agent);
  const inside = rows.filter((r) => Date.parse(r.start_time) >= warmAt && Date.parse(r.start_time) < doneAt);
  const outside = rows.filter((r) => !inside.includes(r));
  t.true(inside.length >= 4, `segments starting inside the window: ${inside.length}`);
  t.true(inside.every((r) => r.event_id === 'match'), `inside: ${JSON.stringify(inside.map((r) => [r.seq, r.start_time, r.event_id]))}`);
  t.true(outside.length > 0 && outside.every((r) => r.event_id === null), `outside: ${JSON.stringify(outside.map((r) => [r.seq, r.start_time, r.event_id]))}`);
});
