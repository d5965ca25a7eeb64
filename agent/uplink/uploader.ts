/**
 * The segment uploader: store-and-forward from the spool to an HTTP(S) ingest (DESIGN decision 4).
 *
 * - Deterministic names `{base}/{boxId}/{eventId}/{streamId}/{seq}.ts` (or a URL template): a retry PUTs
 *   the same object again, so a crash between the ingest's 2xx and the ledger update costs one duplicate
 *   PUT of the same bytes, never a second copy. The 2xx is the acknowledgement; only then is the file
 *   released (spool.markUploaded).
 * - Live first: whenever a slot frees, the newest pending segment of a stream (the live edge) goes before
 *   anything else. Backfill takes what is left, oldest first, and is paced to `backfillShare` of the link
 *   (after a backfill upload that took t, the next one waits t × (1/share − 1)), which keeps headroom so a
 *   new live segment never queues behind a burst of backlog.
 * - Link state online / degraded / offline: two failures in a row without an answer → offline, retried with
 *   jittered exponential backoff (one probe at a time); answers but the live edge lags more than two segment
 *   durations, or the ingest refuses (4xx) → degraded. Changes are emitted (and published as events).
 * - After each acknowledgement the stream's live playlist is PUT beside the segments; the event playlist too,
 *   but while its event runs no more often than its listed duration / 50 (at most once a minute): it holds every
 *   segment of the event, so a rewrite per segment would cost more and more — ~97 kB at the end of a 2-hour
 *   event, every 2 s. This keeps its cost under ~1–2 % of a 1 Mbit/s stream; a skipped rewrite is made later, and
 *   the end of the event (EXT-X-ENDLIST) is written at once.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { errorMessage } from '../lib/errors.ts';
import { HttpPutClient, HttpPutError, type PutTarget } from './http-put.ts';
import { EVENT_PLAYLIST, LIVE_PLAYLIST, eventPlaylist, livePlaylist, segmentObjectName } from './playlists.ts';
import type { SegmentRow, Spool } from './spool.ts';

/** The longest a running event's playlist goes without a rewrite while segments arrive. */
const EVENT_PLAYLIST_MAX_INTERVAL_MS = 60_000;

export type UplinkState = 'online' | 'degraded' | 'offline';

/** Segments recorded outside any event are uploaded under this event id. */
export const UNSCHEDULED_EVENT = 'unscheduled';

export interface UploaderOptions {
  spool: Spool;
  boxId: string;
  /** `https://ingest.example/venues` → `{base}/{boxId}/{eventId}/{streamId}/{name}`. */
  baseUrl?: string | undefined;
  /** Instead of baseUrl: a URL with {boxId} {eventId} {streamId} {name} and optionally {token} (a presigned-style URL). */
  urlTemplate?: string | undefined;
  /** Replaces {token} in urlTemplate (a secret: registered with the redactor by the config loader). */
  token?: string | undefined;
  target: PutTarget;
  segmentSeconds: number;
  /** Uploads in flight at once (one when offline). */
  concurrency: number;
  /** Share of the measured link the backfill may use (0–1]. */
  backfillShare: number;
  livePlaylistSegments: number;
  uploadOutsideEvents: boolean;
  /** Whether an event's segments go to the ingest (a scheduled event may keep them on the box: outputs.segments). */
  uploadsEvent?: ((eventId: string) => boolean) | undefined;
  runningEvents: () => ReadonlySet<string>;
  backoff?: { initialMs: number; maxMs: number } | undefined;
  log: Logger;
}

export interface UplinkHealth {
  state: UplinkState;
  reason: string | null;
  /** Measured upload throughput (moving average over recent segment uploads), kbit/s; null before the first. */
  throughputKbps: number | null;
  uploaded: number;
  uploadedBytes: number;
  failures: number;
  lastError: string | null;
  /** How far the newest acknowledged segment trails the newest recorded one, ms (worst stream). */
  liveLagMs: number;
}

