// Package storage declares what the broker keeps between connections:
// accounts and their SCRAM verifiers, rosters with XEP-0237 versions,
// pending inbound subscription requests, offline messages and XEP-0191 block
// lists. It holds the consumer-side interfaces, the value types and the
// errors that every backend returns, so that im, c2s and the CLI depend on
// this package and never on a database driver.
//
// Backends live in sub-packages (sqlstore serves SQLite and PostgreSQL with
// one code path); storagetest is the one conformance suite every backend
// must pass; portable reads and writes the XEP-0227 export format.
//
// It must not import a database driver, parse stanzas, or know about
// sessions: raw stanzas are opaque bytes here. It never sees a password,
// only RFC 5802 StoredKey/ServerKey with their salt and iteration count.
package storage
