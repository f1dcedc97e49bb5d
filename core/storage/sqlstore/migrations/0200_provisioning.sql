-- The provisioning service (core/provisioning): claimed things, owners'
-- learned rules, pending owner questions, owners' Rego modules, the
-- decision audit and pushes queued for offline things.
--
-- Nothing here references accounts: things and owners may live on other
-- domains, and a thing's rules must survive until it is disowned.
-- prov_meta.version is bumped by every write to things, rules, policies and
-- notices, so that brokers (and the CLI) know when to reload.

CREATE TABLE prov_meta (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO prov_meta (id, version) VALUES (1, 0);

CREATE TABLE prov_things (
    thing   {{text}} NOT NULL,
    node    {{text}} NOT NULL,
    source  {{text}} NOT NULL,
    part    {{text}} NOT NULL,
    owner   {{text}} NOT NULL,
    enforce BOOLEAN NOT NULL,
    claimed BIGINT NOT NULL,
    PRIMARY KEY (thing, node, source, part)
);
CREATE INDEX prov_things_owner ON prov_things (owner, thing);

-- categories, fields, params: JSON arrays of names; NULL means unrestricted.
CREATE TABLE prov_rules (
    id         {{id}},
    owner      {{text}} NOT NULL,
    thing      {{text}} NOT NULL,
    node       {{text}} NOT NULL,
    source     {{text}} NOT NULL,
    part       {{text}} NOT NULL,
    action     {{text}} NOT NULL,
    origin     {{text}} NOT NULL,
    remote     {{text}} NOT NULL,
    allow      BOOLEAN NOT NULL,
    categories TEXT,
    fields     TEXT,
    params     TEXT,
    created    BIGINT NOT NULL
);
CREATE INDEX prov_rules_thing ON prov_rules (thing, id);
CREATE INDEX prov_rules_owner ON prov_rules (owner, id);

CREATE TABLE prov_questions (
    qkey   {{text}} PRIMARY KEY,
    owner  {{text}} NOT NULL,
    thing  {{text}} NOT NULL,
    node   {{text}} NOT NULL,
    source {{text}} NOT NULL,
    part   {{text}} NOT NULL,
    action {{text}} NOT NULL,
    remote {{text}} NOT NULL,
    raw    {{bytes}} NOT NULL,
    asked  BIGINT NOT NULL
);
CREATE UNIQUE INDEX prov_questions_situation ON prov_questions (thing, node, source, part, action, remote);
CREATE INDEX prov_questions_owner ON prov_questions (owner);

CREATE TABLE prov_policies (
    owner   {{text}} PRIMARY KEY,
    module  TEXT NOT NULL,
    updated BIGINT NOT NULL
);

CREATE TABLE prov_decisions (
    id        {{id}},
    at        BIGINT NOT NULL,
    owner     {{text}} NOT NULL,
    thing     {{text}} NOT NULL,
    node      {{text}} NOT NULL,
    source    {{text}} NOT NULL,
    part      {{text}} NOT NULL,
    requester {{text}} NOT NULL,
    action    {{text}} NOT NULL,
    via       {{text}} NOT NULL,
    allow     BOOLEAN NOT NULL,
    reason    TEXT NOT NULL,
    rules     TEXT NOT NULL,
    request   TEXT NOT NULL,
    granted   TEXT NOT NULL
);
CREATE INDEX prov_decisions_owner ON prov_decisions (owner, id);
CREATE INDEX prov_decisions_thing ON prov_decisions (thing, id);
CREATE INDEX prov_decisions_at ON prov_decisions (at);

CREATE TABLE prov_notices (
    id     {{id}},
    thing  {{text}} NOT NULL,
    kind   {{text}} NOT NULL,
    raw    {{bytes}} NOT NULL,
    queued BIGINT NOT NULL
);
CREATE INDEX prov_notices_thing ON prov_notices (thing, id);