export interface UploaderEvents {
  state: [{ state: UplinkState; previous: UplinkState; reason: string | null }];
  uploaded: [{ row: SegmentRow; live: boolean; elapsedMs: number }];
  playlist: [{ eventId: string; streamId: string; name: string; complete?: boolean }];
}

/** Where an object goes: `{base}/{boxId}/{eventId}/{streamId}/{name}`, or the URL template filled in. */
export function objectUrl(
  target: { boxId: string; baseUrl?: string | undefined; urlTemplate?: string | undefined; token?: string | undefined },
  eventId: string | null,
  streamId: string,
  name: string,
): string {
  const values: Record<string, string> = { boxId: target.boxId, eventId: eventId ?? UNSCHEDULED_EVENT, streamId, name, token: target.token ?? '' };
  if (target.urlTemplate !== undefined) return target.urlTemplate.replace(/\{(boxId|eventId|streamId|name|token)\}/g, (_, key: string) => encodeURIComponent(values[key]!));
  if (target.baseUrl === undefined) throw new Error('the uploader needs baseUrl or urlTemplate');
  const base = target.baseUrl.replace(/\/+$/, '');
  return `${base}/${[values['boxId']!, values['eventId']!, streamId, name].map(encodeURIComponent).join('/')}`;
}

interface Job {
  row: SegmentRow;
  live: boolean;
}

/** Uploads the throughput is measured over. */
const THROUGHPUT_SAMPLES = 6;
/** Throughput samples below this size are latency, not bandwidth. */
const MIN_SAMPLE_BYTES = 32 * 1024;

export class SegmentUploader extends EventEmitter<UploaderEvents> {
  private readonly client: HttpPutClient;
  private readonly inFlight = new Set<number>();
  /** Per stream, the live-edge upload on its way and when it started: backfill waits for them (see nextJob). */
  private readonly liveInFlight = new Map<string, { id: number; startedAt: number }>();
  /** Per segment: not retried before (after a failure of that segment). */
  private readonly notBefore = new Map<number, number>();
  private state: UplinkState = 'offline';
  private reason: string | null = 'no upload yet';
  private failuresInARow = 0;
  private retryAt = 0;
  private backfillAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private tick: NodeJS.Timeout | undefined;
  private stopped = true;
  /**
   * The last uploads (bytes, seconds): throughput is their total bytes over their total time. Not an
   * average of rates — a few fast uploads before a limit kept an average of rates high for a minute
   * (measured under tc tbf), and the adaptation reads this number.
   */
  private readonly samples: Array<{ bytes: number; seconds: number }> = [];
  private get throughputBps(): number | undefined {
    const seconds = this.samples.reduce((sum, s) => sum + s.seconds, 0);
    return seconds > 0 ? this.samples.reduce((sum, s) => sum + s.bytes, 0) / seconds : undefined;
  }
  private uploaded = 0;
  private uploadedBytes = 0;
  private failures = 0;
  private lastError: string | null = null;
  /** Playlists to (re)write, by `eventId/streamId`; one writer per key at a time. */
  private readonly dirtyPlaylists = new Map<string, { eventId: string | null; streamId: string }>();
  private readonly writingPlaylists = new Set<string>();
  private readonly liveFloor = new Map<string, number>();
  /** When each running event's playlist was last written (performance.now()), and its deferred rewrite. */
  private readonly eventPlaylistAt = new Map<string, number>();
  private readonly eventPlaylistLater = new Map<string, NodeJS.Timeout>();
  private readonly idle = new Set<() => void>();

  constructor(private readonly options: UploaderOptions) {
    super();
    if (options.baseUrl === undefined && options.urlTemplate === undefined) throw new Error('the uploader needs baseUrl or urlTemplate');
    this.client = new HttpPutClient(options.target);
  }

