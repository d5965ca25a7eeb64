/**
 * Pure: ledger rows → HLS media playlists (RFC 8216), PUT beside the segments.
 *
 * - The **live** playlist lists the newest run of consecutive acknowledged segments (at most `window`), so
 *   a viewer never requests a segment the ingest does not have. Its media sequence never goes back: when
 *   backfill later fills in older segments, they are not put in front of what was already published.
 * - The **event** playlist lists every segment of the event in order, up to the first one still waiting
 *   for upload (an EVENT playlist may only grow at its end); footage that is truly missing (a recording gap,
 *   a segment evicted or lost) becomes an EXT-X-DISCONTINUITY, never a silent splice. When the event is
 *   over and nothing waits, it gets EXT-X-ENDLIST and becomes the complete recording.
 */
import type { SegmentRow } from './spool.ts';

export const LIVE_PLAYLIST = 'live.m3u8';
export const EVENT_PLAYLIST = 'event.m3u8';

/** A segment's object name: its sequence number, zero-padded like the spool file (sorts in order). */
export function segmentObjectName(seq: number): string {
  return `${String(seq).padStart(8, '0')}.ts`;
}

const acknowledged = (row: SegmentRow): boolean => row.state === 'uploaded' || row.state === 'done';
const missing = (row: SegmentRow): boolean => row.state === 'evicted' || row.state === 'lost';

function targetDuration(rows: readonly SegmentRow[]): number {
  return Math.max(1, ...rows.map((r) => Math.round(r.duration_ms / 1000)));
}

function entry(row: SegmentRow): string {
  return `#EXTINF:${(row.duration_ms / 1000).toFixed(3)},\n${segmentObjectName(row.seq)}`;
}

/** Discontinuities before `index` in an event's rows (for EXT-X-DISCONTINUITY-SEQUENCE). */
function discontinuitiesBefore(rows: readonly SegmentRow[], index: number): number {
  let count = 0;
  let pendingBreak = false;
  for (let i = 0; i < index; i++) {
    const row = rows[i]!;
    if (missing(row)) pendingBreak = true;
    else if (pendingBreak || (i > 0 && row.gap_before_ms > 0)) {
      count += 1;
      pendingBreak = false;
    }
  }
  return count;
}

export interface LivePlaylist {
  text: string;
  firstSeq: number;
  lastSeq: number;
}

/**
 * The live playlist of one stream of one event, from its rows in sequence order. `floorSeq` is the first
 * sequence the previous live playlist listed (the media sequence may not decrease). Undefined when nothing
 * is acknowledged yet.
 */
export function livePlaylist(rows: readonly SegmentRow[], window: number, floorSeq = -1): LivePlaylist | undefined {
  let end = -1;
  for (let i = rows.length - 1; i >= 0; i--) {
    if (acknowledged(rows[i]!)) {
      end = i;
      break;
    }
  }
  if (end < 0) return undefined;
  let start = end;
  while (start > 0 && end - start + 1 < window) {
    const before = rows[start - 1]!;
    if (!acknowledged(before) || before.seq !== rows[start]!.seq - 1 || before.seq < floorSeq) break;
    start -= 1;
  }
  const listed = rows.slice(start, end + 1);
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${targetDuration(listed)}`, `#EXT-X-MEDIA-SEQUENCE:${listed[0]!.seq}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitiesBefore(rows, start + 1)}`];
  listed.forEach((row, i) => {
    if (i > 0 && row.gap_before_ms > 0) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(entry(row));
  });
  return { text: lines.join('\n') + '\n', firstSeq: listed[0]!.seq, lastSeq: listed.at(-1)!.seq };
}

export interface EventPlaylist {
  text: string;
  /** Segments listed. */
  segments: number;
  /** Discontinuities where footage is missing. */
  discontinuities: number;
  /** EXT-X-ENDLIST written: the recording is complete. */
  complete: boolean;
}

/** The event playlist of one stream, from its rows in sequence order; `running`: the event is not over. */
export function eventPlaylist(rows: readonly SegmentRow[], running: boolean): EventPlaylist {
  const body: string[] = [];
  let listed = 0;
  let discontinuities = 0;
  let pendingBreak = false;
  let waiting = false;
  const used: SegmentRow[] = [];
  for (const row of rows) {
    if (row.state === 'pending') {
      waiting = true;
      break;
    }
    if (missing(row)) {
      pendingBreak = listed > 0;
      continue;
    }
    if (pendingBreak || (listed > 0 && row.gap_before_ms > 0)) {
      body.push('#EXT-X-DISCONTINUITY');
      discontinuities += 1;
    }
    pendingBreak = false;
    body.push(entry(row));
    used.push(row);
    listed += 1;
  }
  const complete = !running && !waiting;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${targetDuration(used)}`, `#EXT-X-PLAYLIST-TYPE:${complete ? 'VOD' : 'EVENT'}`, `#EXT-X-MEDIA-SEQUENCE:${used[0]?.seq ?? 0}`, ...body];
  if (complete) lines.push('#EXT-X-ENDLIST');
  return { text: lines.join('\n') + '\n', segments: listed, discontinuities, complete };
}
