package sasl

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"

	"github.com/xdg-go/scram"
	mellium "mellium.im/sasl"
)

// The interop tests run complete exchanges against two independent client
// implementations over real loopback TLS connections, so that channel
// binding data comes from real handshakes. mellium.im/sasl is the XMPP
// client library the project uses; it binds with tls-exporter on TLS 1.3
// and tls-unique (which the broker does not offer) on TLS 1.2, and cannot
// send the "y" flag. xdg-go/scram covers tls-server-end-point and "y".

// peer is one client conversation: first message, then answers to
// challenges; verify checks the server's final data.
type peer interface {
	first() ([]byte, error)
	next(challenge []byte) ([]byte, error)
	verify(final []byte) error
}

type melliumPeer struct{ n *mellium.Negotiator }

func (p melliumPeer) first() ([]byte, error) {
	_, resp, err := p.n.Step(nil)
	return resp, err
}

func (p melliumPeer) next(c []byte) ([]byte, error) {
	_, resp, err := p.n.Step(c)
	return resp, err
}

func (p melliumPeer) verify(final []byte) error {
	if final == nil { // PLAIN: nothing to verify
		return nil
	}
	_, _, err := p.n.Step(final)
	return err
}

type xdgPeer struct{ c *scram.ClientConversation }

func (p xdgPeer) first() ([]byte, error) {
	s, err := p.c.Step("")
	return []byte(s), err
}

func (p xdgPeer) next(c []byte) ([]byte, error) {
	s, err := p.c.Step(string(c))
	return []byte(s), err
}

func (p xdgPeer) verify(final []byte) error {
	if _, err := p.c.Step(string(final)); err != nil {
		return err
	}
	if !p.c.Valid() {
		return errors.New("xdg: server signature not valid")
	}
	return nil
}

