-- Cairn metadata schema, SQLite flavour. Timestamps are RFC 3339 text in UTC (sqlx's encoding,
-- which sorts chronologically), JSON is text, booleans are 0/1.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT 0,
    api_key       TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    created_at    TEXT    NOT NULL,
    disabled_at   TEXT
);
CREATE UNIQUE INDEX users_email_lower ON users (LOWER(email));

CREATE TABLE data_sources (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL UNIQUE,
    type                 TEXT    NOT NULL,
    encrypted_options    BLOB    NOT NULL,
    queue_name           TEXT    NOT NULL,
    scheduled_queue_name TEXT    NOT NULL,
    paused               BOOLEAN NOT NULL DEFAULT 0,
    pause_reason         TEXT,
    created_at           TEXT    NOT NULL
);

CREATE TABLE query_results (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    data_source_id INTEGER NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    query_hash     TEXT    NOT NULL,
    query          TEXT    NOT NULL,
    complete       BOOLEAN NOT NULL DEFAULT 0,
    runtime        REAL    NOT NULL DEFAULT 0,
    retrieved_at   TEXT    NOT NULL,
    row_count      INTEGER NOT NULL DEFAULT 0,
    byte_size      INTEGER NOT NULL DEFAULT 0,
    chunk_count    INTEGER NOT NULL DEFAULT 0,
    columns        TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX query_results_cache ON query_results (data_source_id, query_hash, retrieved_at);
CREATE INDEX query_results_retrieved_at ON query_results (retrieved_at);

CREATE TABLE query_result_chunks (
    result_id INTEGER NOT NULL REFERENCES query_results (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    bytes     BLOB    NOT NULL,
    PRIMARY KEY (result_id, seq)
);

CREATE TABLE queries (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL,
    description          TEXT,
    query                TEXT    NOT NULL,
    query_hash           TEXT    NOT NULL,
    schedule             TEXT,
    api_key              TEXT    NOT NULL UNIQUE,
    is_archived          BOOLEAN NOT NULL DEFAULT 0,
    is_draft             BOOLEAN NOT NULL DEFAULT 1,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    data_source_id       INTEGER REFERENCES data_sources (id) ON DELETE SET NULL,
    latest_query_data_id INTEGER REFERENCES query_results (id) ON DELETE SET NULL,
    options              TEXT    NOT NULL DEFAULT '{}',
    version              INTEGER NOT NULL DEFAULT 1,
    tags                 TEXT    NOT NULL DEFAULT '[]',
    user_id              INTEGER NOT NULL REFERENCES users (id),
    last_modified_by_id  INTEGER REFERENCES users (id),
    schedule_failures    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queries_fan_out ON queries (data_source_id, query_hash);
CREATE INDEX queries_latest_result ON queries (latest_query_data_id);
CREATE INDEX queries_user ON queries (user_id, created_at);
CREATE INDEX queries_created_at ON queries (created_at);
CREATE INDEX queries_updated_at ON queries (updated_at);
CREATE INDEX queries_scheduled ON queries (id) WHERE schedule IS NOT NULL AND is_archived = 0;

CREATE TABLE query_tags (
    query_id INTEGER NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    tag      TEXT    NOT NULL,
    PRIMARY KEY (query_id, tag)
);
CREATE INDEX query_tags_tag ON query_tags (tag, query_id);

CREATE TABLE visualizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id    INTEGER NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    type        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT,
    options     TEXT    NOT NULL DEFAULT '{}',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX visualizations_query ON visualizations (query_id);

CREATE TABLE dashboards (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    slug                      TEXT    NOT NULL UNIQUE,
    name                      TEXT    NOT NULL,
    user_id                   INTEGER NOT NULL REFERENCES users (id),
    layout                    TEXT    NOT NULL DEFAULT '[]',
    options                   TEXT    NOT NULL DEFAULT '{}',
    is_archived               BOOLEAN NOT NULL DEFAULT 0,
    is_draft                  BOOLEAN NOT NULL DEFAULT 1,
    tags                      TEXT    NOT NULL DEFAULT '[]',
    version                   INTEGER NOT NULL DEFAULT 1,
    dashboard_filters_enabled BOOLEAN NOT NULL DEFAULT 0,
    created_at                TEXT    NOT NULL,
    updated_at                TEXT    NOT NULL
);
CREATE INDEX dashboards_user ON dashboards (user_id, created_at);
CREATE INDEX dashboards_created_at ON dashboards (created_at);

CREATE TABLE dashboard_tags (
    dashboard_id INTEGER NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
    tag          TEXT    NOT NULL,
    PRIMARY KEY (dashboard_id, tag)
);
CREATE INDEX dashboard_tags_tag ON dashboard_tags (tag, dashboard_id);

CREATE TABLE widgets (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    dashboard_id     INTEGER NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
    visualization_id INTEGER REFERENCES visualizations (id) ON DELETE CASCADE,
    text             TEXT    NOT NULL DEFAULT '',
    width            INTEGER NOT NULL DEFAULT 1,
    options          TEXT    NOT NULL DEFAULT '{}',
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX widgets_dashboard ON widgets (dashboard_id);
CREATE INDEX widgets_visualization ON widgets (visualization_id);

CREATE TABLE dashboard_shares (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key       TEXT    NOT NULL UNIQUE,
    active        BOOLEAN NOT NULL DEFAULT 1,
    dashboard_id  INTEGER NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
    created_by_id INTEGER NOT NULL REFERENCES users (id),
    created_at    TEXT    NOT NULL
);
CREATE INDEX dashboard_shares_dashboard ON dashboard_shares (dashboard_id, active);

CREATE TABLE favorites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    object_type TEXT    NOT NULL,
    object_id   INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    UNIQUE (user_id, object_type, object_id)
);
CREATE INDEX favorites_object ON favorites (object_type, object_id);
