-- High availability: fenced, exactly-once scheduled runs, and indexes for the hot lookups.

-- The highest fencing token any scheduler claim carried (one row, id 1).
CREATE TABLE scheduler_fence (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token BIGINT  NOT NULL
);
INSERT INTO scheduler_fence (id, token) VALUES (1, 0);

-- The due time of the query's last claimed scheduled run.
ALTER TABLE queries ADD COLUMN schedule_claimed_for TIMESTAMPTZ;

-- Indexes for hot statements (see the store's `hot` module; a test asserts each is served by an
-- index). The scheduler's partial index is restated without `is_archived`: the statement binds
-- that as a parameter, and SQLite cannot prove a bound parameter matches a partial index.
DROP INDEX queries_scheduled;
CREATE INDEX queries_with_schedule ON queries (id) WHERE schedule IS NOT NULL;
-- Lists ordered by name (`order=name`), and dashboards by last change.
CREATE INDEX queries_name_lower ON queries (LOWER(name), id);
CREATE INDEX dashboards_name_lower ON dashboards (LOWER(name), id);
CREATE INDEX dashboards_updated_at ON dashboards (updated_at);
-- Recent queries: created OR last changed by the user.
CREATE INDEX queries_last_modified_by ON queries (last_modified_by_id, updated_at);
