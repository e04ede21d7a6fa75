-- API keys made with `relay keys create`. Only the SHA-256 digest of the
-- secret is stored; the secret is shown once, at creation.
CREATE TABLE api_keys (
    name        text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    digest      bytea       NOT NULL UNIQUE CHECK (length(digest) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
