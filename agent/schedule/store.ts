/**
 * The schedule in SQLite (migration 5: `schedule_events`, `schedule_sources`), so that the box streams what
 * it was told even when the controller is unreachable, and picks up a running event after a restart.
 *
 * A schedule message replaces every event of its source (mqtt, file, command) in one transaction: an event
 * whose id is kept keeps its execution state (phase, started_at, extended_end, stopped_at) whatever else
 * changed; an event that is gone is deleted — unless it is live or in post-roll, then it stays until it is
 * done (an update never cuts a running event short; the `stop` command does). An id given by another source
 * moves to this one with its state. Ids are never reused: a finished event re-sent with the same id stays
 * finished.
 */
import { readFile } from 'node:fs/promises';
import type { Store } from '../store/index.ts';
import { ScheduleFileError, ScheduleValidationError } from './errors.ts';
import { parseScheduleText, type ScheduleEvent, type ScheduleMessage } from './schema.ts';
import type { ExecutionState, Phase, ScheduleSource, StoredEvent } from './types.ts';

interface EventRow {
  id: string;
  title: string;
  start_at: string;
  end_at: string;
  pre_roll_s: number;
  post_roll_s: number;
  program: string;
  outputs: string;
  record_only: number;
  source: string;
  updated_at: string;
  phase: string;
  started_at: string | null;
  extended_end: string | null;
  stopped_at: string | null;
}

type Definition = Omit<EventRow, 'source' | 'updated_at' | 'phase' | 'started_at' | 'extended_end' | 'stopped_at'>;

export interface ReplaceResult {
  source: ScheduleSource;
  timezone: string;
  version: number | null;
  added: string[];
  updated: string[];
  unchanged: string[];
  /** Deleted: gone from the schedule before they went live, or already finished. */
  removed: string[];
  /** Gone from the schedule but live or in post-roll: kept until they are done. */
  keptRunning: string[];
}

export interface SourceInfo {
  timezone: string;
  version: number | null;
  appliedAt: string;
}

/** meta key: the time zone of the schedule applied last (two sources can apply within the same millisecond). */
const TIMEZONE_KEY = 'schedule.timezone';

const RUNNING: ReadonlySet<string> = new Set<Phase>(['live', 'post-roll']);

function definitionOf(event: ScheduleEvent): Definition {
  return {
    id: event.id,
    title: event.title,
    start_at: event.start,
    end_at: event.end,
    pre_roll_s: event.preRollSeconds,
    post_roll_s: event.postRollSeconds,
    program: JSON.stringify(event.program),
    outputs: JSON.stringify(event.outputs),
    record_only: event.recordOnly ? 1 : 0,
  };
}

function sameDefinition(row: EventRow, def: Definition, source: ScheduleSource): boolean {
  return row.source === source && (Object.keys(def) as Array<keyof Definition>).every((key) => row[key] === def[key]);
}

function storedOf(row: EventRow): StoredEvent {
  const event: ScheduleEvent = {
    id: row.id,
    title: row.title,
    start: row.start_at,
    end: row.end_at,
    preRollSeconds: row.pre_roll_s,
    postRollSeconds: row.post_roll_s,
    program: JSON.parse(row.program) as ScheduleEvent['program'],
    outputs: JSON.parse(row.outputs) as ScheduleEvent['outputs'],
    recordOnly: row.record_only === 1,
  };
  const state: ExecutionState = { phase: row.phase as Phase, startedAt: row.started_at, extendedEnd: row.extended_end, stoppedAt: row.stopped_at };
  return { event, source: row.source as ScheduleSource, state };
}

export class ScheduleStore {
  constructor(private readonly store: Store) {}

  /** Every stored event with its execution state, in start order. */
  load(): StoredEvent[] {
    const rows = this.store.prepare('SELECT * FROM schedule_events ORDER BY start_at, id').all() as EventRow[];
    return rows.map(storedOf);
  }

