// Package websocket serves XMPP over WebSocket (RFC 7395) at
// /xmpp-websocket: it upgrades the HTTP request with the "xmpp"
// subprotocol and hands the connection, one XML element per message, to the
// c2s server, which runs the same negotiation as on TCP minus STARTTLS.
//
// It must not parse XML itself or know about sessions.
package websocket
