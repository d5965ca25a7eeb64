/**
 * The spool: segment files on disk and their ledger rows in SQLite (DESIGN decision 3). A segment's payload
 * is the file splitmuxsink wrote, never copied; its row carries what the uplink needs (event, sequence,
 * times, size, sha256, state, attempts, priority).
 *
 * States: pending → uploaded (acknowledged, file kept for local replays) → done (file deleted); or evicted
 * (deleted by the quota before it was acknowledged) / lost (its file vanished). Only `pending` and
 * `uploaded` rows own a file.
 *
 * Crash safety: a file exists before its row (the pipeline closes it, then the agent hashes it and inserts
 * the row), so a kill -9 leaves at worst a file without a row — `reconcile()` at start adopts it when it is
 * a readable MPEG-TS (or removes it when it is not). A row whose file is gone is marked lost and reported.
 * The one segment that can be lost to a kill is the one being written.
 *
 * Quota (docs/SPOOL.md has the order and why): bytes of owned files ≤ maxBytes and free disk ≥ minFreeBytes.
 * When either is broken, files are released in this order, oldest first within each step:
 *   1. files already acknowledged and only kept for local replay (no footage is lost),
 *   2. footage outside any event,
 *   3. backfill of events that are not running,
 *   4. backfill of running events,
 *   5. the live edge (the newest segment of each stream) — last of all.
 * Every eviction is counted (meta `spool.evictions`) and emitted, so health and events report it.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat, statfs, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import type { ClosedSegment } from '../encoder/index.ts';
import { segmentSeq } from '../encoder/pipeline-builder.ts';
import { errorMessage } from '../lib/errors.ts';

export type SegmentState = 'pending' | 'uploaded' | 'done' | 'evicted' | 'lost';

export interface SegmentRow {
  id: number;
  stream_id: string;
  seq: number;
  path: string;
  start_time: string;
  duration_ms: number;
  bytes: number;
  state: SegmentState;
  gap_before_ms: number;
  event_id: string | null;
  sha256: string | null;
  attempts: number;
  priority: number;
  uploaded_at: string | null;
  last_error: string | null;
  adopted: number;
}

/** Start-time jitter between consecutive segments that is not a gap (bus and clock granularity). */
export const GAP_TOLERANCE_MS = 500;

export interface SpoolQuota {
  /** Bytes the spool's files may take in all. */
  maxBytes: number;
  /** Free bytes the file system must keep; below it the spool releases files even under maxBytes. */
  minFreeBytes: number;
}

export interface SpoolOptions {
  root: string;
  quota: SpoolQuota;
  /** How long an acknowledged file is kept for local replays (0: deleted at once). */
  keepUploadedMs: number;
  log: Logger;
  /** Events running now (their backfill is kept longer than that of events that ended). */
  runningEvents?: () => ReadonlySet<string>;
  /** Free bytes of the file system holding the spool; a parameter so tests can make a disk "full". */
  freeBytes?: (root: string) => Promise<number>;
}

export interface Eviction {
  streamId: string;
  seq: number;
  eventId: string | null;
  bytes: number;
  /** Which step of the eviction order released it. */
  reason: 'kept-after-upload' | 'outside-event' | 'ended-event-backfill' | 'running-event-backfill' | 'live-edge';
}

export interface ReconcileReport {
  adopted: Array<{ streamId: string; seq: number; path: string; durationMs: number }>;
  removed: Array<{ path: string; reason: string }>;
  lost: Array<{ streamId: string; seq: number; eventId: string | null }>;
}

export interface SpoolStats {
  segments: number;
  /** Bytes of the files the spool holds now. */
  bytes: number;
  /** Segments not yet acknowledged by the ingest. */
  backlogSegments: number;
  backlogBytes: number;
  /** Age of the oldest unacknowledged segment, seconds; null when none. */
  oldestBacklogAgeSeconds: number | null;
  evictions: number;
  evictedBytes: number;
  lost: number;
}

