-- Cached schema (tables and columns) of each data source, refreshed on demand.
CREATE TABLE data_source_schemas (
    data_source_id BIGINT      PRIMARY KEY REFERENCES data_sources (id) ON DELETE CASCADE,
    schema         JSONB       NOT NULL,
    refreshed_at   TIMESTAMPTZ NOT NULL
);
