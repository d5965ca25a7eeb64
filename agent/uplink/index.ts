/**
 * The uplink subsystem's face for the composition root: the spool (ledger + files + quota) and, when an
 * ingest is configured, the segment uploader. `start()` reconciles files and rows before any pipeline
 * writes; `segmentClosed()` is the recorder's hand-off; `health()` feeds the health report.
 *
 * A full disk never crashes the agent: a pipeline that cannot write fails and is restarted by its
 * supervisor; a ledger insert that fails (SQLITE_FULL) keeps the segment in a bounded retry list; the quota
 * pass every few seconds releases files by the eviction order and so makes room for both to recover.
 */
import type { Logger } from 'pino';
import { readFile } from 'node:fs/promises';
import type { Store } from '../store/index.ts';
import type { ClosedSegment } from '../encoder/index.ts';
import { errorMessage } from '../lib/errors.ts';
import { Spool, type SpoolStats } from './spool.ts';
import { SegmentUploader, type UplinkHealth } from './uploader.ts';

export { Spool } from './spool.ts';
export { SegmentUploader } from './uploader.ts';

const MIB = 1024 * 1024;
/** Quota pass and replay-window expiry. */
const HOUSEKEEPING_MS = 5000;
/** Orphans are files older than a minute: looking for them every sixth round (30 s) is soon enough. */
const SWEEP_EVERY_ROUNDS = 6;
/** Closed segments that could not be written to the ledger, kept for a retry (the files stay on disk). */
const UNRECORDED_LIMIT = 10_000;

export interface UplinkConfig {
  boxId: string;
  spoolDir: string;
  segmentSeconds: number;
  spool: { maxMegabytes: number; minFreeMegabytes: number; keepUploadedMinutes: number };
  uplink?:
    | {
        url?: string | undefined;
        urlTemplate?: string | undefined;
        auth?: { header: string; password?: string | undefined } | undefined;
        caFile?: string | undefined;
        concurrency: number;
        backfillShare: number;
        requestTimeoutSeconds: number;
        livePlaylistSegments: number;
        uploadOutsideEvents: boolean;
      }
    | undefined;
}

export type UplinkEvent = { type: string; [key: string]: unknown };

export interface UplinkServiceOptions {
  config: UplinkConfig;
  store: Store;
  log: Logger;
  publishEvent: (event: UplinkEvent) => void;
  /** The event a segment belongs to, by its stream and the time it started (null: outside any event). */
  currentEvent: (streamId: string, startTime: string) => string | null;
  runningEvents: () => ReadonlySet<string>;
  /** Whether an event's segments are uploaded (outputs.segments of a scheduled event); all are by default. */
  uploadsEvent?: (eventId: string) => boolean;
  /** Free bytes of the spool's file system (tests). */
  freeBytes?: (root: string) => Promise<number>;
}

export interface UplinkServiceHealth {
  spool: SpoolStats;
  uplink: UplinkHealth | null;
}

export class UplinkService {
  readonly spool: Spool;
  uploader: SegmentUploader | undefined;
  private readonly unrecorded: Array<{ segment: ClosedSegment; eventId: string | null }> = [];
  private housekeeping: NodeJS.Timeout | undefined;
  private rounds = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private recordingRefused: Promise<void> | undefined;

  constructor(private readonly options: UplinkServiceOptions) {
    const { config } = options;
    this.spool = new Spool(options.store, {
      root: config.spoolDir,
      quota: { maxBytes: config.spool.maxMegabytes * MIB, minFreeBytes: config.spool.minFreeMegabytes * MIB },
      keepUploadedMs: config.spool.keepUploadedMinutes * 60_000,
      log: options.log,
      runningEvents: options.runningEvents,
      ...(options.freeBytes ? { freeBytes: options.freeBytes } : {}),
    });
    this.spool.on('evicted', (e) => {
      options.log.warn(e, 'spool quota: segment evicted before upload');
      options.publishEvent({ type: 'spool-eviction', ...e });
    });
    this.spool.on('lost', (e) => {
      options.log.error(e, 'segment lost: its file is missing');
      options.publishEvent({ type: 'segment-lost', ...e });
    });
  }