export interface SpoolEvents {
  evicted: [Eviction];
  lost: [{ streamId: string; seq: number; eventId: string | null; reason: string }];
  adopted: [{ streamId: string; seq: number; path: string }];
}

/** A file of ours is MPEG-TS: 0x47 every 188 bytes. A file cut by a crash is adopted up to its last whole packet. */
const TS_PACKET = 188;

export class Spool extends EventEmitter<SpoolEvents> {
  private ownedTally: number | undefined;
  private ownedSummedAt = 0;
  private enforcing: Promise<Eviction[]> | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: SpoolOptions,
  ) {
    super();
  }

  get root(): string {
    return this.options.root;
  }

  /**
   * Records a closed segment: its sha256 (from the pipeline host that wrote it, else read here once), its gap to the previous segment of the
   * stream (footage missing there: a camera loss, a restart) and its event. Idempotent per (stream, seq).
   */
  async add(segment: ClosedSegment, eventId: string | null): Promise<SegmentRow> {
    const seq = segmentSeq(basename(segment.path));
    if (seq === undefined) throw new Error(`not a segment file name: ${segment.path}`);
    const sha256 = segment.sha256 ?? (await sha256File(segment.path));
    return this.insert({ streamId: segment.streamId, seq, path: segment.path, startTime: segment.startTime, durationMs: segment.durationMs, bytes: segment.bytes, sha256, eventId, adopted: false });
  }

  private insert(s: { streamId: string; seq: number; path: string; startTime: string; durationMs: number; bytes: number; sha256: string; eventId: string | null; adopted: boolean }): SegmentRow {
    const known = this.get(s.streamId, s.seq) !== undefined;
    // Against the previous segment of the same stream in the same event: between two events a camera recorded
    // only for events (recording.mode events) is idle on purpose, which is not missing footage.
    const previous = this.store
      .prepare('SELECT start_time, duration_ms FROM segments WHERE stream_id = ? AND seq < ? AND event_id IS ? ORDER BY seq DESC LIMIT 1')
      .get(s.streamId, s.seq, s.eventId) as { start_time: string; duration_ms: number } | undefined;
    const previousEnd = previous ? Date.parse(previous.start_time) + previous.duration_ms : undefined;
    const gap = previousEnd === undefined ? 0 : Date.parse(s.startTime) - previousEnd;
    const gapBeforeMs = gap > GAP_TOLERANCE_MS ? Math.round(gap) : 0;
    // all(), not get(): get() stops after the first RETURNING row and better-sqlite3 12 drops the error of the
    // commit that follows, so on a full disk (SQLITE_FULL) the row came back but was rolled back (measured on a
    // full tmpfs: no row, no error, and the retry list never saw it). all() runs the statement to its end.
    const [row] = this.store
      .prepare(
        `INSERT INTO segments (stream_id, seq, path, start_time, duration_ms, bytes, gap_before_ms, event_id, sha256, priority, state, adopted)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
         ON CONFLICT (stream_id, seq) DO UPDATE SET path = excluded.path, duration_ms = excluded.duration_ms, bytes = excluded.bytes, sha256 = excluded.sha256
         RETURNING *`,
      )
      .all(s.streamId, s.seq, s.path, s.startTime, s.durationMs, s.bytes, gapBeforeMs, s.eventId, s.sha256, s.eventId === null ? 0 : 1, s.adopted ? 1 : 0) as SegmentRow[];
    // A new row owns its bytes; an upsert of a known one (re-adoption) may change them: summed afresh.
    if (known) this.ownedTally = undefined;
    else this.owns(s.bytes);
    return row!;
  }

  lastSeq(streamId: string): number | undefined {
    const row = this.store.prepare('SELECT max(seq) AS seq FROM segments WHERE stream_id = ?').get(streamId) as { seq: number | null };
    return row.seq ?? undefined;
  }

  get(streamId: string, seq: number): SegmentRow | undefined {
    return this.store.prepare('SELECT * FROM segments WHERE stream_id = ? AND seq = ?').get(streamId, seq) as SegmentRow | undefined;
  }

  /** Segments waiting for the ingest, oldest first. All of them: for a long backlog, prefer pendingOldestFirst(). */
  pending(): SegmentRow[] {
    return this.store.prepare(PENDING_OLDEST_FIRST).all() as SegmentRow[];
  }

  /**
   * Segments waiting for the ingest, oldest first, read one at a time from the pending index: a caller that
   * stops early (the next upload) costs rows read, not the whole backlog. Consume it synchronously (no await in
   * between: rows written meanwhile may or may not show).
   */
  pendingOldestFirst(): IterableIterator<SegmentRow> {
    // A statement of its own (not the store's shared one): an iterator left unfinished holds its statement busy.
    return this.store.db.prepare(PENDING_OLDEST_FIRST).iterate() as IterableIterator<SegmentRow>;
  }

  /** Every segment of an event and stream, in sequence order (the event playlist's source). */
  eventSegments(eventId: string | null, streamId: string): SegmentRow[] {
    return this.store.prepare('SELECT * FROM segments WHERE event_id IS ? AND stream_id = ? ORDER BY seq').all(eventId, streamId) as SegmentRow[];
  }

  /** Every (event, stream) pair with segments in the ledger. */
  eventStreams(): Array<{ eventId: string | null; streamId: string }> {
    return (this.store.prepare('SELECT DISTINCT event_id, stream_id FROM segments ORDER BY event_id, stream_id').all() as Array<{ event_id: string | null; stream_id: string }>).map((r) => ({ eventId: r.event_id, streamId: r.stream_id }));
  }

  /** The newest acknowledged segment of each stream (the ingest's live edge). */
  newestAcknowledged(): SegmentRow[] {
    return this.store
      .prepare(
        `${STREAMS} SELECT seg.* FROM streams JOIN segments seg ON seg.stream_id = streams.s AND seg.seq = max(
           coalesce((SELECT max(seq) FROM segments WHERE state = 'uploaded' AND stream_id = streams.s), -1),
           coalesce((SELECT max(seq) FROM segments WHERE state = 'done' AND stream_id = streams.s), -1))`,
      )
      .all() as SegmentRow[];
  }

  /** The newest segment of each stream (the live edge). */
  liveEdge(): SegmentRow[] {
    return this.store
      .prepare(`${STREAMS} SELECT seg.* FROM streams JOIN segments seg ON seg.stream_id = streams.s AND seg.seq = (SELECT max(seq) FROM segments WHERE stream_id = streams.s)`)
      .all() as SegmentRow[];
  }

  /** The ingest acknowledged the segment: the file goes now, or after the replay window. */
  async markUploaded(row: SegmentRow): Promise<void> {
    const keep = this.options.keepUploadedMs > 0;
    const { changes } = this.store
      .prepare("UPDATE segments SET state = ?, uploaded_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ? AND state = 'pending'")
      .run(keep ? 'uploaded' : 'done', new Date().toISOString(), row.id);
    if (keep) return;
    if (changes > 0) this.owns(-row.bytes);
    await removeFile(row.path, this.options.log);
  }

  markFailed(row: SegmentRow, error: string): void {
    this.store.prepare('UPDATE segments SET attempts = attempts + 1, last_error = ? WHERE id = ?').run(error.slice(0, 500), row.id);
  }

  /** Deletes kept files whose replay window has passed. */
  async expireKept(now = Date.now()): Promise<number> {
    const cutoff = new Date(now - this.options.keepUploadedMs).toISOString();
    const rows = this.store.prepare("SELECT * FROM segments WHERE state = 'uploaded' AND uploaded_at <= ?").all(cutoff) as SegmentRow[];
    for (const row of rows) {
      await removeFile(row.path, this.options.log);
      if (this.store.prepare("UPDATE segments SET state = 'done' WHERE id = ? AND state = 'uploaded'").run(row.id).changes > 0) this.owns(-row.bytes);
    }
    return rows.length;
  }

  /**
   * Start-up reconciliation of files and rows (before any pipeline writes). A file without a row is
   * adopted when it is a readable MPEG-TS (cut to its last whole packet; its duration from its own
   * timestamps) or removed when it is not; a pending row without its file is marked lost and reported.
   */
  async reconcile(): Promise<ReconcileReport> {
    this.ownedTally = undefined; // rows change state here without the tally
    const report: ReconcileReport = { adopted: [], removed: [], lost: [] };
    const owning = this.store.prepare("SELECT * FROM segments WHERE state IN ('pending', 'uploaded')").all() as SegmentRow[];
    for (const row of owning) {
      const exists = await stat(row.path).then((st) => st.isFile(), () => false);
      if (exists) continue;
      if (row.state === 'uploaded') {
        // Acknowledged: the footage is at the ingest, only the replay copy is gone. Not lost (a lost row
        // would drop an uploaded segment from the event playlist as a discontinuity).
        this.store.prepare("UPDATE segments SET state = 'done' WHERE id = ?").run(row.id);
        continue;
      }
      this.store.prepare("UPDATE segments SET state = 'lost', last_error = 'file missing at start' WHERE id = ?").run(row.id);
      this.store.increment('spool.lost');
      report.lost.push({ streamId: row.stream_id, seq: row.seq, eventId: row.event_id });
      this.emit('lost', { streamId: row.stream_id, seq: row.seq, eventId: row.event_id, reason: 'file missing at start' });
    }
    await this.sweepOrphans(0, report);
    this.ownedTally = undefined;
    return report;
  }

  /**
   * Files without a row, older than `minAgeMs` (by mtime): adopted when they are readable MPEG-TS, removed
   * otherwise. At start every file (0); while running (housekeeping) only files no pipeline can still be
   * writing — e.g. the stub a pipeline left when it failed on a full disk, which would otherwise take
   * space outside the quota until the next start.
   */
  async sweepOrphans(minAgeMs: number, report: ReconcileReport = { adopted: [], removed: [], lost: [] }): Promise<ReconcileReport> {
    const now = Date.now();
    const known = new Set((this.store.prepare("SELECT path FROM segments WHERE state IN ('pending', 'uploaded')").all() as Array<{ path: string }>).map((r) => r.path));
    const doneRows = this.store.prepare("SELECT path FROM segments WHERE state IN ('done', 'evicted', 'lost') AND stream_id = ? AND seq = ?");
    for (const streamId of await listDirs(this.options.root)) {
      const dir = join(this.options.root, streamId);
      for (const name of (await readdir(dir)).sort()) {
        const path = join(dir, name);
        const seq = segmentSeq(name);
        if (seq === undefined || known.has(path)) continue;
        if (minAgeMs > 0 && now - ((await stat(path).catch(() => undefined))?.mtimeMs ?? now) < minAgeMs) continue;
        if (doneRows.get(streamId, seq) !== undefined) {
          // Acknowledged (or given up) but the delete did not happen before a crash: finish it.
          await removeFile(path, this.options.log);
          report.removed.push({ path, reason: 'already acknowledged' });
          continue;
        }
        const adopted = await this.adopt(streamId, seq, path).catch((err: unknown) => errorMessage(err));
        if (typeof adopted === 'string') {
          await removeFile(path, this.options.log);
          report.removed.push({ path, reason: adopted });
        } else {
          report.adopted.push({ streamId, seq, path, durationMs: adopted.duration_ms });
          this.emit('adopted', { streamId, seq, path });
        }
      }
    }
    return report;
  }

  private async adopt(streamId: string, seq: number, path: string): Promise<SegmentRow> {
    const st = await stat(path);
    const whole = Math.floor(st.size / TS_PACKET) * TS_PACKET;
    if (whole < TS_PACKET * 8) throw new Error(`too short to be a segment (${st.size} bytes)`);
    const handle = await open(path, 'r+');
    try {
      const head = Buffer.alloc(TS_PACKET * 4);
      await handle.read(head, 0, head.length, 0);
      for (let i = 0; i < 4; i++) if (head[i * TS_PACKET] !== 0x47) throw new Error('not MPEG-TS (no sync byte)');
      if (whole !== st.size) await handle.truncate(whole);
    } finally {
      await handle.close();
    }
    const span = await tsPtsSpanMs(path);
    if (span === undefined) throw new Error('no timestamps in the file');
    // The file's last write is its end; its start is that minus what it holds. The mtime from before the
    // truncation: truncating sets it to now, which would hide the gap of the agent's downtime.
    const end = st.mtimeMs;
    const durationMs = Math.max(0, Math.round(span));
    // The segment written when the agent died belongs with the one before it: its event, not "outside any event"
    // (which would upload it under another name, leave it out of the event playlist and evict it first).
    const previous = this.store.prepare('SELECT event_id FROM segments WHERE stream_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1').get(streamId, seq) as { event_id: string | null } | undefined;
    return this.insert({ streamId, seq, path, startTime: new Date(end - durationMs).toISOString(), durationMs, bytes: whole, sha256: await sha256File(path), eventId: previous?.event_id ?? null, adopted: true });
  }

  /**
   * Bytes of the files the spool owns. A running tally: the SUM over the ledger took 67 ms at 100 000 pending rows,
   * and the quota asks for it with every new segment. Every change of ownership adjusts it; a change it cannot
   * follow (reconcile, an upsert of a known row) drops it, and it is summed afresh at least once a minute.
   */
  ownedBytes(): number {
    if (this.ownedTally === undefined || performance.now() - this.ownedSummedAt > OWNED_RESUM_MS) {
      this.ownedTally = (this.store.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state IN ('pending', 'uploaded')").get() as { b: number }).b;
      this.ownedSummedAt = performance.now();
    }
    return this.ownedTally;
  }

  /** The tally follows a change of `delta` bytes owned (nothing to do while it is not kept). */
  private owns(delta: number): void {
    if (this.ownedTally !== undefined) this.ownedTally += delta;
  }

  /**
   * Brings the spool back under its quota (see the module comment for the order). Serialised: concurrent
   * callers share one pass. Never throws: a file that cannot be removed is logged and skipped.
   */
  enforceQuota(reserveBytes = 0): Promise<Eviction[]> {
    this.enforcing ??= this.enforce(reserveBytes).finally(() => (this.enforcing = undefined));
    return this.enforcing;
  }

  private async enforce(reserveBytes: number): Promise<Eviction[]> {
    const { maxBytes, minFreeBytes } = this.options.quota;
    const freeBytes = this.options.freeBytes ?? diskFreeBytes;
    let owned = this.ownedBytes();
    let free = await freeBytes(this.options.root).catch(() => Number.POSITIVE_INFINITY);
    const evictions: Eviction[] = [];
    if (owned + reserveBytes <= maxBytes && free >= minFreeBytes + reserveBytes) return evictions;
    for (const [row, reason] of this.evictionOrder()) {
      if (owned + reserveBytes <= maxBytes && free >= minFreeBytes + reserveBytes) break;
      const released = await removeFile(row.path, this.options.log);
      if (!released) continue;
      owned -= row.bytes;
      free += row.bytes;
      this.owns(-row.bytes);
      if (reason === 'kept-after-upload') {
        this.store.prepare("UPDATE segments SET state = 'done' WHERE id = ?").run(row.id);
        continue;
      }
      this.store.prepare("UPDATE segments SET state = 'evicted', last_error = ? WHERE id = ?").run(`evicted by the spool quota (${reason})`, row.id);
      this.store.increment('spool.evictions');
      this.store.setMeta('spool.evictedBytes', String(Number(this.store.getMeta('spool.evictedBytes') ?? 0) + row.bytes));
      const eviction: Eviction = { streamId: row.stream_id, seq: row.seq, eventId: row.event_id, bytes: row.bytes, reason };
      evictions.push(eviction);
      this.emit('evicted', eviction);
    }
    return evictions;
  }

  /**
   * Every file the spool owns, in the order the quota releases them. Read a page at a time and filtered in SQL:
   * over quota during a long outage this runs for every new segment, with 100 000 pending rows in the ledger —
   * reading them all each time cost ~1 s (bench/backlog.ts measures the same read for the uploader). Pages are
   * keyed on the sort order, so rows changed between two pages (evicted meanwhile) neither repeat nor shift it.
   */
  private *evictionOrder(): Generator<[SegmentRow, Eviction['reason']]> {
    // Kept after upload: bounded by spool.keepUploadedMinutes, read at once.
    yield* (this.store.prepare("SELECT * FROM segments WHERE state = 'uploaded' ORDER BY uploaded_at, id").all() as SegmentRow[]).map((r): [SegmentRow, Eviction['reason']] => [r, 'kept-after-upload']);
    const edge = this.liveEdge().filter((r) => r.state === 'pending');
    const edgeIds = new Set(edge.map((r) => r.id));
    const running = JSON.stringify([...(this.options.runningEvents?.() ?? new Set<string>())]);
    const steps: Array<[Eviction['reason'], string, unknown[]]> = [
      ['outside-event', 'event_id IS NULL', []],
      ['ended-event-backfill', 'event_id IS NOT NULL AND event_id NOT IN (SELECT value FROM json_each(?))', [running]],
      ['running-event-backfill', 'event_id IN (SELECT value FROM json_each(?))', [running]],
    ];
    for (const [reason, where, params] of steps) {
      for (const row of this.pendingPages(where, params)) if (!edgeIds.has(row.id)) yield [row, reason];
    }
    for (const row of edge.sort((a, b) => a.start_time.localeCompare(b.start_time) || a.stream_id.localeCompare(b.stream_id))) yield [row, 'live-edge'];
  }

  /** Pending rows matching `where`, oldest first, EVICTION_PAGE at a time (keyset paging on the pending index). */
  private *pendingPages(where: string, params: unknown[]): Generator<SegmentRow> {
    const head = `SELECT * FROM segments INDEXED BY segments_pending_by_start WHERE state = 'pending' AND (${where})`;
    const tail = `ORDER BY start_time, stream_id, seq LIMIT ${EVICTION_PAGE}`;
    let after: [string, string, number] | undefined;
    for (;;) {
      const page = (
        after ? this.store.prepare(`${head} AND (start_time, stream_id, seq) > (?, ?, ?) ${tail}`).all(...params, ...after) : this.store.prepare(`${head} ${tail}`).all(...params)
      ) as SegmentRow[];
      yield* page;
      if (page.length < EVICTION_PAGE) return;
      const last = page.at(-1)!;
      after = [last.start_time, last.stream_id, last.seq];
    }
  }

  stats(now = Date.now()): SpoolStats {
    // The backlog from the pending index alone (it holds the bytes: no table reads at 100 000 pending rows), the
    // kept copies (bounded by spool.keepUploadedMinutes) beside it; owned = both.
    const backlog = this.store
      .prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, min(start_time) AS oldest FROM segments INDEXED BY segments_pending_by_start WHERE state = 'pending'")
      .get() as { n: number; b: number; oldest: string | null };
    const kept = this.store.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM segments WHERE state = 'uploaded'").get() as { n: number; b: number };
    return {
      segments: backlog.n + kept.n,
      bytes: backlog.b + kept.b,
      backlogSegments: backlog.n,
      backlogBytes: backlog.b,
      oldestBacklogAgeSeconds: backlog.oldest === null ? null : Math.max(0, Math.round((now - Date.parse(backlog.oldest)) / 1000)),
      evictions: Number(this.store.getMeta('spool.evictions') ?? 0),
      evictedBytes: Number(this.store.getMeta('spool.evictedBytes') ?? 0),
      lost: Number(this.store.getMeta('spool.lost') ?? 0),
    };
  }
}

