/**
 * The demo (issue 7): the box's main job end to end on an embedded default, with nobody at the venue.
 *
 *   three virtual cameras · a local mosquitto · a local nginx ingest behind a cuttable "uplink"
 *   → the agent gets a schedule with an event on each camera starting ~20 s after launch, ~60 s long
 *   → it checks readiness by itself, warms up, goes live, records and uploads live first
 *   → in the middle the uplink is cut for 15 s (a TCP forwarder that resets and refuses: no root needed)
 *   → after the event: a report of the readiness verdict, segments uploaded live and backfilled, gaps,
 *     health and events seen, and the command to play the recording from the ingest.
 *
 * VENUEBOX_DEMO_EVENT_SECONDS shortens or lengthens the event (default 60).
 */
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeTempDir, startIngest, startMosquitto, startVirtualCamera, type Ingest, type Mosquitto, type TempDir, type VirtualCamera } from '../test/helpers/index.ts';
import { startAgent, type AgentProcess } from '../test/helpers/agent.ts';
import { watchMqtt, type MqttWatch } from '../test/helpers/mqtt-watch.ts';
import { startTcpLink, type TcpLink } from '../test/helpers/tcp-link.ts';
import { probeMedia } from '../test/helpers/media.ts';

const EVENT_SECONDS = Number(process.env['VENUEBOX_DEMO_EVENT_SECONDS'] ?? 60);
const LEAD_SECONDS = 20;
const CUT_SECONDS = 15;
const PRE_ROLL = 5;
const POST_ROLL = 5;
const OUTPUT = fileURLToPath(new URL('../.venuebox-demo/', import.meta.url));
const BOX = 'demo-box';
const CAMERAS = [
  { id: 'main', role: 'main', width: 1280, height: 720, bitrateKbps: 2000, pattern: 'ball' as const, audio: 'aac' as const },
  { id: 'wide', role: 'wide', width: 960, height: 540, bitrateKbps: 1200, pattern: 'smpte' as const, audio: 'pcma' as const },
  { id: 'goal', role: 'goal-left', width: 640, height: 360, bitrateKbps: 800, pattern: 'ball' as const, audio: false as const },
];

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const clock = (started: number): string => `[${String(Math.round((performance.now() - started) / 1000)).padStart(3)} s]`;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const started = performance.now();
  const t = (): string => clock(started);
  let broker: Mosquitto | undefined;
  let ingest: Ingest | undefined;
  let link: TcpLink | undefined;
  let watch: MqttWatch | undefined;
  let agent: AgentProcess | undefined;
  let dir: TempDir | undefined;
  const cameras: VirtualCamera[] = [];
  try {
    say(`${t()} starting mosquitto, the nginx ingest (behind a cuttable uplink) and three virtual cameras…`);
    broker = await startMosquitto();
    ingest = await startIngest();
    link = await startTcpLink({ host: '127.0.0.1', port: Number(new URL(ingest.baseUrl).port) });
    for (const c of CAMERAS) cameras.push(await startVirtualCamera({ width: c.width, height: c.height, fps: 25, keyint: 25, bitrateKbps: c.bitrateKbps, pattern: c.pattern, audio: c.audio }));
    watch = await watchMqtt(broker.url, `venuebox/v1/${BOX}/#`);

    dir = await makeTempDir('demo');
    const start = new Date(Date.now() + LEAD_SECONDS * 1000);
    const end = new Date(start.getTime() + EVENT_SECONDS * 1000);
    const scheduleFile = path.join(dir.path, 'schedule.json');
    const events = CAMERAS.map((c) => ({
      id: `final-${c.id}`,
      title: `Cup final — ${c.role} camera`,
      start: start.toISOString(),
      end: end.toISOString(),
      preRollSeconds: PRE_ROLL,
      postRollSeconds: POST_ROLL,
      program: { cameraId: c.id },
    }));
    await writeFile(scheduleFile, JSON.stringify({ timezone: 'Europe/Zurich', events }, null, 2));
    say(`${t()} schedule: ${events.length} events (one per camera), ${start.toISOString()} → ${end.toISOString()} (${EVENT_SECONDS} s, pre-roll ${PRE_ROLL} s, post-roll ${POST_ROLL} s)`);

    agent = await startAgent({
      dir,
      config: {
        boxId: BOX,
        log: { level: 'debug' },
        mqtt: { url: broker.url, healthIntervalSeconds: 5 },
        cameras: CAMERAS.map((c, i) => ({ id: c.id, role: c.role, name: `${c.role} camera (virtual)`, rtsp: cameras[i]!.url })),
        recording: { segmentSeconds: 2, mode: 'events' },
        uplink: { url: link.url() },
        schedule: { file: scheduleFile, readinessMinutes: [1] },
      },
    });
    await agent.waitForLog((l) => l.msg === 'venuebox agent running', 60_000, 'the agent to start');
    say(`${t()} agent running; it checks readiness by itself (the event starts within a minute)`);
    const verdict = await watch.waitFor((m) => m.topic.endsWith('/readiness'), 60_000, 'the readiness verdict');
    const v = verdict.json() as { verdict: string; reasons: string[] };
    say(`${t()} readiness: ${v.verdict.toUpperCase()}${v.reasons.length > 0 ? ` — ${v.reasons.join('; ')}` : ''}`);

    await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string; to?: string }).to === 'live', (LEAD_SECONDS + 30) * 1000, 'the event to go live');
    say(`${t()} LIVE`);
    // The scenario: the uplink dies in the middle of the match for 15 s.
    await wait(Math.max(0, (EVENT_SECONDS / 2 - CUT_SECONDS / 2) * 1000));
    link.cut();
    say(`${t()} uplink CUT (every connection reset, new ones refused)`);
    await wait(CUT_SECONDS * 1000);
    await link.restore();
    say(`${t()} uplink back`);

    // Until every event is over and its recording complete at the ingest (EXT-X-ENDLIST written).
    await watch.waitFor(
      () => CAMERAS.every((c) => watch!.messages.some((m) => m.topic.endsWith('/events') && (m.json() as { type: string; eventId?: string; to?: string }).eventId === `final-${c.id}` && (m.json() as { to?: string }).to === 'done')),
      (EVENT_SECONDS + POST_ROLL + 60) * 1000,
      'the events to end',
    );
    say(`${t()} events over; waiting for the uplink to complete the recordings…`);
    for (const c of CAMERAS) await waitForFile(path.join(ingest.root, BOX, `final-${c.id}`, c.id, 'event.m3u8'), (text) => text.includes('#EXT-X-ENDLIST'), 60_000);
    const exit = await agent.stop();
    say(`${t()} agent stopped with SIGTERM → exit ${exit.code}`);

    await rm(OUTPUT, { recursive: true, force: true });
    await mkdir(OUTPUT, { recursive: true });
    await cp(ingest.root, path.join(OUTPUT, 'ingest'), { recursive: true });
    await report(agent, watch, path.join(OUTPUT, 'ingest'));
    say(`\ndemo finished in ${Math.round((performance.now() - started) / 1000)} s`);
  } finally {
    await agent?.cleanup();
    await watch?.stop();
    await link?.stop();
    for (const camera of cameras) await camera.stop();
    await ingest?.stop();
    await broker?.stop();
    await dir?.remove();
  }
}

