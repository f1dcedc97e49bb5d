// Package im is the instant-messaging layer of RFC 6121 for local
// accounts: rosters with XEP-0237 versioning, the presence subscription
// state machine of RFC 6121 §3 and Appendix A (with pre-approval), presence
// broadcast, probes and directed presence (§4), message delivery (§8.5),
// XEP-0160 offline storage with XEP-0203 delay stamps, XEP-0191 blocking
// and XEP-0280 message carbons. It re-routes what a session never
// delivered (XEP-0198 unacknowledged stanzas) so that no message is lost
// when a stream dies.
//
// It plugs into the router as its Users (delivery to local accounts) and
// as a pre-route Filter (blocking), answers roster, blocking and carbons
// iqs on the account mux, and into c2s as its Lifecycle.
//
// The roster and block list of every account with a bound session live in
// memory (loaded at bind, updated on every change) so that presence
// broadcast, probes and the blocking filter never touch storage; messages
// between online users never do either. Storage is read and written only
// for roster and block list changes, subscription requests and offline
// messages.
//
// Locks (below the session lock of core/LOCKS.md, in this order):
//
//  1. Service.locks, striped by owner: the read-modify-write of one
//     account's roster, subscription requests and block list, held across
//     its storage calls. Never nested, never held while a stanza is sent.
//  2. account.flushMu: one offline flush at a time per account; held while
//     delivering, so re-entry (a delivery that ends a session re-routes its
//     stanzas into storeOffline) only ever TryLocks it.
//  3. account.mu and accountShard.mu: leaves, around map reads and writes.
//
// No stanza leaves (Deliver, Route) while 1 or 3 is held, because
// delivering can end a session whose end re-enters this package. It must
// not parse a stanza on the presence or message hot path unless the stanza
// is one it must understand (carbons eligibility, offline storage), and it
// must not log a body or a status text.
package im