/** A segment is a few hundred kB to a few MB: one read and one hash, cheaper than a stream of 64 kB chunks. */
/**
 * The streams in the ledger, one index lookup each (a skip-scan of the (stream_id, seq) key): with a long backlog a
 * GROUP BY over every row took 12 ms at 100 000 rows, at every step of the uploader.
 */
const STREAMS = `WITH RECURSIVE streams(s) AS (
  SELECT min(stream_id) FROM segments
  UNION ALL SELECT (SELECT min(stream_id) FROM segments WHERE stream_id > s) FROM streams WHERE s IS NOT NULL
)`;

/** The owned-bytes tally is summed afresh from the ledger at least this often (a safety net, not a need). */
const OWNED_RESUM_MS = 60_000;

/** Rows per page of the eviction order: a quota pass usually frees a few segments (the one just recorded). */
const EVICTION_PAGE = 64;

const PENDING_OLDEST_FIRST = "SELECT * FROM segments INDEXED BY segments_pending_by_start WHERE state = 'pending' ORDER BY start_time, stream_id, seq";

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function diskFreeBytes(root: string): Promise<number> {
  const fs = await statfs(root);
  return fs.bavail * fs.bsize;
}

async function listDirs(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/** Removes a file; a file already gone counts as removed. Returns false (and logs) when it cannot be. */
async function removeFile(path: string, log: Logger): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    log.error({ path, err: errorMessage(err) }, 'cannot remove a spool file');
    return false;
  }
}