  /** What was applied last from `source`. */
  sourceInfo(source: ScheduleSource): SourceInfo | undefined {
    const row = this.store.prepare('SELECT timezone, version, applied_at FROM schedule_sources WHERE source = ?').get(source) as
      | { timezone: string; version: number | null; applied_at: string }
      | undefined;
    return row && { timezone: row.timezone, version: row.version, appliedAt: row.applied_at };
  }

  /** The venue's time zone: from the schedule applied last, whichever its source. */
  timezone(): string | undefined {
    return this.store.getMeta(TIMEZONE_KEY);
  }

  /**
   * Replaces every event of `source` by those of `message` (validated), atomically. A message older than the
   * one applied (`version`) is refused as stale (ScheduleValidationError), and nothing changes.
   */
  replace(source: ScheduleSource, message: ScheduleMessage, now: number): ReplaceResult {
    const db = this.store.db;
    const at = new Date(now).toISOString();
    return db.transaction((): ReplaceResult => {
      const previous = this.sourceInfo(source);
      const version = message.version ?? null;
      if (version !== null && previous?.version != null && version < previous.version) {
        throw new ScheduleValidationError([{ path: 'version', message: `is older than the version applied (${previous.version}): refused as stale` }]);
      }
      const result: ReplaceResult = { source, timezone: message.timezone, version, added: [], updated: [], unchanged: [], removed: [], keptRunning: [] };
      const get = this.store.prepare('SELECT * FROM schedule_events WHERE id = ?');
      const insert = this.store.prepare(
        `INSERT INTO schedule_events (id, title, start_at, end_at, pre_roll_s, post_roll_s, program, outputs, record_only, source, updated_at)
         VALUES (@id, @title, @start_at, @end_at, @pre_roll_s, @post_roll_s, @program, @outputs, @record_only, @source, @updated_at)`,
      );
      // Execution state columns are not touched: the state belongs to the id.
      const update = this.store.prepare(
        `UPDATE schedule_events SET title = @title, start_at = @start_at, end_at = @end_at, pre_roll_s = @pre_roll_s, post_roll_s = @post_roll_s,
         program = @program, outputs = @outputs, record_only = @record_only, source = @source, updated_at = @updated_at WHERE id = @id`,
      );
      const ids = new Set<string>();
      for (const event of message.events) {
        ids.add(event.id);
        const def = definitionOf(event);
        const row = get.get(event.id) as EventRow | undefined;
        if (!row) {
          insert.run({ ...def, source, updated_at: at });
          result.added.push(event.id);
        } else if (sameDefinition(row, def, source)) {
          result.unchanged.push(event.id);
        } else {
          update.run({ ...def, source, updated_at: at });
          result.updated.push(event.id);
        }
      }
      const mine = this.store.prepare('SELECT id, phase FROM schedule_events WHERE source = ?').all(source) as Array<{ id: string; phase: string }>;
      const remove = this.store.prepare('DELETE FROM schedule_events WHERE id = ?');
      for (const { id, phase } of mine) {
        if (ids.has(id)) continue;
        if (RUNNING.has(phase)) result.keptRunning.push(id);
        else {
          remove.run(id);
          result.removed.push(id);
        }
      }
      this.store.prepare(
        `INSERT INTO schedule_sources (source, timezone, version, applied_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (source) DO UPDATE SET timezone = excluded.timezone, version = excluded.version, applied_at = excluded.applied_at`,
      ).run(source, message.timezone, version, at);
      this.store.setMeta(TIMEZONE_KEY, message.timezone);
      return result;
    })();
  }

  /** Stores the execution state of one event (no-op for an event no longer stored). */
  saveState(eventId: string, state: ExecutionState): void {
    this.store
      .prepare('UPDATE schedule_events SET phase = ?, started_at = ?, extended_end = ?, stopped_at = ? WHERE id = ?')
      .run(state.phase, state.startedAt, state.extendedEnd, state.stoppedAt, eventId);
  }
}

/** Reads and validates a schedule file (the same message as on MQTT). */
export async function loadScheduleFile(path: string, options: { now: number }): Promise<ScheduleMessage> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ScheduleFileError(`cannot read the schedule file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseScheduleText(text, { now: options.now, what: `schedule file ${path}` });
}
