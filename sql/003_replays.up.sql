-- Replays: one row per replay request (dry runs included), for audit and
-- for Idempotency-Key: a request repeated with the same key finds its row
-- and gets the stored answer instead of a second replay.
CREATE TABLE replays (
    id              uuid        PRIMARY KEY,
    -- NULL when the client sent no Idempotency-Key (NULLs never conflict).
    idempotency_key text        UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of the normalised request: a key reused for another request
    -- is refused rather than answered with the wrong result.
    request_hash    bytea       NOT NULL,
    actor           text        NOT NULL,
    -- {"ids":[...]} or {"filter":{...}}, with dry_run and force.
    request         jsonb       NOT NULL,
    dry_run         boolean     NOT NULL,
    force           boolean     NOT NULL DEFAULT false,
    status          text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    matched         integer     NOT NULL DEFAULT 0,
    replayed        integer     NOT NULL DEFAULT 0,
    -- The answer as sent ({"replay_id","matched","replayed","skipped",...}),
    -- repeated verbatim to a request with the same Idempotency-Key.
    result          jsonb,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Touched after every chunk: a running replay whose updated_at is old
    -- died with its process and may be taken over by a retry.
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

CREATE INDEX replays_created_idx ON replays (created_at DESC, id DESC);

-- The events a replay reset, written in the same statement as the reset:
-- a replay interrupted between reset and publish is resumed by re-sending
-- exactly these (JetStream drops the copies already sent, by message id).
CREATE TABLE replay_events (
    replay_id uuid NOT NULL REFERENCES replays (id) ON DELETE CASCADE,
    event_id  uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (replay_id, event_id)
);

CREATE INDEX replay_events_event_idx ON replay_events (event_id);
