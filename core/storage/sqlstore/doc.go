// Package sqlstore implements storage.Store over database/sql for both
// SQLite (modernc.org/sqlite, pure Go, the embedded default) and PostgreSQL
// (pgx through its database/sql driver), with one SQL text for both: $1
// placeholders, ON CONFLICT ... DO UPDATE and RETURNING run on either, so
// there is one code path to test.
//
// Schema changes are numbered files in migrations/, embedded and applied at
// Open under a lock (a PostgreSQL advisory lock; a SQLite BEGIN IMMEDIATE
// transaction) so that nodes starting together do not race. The only
// dialect differences are three macros in those files, {{text}}, {{bytes}}
// and {{id}}; see dialect.go. Adding a table is a new migration file plus
// the methods that use it.
//
// SQLite runs in WAL mode with one writer connection, so writes queue in
// database/sql instead of failing with SQLITE_BUSY, and a few read-only
// connections. PostgreSQL runs a bounded pool; every call is bounded by
// Options.Timeout, and a database that is down or restarting makes calls
// fail fast with storage.ErrUnavailable while the pool reconnects by itself.
//
// It must not log (errors are returned and logged once by the caller), hold
// a password, or interpret the raw stanzas it stores.
package sqlstore