  /** Reconciles files and rows (before any pipeline starts), then starts the uploader and housekeeping. */
  async start(): Promise<void> {
    const { config, log } = this.options;
    const report = await this.spool.reconcile();
    if (report.adopted.length > 0) log.warn({ adopted: report.adopted.map((a) => `${a.streamId}/${a.seq}`) }, 'segments found on disk without a ledger row (after a crash) adopted');
    for (const removed of report.removed) log.warn(removed, 'spool file removed at start');
    if (report.adopted.length + report.removed.length + report.lost.length > 0) {
      this.options.publishEvent({ type: 'spool-reconciled', adopted: report.adopted.length, removed: report.removed.length, lost: report.lost.length });
    }
    if (config.uplink) {
      const u = config.uplink;
      const headers: Record<string, string> = {};
      if (u.auth?.password !== undefined && u.urlTemplate === undefined) headers[u.auth.header] = u.auth.password;
      this.uploader = new SegmentUploader({
        spool: this.spool,
        boxId: config.boxId,
        baseUrl: u.url,
        urlTemplate: u.urlTemplate,
        token: u.urlTemplate !== undefined ? u.auth?.password : undefined,
        target: { headers, ca: u.caFile !== undefined ? await readFile(u.caFile, 'utf8') : undefined, inactivityTimeoutMs: u.requestTimeoutSeconds * 1000 },
        segmentSeconds: config.segmentSeconds,
        concurrency: u.concurrency,
        backfillShare: u.backfillShare,
        livePlaylistSegments: u.livePlaylistSegments,
        uploadOutsideEvents: u.uploadOutsideEvents,
        uploadsEvent: this.options.uploadsEvent,
        runningEvents: this.options.runningEvents,
        log: log.child({ ns: 'uploader' }),
      });
      this.uploader.on('state', (change) => this.options.publishEvent({ type: 'uplink-state', ...change }));
      this.uploader.start();
    }
    await this.spool.enforceQuota();
    this.housekeeping = setInterval(() => void this.housekeep(), HOUSEKEEPING_MS);
    this.housekeeping.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.chain;
    await this.uploader?.stop();
  }

  /** The recorder closed a segment: ledger row (hash, gap, event), quota, then the uploader is woken. */
  segmentClosed(segment: ClosedSegment): Promise<void> {
    const eventId = this.options.currentEvent(segment.streamId, segment.startTime);
    // One at a time, in close order: rows of a stream are inserted in sequence (gap detection needs it).
    const next = this.chain.then(() => this.record(segment, eventId));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async record(segment: ClosedSegment, eventId: string | null): Promise<void> {
    const { log } = this.options;
    try {
      // Rows go in close order: gap detection compares a row with the one before it, so a segment recorded
      // ahead of those the ledger refused earlier would report their span as missing footage.
      if (this.unrecorded.length > 0) await this.recordRefused();
      const row = await this.spool.add(segment, eventId);
      if (row.gap_before_ms > 0) {
        log.warn({ stream: segment.streamId, seq: row.seq, gapMs: row.gap_before_ms }, 'recording gap: footage missing before this segment');
        this.options.publishEvent({ type: 'recording-gap', streamId: segment.streamId, seq: row.seq, gapMs: row.gap_before_ms, resumedAt: segment.startTime });
      }
      log.debug({ stream: segment.streamId, seq: row.seq, path: segment.path, durationMs: segment.durationMs, bytes: row.bytes, eventId }, 'segment closed');
    } catch (err) {
      // The file stays on disk: retried below, and adopted by reconcile() after a restart at the latest.
      log.error({ err: errorMessage(err), path: segment.path }, 'segment closed but not written to the ledger; retrying');
      if (this.unrecorded.length < UNRECORDED_LIMIT) this.unrecorded.push({ segment, eventId });
    }
    await this.spool.enforceQuota();
    this.uploader?.wake();
  }

  /** Records the segments the ledger refused, oldest first, until one fails again. One pass at a time. */
  private recordRefused(): Promise<void> {
    this.recordingRefused ??= (async () => {
      while (this.unrecorded.length > 0) {
        const { segment, eventId } = this.unrecorded[0]!;
        try {
          await this.spool.add(segment, eventId);
        } catch (err) {
          // Gone meanwhile (evicted): nothing left to record. Anything else: the disk is still full; later.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        this.unrecorded.shift();
      }
    })().finally(() => (this.recordingRefused = undefined));
    return this.recordingRefused;
  }

  private async housekeep(): Promise<void> {
    try {
      await this.spool.expireKept();
      // Stubs of pipelines that failed (a full disk) hold space outside the quota: adopted or removed once
      // no pipeline can be writing them any more.
      this.rounds += 1;
      const swept = this.rounds % SWEEP_EVERY_ROUNDS === 0 ? await this.spool.sweepOrphans(Math.max(60_000, 4 * this.options.config.segmentSeconds * 1000)) : { removed: [], adopted: [] };
      for (const removed of swept.removed) this.options.log.warn(removed, 'spool file without a row removed');
      for (const adopted of swept.adopted) this.options.log.warn(adopted, 'spool file without a row adopted');
      await this.spool.enforceQuota();
      await this.recordRefused();
    } catch (err) {
      this.options.log.warn({ err: errorMessage(err) }, 'spool housekeeping failed; retried');
    }
    this.uploader?.wake();
  }

  health(): UplinkServiceHealth {
    return { spool: this.spool.stats(), uplink: this.uploader?.health() ?? null };
  }

  lastSeq(streamId: string): number | undefined {
    return this.spool.lastSeq(streamId);
  }
}
