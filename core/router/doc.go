// Package router moves stanzas (RFC 6120 §10, RFC 6121 §8): from a client
// session through outbound processing and pre-route filters to a local
// session, the server's own iq handlers, a component (internal service or
// plugin), or a remote domain; errors go back as stanza errors, nothing is
// dropped silently except where the RFCs say so.
//
// It routes Raw bytes and never re-encodes a forwarded stanza. It must not
// block on a recipient: sessions queue. It knows nothing about rosters or
// storage; the IM layer plugs in through Users.
package router
