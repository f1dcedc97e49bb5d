// Package c2s is the server side of client streams (RFC 6120, RFC 7395):
// STARTTLS (required) or direct TLS (XEP-0368), SASL with our own SCRAM
// server (core/sasl), resource binding, XEP-0198 stream management, idle
// pings, and the limits that protect the server (per-IP connection rate,
// authentication timeout and backoff, per-session output queue).
//
// Reading is one goroutine per connection over core/xml's framer; writing
// is a queue flushed by a goroutine that exists only while there is data,
// so an idle connection holds no writer stack. Bytes are written as routed,
// never re-encoded. It must not know about rosters or storage: the IM layer
// is told about sessions through Lifecycle.
package c2s
