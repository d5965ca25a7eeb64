/**
 * The durable outbox (DESIGN decision 5): every event and health message is a row in SQLite before it is
 * sent, and is deleted when the broker acknowledged it (QoS 1 PUBACK). A broker away for hours, or an
 * agent restarted meanwhile, loses nothing: rows are replayed in id order — the order they happened in —
 * after the next connect. Nothing waits in memory.
 *
 * Bounded: above `maxRows`, health samples are thinned first (every other one among the oldest, so the
 * history gets sparser, not shorter), and only when no health sample is left do the oldest events go —
 * each counted (`thinned`, `droppedEvents`) and reported in health.
 */
import type { Store } from '../store/index.ts';

export type OutboxKind = 'event' | 'health';

export interface OutboxRow {
  id: number;
  topic: string;
  payload: string;
  qos: number;
  retain: number;
  kind: OutboxKind;
  created_at: string;
}

export interface OutboxStats {
  queued: number;
  oldestAgeSeconds: number | null;
  thinnedHealth: number;
  droppedEvents: number;
}

export class Outbox {
  private readonly insert;
  private readonly remove;

  constructor(
    private readonly store: Store,
    private readonly maxRows = 50_000,
  ) {
    // Not `RETURNING id` with .get(): better-sqlite3 12 then swallows a failed commit (SQLITE_FULL) and hands
    // back an id for a row that was rolled back (measured on a full tmpfs); .run() throws as it should.
    this.insert = store.prepare('INSERT INTO outbox (topic, payload, qos, retain, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.remove = store.prepare('DELETE FROM outbox WHERE id = ?');
  }

  add(topic: string, payload: string, kind: OutboxKind, createdAt = new Date()): number {
    const id = Number(this.insert.run(topic, payload, 1, 0, kind, createdAt.toISOString()).lastInsertRowid);
    if (id % 64 === 0 || this.size() > this.maxRows) this.bound();
    return id;
  }

  /**
   * The oldest rows not in `exclude` (those in flight), in id order. Not a cursor on ids: SQLite gives a new
   * row max(id) + 1, so once the newest rows are acknowledged and deleted an id comes again — a cursor would
   * have passed it and the row would sit unsent (seen in test/system/uplink.test.ts). New rows always get the
   * highest id, so id order is the order things happened in.
   */
  next(limit: number, exclude: ReadonlySet<number> = new Set()): OutboxRow[] {
    const rows = this.store.prepare('SELECT * FROM outbox ORDER BY id LIMIT ?').all(limit + exclude.size) as OutboxRow[];
    return rows.filter((r) => !exclude.has(r.id)).slice(0, limit);
  }

  acknowledged(id: number): void {
    this.remove.run(id);
  }

  size(): number {
    return (this.store.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
  }

  private bound(): void {
    const db = this.store.db;
    let excess = this.size() - this.maxRows;
    while (excess > 0) {
      // Every other health sample among the oldest (up to twice the excess of them).
      const health = this.store.prepare("SELECT id FROM outbox WHERE kind = 'health' ORDER BY id LIMIT ?").all(excess * 2) as Array<{ id: number }>;
      const thin = health.filter((_, i) => i % 2 === 1).map((r) => r.id);
      if (thin.length === 0 && health.length > 0) thin.push(health[0]!.id);
      if (thin.length > 0) {
        db.transaction(() => {
          for (const id of thin) this.remove.run(id);
        })();
        this.store.setMeta('outbox.thinnedHealth', String(Number(this.store.getMeta('outbox.thinnedHealth') ?? 0) + thin.length));
        excess -= thin.length;
        continue;
      }
      const oldest = this.store.prepare('SELECT id FROM outbox ORDER BY id LIMIT ?').all(excess) as Array<{ id: number }>;
      db.transaction(() => {
        for (const { id } of oldest) this.remove.run(id);
      })();
      this.store.setMeta('outbox.droppedEvents', String(Number(this.store.getMeta('outbox.droppedEvents') ?? 0) + oldest.length));
      excess -= oldest.length;
    }
  }

  stats(now = Date.now()): OutboxStats {
    const row = this.store.prepare('SELECT count(*) AS n, min(created_at) AS oldest FROM outbox').get() as { n: number; oldest: string | null };
    return {
      queued: row.n,
      oldestAgeSeconds: row.oldest === null ? null : Math.max(0, Math.round((now - Date.parse(row.oldest)) / 1000)),
      thinnedHealth: Number(this.store.getMeta('outbox.thinnedHealth') ?? 0),
      droppedEvents: Number(this.store.getMeta('outbox.droppedEvents') ?? 0),
    };
  }
}
