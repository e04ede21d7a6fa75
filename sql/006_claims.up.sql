-- PostgreSQL owns every event's fate (see internal/outbound and the
-- README's "Claims, re-drive, pause and breaker").

-- A claim: the batch (claimed_by, a random token per batch) that may call
-- the vendor for the event until claimed_until. It is taken in the batch's
-- first statement and released when the batch records its results; a
-- crashed worker's claim simply runs out. Never two vendor calls in flight
-- for one event, across replicas and however many messages name it.
-- generation moves on every replay reset: a result computed before the
-- reset may still record its call and a success, never undo the reset.
-- redriven_at is when the reconciler last sent the event back to the
-- workers from PostgreSQL.
ALTER TABLE events
    ADD COLUMN claimed_by    uuid,
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN generation    integer NOT NULL DEFAULT 0,
    ADD COLUMN redriven_at   timestamptz;

-- The reconciler's scan: only events that are not final (a small set at a
-- steady rate), whatever the table's size.
CREATE INDEX events_open_idx ON events (updated_at, id) WHERE state IN ('pending', 'retrying', 'paused');

-- Vendor status, fleet-wide: why a vendor is paused (credentials: the
-- vendor refused our credentials; unavailable: the breaker tripped), the
-- consecutive transient failures across all replicas (the breaker's
-- count), and the last probe slot taken (one probe per interval for the
-- whole fleet).
ALTER TABLE vendor_status
    ADD COLUMN kind     text CHECK (kind IN ('credentials', 'unavailable')),
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN probe_at timestamptz;
UPDATE vendor_status SET kind = 'credentials' WHERE paused;

-- Outbox rows may re-drive an event: event_id set, payload empty; the
-- publisher builds the registration from the event row when it sends it,
-- so a replay or a resume is published even if its process dies right
-- after the commit. No foreign key on purpose: its check would lock the
-- events a resume re-drives (FOR KEY SHARE) while the resume holds the
-- vendor's row, the reverse of a worker batch's order (events, then the
-- vendor), a deadlock. A row whose event is gone is stamped unsent.
ALTER TABLE outbox ADD COLUMN event_id uuid;
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_payload_or_event CHECK ((payload IS NULL) <> (event_id IS NULL));
CREATE INDEX outbox_event_idx ON outbox (event_id) WHERE event_id IS NOT NULL;
