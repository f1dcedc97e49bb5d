// Package stanza is the broker's view of an XMPP stanza (RFC 6120 §8): the
// element's raw bytes plus the few attributes routing needs, stanza errors
// (RFC 6120 §8.3) as values, and the namespaces the core speaks.
//
// A Stanza's Raw bytes are what goes on the wire: the broker forwards them
// without re-encoding. Stanzas are immutable once built; a component that
// needs a different stanza builds a new one.
//
// It must not import anything above core/xml and core/jid.
package stanza
