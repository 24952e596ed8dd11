-- Cached schema (tables and columns) of each data source, refreshed on demand.
CREATE TABLE data_source_schemas (
    data_source_id INTEGER PRIMARY KEY REFERENCES data_sources (id) ON DELETE CASCADE,
    schema         TEXT    NOT NULL,
    refreshed_at   TEXT    NOT NULL
);