// exchange runs the conversation to its end and returns the server's error.
// The client's first message must start with wantPrefix, which shows the
// binding the client really chose.
func exchange(t *testing.T, s Server, p peer, wantPrefix string) error {
	t.Helper()
	ctx := context.Background()
	msg, err := p.first()
	if err != nil {
		t.Fatalf("client first: %v", err)
	}
	if !bytes.HasPrefix(msg, []byte(wantPrefix)) {
		t.Fatalf("client-first %q does not start with %q", msg, wantPrefix)
	}
	for range 4 {
		out, done, err := s.Step(ctx, msg)
		if err != nil {
			return err
		}
		if done {
			if err := p.verify(out); err != nil {
				t.Fatalf("client rejects the server's final message %q: %v", out, err)
			}
			return nil
		}
		if msg, err = p.next(out); err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	t.Fatal("exchange does not end")
	return nil
}

func TestInterop(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil", "juliet": "r0m30 & more"})
	conns := map[uint16]struct {
		client tls.ConnectionState
		cb     ChannelBinding
	}{}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client, cb := tlsPair(t, v)
		conns[v] = struct {
			client tls.ConnectionState
			cb     ChannelBinding
		}{client, cb}
	}
	// A second TLS 1.3 connection, to replay one channel's binding on another.
	otherClient, _ := tlsPair(t, tls.VersionTLS13)

	// The store keeps only verifiers, like the broker; clients need these.
	passwords := map[string]string{"user": "pencil", "juliet": "r0m30 & more", "romeo": "pencil"}
	const (
		plainConn = 0 // no TLS
		tls12     = tls.VersionTLS12
		tls13     = tls.VersionTLS13
	)

	tests := []struct {
		name   string
		mech   string
		conn   uint16 // plainConn, tls12 or tls13
		user   string
		pass   string
		authz  string
		client func(t *testing.T, mech string, cs *tls.ConnectionState, user, pass, authz string) peer
		prefix string // of the client's first message
		cond   string // "" for success
		serr   string
	}{
		{name: "mellium SCRAM-SHA-1", mech: ScramSHA1, conn: plainConn, prefix: "n,,", client: newMellium},
		{name: "mellium SCRAM-SHA-256", mech: ScramSHA256, conn: plainConn, prefix: "n,,", client: newMellium},
		{name: "mellium SCRAM-SHA-256 on TLS 1.3", mech: ScramSHA256, conn: tls13, prefix: "n,,", client: newMellium},
		{name: "mellium SCRAM-SHA-256-PLUS tls-exporter", mech: ScramSHA256Plus, conn: tls13, prefix: "p=tls-exporter,,", client: newMellium},
		{name: "mellium SCRAM-SHA-1-PLUS tls-exporter", mech: ScramSHA1Plus, conn: tls13, prefix: "p=tls-exporter,,", client: newMellium},
		{name: "mellium SCRAM-SHA-256-PLUS with authzid", mech: ScramSHA256Plus, conn: tls13, authz: "juliet@example.com", user: "juliet", prefix: "p=tls-exporter,a=juliet@example.com,", client: newMellium},
		{name: "mellium SCRAM-SHA-256 wrong password", mech: ScramSHA256, conn: tls13, pass: "pencil!", prefix: "n,,", client: newMellium, cond: NotAuthorized, serr: errInvalidProof},
		// mellium binds TLS 1.2 with tls-unique, which is not offered here.
		{name: "mellium SCRAM-SHA-256-PLUS on TLS 1.2", mech: ScramSHA256Plus, conn: tls12, prefix: "p=tls-unique,,", client: newMellium, cond: MalformedRequest, serr: errUnsupportedCBType},
		{name: "mellium PLAIN on TLS 1.3", mech: Plain, conn: tls13, prefix: "\x00", client: newMellium},
		{name: "mellium PLAIN on TLS 1.2 with authzid", mech: Plain, conn: tls12, authz: "user@example.com", prefix: "user@example.com\x00", client: newMellium},
		{name: "mellium PLAIN wrong password", mech: Plain, conn: tls13, pass: "pencil!", prefix: "\x00", client: newMellium, cond: NotAuthorized},

		{name: "xdg SCRAM-SHA-256-PLUS tls-server-end-point TLS 1.3", mech: ScramSHA256Plus, conn: tls13, prefix: "p=tls-server-end-point,,", client: newXDG(scram.ChannelBindingTLSServerEndpoint)},
		{name: "xdg SCRAM-SHA-256-PLUS tls-server-end-point TLS 1.2", mech: ScramSHA256Plus, conn: tls12, prefix: "p=tls-server-end-point,,", client: newXDG(scram.ChannelBindingTLSServerEndpoint)},
		{name: "xdg SCRAM-SHA-1-PLUS tls-server-end-point TLS 1.2", mech: ScramSHA1Plus, conn: tls12, prefix: "p=tls-server-end-point,,", client: newXDG(scram.ChannelBindingTLSServerEndpoint)},
		{name: "xdg SCRAM-SHA-1-PLUS tls-exporter", mech: ScramSHA1Plus, conn: tls13, prefix: "p=tls-exporter,,", client: newXDG(scram.ChannelBindingTLSExporter)},
		{name: "xdg SCRAM-SHA-256-PLUS tls-exporter with authzid", mech: ScramSHA256Plus, conn: tls13, authz: "a,b=c", prefix: "p=tls-exporter,a=a=2Cb=3Dc,", client: newXDG(scram.ChannelBindingTLSExporter)},
		{name: "xdg SCRAM-SHA-256 n flag", mech: ScramSHA256, conn: tls13, prefix: "n,,", client: newXDG(scram.ChannelBindingNone)},
		{name: "xdg y flag where PLUS is not offered", mech: ScramSHA256, conn: plainConn, prefix: "y,,", client: newXDG("y")},
		{name: "xdg y flag where PLUS is offered: downgrade", mech: ScramSHA256, conn: tls12, prefix: "y,,", client: newXDG("y"), cond: NotAuthorized, serr: errServerSupportsCB},
		{name: "xdg tls-exporter of another connection", mech: ScramSHA256Plus, conn: tls13, prefix: "p=tls-exporter,,",
			client: func(t *testing.T, mech string, _ *tls.ConnectionState, user, pass, authz string) peer {
				return newXDG(scram.ChannelBindingTLSExporter)(t, mech, &otherClient, user, pass, authz)
			},
			cond: NotAuthorized, serr: errCBMismatch},
		{name: "xdg unknown user", mech: ScramSHA256Plus, conn: tls13, user: "romeo", prefix: "p=tls-exporter,,", client: newXDG(scram.ChannelBindingTLSExporter), cond: NotAuthorized, serr: errInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := tt.user, tt.pass
			if user == "" {
				user = "user"
			}
			if pass == "" {
				pass = passwords[user]
			}
			var cs *tls.ConnectionState
			var cb ChannelBinding
			if tt.conn != plainConn {
				c := conns[tt.conn]
				cs, cb = &c.client, c.cb
			}
			s := mustServer(t, tt.mech, store.lookup, cb, cs != nil)
			err := exchange(t, s, tt.client(t, tt.mech, cs, user, pass, tt.authz), tt.prefix)
			if tt.cond != "" {
				wantCondition(t, err, tt.cond, tt.serr)
				return
			}
			if err != nil {
				t.Fatalf("server: %v", err)
			}
			if s.Username() != user || s.Authzid() != tt.authz {
				t.Fatalf("identity = %q, %q; want %q, %q", s.Username(), s.Authzid(), user, tt.authz)
			}
		})
	}
}

