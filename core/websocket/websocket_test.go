package websocket

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// echo is a Server that writes back every message it reads.
type echo struct {
	secure chan bool
}

func (e *echo) ServeFramed(nc net.Conn, _ net.Addr, secure bool) {
	e.secure <- secure
	defer nc.Close()
	buf := make([]byte, 1<<16)
	for {
		n, err := nc.Read(buf)
		if err != nil {
			return
		}
		if _, err := nc.Write(buf[:n]); err != nil {
			return
		}
	}
}

func start(t *testing.T, h *Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + srv.URL[len("http"):]
}

func TestSubprotocolRequired(t *testing.T) {
	e := &echo{secure: make(chan bool, 1)}
	url := start(t, &Handler{Server: e})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("read: %v, want a policy-violation close", err)
	}
	select {
	case <-e.secure:
		t.Fatal("a stream was served without the xmpp subprotocol")
	default:
	}
}

// TestMessages: each message the client sends reaches the server as one
// read, each server write is one message, and the Secure hook decides.
func TestMessages(t *testing.T) {
	for _, secure := range []bool{true, false} {
		e := &echo{secure: make(chan bool, 1)}
		url := start(t, &Handler{Server: e, Secure: func(*http.Request) bool { return secure }, MaxMessage: 1024})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := <-e.secure; got != secure {
			t.Fatalf("secure = %v, want %v", got, secure)
		}
		for _, m := range []string{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>", "<message/>"} {
			if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageText || string(got) != m {
				t.Fatalf("echo: %v %v %q, want %q", err, typ, got, m)
			}
		}
		// Over MaxMessage: the server reads at most the limit of it, then
		// the connection is closed as too big.
		if err := c.Write(ctx, websocket.MessageText, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		var err2 error
		total := 0
		for err2 == nil {
			var got []byte
			_, got, err2 = c.Read(ctx)
			total += len(got)
		}
		if websocket.CloseStatus(err2) != websocket.StatusMessageTooBig || total > 1025 {
			t.Fatalf("after %d bytes echoed: %v, want a message-too-big close", total, err2)
		}
		cancel()
		c.CloseNow()
	}
}
