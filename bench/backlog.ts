/**
 * Benchmark: what the uploader's next step costs with a long backlog in the spool (a day-long outage: 100 000
 * pending segments of 4 cameras). The uploader looks for its next upload at every step — after each upload, each
 * new segment — on the agent's one thread, which also serves MQTT, the pipelines' IPC and the watchdog.
 *
 * Peer in the same run, on the same database: the way it was done before (every pending row read and sorted, the
 * live edge by a GROUP BY over the whole ledger), against the pending index read from its front and the live edge
 * by one key lookup per stream (agent/uplink/spool.ts). The same for the quota's eviction order, which runs for
 * every new segment once a long outage has filled the disk, and the owned bytes the quota checks with every segment
 * (a running tally now). Reported as times per step and their ratio.
 *
 *   node --import tsx bench/backlog.ts [--rows 100000] [--runs 20] [--write]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Store } from '../agent/store/index.ts';
import { Spool } from '../agent/uplink/spool.ts';
import { machineLine, runBench, writeBenchSection } from './bench-report.ts';

const [BEGIN, END] = ['<!-- bench:backlog:begin -->', '<!-- bench:backlog:end -->'];
const CAMERAS = 4;

function fill(store: Store, rows: number): void {
  const insert = store.db.prepare(
    "INSERT INTO segments (stream_id, seq, path, start_time, duration_ms, bytes, gap_before_ms, event_id, sha256, priority, state, adopted) VALUES (?, ?, ?, ?, 2000, 500000, 0, 'match', 'x', 1, 'pending', 0)",
  );
  const start = Date.now() - (rows / CAMERAS) * 2000;
  store.db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`cam${i % CAMERAS}`, Math.floor(i / CAMERAS), `/spool/cam${i % CAMERAS}/${i}.ts`, new Date(start + Math.floor(i / CAMERAS) * 2000).toISOString());
  })();
}

/** Median milliseconds of `fn` over `runs`. */
function time(fn: () => unknown, runs: number): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, runs: { type: 'string', default: '20' }, write: { type: 'boolean', default: false } } });
  const [rows, runs] = [Number(values.rows), Number(values.runs)];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'venuebox-bench-backlog-'));
  try {
    const store = Store.open(path.join(dir, 'venuebox.db'));
    fill(store, rows);
    const spool = new Spool(store, { root: dir, quota: { maxBytes: 1e15, minFreeBytes: 0 }, keepUploadedMs: 0, log: pino({ level: 'silent' }) });
    const before = {
      pending: store.db.prepare("SELECT * FROM segments WHERE state = 'pending' ORDER BY start_time, stream_id, seq"),
      edge: store.db.prepare('SELECT s.* FROM segments s JOIN (SELECT stream_id, max(seq) AS seq FROM segments GROUP BY stream_id) m USING (stream_id, seq)'),
      owned: store.db.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state IN ('pending', 'uploaded')"),
      stats: [
        store.db.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM segments WHERE state IN ('pending', 'uploaded')"),
        store.db.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, min(start_time) AS oldest FROM segments WHERE state = 'pending'"),
      ],
    };
    const oldest = (): unknown => {
      for (const row of spool.pendingOldestFirst()) return row;
      return undefined;
    };
    const measured = [
      ['the oldest pending segment (backfill)', time(() => before.pending.all()[0], Math.min(runs, 5)), time(oldest, runs)],
      ['the live edge (newest segment of each stream)', time(() => before.edge.all(), runs), time(() => spool.liveEdge(), runs)],
      // Over quota (a long outage fills the disk): the quota pass of every new segment looks for the first to evict.
      // The quota's check with every new segment: the bytes the spool owns (a running tally, summed once a minute).
      ['the bytes the spool owns (the quota, every segment)', time(() => before.owned.get(), runs), time(() => spool.ownedBytes(), runs)],
      // Once per health report: the spool's counts and the oldest backlog segment.
      ['the spool\'s figures for a health report', time(() => before.stats.map((q) => q.get()), runs), time(() => spool.stats(), runs)],
      ['over quota: the first segment to evict', time(() => before.pending.all()[0], Math.min(runs, 5)), time(() => (spool as unknown as { evictionOrder(): Iterator<unknown> }).evictionOrder().next(), runs)],
    ] as const;
    store.close();
    const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
    const section = [
      BEGIN,
      `**Run of ${machineLine()}** — ${rows.toLocaleString('en')} pending segments of ${CAMERAS} cameras in the ledger (SQLite, WAL), median of ${runs} runs (5 for the full read)`,
      '',
      row(['lookup', 'before: every row read (ms)', 'now (ms)', 'ratio']),
      row(['---', '--:', '--:', '--:']),
      ...measured.map(([what, old, now]) => row([what, old.toFixed(2), now.toFixed(3), `${Math.round(old / Math.max(now, 0.001))}×`])),
      END,
    ].join('\n');
    console.log(section);
    if (values.write) await writeBenchSection(BEGIN, END, section, '## Uploader with a long backlog (`bench/backlog.ts`)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
