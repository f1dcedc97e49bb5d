// Package sasl is the broker's server side of SASL authentication (RFC 4422
// as profiled by RFC 6120 §6): SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802,
// RFC 7677) with their -PLUS variants bound to the TLS channel through
// tls-exporter (RFC 9266) or tls-server-end-point (RFC 5929), PLAIN
// (RFC 4616) over TLS, and the stored verifiers (Credentials) they check
// against.
//
// The broker keeps only the RFC 5802 verifier of a password (salt, iteration
// count, StoredKey, ServerKey), so the SCRAM server here works from those and
// never from the password or the salted password; mellium.im/sasl's server
// cannot, which is why this package exists. The c2s layer drives a Server
// one decoded message at a time and turns a returned error into the RFC 6120
// §6.5 failure named by ConditionOf.
//
// It must not do I/O of its own (credentials come through the Lookup the
// caller provides), log anything (the messages it handles carry proofs and
// passwords), know about XML or streams, or decide authorisation: it returns
// the requested authzid and the c2s layer checks it. Every input is hostile:
// no panic, bounded sizes, constant-time comparison of secrets.
package sasl
