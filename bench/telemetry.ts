/**
 * Benchmark: what fleet telemetry costs a box (issue 6, "bench/telemetry"), against a real mosquitto with TLS,
 * client certificates and docs/mosquitto-acl.example — the production setup:
 *   idle      — the real agent (bin/venuebox.js) with N cameras configured and recording (passthrough), after every
 *               camera has closed a segment: CPU (% of one core) and RSS of the agent process alone, and of its
 *               pipeline-host children apart; the virtual camera and the whole machine beside, to judge contention.
 *               Targets: agent ≤ 1 % of a core, ≤ 120 MB.
 *   health    — the size of the real health payloads the controller received from that agent (target ≤ 2 KB), and
 *               which part of it grows with the cameras.
 *   replay    — the durable outbox after a 1-hour outage: an Outbox filled with 1 h of health every 30 s plus events
 *               (default 5 000 rows), then an MqttLink connects and replays until the outbox is empty. Peer in the
 *               same run: mqtt.js alone publishing the same messages at QoS 1 over the same TLS to the same broker.
 * The house rule: measured against a peer in the same run and reported as ratios; tests never assert timings.
 *
 *   node --import tsx bench/telemetry.ts [--cameras 8] [--idle-seconds 60] [--rows 5000] [--runs 3] [--separate] [--cpu-prof DIR] [--write]
 *
 * `--cpu-prof DIR` keeps a V8 CPU profile of the agent (open them in Chrome DevTools).
 *
 * `--separate` gives each configured camera its own virtual camera process (8 x264 encoders on this machine);
 * by default one shared virtual camera (gst-rtsp-server shares one encoder among clients, as a real camera
 * does) serves all N, so the cameras' own encoding does not crowd out the box being measured.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import mqtt from 'mqtt';
import pino from 'pino';
import { Store } from '../agent/store/index.ts';
import { MqttLink } from '../agent/uplink/mqtt-link.ts';
import { Outbox } from '../agent/uplink/outbox.ts';
import { startAgent } from '../test/helpers/agent.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';
import { watchMqtt, type MqttWatch } from '../test/helpers/mqtt-watch.ts';
import { createPki, type Pki } from '../test/helpers/pki.ts';
import { makeTempDir } from '../test/helpers/tmp.ts';
import { startVirtualCamera, type VirtualCamera } from '../test/helpers/virtual-camera.ts';
import { runBench, writeBenchSection } from './bench-report.ts';
import { cameraPid, CLK_TCK, machineTicks, sampleTree } from './proc-stats.ts';

const run = promisify(execFile);
const ACL = fileURLToPath(new URL('../docs/mosquitto-acl.example', import.meta.url));
const [BEGIN, END] = ['<!-- bench:telemetry:begin -->', '<!-- bench:telemetry:end -->'];
const BOX = 'bench-box';
const PREFIX = `venuebox/v1/${BOX}`;
const CAMERA = { width: 1280, height: 720, fps: 25, bitrateKbps: 2000 };
const HEALTH_EVERY_S = 30;
const OUTAGE_S = 3600;

interface ProcSample { ticks: number; rssKiB: number; hwmKiB: number }

/** One process alone (no children): utime + stime, VmRSS, VmHWM (proc(5)). */
function processSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { ticks: Number(f[11]) + Number(f[12]), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/** Live descendants of `root` (the pipeline hosts and whatever they run). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      continue; // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const [child, ppid] of parent) if (ppid === pid) (out.push(child), queue.push(child));
  }
  return out;
}

const pctOfCore = (ticks: number, seconds: number) => (100 * ticks) / CLK_TCK / seconds;
const mib = (kib: number) => kib / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

interface IdleResult {
  seconds: number;
  agentCpuPct: number;
  agentRssMiB: number;
  agentHwmMiB: number;
  childCount: number;
  childrenCpuPct: number;
  childrenRssMiB: number;
  cameraCpuPct: number;
  machineBusyPct: number;
  healthBytes: number[];
  healthSample: Record<string, unknown> | undefined;
}

async function idlePhase(broker: Mosquitto, pki: Pki, cameras: VirtualCamera[], count: number, idleSeconds: number, controller: MqttWatch, cpuProfileDir?: string): Promise<IdleResult> {
  const files = await pki.client(BOX);
  const agent = await startAgent({
    // --cpu-prof: V8 writes the agent's profile into the folder when it exits.
    ...(cpuProfileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProfileDir)}`] } : {}),
    config: {
      boxId: BOX,
      log: { level: 'info' },
      discovery: { enabled: false },
      mqtt: { url: broker.url, tls: { caFile: pki.caFile, ...files } },
      cameras: Array.from({ length: count }, (_, i) => ({ id: `cam${i + 1}`, rtsp: cameras[i % cameras.length]!.url })),
    },
  });
  try {
    console.error(`… agent started (pid ${agent.child.pid}); waiting for every camera to close a segment`);
    // A second file in a camera's spool folder: its first segment is closed (read from disk: `segment closed` is a debug line).
    const segments = (id: string) => {
      try {
        return readdirSync(path.join(agent.spoolDir, id)).filter((f) => f.endsWith('.ts')).length;
      } catch {
        return 0;
      }
    };
    const deadline = Date.now() + 120_000;
    while (Array.from({ length: count }, (_, i) => segments(`cam${i + 1}`)).some((n) => n < 2)) {
      if (Date.now() > deadline || agent.child.exitCode !== null) throw new Error(`not every camera recorded within 120 s; agent output:\n${agent.output().slice(-2000)}`);
      await sleep(500);
    }
    await sleep(10_000); // start-up over: tsx compilation, first health sample, first DESCRIBEs
    const pid = agent.child.pid!;
    const cameraPids = [...new Set(cameras.map((c) => cameraPid(c.port)))];
    const children0 = descendants(pid);
    const a0 = processSample(pid);
    const tree0 = sampleTree(pid).ticks;
    const cam0 = cameraPids.reduce((s, p) => s + sampleTree(p).ticks, 0);
    const m0 = machineTicks();
    const healthFrom = controller.messages.length;
    console.error(`… measuring ${idleSeconds} s`);
    await sleep(idleSeconds * 1000);
    const a1 = processSample(pid);
    const tree1 = sampleTree(pid).ticks;
    const cam1 = cameraPids.reduce((s, p) => s + sampleTree(p).ticks, 0);
    const m1 = machineTicks();
    const children1 = descendants(pid);
    if (children1.join() !== children0.join()) console.error('note: the set of child processes changed during the window (a pipeline restarted)');
    const childRssKiB = children1.reduce((s, p) => {
      try {
        return s + processSample(p).rssKiB;
      } catch {
        return s;
      }
    }, 0);
    const agentTicks = a1.ticks - a0.ticks;
    // At least one real health payload (every 30 s by default): a short window may have seen none.
    if (!controller.messages.some((m) => m.topic === `${PREFIX}/health`)) await controller.waitFor((m) => m.topic === `${PREFIX}/health`, 45_000, 'a health report');
    const health = controller.messages.filter((m) => m.topic === `${PREFIX}/health`);
    const inWindow = controller.messages.slice(healthFrom).filter((m) => m.topic === `${PREFIX}/health`);
    return {
      seconds: idleSeconds,
      agentCpuPct: pctOfCore(agentTicks, idleSeconds),
      agentRssMiB: mib(a1.rssKiB),
      agentHwmMiB: mib(a1.hwmKiB),
      childCount: children1.length,
      childrenCpuPct: pctOfCore(tree1 - tree0 - agentTicks, idleSeconds),
      childrenRssMiB: mib(childRssKiB),
      cameraCpuPct: pctOfCore(cam1 - cam0, idleSeconds),
      machineBusyPct: (100 * (m1.busy - m0.busy)) / (m1.total - m0.total),
      healthBytes: (inWindow.length > 0 ? inWindow : health).map((m) => Buffer.byteLength(m.payload)),
      healthSample: health.at(-1)?.json() as Record<string, unknown> | undefined,
    };
  } finally {
    await agent.stop();
    await agent.cleanup();
  }
}

/** 1 h of outage: health every 30 s (the real payload) and events up to `rows`, timestamps spread over the hour. */
function fillOutbox(outbox: Outbox, rows: number, health: string): { events: number; health: number; bytes: number } {
  const healthRows = OUTAGE_S / HEALTH_EVERY_S;
  const events = Math.max(0, rows - healthRows);
  const start = Date.now() - OUTAGE_S * 1000 - 60_000;
  const types = ['camera-offline', 'camera-online', 'uplink-state', 'segment-evicted', 'pipeline-restarted'];
  const items: Array<{ at: number; topic: string; payload: string; kind: 'event' | 'health' }> = [];
  for (let i = 0; i < healthRows; i++) items.push({ at: start + i * HEALTH_EVERY_S * 1000, topic: `${PREFIX}/health`, payload: health, kind: 'health' });
  for (let i = 0; i < events; i++) {
    const at = start + Math.floor((i * OUTAGE_S * 1000) / Math.max(1, events));
    const payload = JSON.stringify({ type: types[i % types.length], cameraId: `cam${(i % 8) + 1}`, reason: 'RTSP DESCRIBE timed out after 5000 ms', ts: new Date(at).toISOString(), n: i });
    items.push({ at, topic: `${PREFIX}/events`, payload, kind: 'event' });
  }
  items.sort((a, b) => a.at - b.at);
  let bytes = 0;
  for (const item of items) {
    outbox.add(item.topic, item.payload, item.kind, new Date(item.at));
    bytes += Buffer.byteLength(item.payload);
  }
  return { events, health: healthRows, bytes };
}

interface ReplayResult { who: 'venuebox' | 'mqtt.js window 64' | 'mqtt.js at once'; rows: number; delivered: number; seconds: number; deliveredSeconds: number; connectSeconds: number; busyPct: number }

async function replayVenuebox(broker: Mosquitto, pki: Pki, rows: number, health: string, controller: MqttWatch, dir: string, runIndex: number): Promise<ReplayResult> {
  const store = Store.open(path.join(dir, `replay-${runIndex}.db`));
  const outbox = new Outbox(store);
  fillOutbox(outbox, rows, health);
  const files = await pki.client(BOX);
  const link = new MqttLink({
    url: broker.url,
    clientId: `venuebox-${BOX}`,
    tls: { caFile: pki.caFile, ...files, rejectUnauthorized: true },
    keepaliveSeconds: 30,
    connectTimeoutSeconds: 10,
    topicPrefix: 'venuebox/v1',
    boxId: BOX,
    birth: () => ({ boxId: BOX, bootId: 'bench', bootCount: 1, version: 'bench' }),
    log: pino({ level: 'silent' }),
    outbox,
  });
  const seenBefore = controller.messages.length;
  const m0 = machineTicks();
  const started = performance.now();
  link.start();
  try {
    while (!link.connected) await sleep(2);
    const connectedAt = performance.now();
    while (outbox.size() > 0) await sleep(20);
    const emptyAt = performance.now();
    const delivered = () => controller.messages.slice(seenBefore).filter((m) => m.topic === `${PREFIX}/events` || m.topic === `${PREFIX}/health`).length;
    while (delivered() < rows && performance.now() - emptyAt < 30_000) await sleep(20);
    const deliveredAt = performance.now();
    const m1 = machineTicks();
    if (delivered() < rows) console.error(`note: the controller received ${delivered()} of ${rows}`);
    return { who: 'venuebox', rows, delivered: delivered(), seconds: (emptyAt - connectedAt) / 1000, deliveredSeconds: (deliveredAt - connectedAt) / 1000, connectSeconds: (connectedAt - started) / 1000, busyPct: (100 * (m1.busy - m0.busy)) / (m1.total - m0.total) };
  } finally {
    await link.stop(500);
    store.close();
  }
}

/**
 * The peers: mqtt.js alone (the library MqttLink uses) publishing the same messages on the same topics at QoS 1 over
 * the same TLS with the same certificate, from memory: with the link's window of 64 in flight (the link without the
 * durable outbox), and all at once (mqtt.js does not cap messages in flight). (`mosquitto_pub -l -q 1` was the first
 * choice; 2.0.11 exits at the end of its input before sending everything: 2409 and 3810 of 5000 lines delivered.)
 */
async function replayMqttJs(broker: Mosquitto, pki: Pki, rows: Array<{ topic: string; payload: string }>, controller: MqttWatch, window: number): Promise<ReplayResult> {
  const files = await pki.client(BOX);
  const seenBefore = controller.messages.length;
  const m0 = machineTicks();
  const started = performance.now();
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `venuebox-${BOX}`, ca: readFileSync(pki.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), reconnectPeriod: 0 });
  try {
    const connectedAt = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        await client.publishAsync(row.topic, row.payload, { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, rows.length) }, lane));
    const ackedAt = performance.now();
    const delivered = () => controller.messages.slice(seenBefore).filter((m) => m.topic === `${PREFIX}/events` || m.topic === `${PREFIX}/health`).length;
    // Until all arrived, or nothing more for 3 s (a broker that dropped some for its subscriber).
    for (let count = -1, changedAt = performance.now(); delivered() < rows.length && performance.now() - changedAt < 3000; await sleep(20)) {
      if (delivered() !== count) [count, changedAt] = [delivered(), performance.now()];
    }
    const deliveredAt = performance.now();
    const m1 = machineTicks();
    return { who: window >= rows.length ? 'mqtt.js at once' : 'mqtt.js window 64', rows: rows.length, delivered: delivered(), seconds: (ackedAt - connectedAt) / 1000, deliveredSeconds: (deliveredAt - connectedAt) / 1000, connectSeconds: (connectedAt - started) / 1000, busyPct: (100 * (m1.busy - m0.busy)) / (m1.total - m0.total) };
  } finally {
    await client.endAsync();
  }
}

