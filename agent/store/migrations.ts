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
  {
    version: 4,
    name: 'spool ledger',
    sql: `
      -- The uplink's side of a segment (issue 5). state: pending (on disk, not yet acknowledged by the
      -- ingest) → uploaded (acknowledged, file kept for local replay) → done (acknowledged, file deleted);
      -- or evicted (deleted by the quota before it was acknowledged) / lost (file missing at start).
      ALTER TABLE segments ADD COLUMN event_id    TEXT;              -- NULL: footage outside any event
      ALTER TABLE segments ADD COLUMN sha256      TEXT;              -- hex, of the file as closed
      ALTER TABLE segments ADD COLUMN attempts    INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE segments ADD COLUMN priority    INTEGER NOT NULL DEFAULT 0;   -- higher is kept longer by the quota
      ALTER TABLE segments ADD COLUMN uploaded_at TEXT;
      ALTER TABLE segments ADD COLUMN last_error  TEXT;
      ALTER TABLE segments ADD COLUMN adopted     INTEGER NOT NULL DEFAULT 0;   -- 1: found on disk without a row (after a crash)
      UPDATE segments SET state = 'pending' WHERE state = 'closed';
      CREATE INDEX segments_by_event ON segments (event_id, stream_id, seq);

      -- A row per outgoing message (the durable outbox of the fleet telemetry): written before it is sent,
      -- deleted when the broker acknowledged it, replayed in id order after a reconnect or a restart.
      CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY,
        topic      TEXT    NOT NULL,
        payload    TEXT    NOT NULL,
        qos        INTEGER NOT NULL DEFAULT 1,
        retain     INTEGER NOT NULL DEFAULT 0,
        kind       TEXT    NOT NULL,         -- 'event' | 'health' | ... (thinning drops health first)
        created_at TEXT    NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'schedule',
    sql: `
      -- The event schedule (issue 7), kept so that the box streams what it was told even when the controller
      -- is unreachable. Times are ISO 8601 UTC. Execution state (phase … stopped_at) survives a restart and a
      -- schedule update that keeps the id (agent/schedule/store.ts).
      CREATE TABLE schedule_events (
        id               TEXT    PRIMARY KEY,
        title            TEXT    NOT NULL,
        start_at         TEXT    NOT NULL,
        end_at           TEXT    NOT NULL,
        pre_roll_s       INTEGER NOT NULL,
        post_roll_s      INTEGER NOT NULL,
        program          TEXT    NOT NULL,                 -- JSON: {"cameraId": …} or {"role": …}
        outputs          TEXT    NOT NULL,                 -- JSON: {"segments": bool, "live": "all" | [index, …]}
        record_only      INTEGER NOT NULL DEFAULT 0,
        source           TEXT    NOT NULL,                 -- 'mqtt' | 'file' | 'command'
        updated_at       TEXT    NOT NULL,
        phase            TEXT    NOT NULL DEFAULT 'scheduled',  -- scheduled|warming|live|post-roll|done|cancelled|missed
        started_at       TEXT,                             -- went live
        extended_end     TEXT,                             -- set by the extend command
        stopped_at       TEXT                              -- set by the stop command
      ) STRICT;
      CREATE INDEX schedule_events_by_source ON schedule_events (source);

      -- Per source, what was applied last: the venue's time zone and the message version (an older version
      -- arriving later, e.g. across a broker failover, is refused as stale).
      CREATE TABLE schedule_sources (
        source      TEXT PRIMARY KEY,
        timezone    TEXT NOT NULL,
        version     INTEGER,
        applied_at  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: 'pending-index',
    sql: `
      -- The uploader looks for the oldest pending segment at every step, and the quota, over its limit, for the
      -- first to evict (by event), and health counts the backlog: a partial index over the pending rows alone, in
      -- that order, with the event and the bytes, lets them read from its front or from it alone instead of reading
      -- every pending row (~1 s at 100 000 pending after a long outage — bench/backlog.ts).
      CREATE INDEX segments_pending_by_start ON segments (start_time, stream_id, seq, event_id, bytes) WHERE state = 'pending';
    `,
  },
];

