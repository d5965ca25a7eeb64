/**
 * Benchmark: the spool (issue 5, DESIGN decision 3: segment payloads as files, the ledger in SQLite).
 *
 * Part 1, write path, two designs in the same run, alternating, same payloads, same pragmas (WAL, NORMAL):
 *   files + ledger  — the box's way: the segment file is written, then Spool.add hashes it (streamed) and
 *                     inserts its row; the uploader's side reads the file and releases it (markUploaded).
 *   BLOBs in SQLite — the alternative: sha256 of the payload in memory, INSERT of a row with the payload as a
 *                     BLOB; the uploader's side SELECTs it and DELETEs the row.
 *   Measured: MB/s, and the event loop's stall while writing (perf_hooks monitorEventLoopDelay, p99 and max):
 *   the agent's one thread also serves MQTT, uploads and the pipelines' IPC.
 *
 * Part 2, backfill after an outage (root: network namespaces and tc tbf): a spool preloaded with the segments of
 * an outage (default 10 minutes of 2 s segments at 1 Mbit/s) plus a live stream adding one every 2 s, uploaded
 * by the real SegmentUploader from a "box" namespace to nginx WebDAV (test/helpers/ingest.ts) in a "cloud"
 * namespace, through a token bucket on the box's egress (default 8 Mbit/s). Measured: backfill throughput as a
 * share of what the link leaves after the live stream (target ≥ 90 %), and the live lag (a live segment's
 * close to its 2xx) p50/p95 (target ≤ 2 segment durations).
 *
 * The house rule: figures from the same run, ratios; tests never assert timings. Results: docs/BENCHMARKS.md.
 *
 *   node --import tsx bench/spool.ts [--segments 300] [--rounds 3] [--outage-minutes 10] [--link-mbit 8]
 *                                    [--stream-mbit 1] [--part writes|backfill|all] [--write]
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { segmentPath } from '../agent/encoder/pipeline-builder.ts';
import { Store } from '../agent/store/index.ts';
import { HttpPutClient } from '../agent/uplink/http-put.ts';
import { Spool } from '../agent/uplink/spool.ts';
import { SegmentUploader } from '../agent/uplink/uploader.ts';
import { runBench, writeBenchSection } from './bench-report.ts';
import { machineTicks } from './proc-stats.ts';
import { createTopology, isRoot, type Topology } from '../test/helpers/netns.ts';
import { startIngest, type Ingest } from '../test/helpers/ingest.ts';
import { startProcess } from '../test/helpers/processes.ts';
import { makeTempDir } from '../test/helpers/tmp.ts';

const [BEGIN, END] = ['<!-- bench:spool:begin -->', '<!-- bench:spool:end -->'];
const SELF = fileURLToPath(import.meta.url);
const REPO = path.dirname(path.dirname(SELF));
const SEGMENT_SECONDS = 2;
const EVENT = 'match';
const BOX = 'box-bench';
const silent = pino({ level: 'silent' });
const MB = 1e6;

// ---------------------------------------------------------------------------------------------------------
// Part 1: write path

type Design = 'files + ledger' | 'BLOBs in SQLite';

interface PhaseFigures {
  mbPerS: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

interface WriteRun {
  design: Design;
  write: PhaseFigures;
  /** The uploader's side: read each payload back, then release it. */
  release: PhaseFigures;
  /** Bytes the design still holds on disk after every segment was released. */
  heldAfterBytes: number;
  machineBusyPct: number;
}

