package sasl

import (
	"context"
	"testing"
)

// BenchmarkSCRAMExchange measures the server's side of one complete SCRAM
// exchange (NewServer, client-first, client-final) against an in-memory
// lookup. The client's messages are computed once with a fixed server
// nonce, so the figure holds no client PBKDF2: the server never runs it.
func BenchmarkSCRAMExchange(b *testing.B) {
	store := newCredStore(b, map[string]string{"user": "pencil"})
	cb := ChannelBinding{TLSExporter: make([]byte, 32)}
	const serverNonce = "3rfcNHYJY1ZVvWVs7j"
	tests := []struct {
		name   string
		mech   string
		client testClient
		fails  bool
	}{
		{"SCRAM-SHA-1", ScramSHA1, testClient{hash: SHA1, user: "user", pass: "pencil", gs2: "n,,"}, false},
		{"SCRAM-SHA-256", ScramSHA256, testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "n,,"}, false},
		{"SCRAM-SHA-256-PLUS", ScramSHA256Plus, testClient{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-exporter,,", cbData: cb.TLSExporter}, false},
		{"SCRAM-SHA-256 unknown user", ScramSHA256, testClient{hash: SHA256, user: "nobody", pass: "pencil", gs2: "n,,"}, true},
	}
	ctx := context.Background()
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s := mustServer(b, tt.mech, store.lookup, cb, true, withServerNonce(serverNonce))
			first := tt.client.first()
			sf, _, err := s.Step(ctx, first)
			if err != nil {
				b.Fatal(err)
			}
			final := tt.client.final(b, sf, nil, nil, "")
			b.ReportAllocs()
			for b.Loop() {
				s, _ := NewServer(tt.mech, store.lookup, cb, true, withServerNonce(serverNonce))
				if _, _, err := s.Step(ctx, first); err != nil {
					b.Fatal(err)
				}
				if _, done, err := s.Step(ctx, final); done == tt.fails || (err != nil) != tt.fails {
					b.Fatalf("client-final: %v, %v", done, err)
				}
			}
		})
	}
}

// BenchmarkPLAIN measures one PLAIN login at DefaultIterations. It is
// PBKDF2 almost entirely, which is the cost of PLAIN to the server and why
// SCRAM is offered first.
func BenchmarkPLAIN(b *testing.B) {
	tests := []struct {
		name string
		hash Hash
		user string
	}{
		{"SHA-256", SHA256, "user"},
		{"SHA-1 only", SHA1, "user"},
		{"unknown user", SHA256, "nobody"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			creds, err := NewCredentials(tt.hash, "pencil", DefaultIterations)
			if err != nil {
				b.Fatal(err)
			}
			lookup := func(_ context.Context, u string, h Hash) (Credentials, error) {
				if u != "user" || h != tt.hash {
					return Credentials{}, ErrUnknownUser
				}
				return creds, nil
			}
			msg := []byte("\x00" + tt.user + "\x00pencil")
			b.ReportAllocs()
			for b.Loop() {
				s, _ := NewServer(Plain, lookup, ChannelBinding{}, true)
				if _, done, _ := s.Step(ctx, msg); done != (tt.user == "user") {
					b.Fatalf("done = %v", done)
				}
			}
		})
	}
}

// BenchmarkDeriveCredentials is the cost of setting or changing a password.
func BenchmarkDeriveCredentials(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for _, h := range []Hash{SHA1, SHA256} {
		b.Run(string(h), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DeriveCredentials(h, "pencil", salt, DefaultIterations); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
