-- High availability: fenced, exactly-once scheduled runs, and indexes for the hot lookups.

-- The highest fencing token any scheduler claim carried (one row, id 1).
CREATE TABLE scheduler_fence (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token INTEGER NOT NULL
);
INSERT INTO scheduler_fence (id, token) VALUES (1, 0);

-- The due time of the query's last claimed scheduled run.
ALTER TABLE queries ADD COLUMN schedule_claimed_for TEXT;
