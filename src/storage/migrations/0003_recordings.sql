-- The recordings index (one row per recorded call) and the audit log of exports and playbacks.
-- Files live under DATA_DIR/recordings/YYYY/MM/DD/<call_id>/ (see src/recording).

CREATE TABLE recordings (
    call_id           TEXT PRIMARY KEY NOT NULL,
    path              TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    duration_ms       INTEGER,
    participants_json TEXT NOT NULL DEFAULT '[]',
    agent             TEXT,
    queue             TEXT,
    tags_json         TEXT NOT NULL DEFAULT '{}',
    size_bytes        INTEGER NOT NULL DEFAULT 0,
    segments          INTEGER NOT NULL DEFAULT 0,
    chain_head        TEXT,
    manifest_sha256   TEXT,
    state             TEXT NOT NULL,
    reason            TEXT,
    dropped_packets   INTEGER NOT NULL DEFAULT 0,
    gaps_json         TEXT NOT NULL DEFAULT '[]'
);

CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_state ON recordings (state);

CREATE TABLE recording_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    call_id  TEXT NOT NULL,
    action   TEXT NOT NULL,
    operator TEXT NOT NULL,
    detail   TEXT
);
