-- The data model of DESIGN.md. Instants are INTEGER microseconds since the Unix epoch (UTC); JSON is TEXT.
-- The PostgreSQL twin of this file is migrations/postgres/0001_initial.sql: keep them in step.

-- One row per customer, identified by the lower-cased address in email_key.
CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL,                       -- as first given, trimmed
    email_key   TEXT NOT NULL UNIQUE,                -- lower-cased email: what imports and lookups match on
    first_name  TEXT,
    last_name   TEXT,
    timezone    TEXT,                                -- IANA name, validated on the way in
    locale      TEXT,
    attributes  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Behaviour: purchases, visits, and the engine's own email.* events.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    amount       REAL,
    properties   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(properties)),
    source_id    TEXT,                               -- the `id` column of an imported file, when given
    fingerprint  INTEGER NOT NULL,                   -- hash of the source id, else of kind, time, amount, properties
    delivery_id  INTEGER,                            -- for email.* events: the delivery they are about
    recorded_at  INTEGER NOT NULL
) STRICT;
-- One index serves both of these, because each index on a table of millions of events costs import
-- speed: segments ask "events of this kind for this customer within a window", which its prefix
-- answers alone; and re-importing a file inserts nothing twice (the fingerprint hashes kind, time,
-- amount and properties, or the source id).
CREATE UNIQUE INDEX events_customer_kind_time ON events (customer_id, kind, occurred_at, fingerprint);
-- Your own event ids (an order number) are unique per kind: `1` in purchases and `1` in visits differ.
CREATE UNIQUE INDEX events_source_id ON events (kind, source_id) WHERE source_id IS NOT NULL;

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

-- One run per (campaign, scheduled time), created at most once even with several daemons.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    campaign_id    INTEGER NOT NULL REFERENCES campaigns (id),
    scheduled_for  INTEGER NOT NULL,
    status         TEXT NOT NULL DEFAULT 'planning'
                   CHECK (status IN ('planning', 'sending', 'paused', 'finished')),
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    UNIQUE (campaign_id, scheduled_for)
) STRICT;

-- The unit of work: one row per (run, customer), leased before sending and marked after.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'sending', 'sent', 'retry', 'failed', 'skipped', 'uncertain')),
    reason       TEXT,                               -- why skipped or failed: suppressed, weekly_cap, ...
    attempts     INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER,                        -- retries stop when the lifetime has passed since then
    due_at       INTEGER NOT NULL,                   -- not before: courtesy rules and retries move it
    lease_until  INTEGER,                            -- while sending: when another worker may take it back
    last_error   TEXT,
    sent_at      INTEGER,
    updated_at   INTEGER NOT NULL,
    UNIQUE (run_id, customer_id)
) STRICT;
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_customer ON deliveries (customer_id);

-- Address-level ('*') and topic-level opt-outs; keyed by address so they survive re-imports.
CREATE TABLE suppressions (
    id          INTEGER PRIMARY KEY,
    email_key   TEXT NOT NULL,
    topic       TEXT NOT NULL DEFAULT '*',
    reason      TEXT NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')),
    detail      TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (email_key, topic)
) STRICT;
