package sasl

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// TestRFCExamples replays RFC 5802 §5 and RFC 7677 §3 byte for byte, with
// the server nonce fixed to the one in the RFC.
func TestRFCExamples(t *testing.T) {
	tests := []struct {
		name, mech string
		hash       Hash
		salt       string
		nonce      string // server part
		c1, s1     string
		c2, s2     string
	}{
		{
			name: "RFC 5802 SCRAM-SHA-1", mech: ScramSHA1, hash: SHA1,
			salt: "QSXCR+Q6sek8bf92", nonce: "3rfcNHYJY1ZVvWVs7j",
			c1: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			s1: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			c2: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			s2: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name: "RFC 7677 SCRAM-SHA-256", mech: ScramSHA256, hash: SHA256,
			salt: "W22ZaJ0SNY7soEsUEjb6gQ==", nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			c1: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			s1: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			c2: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			s2: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(tt.salt)
			creds, err := DeriveCredentials(tt.hash, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			lookup := func(_ context.Context, u string, h Hash) (Credentials, error) {
				if u != "user" || h != tt.hash {
					return Credentials{}, ErrUnknownUser
				}
				return creds, nil
			}
			s := mustServer(t, tt.mech, lookup, ChannelBinding{}, false, withServerNonce(tt.nonce))
			ctx := context.Background()
			out, done, err := s.Step(ctx, []byte(tt.c1))
			if err != nil || done || string(out) != tt.s1 {
				t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, tt.s1)
			}
			out, done, err = s.Step(ctx, []byte(tt.c2))
			if err != nil || !done || string(out) != tt.s2 {
				t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, tt.s2)
			}
			if s.Username() != "user" || s.Authzid() != "" {
				t.Fatalf("identity = %q, %q", s.Username(), s.Authzid())
			}
		})
	}
}

