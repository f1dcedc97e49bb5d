package c2s_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/c2s"
	"github.com/extasis/extasis/core/certs"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
)

// slowRegistrar answers registrations only after a while, and reports
// whether the context it was given ended meanwhile.
type slowRegistrar struct {
	started chan struct{}
	ctxErr  chan error
}

func (r *slowRegistrar) Offer(string) bool { return true }

func (r *slowRegistrar) HandleUnauthenticated(ctx context.Context, _ string, _ net.Addr, s *stanza.Stanza) *stanza.Stanza {
	close(r.started)
	select {
	case <-ctx.Done():
	case <-time.After(1500 * time.Millisecond):
	}
	r.ctxErr <- ctx.Err()
	return stanza.Build(stanza.IQ, s.To, s.From, "result", s.ID)
}

// TestStanzaOutlivesTransport: a stanza the server has read is processed
// to the end even when its stream dies meanwhile (here the authentication
// timeout closes it while a registration is being handled; a failed write,
// a replacing session or shutdown do the same): the context the handler
// gets is not cancelled, so its storage calls are not abandoned half-way.
func TestStanzaOutlivesTransport(t *testing.T) {
	set, err := certs.Load([]certs.Domain{{Name: "localhost"}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := &slowRegistrar{started: make(chan struct{}), ctxErr: make(chan error, 1)}
	r := router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{"localhost"}})
	srv := c2s.New(c2s.Config{Router: r, Registrar: reg, AuthTimeout: 400 * time.Millisecond}, set.ServerConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	const header = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	readUntil := func(r io.Reader, marker string) string {
		t.Helper()
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(b.String(), marker) {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				t.Fatalf("reading until %q: %v (got %q)", marker, err, b.String())
			}
		}
		return b.String()
	}
	io.WriteString(nc, header)
	readUntil(nc, "</stream:features>")
	io.WriteString(nc, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	readUntil(nc, "<proceed")
	tc := tls.Client(nc, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tc, header)
	if f := readUntil(tc, "</stream:features>"); !strings.Contains(f, "features/iq-register") {
		t.Fatalf("registration not offered: %s", f)
	}
	io.WriteString(tc, "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>x</username><password>y</password></query></iq>")
	select {
	case <-reg.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the registration never reached the registrar")
	}

	// The stream times out while the registrar works: the client sees it
	// closed, long before the registrar answers.
	rest, _ := io.ReadAll(bufio.NewReader(tc))
	if !strings.Contains(string(rest), "connection-timeout") {
		t.Fatalf("stream not closed by the authentication timeout: %q", rest)
	}
	select {
	case err := <-reg.ctxErr:
		if err != nil {
			t.Fatalf("the registration's context ended with its transport (%v): its work would be abandoned", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the registrar never finished")
	}
}
