-- Autovacuum for the tables that grow with the traffic. The defaults
-- (analyze after 10 % of the table changed, vacuum after 20 %) wait for
-- millions of rows once a table is large, and leave a fresh table with
-- the statistics of an empty one through its first burst. Analyzing is
-- cheap (a fixed-size sample), so it runs after 2 % (events, messages) or
-- 5 % (append-only attempts) changed, plus a fixed threshold so a small
-- table is not analyzed on every nap. Query plans do not depend on it
-- (store plans each execution against the table's current size, see
-- internal/store/plans.go); estimates of joins and states do.
ALTER TABLE events SET (
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 1000,
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05
);

-- Append-only: vacuumed for its visibility map (index-only scans), never
-- for dead rows.
ALTER TABLE attempts SET (
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_analyze_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_insert_threshold = 10000
);

-- Small but churning: every row is inserted then updated once (stamped
-- published), so dead rows pile up at the rate of the alerts.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 500,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_analyze_threshold = 500
);

-- Updated on every poll until final.
ALTER TABLE messages SET (
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 1000,
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_vacuum_threshold = 1000
);
