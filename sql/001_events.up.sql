-- Events: one row per (vendor, message_id). The id is the deterministic
-- UUIDv5 that ingest computed, so a row can be found from either key.
CREATE TABLE events (
    id              uuid        PRIMARY KEY,
    vendor          text        NOT NULL,
    message_id      text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'retrying', 'paused', 'confirmed', 'already_confirmed', 'failed')),
    -- attempts counts every vendor call; budget_used counts the calls that
    -- spend the retry budget (credential rejections and replays do not).
    attempts        integer     NOT NULL DEFAULT 0,
    budget_used     integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    vendor_code     integer,
    last_error      text,
    occurred_at     timestamptz,
    metadata        jsonb,
    api_key         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    CONSTRAINT events_vendor_message_id_key UNIQUE (vendor, message_id)
);

CREATE INDEX events_state_updated_idx ON events (state, updated_at, id);
CREATE INDEX events_created_idx ON events (created_at, id);

-- Attempts: one row per vendor call, never updated. Errors are stored
-- already redacted: no credential reaches this table.
CREATE TABLE attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    http_status  integer,
    vendor_code  integer,
    outcome      text        NOT NULL,
    error        text
);

CREATE INDEX attempts_event_idx ON attempts (event_id, id);

-- Vendor status: a paused vendor (rejected credentials) is called by no
-- replica until it is resumed or a probe call succeeds.
CREATE TABLE vendor_status (
    vendor     text        PRIMARY KEY,
    paused     boolean     NOT NULL DEFAULT false,
    reason     text,
    paused_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
