// Package jid is the broker's address type: a canonical XMPP address
// (RFC 7622) stored as one string, so that JIDs compare with == and key maps
// without allocation. Preparation (PRECIS) of anything beyond plain ASCII is
// delegated to mellium.im/xmpp/jid; the fast path only accepts input that is
// already canonical.
//
// It must not do I/O or know about sessions; it is imported by every layer.
package jid
