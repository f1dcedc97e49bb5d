-- Accounts and everything that belongs to one. Every owned table references
-- accounts with ON DELETE CASCADE, so deleting an account is one statement
-- and writes for an owner without account fail on the foreign key.
--
-- Per-owner counters live on the account row: the roster version (bumped by
-- every roster write, XEP-0237), the oldest version from which changes can
-- still be computed (raised when tombstones are pruned), and the number of
-- offline messages, kept exactly so that the quota check is one conditional
-- UPDATE that takes the row lock.

CREATE TABLE accounts (
    jid            {{text}} PRIMARY KEY,
    domain         {{text}} NOT NULL,
    created        BIGINT NOT NULL,
    roster_version BIGINT NOT NULL,
    roster_floor   BIGINT NOT NULL,
    offline_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_domain ON accounts (domain, jid);

CREATE TABLE credentials (
    jid        {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    hash       {{text}} NOT NULL,
    salt       {{bytes}} NOT NULL,
    iterations INTEGER NOT NULL,
    stored_key {{bytes}} NOT NULL,
    server_key {{bytes}} NOT NULL,
    PRIMARY KEY (jid, hash)
);

CREATE TABLE roster_items (
    owner        {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    contact      {{text}} NOT NULL,
    name         TEXT NOT NULL,
    group_names  TEXT NOT NULL,
    subscription SMALLINT NOT NULL,
    ask          BOOLEAN NOT NULL,
    approved     BOOLEAN NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (owner, contact)
);
CREATE INDEX roster_items_version ON roster_items (owner, version);

CREATE TABLE roster_tombstones (
    owner   {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    contact {{text}} NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (owner, contact)
);
CREATE INDEX roster_tombstones_version ON roster_tombstones (owner, version);

CREATE TABLE subscription_requests (
    owner    {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    sender   {{text}} NOT NULL,
    raw      {{bytes}} NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (owner, sender)
);

CREATE TABLE offline_messages (
    id     {{id}},
    owner  {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    raw    {{bytes}} NOT NULL,
    stored BIGINT NOT NULL
);
CREATE INDEX offline_messages_owner ON offline_messages (owner, id);

CREATE TABLE blocked (
    owner {{text}} NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
    item  {{text}} NOT NULL,
    PRIMARY KEY (owner, item)
);
