// Issue 7's system test: a scheduled event runs unattended across an agent restart and an uplink cut; the
// recording at the ingest is complete and continuous by ffprobe; the readiness verdict turns red when a camera
// of the event is down, and names it.
//
// Topology (like test/system/uplink.test.ts): the box namespace holds the cameras, the broker and the agent (all
// on its loopback); the cloud namespace holds the nginx WebDAV ingest; one veth link `uplink` joins them. The
// uplink is cut on the box's side (`ip link set uplink down`). The broker stays on the box, so the MQTT timeline
// is seen live through the cut (a mosquitto_sub inside the box namespace: the test process cannot reach the box's
// loopback); what reached the cloud is read from the ingest's folder; what the box did from its ledger (SQLite,
// read-only).
//
// Timeline (S = the agent's spawn): event 1 on cam1 from a schedule file, pre-roll 6 s, live S+14 … S+74,
// post-roll 6 s. Live +8 s: the uplink goes down for 10 s. Live +32 s: SIGTERM, and the agent starts again on the
// same folder and config (as systemd would). Then event 2 on cam2 arrives over MQTT with cam2 already stopped.
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { watchController, type ControllerLine, type ControllerWatch } from '../helpers/netns-controller.ts';
import { createBoxAndCloud, isRoot, makeTempDir, startIngest, startMosquitto, startVirtualCamera, type Topology } from '../helpers/index.ts';
import { startAgent, type AgentProcess } from '../helpers/agent.ts';
import { probeMedia } from '../helpers/media.ts';

const run = promisify(execFile);

const BOX = 'sched-box-1';
const EVENT1 = 'league-match-1';
const EVENT2 = 'league-match-2';
const SEGMENT_SECONDS = 2;
const FPS = 25;
const BOX_ADDRESS = '10.77.17.2';
const CLOUD_ADDRESS = '10.77.17.10';
/** The box's interface on the uplink (createTopology names a host's interface after its bridge). */
const UPLINK = 'uplink';
/** The longest recording gap an agent restart may cost (SIGTERM → EOS → exit → start → RTSP → first keyframe). */
const MAX_RESTART_GAP_MS = 8000;

interface LedgerRow {
  seq: number;
  start_time: string;
  duration_ms: number;
  state: string;
  gap_before_ms: number;
  event_id: string | null;
  sha256: string | null;
  adopted: number;
}

/** A message on the box's topics, as the watcher in the box namespace saw it. */
type BoxMessage = ControllerLine;

interface Readiness {
  eventId: string | null;
  verdict: 'green' | 'amber' | 'red';
  reasons: string[];
  checks: Array<{ check: string; grade: string; reason: string }>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const iso = (ms: number): string => new Date(ms).toISOString();
const wholeSecond = (ms: number): number => Math.ceil(ms / 1000) * 1000;
const acknowledged = (row: LedgerRow): boolean => row.state === 'uploaded' || row.state === 'done';
/** Sleeps until a point of the scenario's timeline (waiting out its duration; nothing to wait for happens then). */
const until = (ms: number) => sleep(Math.max(0, ms - Date.now()));

function ledger(agent: AgentProcess): LedgerRow[] {
  const db = new Database(agent.databaseFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT seq, start_time, duration_ms, state, gap_before_ms, event_id, sha256, adopted FROM segments WHERE stream_id = 'cam1' ORDER BY seq").all() as LedgerRow[];
  } finally {
    db.close();
  }
}

/** Every message on `venuebox/v1/{BOX}/#`, from a mosquitto_sub inside the box namespace. */
function watchBoxMqtt(t: ExecutionContext, topo: Topology, broker: { host: string; port: number }): Promise<ControllerWatch> {
  return watchController(t, topo, broker, 'anonymous', { host: 'box', address: broker.host, topics: [`venuebox/v1/${BOX}/#`], probeTopic: `venuebox/v1/${BOX}/test-probe` });
}

async function waitForEventPlaylist(file: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes('#EXT-X-ENDLIST')) return text;
    if (Date.now() > deadline) throw new Error(`no complete event playlist at ${file} within ${timeoutMs} ms; last seen:\n${text || '(none)'}`);
    await sleep(250);
  }
}

/** The playlist's entries in order, with a discontinuity flag on the entry that follows one. */
function playlistEntries(text: string): Array<{ seq: number; discontinuity: boolean }> {
  const entries: Array<{ seq: number; discontinuity: boolean }> = [];
  let discontinuity = false;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (/^\d{8}\.ts$/.test(line)) {
      entries.push({ seq: Number(line.slice(0, 8)), discontinuity });
      discontinuity = false;
    }
  }
  return entries;
}