/** Event-loop delay and wall time of one phase. monitorEventLoopDelay samples every `resolution` ms. */
async function measure(bytes: number, work: () => Promise<void>): Promise<PhaseFigures> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  histogram.disable();
  // The histogram holds delays in ns, each including the 1 ms resolution itself.
  const ms = (ns: number) => Math.max(0, ns / 1e6 - 1);
  return { mbPerS: bytes / MB / seconds, loopP99Ms: ms(histogram.percentile(99)), loopMaxMs: ms(histogram.max) };
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** The box's way: the pipeline's file, then the ledger row (sha256 streamed from the file). */
async function filesAndLedger(dir: string, payload: Buffer, count: number): Promise<Omit<WriteRun, 'machineBusyPct'>> {
  const store = Store.open(path.join(dir, 'venuebox.db'));
  const root = path.join(dir, 'spool');
  await mkdir(path.join(root, 'cam1'), { recursive: true });
  const spool = new Spool(store, { root, quota: { maxBytes: Number.MAX_SAFE_INTEGER, minFreeBytes: 0 }, keepUploadedMs: 0, log: silent });
  try {
    const t0 = Date.now();
    const write = await measure(payload.length * count, async () => {
      for (let seq = 0; seq < count; seq++) {
        payload.writeUInt32BE(seq, 0);
        const file = segmentPath(path.join(root, 'cam1'), seq);
        // In the box another process (the pipeline host) writes the file; here libuv's threadpool does.
        await writeFile(file, payload);
        await spool.add({ streamId: 'cam1', path: file, startTime: new Date(t0 + seq * 2000).toISOString(), durationMs: 2000, bytes: payload.length }, EVENT);
      }
    });
    const release = await measure(payload.length * count, async () => {
      for (const row of spool.pending()) {
        // What the uploader does with a segment: stream it out, then release it on the 2xx.
        for await (const chunk of createReadStream(row.path)) void (chunk as Buffer).length;
        await spool.markUploaded(row);
      }
    });
    return { design: 'files + ledger', write, release, heldAfterBytes: await dirBytes(dir) };
  } finally {
    store.close();
  }
}

