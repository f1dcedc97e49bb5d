-- Provisioning tokens (digest §8, urn:*:iot:prov:t:1.0): a party that proved
-- it holds the private key of an X.509 certificate gets a token, which it
-- can show in decision-support questions; anyone can ask the certificate
-- behind a token. Tokens have no fixed lifetime.

CREATE TABLE prov_tokens (
    token   {{text}} PRIMARY KEY,
    holder  {{text}} NOT NULL,
    cert    {{bytes}} NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX prov_tokens_holder ON prov_tokens (holder);
