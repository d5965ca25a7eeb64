/**
 * Benchmark: camera discovery (issue 3). Targets: with 50 cameras, 95 % found by multicast within 3 s and all
 * within 6 s; a /24 unicast sweep within 15 s. Measured in network namespaces on one run of this script:
 *   multicast — `probeCameras` in a `box` namespace against 50 virtual ONVIF cameras (scripts/virtual-onvif.ts,
 *               one process and one namespace, hence one IP and MAC, per camera; real 0–500 ms reply delay);
 *               peer: the `onvif` package's `Discovery.probe`, same box, same cameras, same window.
 *   sweep     — `sweepSubnets` over a /24 where 5 cameras exist, with the config defaults (ports, concurrency,
 *               timeout); peer: a plain TCP connect scan of the same targets, same concurrency and timeout.
 * House rules, usage and results: docs/BENCHMARKS.md.
 *
 *   node --import tsx bench/discovery.ts [--runs 5] [--cameras 50] [--window-ms 6000] [--write]
 */
import { runBench, writeBenchSection } from './bench-report.ts';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import onvif from 'onvif';
import { hostsOf } from '../agent/cameras/lan-interfaces.ts';
import { sweepSubnets } from '../agent/cameras/unicast-sweep.ts';
import { parseDiscoveryMessage } from '../agent/cameras/ws-discovery-messages.ts';
import { probeCameras } from '../agent/cameras/ws-discovery.ts';
import { configObjectSchema } from '../agent/config/schema.ts';
import { mapLimit } from '../agent/lib/concurrency.ts';
import { createTopology, type Topology } from '../test/helpers/netns.ts';
import { startProcess, type ManagedProcess } from '../test/helpers/processes.ts';

const SELF = fileURLToPath(import.meta.url);
const SIMULATOR = fileURLToPath(new URL('../scripts/virtual-onvif.ts', import.meta.url));
const [BEGIN, END] = ['<!-- bench:discovery:begin -->', '<!-- bench:discovery:end -->'];
const HEADING = '## Camera discovery (`bench/discovery.ts`)';
const LAN = { prefix: '10.78.1', box: '10.78.1.2' }; // cameras at .10 onwards: multicast reaches them
// Swept by unicast: 5 cameras on ports of the default list (cheap cameras use 8080, 8899, 10080…), 249 empty addresses.
const VLAN = { prefix: '10.78.2', box: '10.78.2.2', httpPorts: [80, 80, 8080, 8899, 10080] };
const DEFAULTS = configObjectSchema.shape.discovery.parse(undefined); // ports, sweepConcurrency, connectTimeoutMs
const PROBERS = ['venuebox', 'onvif'] as const;
const SWEEPERS = ['venuebox', 'tcp-connect'] as const;
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------------
// Child roles: run inside the box namespace, print one line `RESULT {json}`.

interface ProbeRun { found: number; arrivalsMs: number[]; callMs: number; problems: string[] }
interface SweepRun { found: string[]; probed: number; wallMs: number; outcomes: Record<string, number> }

/** Timestamps on every UDP socket created from here on (the agent's and the onvif package's alike, neither changed):
 * the first send, and each datagram when it reaches JavaScript. Parsed only afterwards, so that the tap adds no XML
 * parsing to the event loop under test (a cold parse costs ~2 ms a datagram here). */
function tapUdpSockets(): { arrivalsMs: () => number[] } {
  const datagrams: Array<{ at: number; text: string; from: dgram.RemoteInfo }> = [];
  let firstSend: number | undefined;
  const create = dgram.createSocket.bind(dgram) as (...args: unknown[]) => dgram.Socket;
  (dgram as { createSocket: unknown }).createSocket = (...args: unknown[]) => {
    const socket = create(...args);
    const send = socket.send.bind(socket) as (...a: unknown[]) => void;
    (socket as { send: unknown }).send = (...a: unknown[]) => {
      firstSend ??= performance.now();
      send(...a);
    };
    socket.on('message', (buf, from) => void datagrams.push({ at: performance.now(), text: buf.toString('utf8'), from }));
    return socket;
  };
  const arrivalsMs = (): number[] => {
    const firstMatch = new Map<string, number>(); // endpoint URN → first ProbeMatch
    for (const { at, text, from } of datagrams) {
      try {
        const message = parseDiscoveryMessage(text, from);
        if (message.kind === 'probe-match') for (const m of message.matches) if (!firstMatch.has(m.urn)) firstMatch.set(m.urn, at);
      } catch {
        // not a discovery message: the prober under test reports it, if it cares
      }
    }
    return [...firstMatch.values()].map((t) => t - (firstSend ?? t)).sort((a, b) => a - b);
  };
  return { arrivalsMs };
}