  start(): void {
    this.stopped = false;
    // Re-check state and pacing once per segment even when nothing else happens.
    this.tick = setInterval(() => {
      this.updateLag();
      this.pump();
    }, this.options.segmentSeconds * 1000);
    this.tick.unref();
    // Playlists of events that ended while the agent was down are completed after a restart.
    for (const key of this.eventsWithRows()) this.dirtyPlaylists.set(`${key.eventId}/${key.streamId}`, key);
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tick);
    clearTimeout(this.timer);
    for (const later of this.eventPlaylistLater.values()) clearTimeout(later);
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
    this.client.close();
  }

  /** A new segment is in the spool (or an event ended): look for work now. */
  wake(): void {
    this.pump();
  }

  health(): UplinkHealth {
    return {
      state: this.state,
      reason: this.reason,
      throughputKbps: this.throughputBps === undefined ? null : Math.round((this.throughputBps * 8) / 1000),
      uploaded: this.uploaded,
      uploadedBytes: this.uploadedBytes,
      failures: this.failures,
      lastError: this.lastError,
      liveLagMs: this.liveLagMs(),
    };
  }

  /** Resolves when nothing is pending or in flight (tests, the demo's report). */
  async drained(): Promise<void> {
    while (this.anyUploadable() || this.inFlight.size > 0 || this.dirtyPlaylists.size > 0 || this.writingPlaylists.size > 0 || this.eventPlaylistLater.size > 0) {
      await new Promise<void>((resolve) => {
        this.idle.add(resolve);
        setTimeout(resolve, 500).unref();
      });
    }
  }

  objectUrl(eventId: string | null, streamId: string, name: string): string {
    return objectUrl(this.options, eventId, streamId, name);
  }

  /** PUTs one object beside the events (`{base}/{boxId}/{folder}/{streamId}/{name}`): snapshots. Returns its URL. */
  async putObject(folder: string, streamId: string, name: string, data: Buffer, contentType: string): Promise<string> {
    const url = this.objectUrl(folder, streamId, name);
    const result = await this.client.put(url, { data }, { 'content-type': contentType });
    if (result.status < 200 || result.status > 299) throw new HttpPutError(`the ingest answered HTTP ${result.status}`, `HTTP ${result.status}`, result.status);
    return url;
  }

  private uploadable(row: SegmentRow): boolean {
    if (row.event_id === null) return this.options.uploadOutsideEvents;
    return this.options.uploadsEvent?.(row.event_id) ?? true;
  }

  private slots(): number {
    return this.state === 'offline' ? 1 : this.options.concurrency;
  }

  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = Date.now();
    let wakeAt = Number.POSITIVE_INFINITY;
    while (this.inFlight.size < this.slots()) {
      if (now < this.retryAt) {
        wakeAt = Math.min(wakeAt, this.retryAt);
        break;
      }
      const job = this.nextJob(now);
      if (job === undefined) break;
      if ('wakeAt' in job) {
        wakeAt = Math.min(wakeAt, job.wakeAt);
        break;
      }
      this.inFlight.add(job.row.id);
      if (job.live) this.liveInFlight.set(job.row.stream_id, { id: job.row.id, startedAt: now });
      void this.upload(job);
    }
    this.writePlaylists();
    if (Number.isFinite(wakeAt)) {
      this.timer = setTimeout(() => this.pump(), Math.max(10, wakeAt - now));
      this.timer.unref();
    }
    if (this.inFlight.size === 0) this.notifyIdle();
  }

  /**
   * The next upload, or when to look again. Reads the live edge (one row per stream) and then the pending rows
   * oldest first only as far as the first one it can send: after a day-long outage the backlog is 100 000 rows,
   * and this runs at every step.
   */
  private nextJob(now: number): Job | { wakeAt: number } | undefined {
    const ready = (r: SegmentRow): boolean => (this.notBefore.get(r.id) ?? 0) <= now;
    let earliest = Number.POSITIVE_INFINITY;
    const candidate = (r: SegmentRow): boolean => {
      if (r.state !== 'pending' || !this.uploadable(r) || this.inFlight.has(r.id)) return false;
      if (!ready(r)) earliest = Math.min(earliest, this.notBefore.get(r.id) ?? 0);
      return true;
    };
    // Live first: the newest segment of each stream, newest of all first. One per stream at a time: two of a
    // stream side by side each get half the link, and both arrive later than one after the other. A live upload
    // still going after two segment durations holds the next one back no longer (a stalled connection must not
    // keep the live edge, and the discovery of a cut, waiting for the request timeout).
    const heldUntil = (streamId: string): number => {
      const previous = this.liveInFlight.get(streamId);
      return previous ? previous.startedAt + 2 * this.options.segmentSeconds * 1000 : 0;
    };
    const edgeRows = this.options.spool.liveEdge();
    const edge = new Set(edgeRows.map((r) => r.id));
    const edges = edgeRows.filter((r) => candidate(r) && ready(r));
    const live = edges.filter((r) => heldUntil(r.stream_id) <= now).sort((a, b) => Date.parse(b.start_time) - Date.parse(a.start_time))[0];
    if (live) return { row: live, live: true };
    // Backfill runs behind the live edge, never beside it, and leaves a slot free for the next live segment.
    // Measured with tc tbf at 0.6 × the stream's bitrate (test/system/uplink.test.ts): with live segments and
    // backfill side by side, the newest segment at the ingest trailed the newest recorded by p50 4, p90 5.
    if (this.liveInFlight.size > 0) return edges.length > 0 ? { wakeAt: Math.min(...edges.map((r) => heldUntil(r.stream_id))) } : undefined;
    if (this.slots() > 1 && this.inFlight.size >= this.slots() - 1) return undefined;
    let backfill: SegmentRow | undefined;
    for (const row of this.options.spool.pendingOldestFirst()) {
      if (edge.has(row.id) || !candidate(row) || !ready(row)) continue;
      backfill = row;
      break;
    }
    if (!backfill) return Number.isFinite(earliest) ? { wakeAt: earliest } : undefined;
    if (now < this.backfillAt) return { wakeAt: this.backfillAt };
    return { row: backfill, live: false };
  }

  /** Whether a pending segment could be sent (stops at the first). */
  private anyUploadable(): boolean {
    for (const row of this.options.spool.pendingOldestFirst()) if (this.uploadable(row)) return true;
    return false;
  }

  private async upload(job: Job): Promise<void> {
    const { row } = job;
    const name = segmentObjectName(row.seq);
    const url = this.objectUrl(row.event_id, row.stream_id, name);
    try {
      const headers: Record<string, string> = { 'content-type': 'video/mp2t' };
      if (row.sha256) headers['x-checksum-sha256'] = row.sha256;
      const result = await this.client.put(url, { file: row.path, bytes: row.bytes }, headers);
      if (result.status < 200 || result.status > 299) throw new HttpPutError(`the ingest answered HTTP ${result.status}`, `HTTP ${result.status}`, result.status);
      await this.options.spool.markUploaded(row);
      this.notBefore.delete(row.id);
      this.uploaded += 1;
      this.uploadedBytes += row.bytes;
      if (row.bytes >= MIN_SAMPLE_BYTES && result.elapsedMs > 0) {
        this.samples.push({ bytes: row.bytes, seconds: result.elapsedMs / 1000 });
        if (this.samples.length > THROUGHPUT_SAMPLES) this.samples.shift();
      }
      if (!job.live) {
        const share = Math.min(1, Math.max(0.05, this.options.backfillShare));
        this.backfillAt = Date.now() + result.elapsedMs * (1 / share - 1);
      }
      this.onSuccess();
      this.dirtyPlaylists.set(`${row.event_id}/${row.stream_id}`, { eventId: row.event_id, streamId: row.stream_id });
      this.options.log.debug({ stream: row.stream_id, seq: row.seq, live: job.live, elapsedMs: Math.round(result.elapsedMs) }, 'segment uploaded');
      this.emit('uploaded', { row, live: job.live, elapsedMs: Math.round(result.elapsedMs) });
    } catch (err) {
      const message = errorMessage(err);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // The file went away under us (evicted by the quota in the meantime): the spool knows; nothing to send.
        this.options.log.warn({ stream: row.stream_id, seq: row.seq }, 'segment file gone before upload');
      } else {
        this.options.spool.markFailed(row, message);
        this.onFailure(err, row);
      }
    } finally {
      this.inFlight.delete(row.id);
      if (this.liveInFlight.get(row.stream_id)?.id === row.id) this.liveInFlight.delete(row.stream_id);
      this.pump();
    }
  }

  private onSuccess(): void {
    this.failuresInARow = 0;
    this.retryAt = 0;
    const lag = this.liveLagMs();
    const lagging = lag > 2 * this.options.segmentSeconds * 1000;
    this.setState(lagging ? 'degraded' : 'online', lagging ? `the live edge trails by ${(lag / 1000).toFixed(1)} s` : null);
  }

  private onFailure(err: unknown, row: SegmentRow): void {
    this.failures += 1;
    this.failuresInARow += 1;
    const message = errorMessage(err);
    this.lastError = message;
    const status = err instanceof HttpPutError ? err.status : undefined;
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
    // No answer at all (the link is down or dark): try again within one segment duration, or the live playlist
    // cannot be current within two of the link's return (issue 5; with the 30 s cap, the next try came 5.8 s
    // after a 60 s cut ended, and can come up to 30 s after: test/system/uplink.test.ts). It costs little: one
    // try at a time while offline, and a dead link fails it locally. An ingest that answers (5xx, 408, 429) is
    // overloaded: it gets the full backoff.
    const cap = status === undefined ? Math.min(maxMs, this.options.segmentSeconds * 1000) : maxMs;
    const delay = Math.min(cap, initialMs * 2 ** Math.min(this.failuresInARow - 1, 16));
    // Full jitter on half the delay: boxes that lost the same uplink do not come back in lockstep.
    const jittered = delay / 2 + Math.random() * (delay / 2);
    this.options.log.warn({ stream: row.stream_id, seq: row.seq, err: message, retryInMs: Math.round(jittered) }, 'segment upload failed');
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      // The ingest answers but refuses this request (auth, path, size): the link is up; this segment waits.
      this.notBefore.set(row.id, Date.now() + jittered);
      this.setState('degraded', `the ingest refuses uploads: HTTP ${status}`);
      return;
    }
    this.retryAt = Date.now() + jittered;
    if (this.failuresInARow >= 2) this.setState('offline', message);
    else if (this.state === 'online') this.setState('degraded', message);
  }

  private setState(state: UplinkState, reason: string | null): void {
    const previous = this.state;
    this.reason = reason;
    if (state === previous) return;
    this.state = state;
    this.options.log.info({ state, previous, reason }, 'uplink state');
    this.emit('state', { state, previous, reason });
  }

  /** Re-grades online/degraded from the live lag (the timer calls it; uploads call onSuccess). */
  private updateLag(): void {
    if (this.state === 'offline') return;
    const lag = this.liveLagMs();
    const limit = 2 * this.options.segmentSeconds * 1000;
    if (lag > limit) this.setState('degraded', `the live edge trails by ${(lag / 1000).toFixed(1)} s`);
    else if (this.state === 'degraded' && this.reason?.startsWith('the live edge')) this.setState('online', null);
  }

  /**
   * How far the ingest's live edge trails the box's, per stream, worst of all: while the newest recorded
   * segment waits, the time since the end of the newest acknowledged one (at rest: about one segment,
   * the time to close the next one and send it); 0 when the newest is acknowledged.
   */
  private liveLagMs(): number {
    const acknowledged = new Map(this.options.spool.newestAcknowledged().map((r) => [r.stream_id, r]));
    let worst = 0;
    const now = Date.now();
    for (const edge of this.options.spool.liveEdge()) {
      if (!this.uploadable(edge) || edge.state !== 'pending') continue;
      const acked = acknowledged.get(edge.stream_id);
      const since = acked ? Date.parse(acked.start_time) + acked.duration_ms : Date.parse(edge.start_time);
      worst = Math.max(worst, now - since);
    }
    return worst;
  }

  private eventsWithRows(): Array<{ eventId: string | null; streamId: string }> {
    return this.options.spool.eventStreams().filter((k) => k.eventId !== null);
  }

  /** PUTs the playlists of every dirty (event, stream), one writer per key; a failure leaves it dirty. */
  private writePlaylists(): void {
    if (this.state === 'offline') return;
    for (const [key, target] of this.dirtyPlaylists) {
      if (this.writingPlaylists.has(key)) continue;
      this.dirtyPlaylists.delete(key);
      this.writingPlaylists.add(key);
      void this.writePlaylist(target)
        .catch((err: unknown) => {
          this.options.log.warn({ key, err: errorMessage(err) }, 'playlist upload failed; retried with the next segment');
          if (!this.dirtyPlaylists.has(key)) this.dirtyPlaylists.set(key, target);
        })
        .finally(() => {
          this.writingPlaylists.delete(key);
          if (this.dirtyPlaylists.has(key)) setTimeout(() => this.pump(), 1000).unref();
          else if (this.inFlight.size === 0) this.notifyIdle();
        });
    }
  }

  private async writePlaylist({ eventId, streamId }: { eventId: string | null; streamId: string }): Promise<void> {
    const rows = this.options.spool.eventSegments(eventId, streamId);
    const key = `${eventId}/${streamId}`;
    const put = async (name: string, text: string): Promise<void> => {
      const result = await this.client.put(this.objectUrl(eventId, streamId, name), { data: Buffer.from(text) }, { 'content-type': 'application/vnd.apple.mpegurl', 'cache-control': 'no-cache' });
      if (result.status < 200 || result.status > 299) throw new HttpPutError(`the ingest answered HTTP ${result.status}`, `HTTP ${result.status}`, result.status);
    };
    const live = livePlaylist(rows, this.options.livePlaylistSegments, this.liveFloor.get(key));
    if (live) {
      await put(LIVE_PLAYLIST, live.text);
      this.liveFloor.set(key, live.firstSeq);
      this.emit('playlist', { eventId: eventId ?? UNSCHEDULED_EVENT, streamId, name: LIVE_PLAYLIST });
    }
    // Footage outside events is a rolling recording, not a programme: it gets a live playlist only.
    if (eventId === null) return;
    const running = this.options.runningEvents().has(eventId);
    if (running) {
      const listedMs = rows.reduce((sum, r) => sum + r.duration_ms, 0);
      const due = (this.eventPlaylistAt.get(key) ?? -Infinity) + Math.min(EVENT_PLAYLIST_MAX_INTERVAL_MS, listedMs / 50);
      const wait = due - performance.now();
      if (wait > 0) {
        if (!this.eventPlaylistLater.has(key)) {
          const later = setTimeout(() => {
            this.eventPlaylistLater.delete(key);
            this.dirtyPlaylists.set(key, { eventId, streamId });
            this.pump();
          }, wait);
          later.unref();
          this.eventPlaylistLater.set(key, later);
        }
        return;
      }
    }
    const full = eventPlaylist(rows, running);
    await put(EVENT_PLAYLIST, full.text);
    this.eventPlaylistAt.set(key, performance.now());
    // Written now (the event ended, or its time came): a deferred rewrite would only repeat it.
    clearTimeout(this.eventPlaylistLater.get(key));
    this.eventPlaylistLater.delete(key);
    this.emit('playlist', { eventId, streamId, name: EVENT_PLAYLIST, complete: full.complete });
  }

  /** An event ended: write its playlists again so they get their end. */
  eventEnded(eventId: string): void {
    for (const key of this.eventsWithRows()) if (key.eventId === eventId) this.dirtyPlaylists.set(`${key.eventId}/${key.streamId}`, key);
    this.pump();
  }

  private notifyIdle(): void {
    const waiting = [...this.idle];
    this.idle.clear();
    for (const resolve of waiting) resolve();
  }
}
