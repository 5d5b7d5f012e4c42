-- Call detail records and registrar users.
-- Portable SQL: the same statements run on PostgreSQL with INTEGER -> BIGINT and TEXT JSON
-- columns -> JSONB (see src/storage/mod.rs).

CREATE TABLE cdr (
    id            TEXT PRIMARY KEY NOT NULL,
    call_id_in    TEXT,
    call_id_out   TEXT,
    caller        TEXT NOT NULL,
    callee        TEXT NOT NULL,
    source        TEXT NOT NULL,
    dialplan_rule TEXT,
    queue         TEXT,
    agent         TEXT,
    wait_ms       INTEGER,
    outcome       TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    ringing_at    INTEGER,
    answered_at   INTEGER,
    ended_at      INTEGER,
    setup_ms      INTEGER,
    talk_ms       INTEGER,
    cause         TEXT NOT NULL,
    ended_by      TEXT NOT NULL,
    sip_code_in   INTEGER,
    sip_code_out  INTEGER,
    media_json    TEXT NOT NULL,
    tags_json     TEXT NOT NULL
);

CREATE INDEX cdr_started_at ON cdr (started_at);

CREATE TABLE users (
    id          TEXT PRIMARY KEY NOT NULL,
    display     TEXT,
    realm       TEXT NOT NULL,
    ha1_md5     TEXT NOT NULL,
    ha1_sha256  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
