/**
 * The segment ledger: a row per closed segment in the store (DESIGN decision 3). The uplink issue adds
 * upload state, hashes, reconciliation and quota; for now the ledger records what the recorder wrote.
 */
import type { Store } from '../store/index.ts';
import type { ClosedSegment } from '../encoder/index.ts';
import { segmentSeq } from '../encoder/pipeline-builder.ts';
import { basename } from 'node:path';

export interface SegmentRow {
  id: number;
  stream_id: string;
  seq: number;
  path: string;
  start_time: string;
  duration_ms: number;
  bytes: number;
  state: string;
  gap_before_ms: number;
}

/** Start-time jitter between consecutive segments that is not a gap (bus and clock granularity). */
export const GAP_TOLERANCE_MS = 500;

export class SegmentLedger {
  constructor(private readonly store: Store) {}

  /**
   * Records a closed segment. When footage is missing before it (the previous segment of the stream ended
   * more than GAP_TOLERANCE_MS before this one starts: a camera loss, a pipeline restart), the gap is
   * stored on this row — the recording says where it is discontinuous instead of pretending it is not.
   */
  add(segment: ClosedSegment): SegmentRow {
    const seq = segmentSeq(basename(segment.path));
    if (seq === undefined) throw new Error(`not a segment file name: ${segment.path}`);
    const previous = this.store.db
      .prepare('SELECT start_time, duration_ms FROM segments WHERE stream_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1')
      .get(segment.streamId, seq) as { start_time: string; duration_ms: number } | undefined;
    const previousEnd = previous ? Date.parse(previous.start_time) + previous.duration_ms : undefined;
    const gap = previousEnd === undefined ? 0 : Date.parse(segment.startTime) - previousEnd;
    const gapBeforeMs = gap > GAP_TOLERANCE_MS ? Math.round(gap) : 0;
    return this.store.db
      .prepare(
        `INSERT INTO segments (stream_id, seq, path, start_time, duration_ms, bytes, gap_before_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (stream_id, seq) DO UPDATE SET path = excluded.path, duration_ms = excluded.duration_ms, bytes = excluded.bytes
         RETURNING *`,
      )
      .get(segment.streamId, seq, segment.path, segment.startTime, segment.durationMs, segment.bytes, gapBeforeMs) as SegmentRow;
  }

  lastSeq(streamId: string): number | undefined {
    const row = this.store.db.prepare('SELECT max(seq) AS seq FROM segments WHERE stream_id = ?').get(streamId) as { seq: number | null };
    return row.seq ?? undefined;
  }

  stats(): { segments: number; bytes: number } {
    return this.store.db.prepare('SELECT count(*) AS segments, coalesce(sum(bytes), 0) AS bytes FROM segments').get() as { segments: number; bytes: number };
  }
}
