package register

import (
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := newTokens(time.Minute, 3)
	tok, sec, ok := ts.issue("192.0.2.1:4000", "d", t0)
	if !ok || tok == "" || sec == "" || EscapeWaher(tok) != tok || EscapeWaher(sec) != sec {
		t.Fatalf("issue = %q, %q, %v", tok, sec, ok)
	}
	tests := []struct {
		name, tok, conn, domain string
		at                      time.Time
		ok                      bool
	}{
		{"same stream", tok, "192.0.2.1:4000", "d", t0.Add(59 * time.Second), true},
		{"other stream, same IP", tok, "192.0.2.1:4001", "d", t0, false},
		{"other domain", tok, "192.0.2.1:4000", "e", t0, false},
		{"expired", tok, "192.0.2.1:4000", "d", t0.Add(time.Minute), false},
		{"unknown", "t-nope", "192.0.2.1:4000", "d", t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ts.secret(tt.tok, tt.conn, tt.domain, tt.at)
			if ok != tt.ok || ok && got != sec {
				t.Fatalf("secret = %q, %v; want ok %v", got, ok, tt.ok)
			}
		})
	}
	// A new form on the same stream replaces the token.
	tok2, _, _ := ts.issue("192.0.2.1:4000", "d", t0)
	if _, ok := ts.secret(tok, "192.0.2.1:4000", "d", t0); ok || tok2 == tok {
		t.Fatal("the first token survived a second form on the same stream")
	}
	ts.drop(tok2)
	if _, ok := ts.secret(tok2, "192.0.2.1:4000", "d", t0); ok {
		t.Fatal("a dropped token is still valid")
	}
	// The table is bounded; expired tokens make room.
	for i, c := range []string{"a:1", "b:1", "c:1"} {
		if _, _, ok := ts.issue(c, "d", t0); !ok {
			t.Fatalf("issue %d refused", i)
		}
	}
	if _, _, ok := ts.issue("e:1", "d", t0); ok {
		t.Fatal("a fourth live token was issued with max 3")
	}
	if _, _, ok := ts.issue("e:1", "d", t0.Add(time.Minute)); !ok {
		t.Fatal("expired tokens did not make room")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2)
	for i := range 2 {
		if _, ok := l.allow("192.0.2.1", t0); !ok {
			t.Fatalf("registration %d refused", i)
		}
	}
	wait, ok := l.allow("192.0.2.1", t0)
	if ok || wait != 30*time.Minute {
		t.Fatalf("third = %v, %v; want refused for 30m", wait, ok)
	}
	if _, ok := l.allow("192.0.2.2", t0); !ok {
		t.Fatal("another address was limited")
	}
	if _, ok := l.allow("192.0.2.1", t0.Add(30*time.Minute)); !ok {
		t.Fatal("not refilled after 30 minutes")
	}
}