// TestSCRAMExchanges covers the outcomes of one exchange: successes with the
// corners of the grammar, and every failure with its RFC 6120 condition and
// RFC 5802 server-error.
func TestSCRAMExchanges(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil", "a,b=c": "pass word", "admin": "s3cret"})
	seCB := ChannelBinding{TLSServerEndPoint: bytes.Repeat([]byte{7}, 32)}
	bothCB := ChannelBinding{TLSExporter: bytes.Repeat([]byte{9}, 32), TLSServerEndPoint: seCB.TLSServerEndPoint}
	long := strings.Repeat("x", MaxMessageLen)

	type finalFunc func(t *testing.T, c *testClient, serverFirst []byte) []byte
	proper := func(t *testing.T, c *testClient, sf []byte) []byte { return c.final(t, sf, nil, nil, "") }

	tests := []struct {
		name   string
		mech   string
		tls    bool
		cb     ChannelBinding
		client testClient
		first  string    // replaces the client's first message when set
		final  finalFunc // nil: the proper final message
		stage  int       // 0: success; 1 or 2: the step that must fail
		cond   string
		serr   string

		wantUser, wantAuthz string
	}{
		{name: "SHA-1", mech: ScramSHA1, client: testClient{hash: SHA1, user: "user", pass: "pencil", gs2: "n,,"}, wantUser: "user"},
		{name: "SHA-256", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"}, wantUser: "user"},
		{name: "SHA-256 on TLS with n flag", mech: ScramSHA256, tls: true, cb: bothCB, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"}, wantUser: "user"},
		{name: "PLUS tls-server-end-point", mech: ScramSHA256Plus, tls: true, cb: bothCB,
			client:   testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: bothCB.TLSServerEndPoint},
			wantUser: "user"},
		{name: "PLUS tls-exporter", mech: ScramSHA1Plus, tls: true, cb: bothCB,
			client:   testClient{hash: SHA1, user: "user", pass: "pencil", gs2: "p=tls-exporter,,", cbData: bothCB.TLSExporter},
			wantUser: "user"},
		{name: "escaped username", mech: ScramSHA256, client: testClient{hash: SHA256, user: "a=2Cb=3Dc", pass: "pass word", gs2: "n,,"}, wantUser: "a,b=c"},
		{name: "username case-mapped", mech: ScramSHA256, client: testClient{hash: SHA256, user: "USER", pass: "pencil", gs2: "n,,"}, wantUser: "user"},
		{name: "authzid returned", mech: ScramSHA256, client: testClient{hash: SHA256, user: "admin", pass: "s3cret", gs2: "n,a=user@example.com=2Cx,"},
			wantUser: "admin", wantAuthz: "user@example.com,x"},
		{name: "authzid with PLUS", mech: ScramSHA256Plus, tls: true, cb: seCB,
			client:   testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-server-end-point,a=user@example.com,", cbData: seCB.TLSServerEndPoint},
			wantUser: "user", wantAuthz: "user@example.com"},
		{name: "y flag without TLS", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "y,,"}, wantUser: "user"},
		{name: "y flag on TLS without binding data", mech: ScramSHA1, tls: true, client: testClient{hash: SHA1, user: "user", pass: "pencil", gs2: "y,,"}, wantUser: "user"},
		{name: "unknown optional extension ignored", mech: ScramSHA256,
			client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,", cnonce: "abc,x=yz"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, nil, nil, ",q=extra")
			},
			wantUser: "user"},
		{name: "message of exactly MaxMessageLen", mech: ScramSHA256,
			client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,", cnonce: long[:MaxMessageLen-len("n,,n=user,r=")]},
			stage:  2, // the client-final repeats the long nonce plus ours: too long
			cond:   MalformedRequest},

		{name: "wrong password", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil2", gs2: "n,,"}, stage: 2, cond: NotAuthorized, serr: errInvalidProof},
		{name: "unknown user", mech: ScramSHA256, client: testClient{hash: SHA256, user: "nobody", pass: "pencil", gs2: "n,,"}, stage: 2, cond: NotAuthorized, serr: errInvalidProof},
		{name: "username invalid under PRECIS", mech: ScramSHA1, client: testClient{hash: SHA1, user: "us er", pass: "pencil", gs2: "n,,"}, stage: 2, cond: NotAuthorized, serr: errInvalidProof},
		{name: "hash the account lacks", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"}, stage: 2, cond: NotAuthorized, serr: errInvalidProof},

		{name: "bad gs2 flag", mech: ScramSHA1, first: "x,,n=user,r=abc", stage: 1, cond: MalformedRequest},
		{name: "gs2 non-standard flag", mech: ScramSHA1, first: "F,n,,n=user,r=abc", stage: 1, cond: MalformedRequest},
		{name: "gs2 header missing authzid field", mech: ScramSHA1, first: "n,n=user,r=abc", stage: 1, cond: MalformedRequest},
		{name: "gs2 header only", mech: ScramSHA1, first: "n,", stage: 1, cond: MalformedRequest},
		{name: "empty authzid", mech: ScramSHA1, first: "n,a=,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errInvalidEncoding},
		{name: "bad authzid escape", mech: ScramSHA1, first: "n,a=x=41,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errInvalidEncoding},
		{name: "authzid escape cut short", mech: ScramSHA1, first: "n,a=x=2,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errInvalidEncoding},
		{name: "p flag on non-PLUS", mech: ScramSHA256, tls: true, cb: bothCB, first: "p=tls-exporter,,n=user,r=abc", stage: 1, cond: MalformedRequest},
		{name: "n flag on PLUS", mech: ScramSHA256Plus, tls: true, cb: bothCB, first: "n,,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errCBNotSupported},
		{name: "y flag on PLUS", mech: ScramSHA256Plus, tls: true, cb: bothCB, first: "y,,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errCBNotSupported},
		{name: "unknown binding type", mech: ScramSHA256Plus, tls: true, cb: bothCB, first: "p=tls-unique,,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errUnsupportedCBType},
		{name: "binding type without data here", mech: ScramSHA256Plus, tls: true, cb: seCB, first: "p=tls-exporter,,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errUnsupportedCBType},
		{name: "bad binding type name", mech: ScramSHA256Plus, tls: true, cb: seCB, first: "p=tls_x,,n=user,r=abc", stage: 1, cond: MalformedRequest},
		{name: "downgrade: y flag when PLUS was offered", mech: ScramSHA256, tls: true, cb: seCB,
			client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "y,,"}, stage: 1, cond: NotAuthorized, serr: errServerSupportsCB},

		{name: "binding data mismatch", mech: ScramSHA256Plus, tls: true, cb: seCB,
			client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: bytes.Repeat([]byte{8}, 32)},
			stage:  2, cond: NotAuthorized, serr: errCBMismatch},
		{name: "binding without data on PLUS", mech: ScramSHA256Plus, tls: true, cb: seCB,
			client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: seCB.TLSServerEndPoint},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, []byte("n,,"), nil, "")
			},
			stage: 2, cond: NotAuthorized, serr: errCBMismatch},
		{name: "binding repeats another gs2 header", mech: ScramSHA256, client: testClient{hash: SHA256, user: "admin", pass: "s3cret", gs2: "n,a=admin,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, []byte("n,a=root,"), nil, "")
			},
			stage: 2, cond: NotAuthorized, serr: errCBMismatch},
		{name: "nonce is the client's only", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, nil, []byte(c.cnonce), "")
			},
			stage: 2, cond: NotAuthorized},
		{name: "nonce extended", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, nil, append(bytes.Clone(sf[2:bytes.IndexByte(sf, ',')]), 'x'), "")
			},
			stage: 2, cond: NotAuthorized},

		{name: "mandatory extension first", mech: ScramSHA1, first: "n,,m=foo,n=user,r=abc", stage: 1, cond: MalformedRequest, serr: errExtensionsUnsupported},
		{name: "mandatory extension after nonce", mech: ScramSHA1, first: "n,,n=user,r=abc,m=foo", stage: 1, cond: MalformedRequest, serr: errExtensionsUnsupported},
		{name: "mandatory extension in final", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, nil, nil, ",m=x")
			},
			stage: 2, cond: MalformedRequest, serr: errExtensionsUnsupported},
		{name: "bad extension", mech: ScramSHA1, first: "n,,n=user,r=abc,foo", stage: 1, cond: MalformedRequest},
		{name: "trailing comma", mech: ScramSHA1, first: "n,,n=user,r=abc,", stage: 1, cond: MalformedRequest},
		{name: "bad username escape", mech: ScramSHA1, first: "n,,n=us=er,r=abc", stage: 1, cond: MalformedRequest, serr: errInvalidUsername},
		{name: "empty username", mech: ScramSHA1, first: "n,,n=,r=abc", stage: 1, cond: MalformedRequest, serr: errInvalidUsername},
		{name: "no username", mech: ScramSHA1, first: "n,,r=abc", stage: 1, cond: MalformedRequest},
		{name: "no nonce", mech: ScramSHA1, first: "n,,n=user", stage: 1, cond: MalformedRequest},
		{name: "empty nonce", mech: ScramSHA1, first: "n,,n=user,r=", stage: 1, cond: MalformedRequest},
		{name: "nonce not printable", mech: ScramSHA1, first: "n,,n=user,r=a b", stage: 1, cond: MalformedRequest},
		{name: "not SCRAM at all", mech: ScramSHA1, first: "hello", stage: 1, cond: MalformedRequest},
		{name: "invalid UTF-8", mech: ScramSHA1, first: "n,,n=\xff\xfe,r=abc", stage: 1, cond: MalformedRequest},
		{name: "NUL", mech: ScramSHA1, first: "n,,n=user\x00,r=abc", stage: 1, cond: MalformedRequest},
		{name: "oversized first", mech: ScramSHA1, first: "n,,n=user,r=" + long, stage: 1, cond: MalformedRequest},

		{name: "final without proof", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				f := c.final(t, sf, nil, nil, "")
				return f[:bytes.LastIndex(f, []byte(",p="))]
			},
			stage: 2, cond: MalformedRequest},
		{name: "proof not base64", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				f := c.final(t, sf, nil, nil, "")
				return append(f[:bytes.LastIndex(f, []byte(",p="))], ",p=!!!!"...)
			},
			stage: 2, cond: MalformedRequest, serr: errInvalidEncoding},
		{name: "proof of the wrong length", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				f := c.final(t, sf, nil, nil, "")
				return append(f[:bytes.LastIndex(f, []byte(",p="))], ",p=AAAA"...)
			},
			stage: 2, cond: NotAuthorized, serr: errInvalidProof},
		{name: "channel binding not base64", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				f := c.final(t, sf, nil, nil, "")
				return bytes.Replace(f, []byte("c=biws"), []byte("c=bi*s"), 1)
			},
			stage: 2, cond: MalformedRequest, serr: errInvalidEncoding},
		{name: "final attributes out of order", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				f := c.final(t, sf, nil, nil, "")
				parts := bytes.Split(f, []byte{','})
				parts[0], parts[1] = parts[1], parts[0]
				return bytes.Join(parts, []byte{','})
			},
			stage: 2, cond: MalformedRequest},
		{name: "oversized final", mech: ScramSHA256, client: testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"},
			final: func(t *testing.T, c *testClient, sf []byte) []byte {
				return c.final(t, sf, nil, nil, ",x="+long)
			},
			stage: 2, cond: MalformedRequest},
	}
	// "hash the account lacks" runs against an account with SHA-1 only.
	sha1Only := newCredStore(t, map[string]string{"user": "pencil"}, SHA1)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := store.lookup
			if tt.name == "hash the account lacks" {
				lookup = sha1Only.lookup
			}
			s := mustServer(t, tt.mech, lookup, tt.cb, tt.tls)
			ctx := context.Background()
			c := tt.client
			first := c.first()
			if tt.first != "" {
				first = []byte(tt.first)
			}
			sf, done, err := s.Step(ctx, first)
			if tt.stage == 1 {
				wantCondition(t, err, tt.cond, tt.serr)
				if sf != nil || done {
					t.Fatalf("failed step returned %q, %v", sf, done)
				}
				return
			}
			if err != nil || done {
				t.Fatalf("client-first: %q, %v, %v", sf, done, err)
			}
			final := proper
			if tt.final != nil {
				final = tt.final
			}
			cf := final(t, &c, sf)
			out, done, err := s.Step(ctx, cf)
			if tt.stage == 2 {
				wantCondition(t, err, tt.cond, tt.serr)
				if out != nil || done || s.Username() != "" || s.Authzid() != "" {
					t.Fatalf("failed step returned %q, %v, identity %q %q", out, done, s.Username(), s.Authzid())
				}
				return
			}
			if err != nil || !done {
				t.Fatalf("client-final: %q, %v, %v", out, done, err)
			}
			if want := c.serverSignature(t, sf, cf); !bytes.Equal(out, want) {
				t.Fatalf("server-final = %q, want %q", out, want)
			}
			if s.Username() != tt.wantUser || s.Authzid() != tt.wantAuthz {
				t.Fatalf("identity = %q, %q; want %q, %q", s.Username(), s.Authzid(), tt.wantUser, tt.wantAuthz)
			}
		})
	}
}

