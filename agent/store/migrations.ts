/**
 * Versioned schema migrations, applied in order, each once, each in its own transaction. Append only:
 * a released migration is never edited (boxes in the field have already run it); a change is a new entry.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'meta and segments',
    sql: `
      -- Small facts the box keeps across restarts (boot counter, birth sequence, ...).
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      -- One row per closed media segment. The payload is a file in the spool folder, written once by the
      -- pipeline (DESIGN decision 3); the row is the ledger entry the uplink will work from.
      CREATE TABLE segments (
        id           INTEGER PRIMARY KEY,
        stream_id    TEXT    NOT NULL,
        seq          INTEGER NOT NULL,
        path         TEXT    NOT NULL,
        start_time   TEXT    NOT NULL,     -- ISO 8601 UTC, wall clock when the fragment opened
        duration_ms  INTEGER NOT NULL,
        bytes        INTEGER NOT NULL,
        state        TEXT    NOT NULL DEFAULT 'closed',
        created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (stream_id, seq)
      ) STRICT;
      CREATE INDEX segments_by_state ON segments (state, stream_id, seq);
    `,
  },
];
