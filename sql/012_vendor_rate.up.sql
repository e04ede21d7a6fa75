-- RELAY_<VENDOR>_RATE, fleet-wide: one row per rate-limited vendor with
-- the GCRA's theoretical arrival time (tat), the instant the vendor's
-- calls are paid up to. A take of k permits moves it k emission intervals
-- on from max(tat, now); it may run at most the burst (one second of the
-- rate) ahead of now. One timestamp and integer microseconds: nothing
-- accumulates rounding, however many takes. The row is locked by the one
-- UPDATE that takes the permits, so replicas take them in turn.
-- taken_at and granted are the last take's clock and count, read back by
-- that same statement (RETURNING sees only the new row).
CREATE TABLE vendor_rate (
    vendor   text        PRIMARY KEY,
    tat      timestamptz NOT NULL DEFAULT '-infinity',
    taken_at timestamptz NOT NULL DEFAULT now(),
    granted  integer     NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

-- Updated by every batch of a rate-limited vendor: a handful of rows
-- turning over many times a second. The free space keeps the updates HOT
-- and vacuum comes often enough to keep the pages few.
ALTER TABLE vendor_rate SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 100000
);
