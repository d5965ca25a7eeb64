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
  {
    version: 2,
    name: 'camera registry',
    sql: `
      -- Cameras as the box knows them: by identity (WS-Discovery endpoint URN, or MAC when a camera has no
      -- stable URN), never by IP address, which DHCP changes (DESIGN: agent/cameras).
      CREATE TABLE cameras (
        key               TEXT PRIMARY KEY,   -- 'urn:uuid:…' or 'mac:aa:bb:cc:dd:ee:ff'
        camera_id         TEXT NOT NULL UNIQUE,
        urn               TEXT UNIQUE,
        mac               TEXT,
        name              TEXT,
        manufacturer      TEXT,
        model             TEXT,
        firmware          TEXT,
        serial            TEXT,
        address           TEXT NOT NULL,
        xaddrs            TEXT NOT NULL DEFAULT '[]',   -- JSON array, as rewritten for reachability
        clock_offset_ms   INTEGER,
        auth              TEXT,                          -- 'ws-security' | 'digest' | 'none' | NULL (unknown)
        profiles          TEXT NOT NULL DEFAULT '[]',   -- JSON array of normalised profiles, URIs without credentials
        first_seen        TEXT NOT NULL,
        last_seen         TEXT NOT NULL,
        previous_address  TEXT,
        address_changed_at TEXT
      ) STRICT;
      CREATE INDEX cameras_by_mac ON cameras (mac);
    `,
  },
  {
    version: 3,
    name: 'recording gaps',
    sql: `
      -- Footage missing before this segment (camera loss, pipeline restart), in ms; 0 = continuous. The
      -- event playlist puts a discontinuity here and the uplink reports it as a real gap, not a lost upload.
      ALTER TABLE segments ADD COLUMN gap_before_ms INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

