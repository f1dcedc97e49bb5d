// Package storagetest is the one conformance suite for storage.Store
// backends: every method, every documented error, concurrency (quota races,
// parallel roster writes), XEP-0237 versioning with tombstones, the
// deletion cascade, Unicode JIDs and names, hostile strings and 256 KiB
// stanzas. A backend's test calls Run with a function that opens a fresh,
// empty store.
//
// It must not know any backend: what it checks is the storage package's
// contract, so a behaviour only one backend has is a bug in the suite or in
// that backend.
package storagetest