/**
 * The span of presentation timestamps in an MPEG-TS file, in ms (last PTS − first PTS + one frame's worth
 * is not known, so the plain span): read from PES headers, 33-bit PTS at 90 kHz, wraparound handled.
 * Enough to adopt a segment left behind by a crash without running ffprobe.
 */
export async function tsPtsSpanMs(path: string): Promise<number | undefined> {
  let first: number | undefined;
  let last: number | undefined;
  let pid: number | undefined;
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: TS_PACKET * 512 })) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const whole = Math.floor(data.length / TS_PACKET) * TS_PACKET;
    for (let off = 0; off < whole; off += TS_PACKET) {
      if (data[off] !== 0x47) continue;
      const b1 = data[off + 1]!;
      const payloadStart = (b1 & 0x40) !== 0;
      if (!payloadStart) continue;
      const packetPid = ((b1 & 0x1f) << 8) | data[off + 2]!;
      const afc = (data[off + 3]! >> 4) & 0x3;
      let p = off + 4;
      if (afc === 2) continue;
      if (afc === 3) p += 1 + data[p]!;
      if (p + 14 > off + TS_PACKET) continue;
      if (data[p] !== 0 || data[p + 1] !== 0 || data[p + 2] !== 1) continue;
      const streamId = data[p + 3]!;
      // Video elementary streams (0xE0–0xEF): the segment's duration is its video's.
      if (streamId < 0xe0 || streamId > 0xef) continue;
      if (pid !== undefined && packetPid !== pid) continue;
      const flags = data[p + 7]!;
      if ((flags & 0x80) === 0) continue;
      const q = p + 9;
      const pts = (data[q]! & 0x0e) * 536870912 + data[q + 1]! * 4194304 + (data[q + 2]! & 0xfe) * 16384 + data[q + 3]! * 128 + (data[q + 4]! >> 1);
      pid ??= packetPid;
      first ??= pts;
      last = pts;
    }
    carry = data.subarray(whole);
  }
  if (first === undefined || last === undefined) return undefined;
  let span = last - first;
  if (span < 0) span += 2 ** 33;
  return span / 90;
}