async function childProbe(prober: string, windowMs: number): Promise<ProbeRun> {
  const tap = tapUdpSockets();
  const started = performance.now();
  if (prober === 'venuebox') {
    const { devices, problems } = await probeCameras({ interfaces: ['lan'], windowMs });
    return { found: devices.length, arrivalsMs: tap.arrivalsMs(), callMs: performance.now() - started, problems: problems.map((p) => `${p.where}: ${p.message}`) };
  }
  // STACK-NOTES: the interface explicitly, resolve: false, and an error listener (a malformed reply throws otherwise).
  const problems: string[] = [];
  onvif.Discovery.on('error', (err) => problems.push(String(err)));
  const devices = await new Promise<unknown[]>((resolve) => onvif.Discovery.probe({ device: 'lan', resolve: false, timeout: windowMs }, (_err, found) => resolve(found ?? [])));
  return { found: devices.length, arrivalsMs: tap.arrivalsMs(), callMs: performance.now() - started, problems };
}

async function childSweep(sweeper: string, subnet: string): Promise<SweepRun> {
  const { ports, sweepConcurrency: concurrency, connectTimeoutMs: timeoutMs } = DEFAULTS;
  const started = performance.now();
  const outcomes: Record<string, number> = {};
  const count = (outcome: string) => void (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);
  if (sweeper === 'venuebox') {
    // What became of each request, seen by wrapping the global fetch: sweepSubnets itself swallows every failure.
    const fetchOriginal = globalThis.fetch;
    globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
      try {
        const response = await fetchOriginal(...args);
        count('open');
        return response;
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        count((err as Error).name === 'TimeoutError' ? 'timeout' : cause?.code === 'ECONNREFUSED' ? 'refused' : (cause?.code ?? cause?.message ?? String(err)));
        throw err;
      }
    };
    const result = await sweepSubnets({ subnets: [subnet], ports, concurrency, timeoutMs });
    return { found: result.found.map((f) => `${f.host}:${f.port}`), probed: result.probed, wallMs: performance.now() - started, outcomes };
  }
  // The peer: what the sweep costs without HTTP and SOAP. Same targets in the same order, same bounds.
  const targets = hostsOf(subnet).flatMap((host) => ports.map((port) => ({ host, port })));
  const found: string[] = [];
  await mapLimit(targets, concurrency, ({ host, port }) =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host, port });
      const end = (outcome: string) => {
        clearTimeout(timer);
        socket.destroy();
        count(outcome);
        if (outcome === 'open') found.push(`${host}:${port}`);
        resolve();
      };
      const timer = setTimeout(() => end('timeout'), timeoutMs);
      socket.once('connect', () => end('open'));
      socket.once('error', (err: NodeJS.ErrnoException) => end(err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? 'error')));
    }),
  );
  return { found, probed: targets.length, wallMs: performance.now() - started, outcomes };
}

// ---------------------------------------------------------------------------------------------------
// The parent: topology, cameras, runs, report.

/** Share of all cores busy between two /proc/stat samples: the other engineers' load shows here. */
function cpuTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

