-- Thing Registry schema, version 3 (open.go upgrades older ones). {{…}} macros are replaced per backend.
-- Every table is prefixed registry_ so that the registry can share a
-- PostgreSQL database with the broker.

CREATE TABLE IF NOT EXISTS registry_schema (version INTEGER NOT NULL);

-- One record per (thing bare JID, node id, source, partition).
-- state: 0 unclaimed, 1 claimed, 2 removed. vis = claimed and public: the
-- only records searches see (the search index is built from them). digest: SHA-256 of the tag set an owner must
-- present (the registered set; kept after the claim, when KEY is gone,
-- so that the same owner can claim again).
CREATE TABLE IF NOT EXISTS registry_things (
	id         {{id}},
	jid        {{text}} NOT NULL,
	nid        {{text}} NOT NULL DEFAULT '',
	src        {{text}} NOT NULL DEFAULT '',
	pt         {{text}} NOT NULL DEFAULT '',
	state      SMALLINT NOT NULL DEFAULT 0,
	owner      {{text}} NOT NULL DEFAULT '',
	public     SMALLINT NOT NULL DEFAULT 0,
	self_owned SMALLINT NOT NULL DEFAULT 0,
	vis        SMALLINT NOT NULL DEFAULT 0,
	digest     {{text}} NOT NULL,
	ns         {{text}} NOT NULL DEFAULT '',
	created    BIGINT NOT NULL,
	updated    BIGINT NOT NULL,
	UNIQUE (jid, nid, src, pt)
);
CREATE INDEX IF NOT EXISTS registry_things_digest ON registry_things (digest);
CREATE INDEX IF NOT EXISTS registry_things_owner ON registry_things (owner) WHERE owner <> '';
CREATE INDEX IF NOT EXISTS registry_things_vis ON registry_things (id) WHERE vis = 1;

-- Tags: name is folded (upper case) for matching, label as registered.
-- Exactly one of s and n is set. Searches run on an index in the
-- plugin's memory (index.go) and read only their page of results here,
-- by primary key: clustered on SQLite (WITHOUT ROWID), covering label, s
-- and n on PostgreSQL (INCLUDE), so that a thing's tags are one index
-- range.
CREATE TABLE IF NOT EXISTS registry_tags (
	thing_id BIGINT NOT NULL,
	name     {{text}} NOT NULL,
	label    {{text}} NOT NULL,
	s        {{text}},
	n        {{real}},
	PRIMARY KEY (thing_id, name){{pk_include}}
){{without_rowid}};

-- Notifications to things (claimed, removed, disowned), deleted when the
-- thing acknowledges. jid is the thing's bare JID.
CREATE TABLE IF NOT EXISTS registry_outbox (
	id       {{id}},
	jid      {{text}} NOT NULL,
	kind     {{text}} NOT NULL,
	nid      {{text}} NOT NULL DEFAULT '',
	src      {{text}} NOT NULL DEFAULT '',
	pt       {{text}} NOT NULL DEFAULT '',
	owner    {{text}} NOT NULL DEFAULT '',
	public   SMALLINT NOT NULL DEFAULT 0,
	ns       {{text}} NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 0,
	created  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_outbox_jid ON registry_outbox (jid, id);

-- Broker events (thing.claimed, thing.disowned) not yet published.
CREATE TABLE IF NOT EXISTS registry_events (
	id      {{id}},
	name    {{text}} NOT NULL,
	attrs   {{text}} NOT NULL,
	created BIGINT NOT NULL
);

-- Full JIDs of things seen online, so that notifications and disown can
-- reach them after a registry restart (checked with the broker first).
CREATE TABLE IF NOT EXISTS registry_sessions (
	full_jid {{text}} PRIMARY KEY,
	jid      {{text}} NOT NULL,
	seen     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_sessions_jid ON registry_sessions (jid);
