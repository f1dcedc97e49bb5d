// Package store keeps the Thing Registry's records in SQL: SQLite
// (modernc.org/sqlite, a file in the plugin's data directory, the default)
// or PostgreSQL (pgx, when the operator gives the plugin a postgres:// DSN).
// One schema and one set of queries serve both; only DDL types differ.
//
// It owns the registry's state machine (digest §5.2) as transactions, so
// that a crash leaves either the old state or the new one with its
// notifications queued: register, claim (exactly one of several
// concurrent claimants wins), update, remove, disown, unregister. It runs
// searches (digest §5.5) on an index in memory (index.go: per tag name,
// the visible things' values in order with compressed bitmaps of their
// things), loaded from SQL when it opens and brought up to date by every
// write right after its commit; SQL stays the source of truth and serves
// only the page of results. It keeps the outbox of notifications and
// events that the plugin delivers when the thing is online.
//
// It assumes it is the only writer of its tables: a second registry
// process on the same PostgreSQL database would not see the first one's
// writes in its searches until it restarts.
//
// It must not speak XMPP or import the broker: the plugin turns stanzas
// into these calls. It never stores or returns a claimed thing's KEY, and
// keeps the claim-time tag set only as a SHA-256 digest.
package store
