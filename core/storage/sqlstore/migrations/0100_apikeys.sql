-- API keys for signed in-band registration (XEP-0077 with XEP-0348), the
-- nonces their signatures used, and the audit of registrations.
--
-- The secret is sealed by the broker before it reaches the database; the
-- column holds ciphertext only. The quota is the conditional increment of
-- api_keys.used in the transaction that creates the account, so racing
-- registrations take its row lock one after the other. Times are
-- microseconds since 1970 UTC; 0 means "never" for expires and revoked.
--
-- registrations has no foreign key to accounts on purpose: the record
-- outlives the account it names.

CREATE TABLE api_keys (
    api_key  {{text}} PRIMARY KEY,
    sealed   {{bytes}} NOT NULL,
    accounts INTEGER NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0,
    domain   {{text}} NOT NULL,
    note     TEXT NOT NULL,
    created  BIGINT NOT NULL,
    expires  BIGINT NOT NULL,
    revoked  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE api_nonces (
    api_key {{text}} NOT NULL,
    nonce   {{text}} NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (api_key, nonce)
);
CREATE INDEX api_nonces_expires ON api_nonces (expires);

CREATE TABLE registrations (
    id      {{id}},
    api_key {{text}} NOT NULL,
    account {{text}} NOT NULL,
    created BIGINT NOT NULL,
    remote  TEXT NOT NULL
);
CREATE INDEX registrations_key ON registrations (api_key, id);
