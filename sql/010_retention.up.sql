-- Retention janitor (internal/retention): indexes that let it find what
-- is old and final without scanning. Final events are found by the
-- existing events_state_updated_idx (state, updated_at, id).

-- Tracked messages with a final status whose report event was published.
CREATE INDEX messages_retention_idx ON messages (final_at)
    WHERE status IN ('delivered', 'failed', 'expired') AND published_at IS NOT NULL;

-- Outbox rows already published.
CREATE INDEX outbox_retention_idx ON outbox (published_at)
    WHERE published_at IS NOT NULL;