async function waitForFile(file: string, ready: (text: string) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (ready(text)) return;
    if (Date.now() > deadline) throw new Error(`${file} not complete within ${timeoutMs / 1000} s`);
    // The ingest is a plain web server: polling its files is how a viewer would see them too.
    await wait(500);
  }
}

interface Row {
  stream_id: string;
  seq: number;
  event_id: string | null;
  duration_ms: number;
  bytes: number;
  state: string;
  gap_before_ms: number;
}

async function report(agent: AgentProcess, watch: MqttWatch, ingestRoot: string): Promise<void> {
  const db = new Database(agent.databaseFile, { readonly: true });
  const rows = db.prepare('SELECT stream_id, seq, event_id, duration_ms, bytes, state, gap_before_ms FROM segments ORDER BY stream_id, seq').all() as Row[];
  db.close();
  const uploads = agent.logs().filter((l) => l.msg === 'segment uploaded');
  const events = watch.messages.filter((m) => m.topic.endsWith('/events')).map((m) => m.json() as { type: string; [k: string]: unknown });

  const verdicts = watch.messages.filter((m) => m.topic.endsWith('/readiness')).map((m) => m.json() as { eventId: string; verdict: string; checks: Array<{ check: string; grade: string; reason: string }> });
  say('\n== readiness (checked by the box before kick-off, per event) ==');
  for (const verdict of verdicts) {
    say(`  ${verdict.eventId}: ${verdict.verdict.toUpperCase()}`);
    for (const c of verdict.checks) say(`    ${c.grade.padEnd(5)} ${c.check.padEnd(14)} ${c.reason}`);
  }
  if (verdicts.length === 0) say('  none seen');

  say('\n== recordings ==');
  say('camera  segments  uploaded live  backfilled  gaps  at the ingest (ffprobe of event.m3u8)');
  for (const c of CAMERAS) {
    const mine = rows.filter((r) => r.stream_id === c.id);
    const live = uploads.filter((u) => u['stream'] === c.id && u['live'] === true).length;
    const backfilled = uploads.filter((u) => u['stream'] === c.id && u['live'] === false).length;
    const gaps = mine.filter((r) => r.gap_before_ms > 0 || r.state === 'lost' || r.state === 'evicted').length;
    const playlist = path.join(ingestRoot, BOX, `final-${c.id}`, c.id, 'event.m3u8');
    const media = await probeMedia(playlist).catch((err: Error) => err);
    const text = await readFile(playlist, 'utf8').catch(() => '');
    const discontinuities = text.split('\n').filter((l) => l === '#EXT-X-DISCONTINUITY').length;
    const summary = media instanceof Error ? `NOT PLAYABLE: ${media.message.split('\n')[0]}` : `${media.codec} ${media.width}x${media.height}, ${media.durationSeconds.toFixed(1)} s, ${media.frames} frames, ${discontinuities} discontinuities`;
    say(`${c.id.padEnd(7)} ${String(mine.length).padStart(8)}  ${String(live).padStart(13)}  ${String(backfilled).padStart(10)}  ${String(gaps).padStart(4)}  ${summary}`);
  }

  say('\n== the uplink, as the box told the fleet ==');
  for (const e of events.filter((e) => e.type === 'uplink-state')) say(`  uplink ${String(e['previous'])} → ${String(e['state'])}${e['reason'] ? ` (${String(e['reason'])})` : ''}`);
  const healths = watch.messages.filter((m) => m.topic.endsWith('/health')).map((m) => m.json() as { spool: { backlogSegments: number }; uplink: { throughputKbps: number | null } | null; memory: { agentRssBytes: number }; cpu: { loadPercent: number } });
  const peak = Math.max(0, ...healths.map((h) => h.spool.backlogSegments));
  const last = healths.at(-1);
  say(`  ${healths.length} health reports; backlog peaked at ${peak} segments; last: backlog ${last?.spool.backlogSegments ?? '?'}, uplink ${last?.uplink?.throughputKbps ?? '?'} kbit/s, agent RSS ${last ? Math.round(last.memory.agentRssBytes / 2 ** 20) : '?'} MiB, CPU ${last?.cpu.loadPercent ?? '?'} %`);

  say('\n== events seen on the broker ==');
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  say(`  ${[...counts].map(([type, n]) => `${type} ×${n}`).join(', ')}`);
  for (const e of events.filter((e) => e.type === 'schedule-phase' && e['eventId'] === 'final-main')) say(`  final-main: ${String(e['from'])} → ${String(e['to'])} (${String(e['reason'])})`);

  const main = path.join(ingestRoot, BOX, 'final-main', 'main', 'event.m3u8');
  const files = await readdir(path.dirname(main)).catch(() => []);
  say(`\nthe recording of the main camera is at the ingest (${files.filter((f) => f.endsWith('.ts')).length} segments + playlists); play it with:`);
  say(`  ffplay ${main}`);
}

await main();