function machine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · Node ${process.version}`;
}

/** Bytes of each top-level part of a health payload, largest first. */
function healthBreakdown(sample: Record<string, unknown>): string {
  return Object.entries(sample)
    .map(([key, value]) => [key, Buffer.byteLength(JSON.stringify(value))] as const)
    .sort((a, b) => b[1] - a[1])
    .map(([key, bytes]) => `${key} ${bytes}`)
    .join(', ');
}

function report(o: { count: number; shared: boolean; idle: IdleResult; replays: ReplayResult[]; rows: number; fill: { events: number; health: number; bytes: number }; mosquitto: string }): string {
  const { idle } = o;
  const cameras = (idle.healthSample?.['cameras'] ?? {}) as Record<string, unknown>;
  const perCamera = Object.keys(cameras).length > 0 ? Math.round(Buffer.byteLength(JSON.stringify(cameras)) / Object.keys(cameras).length) : 0;
  const hb = idle.healthBytes;
  const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**');
  const byWho = (who: ReplayResult['who']) => o.replays.filter((r) => r.who === who);
  const rate = (r: ReplayResult) => r.rows / r.seconds;
  const vb = byWho('venuebox');
  const peer = byWho('mqtt.js window 64');
  const peerRate = median(peer.map(rate));
  const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [
    BEGIN,
    `### Results: ${machine()} · ${o.mosquitto}`,
    '',
    `Other sessions ran their own tests and benchmarks on this 2-core machine at the same time: read the machine-busy column before the absolute figures.`,
    '',
    `#### Idle agent, ${o.count} cameras configured and recording (passthrough, ${CAMERA.width}x${CAMERA.height}@${CAMERA.fps} ${CAMERA.bitrateKbps} kbps, ${o.shared ? 'one shared virtual camera' : 'one virtual camera each'}), TLS to the broker, ${idle.seconds} s window`,
    '',
    row(['process', 'CPU % of one core', 'RSS MiB (peak)', 'target']),
    row(['---', '--:', '--:', '---']),
    row(['agent (Node, tsx) alone', idle.agentCpuPct.toFixed(2), `${idle.agentRssMiB.toFixed(0)} (${idle.agentHwmMiB.toFixed(0)})`, `≤ 1 %: ${verdict(idle.agentCpuPct <= 1)}; ≤ 120 MB: ${verdict(idle.agentRssMiB * 1.048576 <= 120)}`]),
    row([`its ${idle.childCount} child processes (pipeline hosts)`, idle.childrenCpuPct.toFixed(2), idle.childrenRssMiB.toFixed(0), '—']),
    row([`the virtual camera${o.shared ? '' : 's'} (x264, not the box)`, idle.cameraCpuPct.toFixed(2), '—', '—']),
    row(['whole machine busy, % of all cores', ((idle.machineBusyPct)).toFixed(0), '—', '—']),
    '',
    `#### Health message size (real payloads received by the controller, ${o.count} cameras)`,
    '',
    `${hb.length} payloads: ${Math.min(...hb)}–${Math.max(...hb)} bytes (target ≤ 2048: ${verdict(Math.max(...hb) <= 2048)}). Per camera: ${perCamera} bytes in \`cameras\` (its quality and its pipeline). By part: ${idle.healthSample ? healthBreakdown(idle.healthSample) : 'n/a'}.`,
    '',
    `#### Outbox replay after a 1-hour outage: ${o.rows} rows (${o.fill.health} health every ${HEALTH_EVERY_S} s + ${o.fill.events} events, ${(o.fill.bytes / 1024).toFixed(0)} KiB), QoS 1, TLS, ${vb.length} runs`,
    '',
    row(['publisher', 'msg/s until acknowledged (median; runs)', 'delivered to the controller (worst run)', 'all delivered, s after CONNACK (median)', 'rate vs mqtt.js window 64', 'connect s (TLS)', 'machine busy %']),
    row(['---', '--:', '--:', '--:', '--:', '--:', '--:']),
    ...(['venuebox', 'mqtt.js window 64', 'mqtt.js at once'] as const).map((who) => {
      const rs = byWho(who);
      const label = { venuebox: 'venuebox: MqttLink + SQLite Outbox (window 64, historical: true added per row)', 'mqtt.js window 64': 'mqtt.js alone, from memory, 64 in flight', 'mqtt.js at once': 'mqtt.js alone, from memory, all 5 000 at once' };
      return row([
        label[who],
        `${median(rs.map(rate)).toFixed(0)} (${rs.map((r) => rate(r).toFixed(0)).join(', ')})`,
        `${Math.min(...rs.map((r) => r.delivered))} of ${o.rows}`,
        Math.min(...rs.map((r) => r.delivered)) < o.rows ? '—' : median(rs.map((r) => r.deliveredSeconds)).toFixed(2),
        `${(median(rs.map(rate)) / peerRate).toFixed(2)}×`,
        median(rs.map((r) => r.connectSeconds)).toFixed(2),
        median(rs.map((r) => r.busyPct)).toFixed(0),
      ]);
    }),
    '',
    `> An hour of outage (${o.rows} messages) is replayed in ${median(vb.map((r) => r.seconds)).toFixed(1)} s by venuebox (from CONNACK until the last row is acknowledged and deleted), ${(median(vb.map(rate)) / peerRate).toFixed(2)}× the rate of mqtt.js sending the same messages from memory with the same window: the difference is the outbox (a SELECT per refill, a DELETE per PUBACK, the historical mark) — what makes the replay durable. A publisher faster than the controller is acknowledged sooner, but the broker then drops what the controller's queue cannot hold (mosquitto's max_queued_messages 1000 + max_inflight_messages 20 per session, QoS 1 or not): the controller got ${Math.min(...byWho('mqtt.js window 64').map((r) => r.delivered))} (window 64) and ${Math.min(...byWho('mqtt.js at once').map((r) => r.delivered))} (all at once) of ${o.rows} in the worst run.`,
    END,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cameras: { type: 'string', default: '8' },
      'idle-seconds': { type: 'string', default: '60' },
      rows: { type: 'string', default: '5000' },
      runs: { type: 'string', default: '3' },
      separate: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      write: { type: 'boolean', default: false },
    },
  });
  const [count, idleSeconds, rows, runs] = [Number(values.cameras), Number(values['idle-seconds']), Number(values.rows), Number(values.runs)];
  if (![count, idleSeconds, rows, runs].every((n) => Number.isInteger(n) && n > 0) || count > 64) throw new Error('--cameras (≤ 64), --idle-seconds, --rows and --runs take positive integers');
  const shared = !values.separate;
  const cleanup: Array<() => Promise<void>> = [];
  process.on('SIGINT', () => void Promise.allSettled(cleanup.reverse().map((f) => f())).then(() => process.exit(130)));
  try {
    const dir = await makeTempDir('bench-telemetry');
    cleanup.push(() => dir.remove());
    const pki = await createPki();
    cleanup.push(() => pki.remove());
    const broker = await startMosquitto({ tls: { caFile: pki.caFile, ...(await pki.server()) }, aclFile: ACL });
    cleanup.push(() => broker.stop());
    const controllerCert = await pki.client('controller');
    const controller = await watchMqtt(broker.url, `${PREFIX}/#`, { ca: readFileSync(pki.caFile), cert: readFileSync(controllerCert.certFile), key: readFileSync(controllerCert.keyFile) });
    cleanup.push(() => controller.stop());
    const mosquitto = (await run('mosquitto', ['-h']).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout.split('\n')[0]?.trim() ?? 'mosquitto';

    console.error(`… starting ${shared ? 1 : count} virtual camera(s)`);
    const cameras: VirtualCamera[] = [];
    for (let i = 0; i < (shared ? 1 : count); i++) {
      const camera = await startVirtualCamera(CAMERA);
      cleanup.push(() => camera.stop());
      cameras.push(camera);
    }
    const idle = await idlePhase(broker, pki, cameras, count, idleSeconds, controller, values['cpu-prof']);
    for (const camera of cameras) await camera.stop();
    console.error(`idle: agent ${idle.agentCpuPct.toFixed(2)} % of a core, ${idle.agentRssMiB.toFixed(0)} MiB; children ${idle.childrenCpuPct.toFixed(1)} %; health ${idle.healthBytes.join(', ')} bytes`);

    const health = JSON.stringify(idle.healthSample ?? { note: 'no health received' });
    // The lines as venuebox replays them (marked historical), from a scratch outbox filled the same way.
    const scratch = Store.open(path.join(dir.path, 'lines.db'));
    const scratchOutbox = new Outbox(scratch);
    const fill = fillOutbox(scratchOutbox, rows, health);
    const lines = scratchOutbox.next(rows + 1).map((r) => ({ topic: r.topic, payload: JSON.stringify({ ...(JSON.parse(r.payload) as object), historical: true }) }));
    scratch.close();
    const replays: ReplayResult[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first: a machine that gets busier during the run favours neither.
      for (const who of i % 2 === 0 ? ['venuebox', 'window', 'flood'] : ['flood', 'window', 'venuebox']) {
        const result =
          who === 'venuebox' ? await replayVenuebox(broker, pki, rows, health, controller, dir.path, i) : await replayMqttJs(broker, pki, lines, controller, who === 'window' ? 64 : lines.length);
        replays.push(result);
        console.error(`${result.who}: ${(result.rows / result.seconds).toFixed(0)} msg/s`);
      }
    }
    const section = report({ count, shared, idle, replays, rows, fill, mosquitto });
    console.log(section);
    if (values.write) await writeBenchSection(BEGIN, END, section);
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

runBench(main);