// TestSCRAMStateMachine checks that messages out of order and steps after
// the end fail, and the empty initial response.
func TestSCRAMStateMachine(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil"})
	ctx := context.Background()
	newClient := func() *testClient { return &testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"} }

	tests := []struct {
		name string
		run  func(t *testing.T, s Server) error // returns the error of the step under test
	}{
		{"client-final first", func(t *testing.T, s Server) error {
			_, _, err := s.Step(ctx, []byte("c=biws,r=abc,p=AAAA"))
			return err
		}},
		{"client-first twice", func(t *testing.T, s Server) error {
			c := newClient()
			if _, _, err := s.Step(ctx, c.first()); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Step(ctx, c.first())
			return err
		}},
		{"step after success", func(t *testing.T, s Server) error {
			c := newClient()
			sf, _, _ := s.Step(ctx, c.first())
			if _, done, err := s.Step(ctx, c.final(t, sf, nil, nil, "")); !done || err != nil {
				t.Fatalf("exchange: %v, %v", done, err)
			}
			_, _, err := s.Step(ctx, c.final(t, sf, nil, nil, ""))
			if s.Username() != "user" {
				t.Fatalf("a failed extra step lost the identity: %q", s.Username())
			}
			return err
		}},
		{"step after failure", func(t *testing.T, s Server) error {
			c := newClient()
			if _, _, err := s.Step(ctx, []byte("garbage")); err == nil {
				t.Fatal("garbage accepted")
			}
			_, _, err := s.Step(ctx, c.first())
			return err
		}},
		{"retry after wrong proof", func(t *testing.T, s Server) error {
			c := newClient()
			sf, _, _ := s.Step(ctx, c.first())
			c.pass = "wrong"
			if _, _, err := s.Step(ctx, c.final(t, sf, nil, nil, "")); err == nil {
				t.Fatal("wrong proof accepted")
			}
			c.pass = "pencil"
			_, _, err := s.Step(ctx, c.final(t, sf, nil, nil, ""))
			return err
		}},
		{"two empty responses", func(t *testing.T, s Server) error {
			if out, done, err := s.Step(ctx, nil); err != nil || done || out == nil || len(out) != 0 {
				t.Fatalf("empty initial response: %q, %v, %v", out, done, err)
			}
			_, _, err := s.Step(ctx, []byte{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, ScramSHA256, store.lookup, ChannelBinding{}, false)
			wantCondition(t, tt.run(t, s), MalformedRequest, "")
		})
	}

	t.Run("empty initial response then exchange", func(t *testing.T) {
		s := mustServer(t, ScramSHA256, store.lookup, ChannelBinding{}, false)
		if out, done, err := s.Step(ctx, nil); err != nil || done || len(out) != 0 {
			t.Fatalf("empty initial response: %q, %v, %v", out, done, err)
		}
		c := newClient()
		sf, _, err := s.Step(ctx, c.first())
		if err != nil {
			t.Fatal(err)
		}
		if s.Username() != "" {
			t.Fatalf("Username before success = %q", s.Username())
		}
		if _, done, err := s.Step(ctx, c.final(t, sf, nil, nil, "")); !done || err != nil {
			t.Fatalf("exchange: %v, %v", done, err)
		}
	})
}

// TestUnknownUserLooksReal checks that an unknown user's server-first
// message is shaped like a real one and stable, so that probing usernames
// learns nothing before the proof.
func TestUnknownUserLooksReal(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil"})
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	serverFirst := func(t *testing.T, mech, user string, opts ...Option) (nonce string, salt []byte, iter string) {
		t.Helper()
		opts = append([]Option{WithFakeIterations(testIterations), WithSecret(secret)}, opts...)
		s := mustServer(t, mech, store.lookup, ChannelBinding{}, false, opts...)
		c := &testClient{user: user, gs2: "n,,"}
		sf, _, err := s.Step(ctx, c.first())
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(string(sf), ",")
		if len(f) != 3 || !strings.HasPrefix(f[0], "r="+c.cnonce) || !strings.HasPrefix(f[1], "s=") || !strings.HasPrefix(f[2], "i=") {
			t.Fatalf("server-first %q", sf)
		}
		salt, err = base64.StdEncoding.DecodeString(f[1][2:])
		if err != nil {
			t.Fatal(err)
		}
		return f[0][2+len(c.cnonce):], salt, f[2][2:]
	}

	tests := []struct {
		name string
		mech string
	}{
		{"SHA-1", ScramSHA1},
		{"SHA-256", ScramSHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			realNonce, realSalt, realIter := serverFirst(t, tt.mech, "user")
			fakeNonce, fakeSalt, fakeIter := serverFirst(t, tt.mech, "nobody")
			if len(realNonce) != len(fakeNonce) || len(realSalt) != len(fakeSalt) || realIter != fakeIter {
				t.Fatalf("real (%d-char nonce, %d-byte salt, i=%s) differs from fake (%d, %d, i=%s)",
					len(realNonce), len(realSalt), realIter, len(fakeNonce), len(fakeSalt), fakeIter)
			}
			_, again, _ := serverFirst(t, tt.mech, "nobody")
			if !bytes.Equal(fakeSalt, again) {
				t.Fatal("an unknown user's salt changes between attempts")
			}
			_, other, _ := serverFirst(t, tt.mech, "nobody2")
			_, otherSecret, _ := serverFirst(t, tt.mech, "nobody", WithSecret([]byte("another secret")))
			if bytes.Equal(fakeSalt, other) || bytes.Equal(fakeSalt, otherSecret) {
				t.Fatal("fake salt does not depend on the username and the secret")
			}
		})
	}

	t.Run("same failure as a wrong password", func(t *testing.T) {
		fails := map[string]error{}
		for _, user := range []string{"user", "nobody"} {
			s := mustServer(t, ScramSHA256, store.lookup, ChannelBinding{}, false)
			c := &testClient{hash: SHA256, user: user, pass: "not the password", gs2: "n,,"}
			sf, _, _ := s.Step(ctx, c.first())
			_, _, fails[user] = s.Step(ctx, c.final(t, sf, nil, nil, ""))
		}
		if fails["user"] == nil || fails["user"].Error() != fails["nobody"].Error() {
			t.Fatalf("wrong password: %v; unknown user: %v", fails["user"], fails["nobody"])
		}
	})

	t.Run("default secret is stable in the process", func(t *testing.T) {
		var salts [2][]byte
		for i := range salts {
			s := mustServer(t, ScramSHA256, store.lookup, ChannelBinding{}, false)
			sf, _, _ := s.Step(ctx, (&testClient{user: "nobody", gs2: "n,,"}).first())
			salts[i] = bytes.Split(sf, []byte{','})[1]
		}
		if !bytes.Equal(salts[0], salts[1]) {
			t.Fatal("fake salt changed between servers of one process")
		}
	})
}

// TestLookupOutcomes checks how lookup results become conditions.
func TestLookupOutcomes(t *testing.T) {
	good := newCredStore(t, map[string]string{"user": "pencil"})
	ctx := context.Background()
	disabled := &Failure{Condition: AccountDisabled, Text: "account disabled"}

	tests := []struct {
		name   string
		lookup Lookup
		pass   string
		stage  int
		cond   string
	}{
		{"storage down", func(context.Context, string, Hash) (Credentials, error) {
			return Credentials{}, errors.New("db: connection refused")
		}, "pencil", 1, TemporaryAuthFailure},
		{"context cancelled", func(ctx context.Context, _ string, _ Hash) (Credentials, error) {
			return Credentials{}, context.Canceled
		}, "pencil", 1, TemporaryAuthFailure},
		{"wrapped unknown user", func(context.Context, string, Hash) (Credentials, error) {
			return Credentials{}, errors.Join(errors.New("storage: not found"), ErrUnknownUser)
		}, "pencil", 2, NotAuthorized},
		{"credentials of another hash", func(ctx context.Context, u string, h Hash) (Credentials, error) {
			return good.lookup(ctx, u, SHA1)
		}, "pencil", 1, TemporaryAuthFailure},
		{"invalid stored credentials", func(ctx context.Context, u string, h Hash) (Credentials, error) {
			c, err := good.lookup(ctx, u, h)
			c.StoredKey = c.StoredKey[:4]
			return c, err
		}, "pencil", 1, TemporaryAuthFailure},
		{"disabled without credentials", func(context.Context, string, Hash) (Credentials, error) {
			return Credentials{}, disabled
		}, "pencil", 1, AccountDisabled},
		{"disabled, wrong password", func(ctx context.Context, u string, h Hash) (Credentials, error) {
			c, _ := good.lookup(ctx, u, h)
			return c, disabled
		}, "wrong", 2, NotAuthorized},
		{"disabled, right password", func(ctx context.Context, u string, h Hash) (Credentials, error) {
			c, _ := good.lookup(ctx, u, h)
			return c, disabled
		}, "pencil", 2, AccountDisabled},
		{"credentials expired, right password", func(ctx context.Context, u string, h Hash) (Credentials, error) {
			c, _ := good.lookup(ctx, u, h)
			return c, &Failure{Condition: CredentialsExpired}
		}, "pencil", 2, CredentialsExpired},
	}
	for _, tt := range tests {
		t.Run("SCRAM "+tt.name, func(t *testing.T) {
			s := mustServer(t, ScramSHA256, tt.lookup, ChannelBinding{}, false)
			c := &testClient{hash: SHA256, user: "user", pass: tt.pass, gs2: "n,,"}
			sf, _, err := s.Step(ctx, c.first())
			if tt.stage == 1 {
				wantCondition(t, err, tt.cond, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Step(ctx, c.final(t, sf, nil, nil, ""))
			wantCondition(t, err, tt.cond, "")
		})
		t.Run("PLAIN "+tt.name, func(t *testing.T) {
			s := mustServer(t, Plain, tt.lookup, ChannelBinding{}, true)
			_, _, err := s.Step(ctx, []byte("\x00user\x00"+tt.pass))
			wantCondition(t, err, tt.cond, "")
		})
	}
}

func TestNewServer(t *testing.T) {
	lookup := newCredStore(t, nil).lookup
	cb := ChannelBinding{TLSServerEndPoint: make([]byte, 32)}
	tests := []struct {
		mech string
		cb   ChannelBinding
		tls  bool
		cond string // "" for success
	}{
		{ScramSHA1, ChannelBinding{}, false, ""},
		{ScramSHA256, ChannelBinding{}, false, ""},
		{ScramSHA256Plus, cb, true, ""},
		{ScramSHA1Plus, cb, true, ""},
		{ScramSHA256Plus, ChannelBinding{}, true, InvalidMechanism},
		{ScramSHA1Plus, cb, false, InvalidMechanism},
		{Plain, ChannelBinding{}, true, ""},
		{Plain, ChannelBinding{}, false, EncryptionRequired},
		{"scram-sha-1", ChannelBinding{}, false, InvalidMechanism},
		{"SCRAM-SHA-512", ChannelBinding{}, true, InvalidMechanism},
		{"EXTERNAL", ChannelBinding{}, true, InvalidMechanism},
		{"", ChannelBinding{}, true, InvalidMechanism},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			s, err := NewServer(tt.mech, lookup, tt.cb, tt.tls)
			if tt.cond == "" {
				if err != nil || s == nil {
					t.Fatalf("NewServer: %v", err)
				}
				return
			}
			wantCondition(t, err, tt.cond, "")
			if s != nil {
				t.Fatal("server returned with an error")
			}
		})
	}
	t.Run("errors.Is", func(t *testing.T) {
		_, err := NewServer("X", lookup, ChannelBinding{}, true)
		if !errors.Is(err, ErrInvalidMechanism) || errors.Is(err, ErrEncryptionRequired) {
			t.Fatalf("errors.Is on %v", err)
		}
	})
	t.Run("nil lookup", func(t *testing.T) {
		if _, err := NewServer(ScramSHA1, nil, ChannelBinding{}, true); err == nil {
			t.Fatal("nil lookup accepted")
		}
	})
}

func TestMechanisms(t *testing.T) {
	se := ChannelBinding{TLSServerEndPoint: make([]byte, 32)}
	tests := []struct {
		name       string
		tls        bool
		cb         ChannelBinding
		allowPlain bool
		want       string
	}{
		{"plaintext", false, ChannelBinding{}, true, "SCRAM-SHA-256 SCRAM-SHA-1"},
		{"plaintext with stray binding data", false, se, true, "SCRAM-SHA-256 SCRAM-SHA-1"},
		{"TLS without binding", true, ChannelBinding{}, false, "SCRAM-SHA-256 SCRAM-SHA-1"},
		{"TLS with PLAIN", true, ChannelBinding{}, true, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN"},
		{"TLS with binding", true, se, false, "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1"},
		{"everything", true, ChannelBinding{TLSExporter: make([]byte, 32)}, true, "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Mechanisms(tt.tls, tt.cb, tt.allowPlain), " ")
			if got != tt.want {
				t.Fatalf("Mechanisms = %q, want %q", got, tt.want)
			}
		})
	}
}