/** The video packets' decode timestamps of one segment (ffprobe): first, last, count, and how many do not increase. */
async function packetTimeline(file: string): Promise<{ first: number; last: number; frames: number; nonIncreasing: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=dts_time', '-of', 'csv=p=0', file], { timeout: 20_000 });
  // One `dts_time,` per packet (blank lines between them where a packet has side data).
  const dts = stdout.split('\n').map((line) => Number.parseFloat(line)).filter(Number.isFinite);
  let nonIncreasing = 0;
  for (let i = 1; i < dts.length; i++) if (dts[i]! <= dts[i - 1]!) nonIncreasing += 1;
  return { first: dts[0] ?? NaN, last: dts.at(-1) ?? NaN, frames: dts.length, nonIncreasing };
}

if (!isRoot()) {
  test('schedule system test skipped: needs root to create network namespaces', (t) => {
    console.log('schedule system test skipped: creating network namespaces and links needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('an event runs unattended across an uplink cut and an agent restart, arrives complete; readiness turns red naming a camera that is down', async (t) => {
    t.timeout(4 * 60_000);
    const testStarted = Date.now();
    // Teardowns run last-registered first: the processes stop before their namespaces go; destroy() also kills
    // whatever is still inside (a pipeline host orphaned by a failed test).
    const { topo } = await createBoxAndCloud(t, '10.77.17', 'uplink');
    const ingest = await startIngest({ netns: topo.ns('cloud'), host: CLOUD_ADDRESS });
    t.teardown(() => ingest.stop());
    const broker = await startMosquitto({ netns: topo.ns('box') });
    t.teardown(() => broker.stop());
    const cam1 = await startVirtualCamera({ netns: topo.ns('box'), bind: '127.0.0.1', width: 640, height: 360, fps: FPS, keyint: FPS, bitrateKbps: 600 });
    t.teardown(() => cam1.stop());
    const cam2 = await startVirtualCamera({ netns: topo.ns('box'), bind: '127.0.0.1', width: 640, height: 360, fps: FPS, keyint: FPS, bitrateKbps: 600 });
    t.teardown(() => cam2.stop());
    const mqtt = await watchBoxMqtt(t, topo, broker);
    const state = await makeTempDir('schedule-box');
    t.teardown(() => state.remove());
    const box = async (cmd: string, args: string[]): Promise<void> => {
      const result = await topo.exec('box', cmd, args);
      if (result.code !== 0) throw new Error(`box: ${cmd} ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    };
    const events = (type: string) => mqtt.items.filter((m) => m.topic.endsWith('/events') && m.json['type'] === type);
    const waitForEvent = (type: string, match: (json: Record<string, unknown>) => boolean, timeoutMs: number, what: string) =>
      mqtt.waitFor((m) => m.topic.endsWith('/events') && m.json['type'] === type && match(m.json), timeoutMs, what, () => `events seen: ${events('schedule-phase').map((m) => m.payload.slice(0, 160)).join(' | ')}`);
    const phaseSeen = (eventId: string, to: string, after = 0) => (j: Record<string, unknown>) => j['eventId'] === eventId && j['to'] === to && Date.parse(String(j['at'])) >= after;

    // Event 1, from the schedule file; its times from the wall clock now.
    const preRoll = 6;
    const postRoll = 6;
    const startMs = wholeSecond(Date.now() + 14_000);
    const endMs = startMs + 60_000;
    await writeFile(
      path.join(state.path, 'schedule.json'),
      JSON.stringify({
        timezone: 'Europe/Berlin',
        events: [{ id: EVENT1, title: 'League match 1', start: iso(startMs), end: iso(endMs), preRollSeconds: preRoll, postRollSeconds: postRoll, program: { cameraId: 'cam1' } }],
      }),
    );
    const config = {
      boxId: BOX,
      log: { level: 'debug' },
      mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
      cameras: [
        { id: 'cam1', role: 'main', rtsp: cam1.url },
        { id: 'cam2', role: 'wide', rtsp: cam2.url },
      ],
      discovery: { enabled: false },
      recording: { segmentSeconds: SEGMENT_SECONDS, mode: 'events' },
      spool: { maxMegabytes: 2048, minFreeMegabytes: 0 },
      uplink: { url: ingest.baseUrl },
      schedule: { file: 'schedule.json', readinessMinutes: [1] },
    };
    const agents: AgentProcess[] = [];
    const startBoxAgent = async (keepConfig: boolean): Promise<AgentProcess> => {
      const agent = await startAgent({ config, dir: state, keepConfig, netns: topo.ns('box') });
      agents.push(agent);
      t.teardown(() => agent.cleanup());
      return agent;
    };
    let agent = await startBoxAgent(false);

    // Readiness of event 1 (it starts within the minute: checked at once): not red — its camera delivers, the
    // ingest answers. The contrast for event 2 below.
    const readiness1 = await mqtt.waitFor((m) => m.topic.endsWith('/readiness') && m.json['eventId'] === EVENT1, 30_000, 'the readiness of event 1', () => '');
    const verdict1 = readiness1.json as unknown as Readiness;
    t.log(`readiness of ${EVENT1}: ${verdict1.verdict} ${startMs - readiness1.at} ms before its start (${verdict1.reasons.join('; ') || 'no reasons'})`);
    t.not(verdict1.verdict, 'red', `event 1 is ready: ${verdict1.reasons.join('; ')}`);
    t.false(verdict1.reasons.some((r) => r.startsWith('camera ')), 'no camera reason for event 1');

    const live = await waitForEvent('schedule-phase', phaseSeen(EVENT1, 'live'), startMs - Date.now() + 10_000, 'event 1 live');
    const liveAt = Date.parse(String(live.json['at']));
    t.log(`event 1 live at ${live.json['at']} (${liveAt - startMs} ms from its start)`);

    // The uplink cut: 10 s without the cloud, from live +8 s.
    await until(liveAt + 8000);
    const cutAt = Date.now();
    await box('ip', ['link', 'set', UPLINK, 'down']);
    const offline = await waitForEvent('uplink-state', (j) => j['state'] === 'offline' && Date.parse(String(j['ts'])) >= cutAt, 15_000, 'the uplink offline');
    await until(cutAt + 10_000);
    await box('ip', ['link', 'set', UPLINK, 'up']);
    const upAt = Date.now();
    const online = await waitForEvent('uplink-state', (j) => j['state'] === 'online' && Date.parse(String(j['ts'])) >= upAt, 30_000, 'the uplink online again');
    t.log(`uplink cut ${upAt - cutAt} ms; offline reported ${offline.at - cutAt} ms after the cut, online ${online.at - upAt} ms after it returned`);
    const uplinkLines = agent.logs().filter((l) => (l['ns'] === 'uplink' || l['ns'] === 'uploader') && Date.parse(String(l['time'])) <= online.at && Date.parse(String(l['time'])) >= cutAt - 1000 && l.msg !== 'segment closed');
    t.log(`uploader during the cut: ${uplinkLines.map((l) => `+${Date.parse(String(l['time'])) - cutAt} ${l.msg} ${String(l['seq'] ?? l['state'] ?? '')} ${String(l['err'] ?? l['reason'] ?? '').slice(0, 80)}`).join(' | ')}`);

    // The restart, from live +32 s: SIGTERM (systemctl stop) and a start on the same folder and config.
    await until(liveAt + 32_000);
    const termAt = Date.now();
    const exit = await agent.stop();
    t.is(exit.code, 143, 'the agent stops on SIGTERM with 143');
    const exitedAt = Date.now();
    agent = await startBoxAgent(true);
    const resumed = await waitForEvent('schedule-phase', (j) => phaseSeen(EVENT1, 'live', exitedAt)(j) && j['resumed'] === true, 30_000, 'event 1 resumed');
    t.is(resumed.json['from'], 'live');
    t.is(resumed.json['reason'], 'resume');
    t.log(`restart: SIGTERM → exit ${exitedAt - termAt} ms; exit → resumed in live ${resumed.at - exitedAt} ms`);

    const doneMs = endMs + postRoll * 1000;
    const done = await waitForEvent('schedule-phase', phaseSeen(EVENT1, 'done'), doneMs - Date.now() + 15_000, 'event 1 done');
    t.true(Math.abs(Date.parse(String(done.json['at'])) - doneMs) <= 2000, `done at ${done.json['at']}, planned ${iso(doneMs)}`);
    const walk = events('schedule-phase').map((m) => m.json).filter((j) => j['eventId'] === EVENT1);
    t.log(`phases of event 1: ${walk.map((j) => `${j['from']}→${j['to']} (${j['reason']}${j['resumed'] ? ', resumed' : ''}) ${j['at']}`).join('; ')}`);
    t.deepEqual(walk.map((j) => j['to']), ['warming', 'live', 'live', 'post-roll', 'done'], 'warming, live, resumed live, post-roll, done');

    // The end: the ingest has the whole event.
    const streamDir = path.join(ingest.root, BOX, EVENT1, 'cam1');
    const playlistText = await waitForEventPlaylist(path.join(streamDir, 'event.m3u8'), 60_000);
    const completeAt = Date.now();
    t.log(`event.m3u8 complete ${completeAt - Date.parse(String(done.json['at']))} ms after done`);
    const rows = ledger(agent);
    t.deepEqual(rows.filter((r) => r.event_id !== EVENT1).map((r) => `${r.seq}:${r.event_id}`), [], 'every segment recorded belongs to the event (nothing outside it in events mode)');
    t.deepEqual(rows.filter((r) => !acknowledged(r)).map((r) => `${r.seq}:${r.state}`), [], 'every segment acknowledged by the ingest');
    let matching = 0;
    for (const row of rows) {
      const body = await readFile(path.join(streamDir, `${String(row.seq).padStart(8, '0')}.ts`)).catch(() => undefined);
      const sha = body ? createHash('sha256').update(body).digest('hex') : '(missing at the ingest)';
      if (sha === row.sha256) matching += 1;
      else t.fail(`segment ${row.seq}: ${sha} at the ingest, ${row.sha256} in the ledger`);
    }
    t.log(`ledger: ${rows.length} segments (${rows[0]?.seq}…${rows.at(-1)?.seq}), ${matching} at the ingest with the ledger's sha256; adopted after the restart: ${rows.filter((r) => r.adopted).map((r) => r.seq).join(',') || 'none'}`);
    t.is(matching, rows.length, 'every ledger segment at the ingest with its sha256');

    const entries = playlistEntries(playlistText);
    t.deepEqual(entries.map((e) => e.seq), rows.map((r) => r.seq), 'event.m3u8 lists every segment, in order');
    // Discontinuities: where footage is truly missing. The cut costs none (the spool holds it); the restart costs
    // a real recording gap (stop, start, RTSP, the first keyframe), reported as recording-gap and bounded.
    const gapRows = rows.filter((r, i) => i > 0 && r.gap_before_ms > 0);
    const discontinuities = entries.filter((e) => e.discontinuity);
    const gapEvents = events('recording-gap').map((m) => m.json).filter((j) => j['streamId'] === 'cam1');
    t.log(
      `discontinuities: ${discontinuities.length} (${discontinuities.map((d) => `before ${d.seq}`).join(', ') || 'none'}); ledger gaps: ${gapRows.map((r) => `${r.seq}: ${r.gap_before_ms} ms from ${r.start_time}`).join(', ') || 'none'}; recording-gap events: ${gapEvents.map((j) => `seq ${j['seq']} ${j['gapMs']} ms`).join(', ') || 'none'}`,
    );
    t.deepEqual(discontinuities.map((d) => d.seq), gapRows.map((r) => r.seq), 'a discontinuity exactly where the ledger has a recording gap');
    t.deepEqual(gapEvents.map((j) => Number(j['seq'])), gapRows.map((r) => r.seq), 'each gap reported as a recording-gap event');
    t.is(gapRows.length, 1, 'one gap: the restart (the uplink cut costs no footage)');
    for (const row of gapRows) {
      const resumedAt = Date.parse(row.start_time);
      t.true(resumedAt > termAt && resumedAt < resumed.at + 10_000, `the gap before ${row.seq} is the restart (footage resumes ${resumedAt - termAt} ms after SIGTERM)`);
      t.true(row.gap_before_ms <= MAX_RESTART_GAP_MS, `the restart costs ${row.gap_before_ms} ms of footage (≤ ${MAX_RESTART_GAP_MS})`);
    }

    // ffprobe: the playlist decodes end to end; its length is the event's window less the restart's gap.
    const playlistFile = path.join(streamDir, 'event.m3u8');
    const media = await probeMedia(playlistFile);
    const decode = await run('ffmpeg', ['-v', 'error', '-i', playlistFile, '-map', '0:v:0', '-f', 'null', '-'], { timeout: 60_000 }).then(
      (r) => ({ ok: true, stderr: r.stderr }),
      (err: { stderr?: string }) => ({ ok: false, stderr: err.stderr ?? String(err) }),
    );
    const gapSeconds = gapRows.reduce((sum, r) => sum + r.gap_before_ms, 0) / 1000;
    const expectedSeconds = preRoll + (endMs - startMs) / 1000 + postRoll - gapSeconds;
    const decodedSeconds = media.frames / FPS;
    t.log(`ffprobe event.m3u8: ${media.codec} ${media.width}x${media.height}, ${media.durationSeconds.toFixed(2)} s, ${media.frames} frames (${decodedSeconds.toFixed(2)} s at ${FPS} fps); expected ${expectedSeconds.toFixed(2)} s (${preRoll} + 60 + ${postRoll} − ${gapSeconds.toFixed(2)} gap); ffmpeg decode: ${decode.ok ? 'ok' : 'failed'}${decode.stderr.trim() ? `, stderr: ${decode.stderr.trim().split('\n').slice(0, 5).join(' | ')}` : ', no errors'}`);
    t.true(decode.ok, 'ffmpeg decodes the whole event playlist');
    // Decoder errors name the decoder ([h264 @ …]); the null muxer's complaints are about timestamps, judged below.
    const decoderErrors = decode.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('[null @'));
    t.deepEqual(decoderErrors, [], 'no decoding error');

    // Continuity of the media timeline, segment by segment (ffprobe's packet timestamps): inside one recording
    // run every segment continues where the previous ended (one frame later); only the restart starts anew.
    const timelines: Array<{ seq: number; gap: boolean; first: number; last: number; frames: number; nonIncreasing: number }> = [];
    for (const row of rows) timelines.push({ seq: row.seq, gap: row.gap_before_ms > 0, ...(await packetTimeline(path.join(streamDir, `${String(row.seq).padStart(8, '0')}.ts`))) });
    const frame = 1 / FPS;
    const seams = timelines.slice(1).map((next, i) => ({ seq: next.seq, gap: next.gap, jump: next.first - timelines[i]!.last }));
    const broken = seams.filter((s) => !s.gap && Math.abs(s.jump - frame) > frame / 2);
    const repeats = timelines.filter((tl) => tl.nonIncreasing > 0);
    t.log(`timeline: ${timelines.length} segments, ${timelines.reduce((n, tl) => n + tl.frames, 0)} video packets; seams off by more than half a frame: ${broken.map((s) => `${s.seq} (${s.jump.toFixed(3)} s)`).join(', ') || 'none'}; at the restart: ${seams.filter((s) => s.gap).map((s) => `${s.seq} jumps ${s.jump.toFixed(3)} s`).join(', ')}; segments with non-increasing timestamps inside: ${repeats.map((tl) => `${tl.seq} (${tl.nonIncreasing})`).join(', ') || 'none'}; ffmpeg's null muxer complained ${decode.stderr.split('\n').filter((l) => l.startsWith('[null @')).length} times`);
    t.deepEqual(broken.map((s) => s.seq), [], 'the timeline is continuous across every seam but the restart');
    t.true(Math.abs(decodedSeconds - expectedSeconds) <= 3, `decoded ${decodedSeconds.toFixed(2)} s ≈ ${expectedSeconds.toFixed(2)} s ± 3`);
    t.true(Math.abs(media.durationSeconds - expectedSeconds) <= 3, `duration ${media.durationSeconds.toFixed(2)} s ≈ ${expectedSeconds.toFixed(2)} s ± 3`);

    // Event 2 on cam2, whose camera is down before its readiness time: red, and the reasons name it.
    await cam2.stop();
    const event2Start = wholeSecond(Date.now() + 40_000);
    const schedule2 = { version: 1, timezone: 'Europe/Berlin', events: [{ id: EVENT2, title: 'League match 2', start: iso(event2Start), end: iso(event2Start + 30_000), preRollSeconds: 5, postRollSeconds: 5, program: { cameraId: 'cam2' } }] };
    await box('mosquitto_pub', ['-h', broker.host, '-p', String(broker.port), '-q', '1', '-r', '-t', `venuebox/v1/${BOX}/schedule`, '-m', JSON.stringify(schedule2)]);
    const readiness2 = await mqtt.waitFor((m) => m.topic.endsWith('/readiness') && m.json['eventId'] === EVENT2, 30_000, 'the readiness of event 2', () => '');
    const verdict2 = readiness2.json as unknown as Readiness;
    t.log(`readiness of ${EVENT2} (cam2 down): ${verdict2.verdict}, ${event2Start - readiness2.at} ms before its start: ${verdict2.reasons.join('; ')}`);
    t.is(verdict2.verdict, 'red', 'red with the program camera down');
    t.true(verdict2.reasons.some((r) => r.startsWith('camera cam2: ')), `a reason names the camera: ${verdict2.reasons.join('; ')}`);
    t.is(verdict2.checks.find((c) => c.check === 'camera cam2')?.grade, 'red');
    const readinessEvent = await waitForEvent('readiness', (j) => j['eventId'] === EVENT2, 5000, 'the readiness event of event 2');
    t.is(readinessEvent.json['verdict'], 'red');

    t.is((await agent.stop()).code, 143);
    const total = Date.now() - testStarted;
    t.log(`total ${Math.round(total / 1000)} s`);
    t.true(total < 3.5 * 60_000, 'bounded runtime');
  });
}
