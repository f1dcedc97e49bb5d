package websocket

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// Server is the c2s side this handler feeds.
type Server interface {
	ServeFramed(nc net.Conn, remote net.Addr, secure bool)
}

// Handler upgrades requests to RFC 7395 WebSocket streams.
type Handler struct {
	Server Server
	Log    *slog.Logger
	// Secure reports whether a request arrived over TLS or from a trusted
	// TLS-terminating proxy on loopback.
	Secure func(r *http.Request) bool
	// MaxMessage bounds one WebSocket message (a stanza plus framing).
	MaxMessage int64
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"xmpp"},
		// Browsers on other origins are how XMPP web clients connect;
		// authentication is SASL inside the stream, not cookies.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return
	}
	if c.Subprotocol() != "xmpp" {
		// RFC 7395 §3.1: the client must ask for the xmpp subprotocol.
		c.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required")
		return
	}
	remote := remoteAddr(r)
	nc := websocket.NetConn(context.Background(), c, websocket.MessageText)
	if h.MaxMessage > 0 {
		// After NetConn, which turns the read limit off.
		c.SetReadLimit(h.MaxMessage)
	}
	h.Server.ServeFramed(nc, remote, h.Secure == nil || h.Secure(r))
}

func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}