/** The alternative: the payload as a BLOB in the ledger's row. */
async function blobsInSqlite(dir: string, payload: Buffer, count: number): Promise<Omit<WriteRun, 'machineBusyPct'>> {
  const store = Store.open(path.join(dir, 'venuebox.db'));
  try {
    store.db.exec(`CREATE TABLE segment_blobs (
      id INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, seq INTEGER NOT NULL, start_time TEXT NOT NULL, duration_ms INTEGER NOT NULL,
      bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, event_id TEXT, state TEXT NOT NULL DEFAULT 'pending', payload BLOB NOT NULL,
      UNIQUE (stream_id, seq)) STRICT`);
    const insert = store.db.prepare('INSERT INTO segment_blobs (stream_id, seq, start_time, duration_ms, bytes, sha256, event_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const select = store.db.prepare('SELECT payload FROM segment_blobs WHERE id = ?').pluck();
    const remove = store.db.prepare('DELETE FROM segment_blobs WHERE id = ?');
    const t0 = Date.now();
    const write = await measure(payload.length * count, async () => {
      for (let seq = 0; seq < count; seq++) {
        payload.writeUInt32BE(seq, 0);
        const sha256 = createHash('sha256').update(payload).digest('hex');
        insert.run('cam1', seq, new Date(t0 + seq * 2000).toISOString(), 2000, payload.length, sha256, EVENT, payload);
        // Segments arrive one by one: the loop runs between them, as it does between the files design's awaits.
        await yieldLoop();
      }
    });
    const ids = (store.db.prepare('SELECT id FROM segment_blobs ORDER BY id').pluck().all() as number[]);
    const release = await measure(payload.length * count, async () => {
      for (const id of ids) {
        const blob = select.get(id) as Buffer;
        void blob.length;
        remove.run(id);
        await yieldLoop();
      }
    });
    return { design: 'BLOBs in SQLite', write, release, heldAfterBytes: await dirBytes(dir) };
  } finally {
    store.close();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function writeBench(tmp: string, sizes: Array<{ label: string; bytes: number }>, count: number, rounds: number): Promise<string> {
  const sections: string[] = [];
  for (const size of sizes) {
    const payload = randomBytes(size.bytes);
    const runs: WriteRun[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const design of ['files + ledger', 'BLOBs in SQLite'] as const) {
        const dir = path.join(tmp, `writes-${size.bytes}-${round}-${design === 'files + ledger' ? 'files' : 'blobs'}`);
        await mkdir(dir, { recursive: true });
        console.error(`… ${size.label}: ${design}, round ${round + 1}/${rounds}`);
        const before = machineTicks();
        const run = design === 'files + ledger' ? await filesAndLedger(dir, payload, count) : await blobsInSqlite(dir, payload, count);
        const after = machineTicks();
        runs.push({ ...run, machineBusyPct: (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total) });
        await rm(dir, { recursive: true, force: true });
      }
    }
    const of = (design: Design) => runs.filter((r) => r.design === design);
    const summary = (design: Design) => {
      const r = of(design);
      return {
        writeMBs: median(r.map((x) => x.write.mbPerS)),
        writeP99: median(r.map((x) => x.write.loopP99Ms)),
        writeMax: Math.max(...r.map((x) => x.write.loopMaxMs)),
        releaseMBs: median(r.map((x) => x.release.mbPerS)),
        releaseP99: median(r.map((x) => x.release.loopP99Ms)),
        releaseMax: Math.max(...r.map((x) => x.release.loopMaxMs)),
        held: Math.max(...r.map((x) => x.heldAfterBytes)),
        busy: median(r.map((x) => x.machineBusyPct)),
      };
    };
    const files = summary('files + ledger');
    const blobs = summary('BLOBs in SQLite');
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
    const row = (name: Design, s: ReturnType<typeof summary>) =>
      `| ${name} | ${s.writeMBs.toFixed(0)} | ${ratio(s.writeMBs, files.writeMBs)} | ${s.writeP99.toFixed(1)} | ${s.writeMax.toFixed(1)} | ${s.releaseMBs.toFixed(0)} | ${s.releaseP99.toFixed(1)} | ${s.releaseMax.toFixed(1)} | ${(s.held / MB).toFixed(1)} | ${s.busy.toFixed(0)} |`;
    sections.push(
      [
        `#### ${size.label}: ${count} segments of ${(size.bytes / 1000).toFixed(0)} kB (${((count * size.bytes) / MB).toFixed(0)} MB), ${rounds} rounds alternating (medians; max over rounds)`,
        '',
        '| design | write MB/s | vs files | loop stall p99 ms | loop stall max ms | read + release MB/s | release stall p99 ms | release stall max ms | disk held after release MB | machine busy % |',
        '| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
        row('files + ledger', files),
        row('BLOBs in SQLite', blobs),
        '',
        `Per-round write MB/s: files ${of('files + ledger').map((r) => r.write.mbPerS.toFixed(0)).join(' / ')}; BLOBs ${of('BLOBs in SQLite').map((r) => r.write.mbPerS.toFixed(0)).join(' / ')}. ` +
          `Stall p99 ratio BLOBs / files: ${ratio(blobs.writeP99, files.writeP99)} (write), ${ratio(blobs.releaseP99, files.releaseP99)} (release).`,
      ].join('\n'),
    );
    console.log(`${sections.at(-1)}\n`);
  }
  return sections.join('\n\n');
}

// ---------------------------------------------------------------------------------------------------------
// Part 2: backfill after an outage (the child runs inside the box's namespace)

interface BackfillConfig {
  dir: string;
  baseUrl: string;
  backlogSegments: number;
  segmentBytes: number;
  concurrency: number;
  backfillShare: number;
  /** Live segments recorded after the backlog is gone, to see the live edge settle. */
  tailSegments: number;
}

interface BackfillResult {
  calibrationMbit: number;
  backfill: { segments: number; bytes: number; seconds: number; mbit: number };
  live: { segments: number; lagsMs: number[]; uploadedAsBacklog: number };
  uploaderThroughputKbps: number | null;
  cpuSeconds: number;
  wallSeconds: number;
}

async function backfillChild(cfg: BackfillConfig): Promise<BackfillResult> {
  const store = Store.open(path.join(cfg.dir, 'venuebox.db'));
  const root = path.join(cfg.dir, 'spool');
  await mkdir(path.join(root, 'cam1'), { recursive: true });
  const running = new Set([EVENT]);
  const spool = new Spool(store, { root, quota: { maxBytes: Number.MAX_SAFE_INTEGER, minFreeBytes: 0 }, keepUploadedMs: 0, log: silent, runningEvents: () => running });
  const payload = randomBytes(cfg.segmentBytes);

  // The link's real goodput for one plain PUT (TCP/IP and HTTP overheads included): the peer for the share.
  const client = new HttpPutClient({ headers: {}, inactivityTimeoutMs: 20_000 });
  const probe = randomBytes(4 * MB);
  await client.put(`${cfg.baseUrl}/calibration/warmup`, { data: probe.subarray(0, 256 * 1024) });
  const calibration = await client.put(`${cfg.baseUrl}/calibration/probe`, { data: probe });
  client.close();
  const calibrationMbit = (probe.length * 8) / (calibration.elapsedMs / 1000) / 1e6;
  console.error(`link goodput for one PUT of 4 MB: ${calibrationMbit.toFixed(2)} Mbit/s`);

  // The outage: its segments are in the spool, closed every 2 s until now.
  const outageStart = Date.now() - cfg.backlogSegments * SEGMENT_SECONDS * 1000;
  const addSegment = async (seq: number, startMs: number): Promise<void> => {
    payload.writeUInt32BE(seq, 0);
    const file = segmentPath(path.join(root, 'cam1'), seq);
    await writeFile(file, payload);
    await spool.add({ streamId: 'cam1', path: file, startTime: new Date(startMs).toISOString(), durationMs: SEGMENT_SECONDS * 1000, bytes: payload.length }, EVENT);
  };
  for (let seq = 0; seq < cfg.backlogSegments; seq++) await addSegment(seq, outageStart + seq * SEGMENT_SECONDS * 1000);

  const uploader = new SegmentUploader({
    spool,
    boxId: BOX,
    baseUrl: cfg.baseUrl,
    target: { headers: {}, inactivityTimeoutMs: 20_000 },
    segmentSeconds: SEGMENT_SECONDS,
    concurrency: cfg.concurrency,
    backfillShare: cfg.backfillShare,
    livePlaylistSegments: 6,
    uploadOutsideEvents: true,
    runningEvents: () => running,
    log: silent,
  });
  const closedAt = new Map<number, number>();
  const lagsMs: number[] = [];
  let uploadedAsBacklog = 0;
  let backlogLeft = cfg.backlogSegments;
  let backfillBytes = 0;
  let backfillDoneAt = 0;
  let liveAfterBacklog = 0;
  let resolveDone = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  uploader.on('uploaded', ({ row, live }) => {
    const closed = closedAt.get(row.seq);
    if (closed !== undefined) {
      lagsMs.push(Date.now() - closed);
      if (!live) uploadedAsBacklog += 1;
      if (backfillDoneAt > 0 && ++liveAfterBacklog >= cfg.tailSegments) resolveDone();
      return;
    }
    backfillBytes += row.bytes;
    if (--backlogLeft === 0) {
      backfillDoneAt = Date.now();
      console.error(`backlog of ${cfg.backlogSegments} segments uploaded in ${((backfillDoneAt - t0) / 1000).toFixed(1)} s`);
    }
  });

  // The link is back: the uploader starts, and the camera keeps recording a segment every 2 s.
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  uploader.start();
  let next = cfg.backlogSegments;
  const recordLive = async (): Promise<void> => {
    const seq = next++;
    const startMs = Date.now() - SEGMENT_SECONDS * 1000;
    payload.writeUInt32BE(seq, 0);
    const file = segmentPath(path.join(root, 'cam1'), seq);
    await writeFile(file, payload);
    // The segment is closed now: its lag runs from here (hashing and the ledger insert included).
    closedAt.set(seq, Date.now());
    await spool.add({ streamId: 'cam1', path: file, startTime: new Date(startMs).toISOString(), durationMs: SEGMENT_SECONDS * 1000, bytes: payload.length }, EVENT);
    uploader.wake();
  };
  const camera = setInterval(() => void recordLive(), SEGMENT_SECONDS * 1000);
  const progress = setInterval(() => console.error(`… ${Math.round((Date.now() - t0) / 1000)} s: backlog ${backlogLeft}, live uploaded ${lagsMs.length}, last lag ${lagsMs.at(-1) ?? '–'} ms`), 10_000);
  await done;
  clearInterval(camera);
  clearInterval(progress);
  await uploader.drained();
  const wallSeconds = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const throughput = uploader.health().throughputKbps;
  await uploader.stop();
  store.close();
  const seconds = (backfillDoneAt - t0) / 1000;
  return {
    calibrationMbit,
    backfill: { segments: cfg.backlogSegments, bytes: backfillBytes, seconds, mbit: (backfillBytes * 8) / seconds / 1e6 },
    live: { segments: lagsMs.length, lagsMs, uploadedAsBacklog },
    uploaderThroughputKbps: throughput,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds,
  };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};

async function backfillBench(tmp: string, o: { outageMinutes: number; linkMbit: number; streamMbit: number; concurrency: number; share: number }): Promise<string> {
  if (!isRoot()) {
    const note = 'Part 2 skipped: network namespaces and tc need root.';
    console.log(note);
    return note;
  }
  let topo: Topology | undefined;
  let ingest: Ingest | undefined;
  try {
    topo = await createTopology({
      bridges: [{ name: 'wan', subnet: '10.79.2.0/24' }],
      hosts: [
        { name: 'box', links: [{ bridge: 'wan', address: '10.79.2.2/24' }] },
        { name: 'cloud', links: [{ bridge: 'wan', address: '10.79.2.10/24' }] },
      ],
    });
    ingest = await startIngest({ netns: topo.ns('cloud'), host: '10.79.2.10' });
    // The uplink: a token bucket on the box's egress (uploads go that way), a short queue behind it.
    const tc = await topo.exec('box', 'tc', ['qdisc', 'add', 'dev', 'wan', 'root', 'tbf', 'rate', `${o.linkMbit}mbit`, 'burst', '32kb', 'latency', '200ms']);
    if (tc.code !== 0) throw new Error(`tc tbf failed: ${tc.stderr}`);
    const segmentBytes = Math.round((o.streamMbit * 1e6 * SEGMENT_SECONDS) / 8);
    const cfg: BackfillConfig = {
      dir: path.join(tmp, 'backfill'),
      baseUrl: ingest.baseUrl,
      backlogSegments: Math.round((o.outageMinutes * 60) / SEGMENT_SECONDS),
      segmentBytes,
      concurrency: o.concurrency,
      backfillShare: o.share,
      tailSegments: 10,
    };
    console.error(`… backfill: ${cfg.backlogSegments} segments of ${segmentBytes} bytes, link ${o.linkMbit} Mbit/s, live ${o.streamMbit} Mbit/s`);
    // The uploader runs inside the box's namespace: a child process of this script (`ip netns exec` execs node).
    const child = await startProcess('ip', ['netns', 'exec', topo.ns('box'), process.execPath, '--import', 'tsx', SELF, '--backfill-child', JSON.stringify(cfg)], {
      cwd: REPO,
      label: 'backfill child',
      readyLine: /^RESULT (.*)$/,
      timeoutMs: (o.outageMinutes * 60 * (o.streamMbit / Math.max(0.1, o.linkMbit - o.streamMbit)) + 180) * 1000 * 3,
      env: { UV_THREADPOOL_SIZE: '16' },
    });
    const result = JSON.parse(child.readyMatch?.[1] ?? '{}') as BackfillResult;
    await child.stop();
    const requests = await ingest.requests();
    const segmentPuts = requests.filter((r) => r.method === 'PUT' && r.uri.endsWith('.ts') && r.uri.includes(`/${BOX}/`));
    const playlistPuts = requests.filter((r) => r.method === 'PUT' && r.uri.endsWith('.m3u8'));
    const landed = await readdir(path.join(ingest.root, BOX, EVENT, 'cam1')).then((names) => names.filter((n) => n.endsWith('.ts')).length);

    const live = o.streamMbit;
    const available = o.linkMbit - live;
    const goodputAvailable = result.calibrationMbit - live;
    const lag50 = percentile(result.live.lagsMs, 50) / 1000;
    const lag95 = percentile(result.live.lagsMs, 95) / 1000;
    const lagMax = Math.max(...result.live.lagsMs) / 1000;
    const playlistBytes = playlistPuts.reduce((s, r) => s + r.bodyBytes, 0);
    const segmentBytesPut = segmentPuts.reduce((s, r) => s + r.bodyBytes, 0);
    const share = result.backfill.mbit / available;
    const lines = [
      `#### Backfill after a ${o.outageMinutes}-minute outage: ${result.backfill.segments} × ${(segmentBytes / 1000).toFixed(0)} kB (${o.streamMbit} Mbit/s, 2 s segments) + live, tbf ${o.linkMbit} Mbit/s, concurrency ${o.concurrency}, backfillShare ${o.share}`,
      '',
      '| link (tbf) Mbit/s | one-PUT goodput Mbit/s | live Mbit/s | backfill Mbit/s | backfill time s | **share of link − live** | share of goodput − live | live lag p50 s | live lag p95 s | live lag max s | live segments (sent as backlog) | uploader CPU % of a core |',
      '| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
      `| ${o.linkMbit} | ${result.calibrationMbit.toFixed(2)} | ${live} | ${result.backfill.mbit.toFixed(2)} | ${result.backfill.seconds.toFixed(1)} | **${(100 * share).toFixed(0)} %** | ${((100 * result.backfill.mbit) / goodputAvailable).toFixed(0)} % | ${lag50.toFixed(2)} | ${lag95.toFixed(2)} | ${lagMax.toFixed(2)} | ${result.live.segments} (${result.live.uploadedAsBacklog}) | ${((100 * result.cpuSeconds) / result.wallSeconds).toFixed(1)} |`,
      '',
      `Targets: backfill ≥ 90 % of link − live: ${share >= 0.9 ? 'met' : '**not met**'}; live lag p95 ≤ ${2 * SEGMENT_SECONDS} s: ${lag95 <= 2 * SEGMENT_SECONDS ? 'met' : '**not met**'}. ` +
        `Segments at the ingest: ${landed} of ${result.backfill.segments + result.live.segments}; segment PUTs ${segmentPuts.length}; playlist PUTs ${playlistPuts.length} carrying ${(playlistBytes / MB).toFixed(2)} MB (${((100 * playlistBytes) / Math.max(1, segmentBytesPut)).toFixed(1)} % of the segment bytes). ` +
        `The uploader's own throughput estimate at the end: ${result.uploaderThroughputKbps ?? '–'} kbit/s.`,
    ];
    console.log(`${lines.join('\n')}\n`);
    return lines.join('\n');
  } finally {
    await ingest?.stop();
    await topo?.destroy();
  }
}

function machine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const memory = Store.open(':memory:');
  const sqlite = memory.db.prepare('SELECT sqlite_version()').pluck().get() as string;
  memory.close();
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · Node ${process.version} · SQLite ${sqlite} (better-sqlite3) · spool on ${os.tmpdir()}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'backfill-child': { type: 'string' },
      segments: { type: 'string', default: '300' },
      rounds: { type: 'string', default: '3' },
      'outage-minutes': { type: 'string', default: '10' },
      'link-mbit': { type: 'string', default: '8' },
      'stream-mbit': { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '2' },
      'backfill-share': { type: 'string', default: '0.9' },
      part: { type: 'string', default: 'all' },
      write: { type: 'boolean', default: false },
    },
  });
  if (values['backfill-child'] !== undefined) {
    const result = await backfillChild(JSON.parse(values['backfill-child']) as BackfillConfig);
    console.log(`RESULT ${JSON.stringify(result)}`);
    return;
  }
  const [count, rounds, outageMinutes, linkMbit, streamMbit, concurrency, share] = [values.segments, values.rounds, values['outage-minutes'], values['link-mbit'], values['stream-mbit'], values.concurrency, values['backfill-share']].map(Number) as [number, number, number, number, number, number, number];
  if (![count, rounds, outageMinutes, linkMbit, streamMbit, concurrency, share].every((n) => Number.isFinite(n) && n > 0)) throw new Error('numeric options must be positive');
  const tmp = await makeTempDir('bench-spool');
  const sections: string[] = [];
  try {
    if (values.part === 'all' || values.part === 'writes') {
      sections.push(
        await writeBench(
          tmp.path,
          [
            { label: '2 s at 4 Mbit/s', bytes: 1_000_000 },
            { label: '2 s at 1 Mbit/s', bytes: 250_000 },
          ],
          count,
          rounds,
        ),
      );
    }
    if (values.part === 'all' || values.part === 'backfill') {
      sections.push(await backfillBench(tmp.path, { outageMinutes, linkMbit, streamMbit, concurrency, share }));
    }
  } finally {
    await tmp.remove();
  }
  const section = [BEGIN, `**Run of ${machine()}**`, '', ...sections.flatMap((s) => [s, '']), END].join('\n');
  if (values.write) await writeBenchSection(BEGIN, END, section);
}

runBench(main);
