-- Balance monitor and delivery-report poller (internal/monitor).

-- Latest balance reading per (vendor, kind). value is exact (numeric) and
-- NULL where the vendor says "not allocated" (JPush). below is the
-- low-balance state: an alert is raised only when it turns true, so a
-- balance that stays low alerts once, across replicas and restarts.
CREATE TABLE balances (
    vendor     text        NOT NULL,
    kind       text        NOT NULL,
    value      numeric,
    checked_at timestamptz NOT NULL,
    below      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (vendor, kind)
);

-- Every reading, for history and graphs.
CREATE TABLE balance_history (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor     text        NOT NULL,
    kind       text        NOT NULL,
    value      numeric,
    checked_at timestamptz NOT NULL
);

CREATE INDEX balance_history_vendor_kind_idx ON balance_history (vendor, kind, checked_at);

-- Leases: one holder at a time per name ("balance:<vendor>"), taken with
-- UPDATE ... WHERE lease_until <= now, so one replica polls a vendor per
-- interval and a crashed holder's lease simply runs out.
CREATE TABLE monitor_leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    lease_until timestamptz NOT NULL
);

-- Per-vendor alert states that are not tied to a balance kind
-- ("credentials_rejected"): an alert is raised per transition only.
CREATE TABLE monitor_flags (
    vendor     text        NOT NULL,
    flag       text        NOT NULL,
    active     boolean     NOT NULL,
    reason     text,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (vendor, flag)
);

-- Outbox: NATS messages (alerts) written in the same transaction as the
-- state change they announce, published afterwards with Nats-Msg-Id =
-- msg_id and then stamped published_at. A crash between the publish and
-- the stamp republishes under the same id, which JetStream drops.
CREATE TABLE outbox (
    seq          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject      text        NOT NULL,
    msg_id       text        NOT NULL UNIQUE,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;

-- Messages tracked for delivery reports (POST /v1/messages). id is the
-- deterministic UUIDv5 of "urn:relay:message:<vendor>:<message_id>".
-- status: sending and unknown are polled (next_poll_at); delivered,
-- failed and expired are final. The move to a final status is made by
-- one UPDATE ... WHERE status IN ('sending', 'unknown'), so it happens
-- once however many pollers race; published_at is the outbox stamp of
-- the relay.reports.<vendor> event.
CREATE TABLE messages (
    id               uuid        PRIMARY KEY,
    vendor           text        NOT NULL,
    message_id       text        NOT NULL,
    app_id           text        NOT NULL,
    status           text        NOT NULL DEFAULT 'sending'
                     CHECK (status IN ('sending', 'unknown', 'delivered', 'failed', 'expired')),
    number           text,
    receive_time     timestamptz,
    raw_receive_time text,
    polls            integer     NOT NULL DEFAULT 0,
    next_poll_at     timestamptz,
    last_polled_at   timestamptz,
    expires_at       timestamptz NOT NULL,
    api_key          text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    final_at         timestamptz,
    published_at     timestamptz,
    CONSTRAINT messages_vendor_message_id_key UNIQUE (vendor, message_id),
    CONSTRAINT messages_polled_while_open CHECK ((status IN ('sending', 'unknown')) = (next_poll_at IS NOT NULL))
);

CREATE INDEX messages_due_idx ON messages (next_poll_at, id) WHERE status IN ('sending', 'unknown');
CREATE INDEX messages_unpublished_idx ON messages (final_at, id)
    WHERE published_at IS NULL AND status IN ('delivered', 'failed', 'expired');