func newMellium(t *testing.T, mech string, cs *tls.ConnectionState, user, pass, authz string) peer {
	t.Helper()
	m := map[string]mellium.Mechanism{
		ScramSHA1: mellium.ScramSha1, ScramSHA256: mellium.ScramSha256,
		ScramSHA1Plus: mellium.ScramSha1Plus, ScramSHA256Plus: mellium.ScramSha256Plus,
		Plain: mellium.Plain,
	}[mech]
	opts := []mellium.Option{
		mellium.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(pass), []byte(authz) }),
		// mellium binds only when the server advertised the -PLUS mechanism
		// it was asked to use.
		mellium.RemoteMechanisms(mech),
	}
	if cs != nil {
		opts = append(opts, mellium.TLSState(*cs))
	}
	return melliumPeer{mellium.NewClient(m, opts...)}
}

// newXDG returns a constructor of xdg-go/scram conversations binding with
// cbType; "" sends the "n" flag and "y" the "y" flag.
func newXDG(cbType scram.ChannelBindingType) func(*testing.T, string, *tls.ConnectionState, string, string, string) peer {
	return func(t *testing.T, mech string, cs *tls.ConnectionState, user, pass, authz string) peer {
		t.Helper()
		h := scram.SHA256
		if mech == ScramSHA1 || mech == ScramSHA1Plus {
			h = scram.SHA1
		}
		client, err := h.NewClient(user, pass, authz)
		if err != nil {
			t.Fatal(err)
		}
		var cb scram.ChannelBinding
		switch cbType {
		case scram.ChannelBindingNone:
			return xdgPeer{client.NewConversation()}
		case "y":
			return xdgPeer{client.NewConversationAdvertisingChannelBinding()}
		case scram.ChannelBindingTLSExporter:
			cb, err = scram.NewTLSExporterBinding(cs)
		case scram.ChannelBindingTLSServerEndpoint:
			cb, err = scram.NewTLSServerEndpointBinding(cs)
		default:
			err = fmt.Errorf("binding type %q", cbType)
		}
		if err != nil {
			t.Fatal(err)
		}
		return xdgPeer{client.NewConversationWithChannelBinding(cb)}
	}
}

// TestDeriveCredentialsMatchesXDG checks DeriveCredentials against
// xdg-go/scram's independent derivation (SASLprep rather than PRECIS, which
// agree on these passwords).
func TestDeriveCredentialsMatchesXDG(t *testing.T) {
	tests := []struct {
		name     string
		hash     Hash
		password string
	}{
		{"SHA-1 ASCII", SHA1, "pencil"},
		{"SHA-256 ASCII", SHA256, "pencil"},
		{"SHA-256 with spaces", SHA256, "correct horse battery staple"},
		{"SHA-256 non-ASCII", SHA256, "Grüße, Jürgen ☃"},
	}
	salt := []byte("0123456789abcdef")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := DeriveCredentials(tt.hash, tt.password, salt, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			h := map[Hash]scram.HashGeneratorFcn{SHA1: scram.SHA1, SHA256: scram.SHA256}[tt.hash]
			client, err := h.NewClient("user", tt.password, "")
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: MinIterations})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours.StoredKey, theirs.StoredKey) || !bytes.Equal(ours.ServerKey, theirs.ServerKey) {
				t.Fatal("verifiers differ from xdg-go/scram's")
			}
		})
	}
}
