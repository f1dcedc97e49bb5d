// Package apptest runs the real broker for end-to-end tests: it builds the
// extasis binary (once per checkout, -race with APPTEST_RACE=1), starts
// `extasis serve` on free loopback ports with a throwaway data directory
// and a generated config, creates accounts with the real CLI, and connects
// clients: mellium's (Dial), Debian's python3-slixmpp through a JSON-lines
// driver (Slix), and a raw client that sends exact bytes over STARTTLS,
// direct TLS or RFC 7395 WebSocket and reports every element the server
// sends (DialRaw). Conversation scripts, plain-text C:/S: transcripts in
// the style of Prosody's scansion, run on the raw client (Script,
// Conversation).
//
// It must not reach into the broker's internals: everything goes through
// the binary, its sockets and its CLI, as a user would. What the server
// sends is parsed with encoding/xml, never with the broker's own
// tokenizer, so that a bug there cannot hide itself.
package apptest