async function inBox<T>(topology: Topology, args: string[], signal: AbortSignal): Promise<T & { busyPct: number }> {
  const before = cpuTicks();
  const { stdout } = await run('ip', ['netns', 'exec', topology.ns('box'), process.execPath, '--import', 'tsx', SELF, ...args], { signal, timeout: 120_000, maxBuffer: 16 << 20 }).catch((err: unknown) => {
    signal.throwIfAborted(); // a Ctrl-C reaches the child too: report the interruption, not the child's death
    throw err;
  });
  const after = cpuTicks();
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child ${args.join(' ')} printed no result:\n${stdout}`);
  return { ...(JSON.parse(line.slice(7)) as T), busyPct: (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total) };
}

function startCamera(topology: Topology, { name: host, httpPort, links }: { name: string; httpPort: number; links: Array<{ address: string }> }, index: number): Promise<ManagedProcess> {
  const options = { bind: links[0]?.address.split('/')[0], httpPort, discoveryPort: 3702, maxReplyDelayMs: 500, name: `Camera ${host}`, uuid: `00000000-0000-4000-8000-${(index + 1).toString(16).padStart(12, '0')}` };
  return startProcess('ip', ['netns', 'exec', topology.ns(host), process.execPath, '--import', 'tsx', SIMULATOR, '--json-config', JSON.stringify(options)], {
    readyLine: /^READY /,
    timeoutMs: 120_000,
    label: `virtual-onvif ${host}`,
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const worst = (xs: number[]): number => Math.max(...xs);
/** Time to the first `fraction` of `of` cameras; Infinity when that many never answered. */
const timeTo = (r: ProbeRun, fraction: number, of: number): number => r.arrivalsMs[Math.ceil(fraction * of) - 1] ?? Infinity;
const secs = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'never');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
const row = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`;

function multicastTable(results: Record<(typeof PROBERS)[number], Array<ProbeRun & { busyPct: number }>>, cameras: number): string {
  const stat = (p: (typeof PROBERS)[number], f: number) => results[p].map((r) => timeTo(r, f, cameras));
  const peer = { found: median(results.onvif.map((r) => r.found)), t50: median(stat('onvif', 0.5)), t95: median(stat('onvif', 0.95)) };
  return [
    row(['prober', 'found of ' + cameras + ', median (worst)', '50 % after s, median (worst)', '95 % after s, median (worst)', '100 % after s, median (worst)', 'call s', 'found vs onvif', '50 % time vs onvif', '95 % time vs onvif', 'machine busy %']),
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...PROBERS.map((p) => {
      const rs = results[p];
      const found = rs.map((r) => r.found);
      const t = (f: number) => `${secs(median(stat(p, f)))} (${secs(worst(stat(p, f)))})`;
      return row([p, `${median(found)} (${Math.min(...found)})`, t(0.5), t(0.95), t(1), secs(median(rs.map((r) => r.callMs))), ratio(median(found), peer.found), ratio(median(stat(p, 0.5)), peer.t50), ratio(median(stat(p, 0.95)), peer.t95), median(rs.map((r) => r.busyPct)).toFixed(0)]);
    }),
  ].join('\n');
}

/** Time-outs × timeout / in flight (last run): what the slots spend waiting on absent hosts, whatever runs per target. */
const floorMs = (s: (typeof SWEEPERS)[number], results: Record<(typeof SWEEPERS)[number], SweepRun[]>): number =>
  ((results[s].at(-1)?.outcomes['timeout'] ?? 0) * DEFAULTS.connectTimeoutMs) / DEFAULTS.sweepConcurrency;

function sweepTable(results: Record<(typeof SWEEPERS)[number], Array<SweepRun & { busyPct: number }>>, expected: string[]): string {
  const peer = median(results['tcp-connect'].map((r) => r.wallMs));
  const what = { venuebox: 'sweepSubnets: HTTP POST GetSystemDateAndTime, parse the reply', 'tcp-connect': 'net.connect only (no HTTP)' };
  return [
    row(['sweeper', 'what runs per host × port', 'targets', `found of ${expected.length}, median (worst)`, 'wall s, median (worst)', 'time vs TCP connect scan', 'attempts (last run): answered / refused / timed out / other', 'time-out floor s', 'above the floor s', 'machine busy %']),
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...SWEEPERS.map((s) => {
      const rs = results[s];
      const found = rs.map((r) => r.found.length);
      const o = rs.at(-1)?.outcomes ?? {};
      const missed = expected.filter((e) => !rs.every((r) => r.found.includes(e)));
      const other = Object.entries(o).filter(([k]) => !['open', 'refused', 'timeout'].includes(k)).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
      const outcomes = `${o['open'] ?? 0} / ${o['refused'] ?? 0} / ${o['timeout'] ?? 0} / ${other}`;
      const walls = rs.map((r) => r.wallMs);
      return row([s, what[s], rs[0]?.probed ?? 0, `${median(found)} (${Math.min(...found)})${missed.length ? `; missed ${missed.join(', ')}` : ''}`, `${secs(median(walls))} (${secs(worst(walls))})`, ratio(median(walls), peer), outcomes, secs(floorMs(s, results)), secs(median(walls) - floorMs(s, results)), median(rs.map((r) => r.busyPct)).toFixed(0)]);
    }),
  ].join('\n');
}

function machine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      peer: { type: 'string', default: 'venuebox' },
      subnet: { type: 'string', default: `${VLAN.prefix}.0/24` },
      runs: { type: 'string', default: '5' },
      cameras: { type: 'string', default: '50' },
      'window-ms': { type: 'string', default: '6000' },
      write: { type: 'boolean', default: false },
    },
  });
  const [runs, cameras, windowMs] = [Number(values.runs), Number(values.cameras), Number(values['window-ms'])];
  if (![runs, cameras, windowMs].every((n) => Number.isInteger(n) && n > 0) || cameras > 200) throw new Error('--runs, --cameras (≤ 200) and --window-ms take positive integers');
  if (values.role === 'probe') return void console.log(`RESULT ${JSON.stringify(await childProbe(values.peer, windowMs))}`);
  if (values.role === 'sweep') return void console.log(`RESULT ${JSON.stringify(await childSweep(values.peer, values.subnet))}`);

  // Ctrl-C aborts the running child and the camera start-up; the finally block stops the cameras and deletes the namespaces.
  const abort = new AbortController();
  process.on('SIGINT', () => (abort.signal.aborted ? process.exit(130) : abort.abort()));
  const cameraHosts = [
    ...Array.from({ length: cameras }, (_, i) => ({ name: `cam${i}`, httpPort: 80, links: [{ bridge: 'lan', address: `${LAN.prefix}.${10 + i}/24` }] })),
    ...VLAN.httpPorts.map((httpPort, i) => ({ name: `swept${i}`, httpPort, links: [{ bridge: 'vlan', address: `${VLAN.prefix}.${10 + i}/24` }] })),
  ];
  const hosts = [{ name: 'box', links: [{ bridge: 'lan', address: `${LAN.box}/24` }, { bridge: 'vlan', address: `${VLAN.box}/24` }] }, ...cameraHosts];
  const expected = VLAN.httpPorts.map((port, i) => `${VLAN.prefix}.${10 + i}:${port}`);
  console.error(`… creating ${hosts.length} namespaces and starting ${cameraHosts.length} virtual cameras`);
  const topology = await createTopology({ bridges: [{ name: 'lan', subnet: `${LAN.prefix}.0/24` }, { name: 'vlan', subnet: `${VLAN.prefix}.0/24` }], hosts });
  const started: ManagedProcess[] = [];
  const probes: Record<(typeof PROBERS)[number], Array<ProbeRun & { busyPct: number }>> = { venuebox: [], onvif: [] };
  const sweeps: Record<(typeof SWEEPERS)[number], Array<SweepRun & { busyPct: number }>> = { venuebox: [], 'tcp-connect': [] };
  let neighbour = '';
  try {
    // Two at a time: 55 Node start-ups at once on 2 cores would only queue.
    await mapLimit(cameraHosts, 2, async (host, i) => {
      abort.signal.throwIfAborted();
      started.push(await startCamera(topology, host, i));
    });
    const sysctl = async (key: string) => (await topology.exec('box', 'sysctl', ['-n', `net.ipv4.neigh.vlan.${key}`])).stdout.trim();
    neighbour = `mcast_solicit ${await sysctl('mcast_solicit')} × retrans_time_ms ${await sysctl('retrans_time_ms')}`;
    for (let i = 0; i < runs; i++) {
      // Alternate who goes first, so neither always meets the cameras (and the machine) in the same state.
      for (const p of i % 2 ? [...PROBERS].reverse() : PROBERS) {
        const r = await inBox<ProbeRun>(topology, ['--role', 'probe', '--peer', p, '--window-ms', String(windowMs), '--cameras', String(cameras)], abort.signal);
        console.error(`run ${i + 1} multicast ${p}: ${r.found}/${cameras} found, 95 % after ${secs(timeTo(r, 0.95, cameras))} s, all after ${secs(timeTo(r, 1, cameras))} s${r.problems.length ? `; problems: ${r.problems.slice(0, 3).join('; ')}` : ''}`);
        probes[p].push(r);
        await sleep(1000, undefined, { signal: abort.signal }); // late replies die with the child's socket; let the cameras settle
      }
      for (const s of i % 2 ? [...SWEEPERS].reverse() : SWEEPERS) {
        // A cold neighbour cache, as at the box's start: every absent host costs a full ARP resolution attempt.
        await topology.exec('box', 'ip', ['neigh', 'flush', 'dev', 'vlan']);
        const r = await inBox<SweepRun>(topology, ['--role', 'sweep', '--peer', s], abort.signal);
        console.error(`run ${i + 1} sweep ${s}: ${r.found.length} found in ${secs(r.wallMs)} s ${JSON.stringify(r.outcomes)}`);
        sweeps[s].push(r);
      }
    }
  } finally {
    await Promise.allSettled(started.map((p) => p.stop()));
    await topology.destroy();
  }

  const v = probes.venuebox;
  const [t95, t100] = [worst(v.map((r) => timeTo(r, 0.95, cameras))), worst(v.map((r) => timeTo(r, 1, cameras)))];
  const sweepWall = worst(sweeps.venuebox.map((r) => r.wallMs));
  const above = (s: (typeof SWEEPERS)[number]) => secs(median(sweeps[s].map((r) => r.wallMs)) - floorMs(s, sweeps));
  const badPort = sweeps.venuebox.at(-1)?.outcomes['bad port'] ?? 0;
  const verdicts = [
    `Multicast, ${cameras} cameras: 95 % found within 3 s in every run: **${t95 <= 3000 ? 'met' : 'not met'}** (worst ${secs(t95)} s); all found within 6 s in every run: **${t100 <= 6000 ? 'met' : 'not met'}** (worst ${secs(t100)} s). ${t100 <= 750 ? "The cameras' own random reply delay (up to 0.5 s) is nearly all of that time. " : ''}probeCameras returned ${Math.min(...v.map((r) => r.found))}–${Math.max(...v.map((r) => r.found))} devices; the call lasts the window plus the probe repeats (median ${secs(median(v.map((r) => r.callMs)))} s for a ${windowMs / 1000} s window).`,
    `Sweep of a /24 within 15 s: **${sweepWall <= 15_000 ? 'met' : 'not met'}** (worst ${secs(sweepWall)} s, ${((100 * sweepWall) / 15_000).toFixed(0)} % of the budget). ` +
      `What limits it: an absent host never refuses, its ARP resolution (${neighbour}) outlasts the ${DEFAULTS.connectTimeoutMs} ms timeout, so each of its ports costs a full timeout; ` +
      `those time-outs alone keep the ${DEFAULTS.sweepConcurrency} slots busy for the "time-out floor" above. Beyond it, venuebox spends ${above('venuebox')} s and the bare connect scan ${above('tcp-connect')} s: that difference is the HTTP/SOAP overhead.`,
    ...(badPort ? [`venuebox sent nothing to port 10080 (${badPort} attempts, \`bad port\`): Node's fetch refuses the ports of the Fetch Standard's bad-port list before connecting, and sweepSubnets swallows the error, so a camera on 10080 (in the default port list) is never found. That is also why its sweep makes fewer time-outs than the connect scan.`] : []),
  ];
  const section = [
    BEGIN,
    `### Results: ${machine()}`,
    '',
    `#### Multicast WS-Discovery, ${cameras} cameras, ${windowMs / 1000} s window, ${runs} runs (times from the first Probe sent)`,
    '',
    multicastTable(probes, cameras),
    '',
    `#### Unicast sweep of ${VLAN.prefix}.0/24 (${expected.length} cameras on ports ${VLAN.httpPorts.join(', ')}), ports ${DEFAULTS.ports.join(', ')}, ${DEFAULTS.sweepConcurrency} in flight, ${DEFAULTS.connectTimeoutMs} ms timeout, ${runs} runs`,
    '',
    sweepTable(sweeps, expected),
    '',
    ...verdicts.flatMap((n) => [`> ${n}`, '']),
    END,
  ].join('\n');
  console.log(section);
  if (values.write) {
    await writeBenchSection(BEGIN, END, section, HEADING);
  }
}

runBench(main);
