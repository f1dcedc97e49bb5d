package register

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSealer(t testing.TB, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSeal(t *testing.T) {
	s := testSealer(t, 1)
	sealed := s.Seal("key-a", "the secret")
	if bytes.Contains(sealed, []byte("the secret")) {
		t.Fatal("the sealed form contains the secret")
	}
	if again := s.Seal("key-a", "the secret"); bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes: the nonce is not random")
	}
	got, err := s.Open("key-a", sealed)
	if err != nil || got != "the secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		s      *Sealer
		key    string
		sealed []byte
	}{
		{"other key's row", s, "key-b", sealed},
		{"other node secret", testSealer(t, 2), "key-a", sealed},
		{"tampered", s, "key-a", flipped},
		{"truncated", s, "key-a", sealed[:10]},
		{"empty", s, "key-a", nil},
		{"unknown version", s, "key-a", append([]byte{9}, sealed[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.Open(tt.key, tt.sealed); !errors.Is(err, ErrSealed) {
				t.Fatalf("Open = %v, want ErrSealed", err)
			}
		})
	}
	if _, err := NewSealer(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte node secret was accepted")
	}
}

func TestNewAPIKey(t *testing.T) {
	s := testSealer(t, 1)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	k, secret, err := NewAPIKey(s, KeySpec{Accounts: 100, Domain: "iot.example", Note: "batch 7", Expires: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Key) != 24 || len(secret) != 43 || EscapeRFC3986(secret) != secret || EscapeWaher(k.Key) != k.Key {
		t.Fatalf("key %q secret of %d chars: want 24 hex digits and 43 unreserved characters", k.Key, len(secret))
	}
	if k.Accounts != 100 || k.Domain != "iot.example" || k.Note != "batch 7" || !k.Created.Equal(now) || !k.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("key = %+v", k)
	}
	if got, err := s.Open(k.Key, k.Sealed); err != nil || got != secret {
		t.Fatalf("the sealed secret does not open: %q, %v", got, err)
	}
	k2, secret2, _ := NewAPIKey(s, KeySpec{Accounts: 1}, now)
	if k2.Key == k.Key || secret2 == secret {
		t.Fatal("two keys are equal")
	}
	for _, spec := range []KeySpec{{Accounts: 0}, {Accounts: 1, Expires: now}} {
		if _, _, err := NewAPIKey(s, spec, now); err == nil || !strings.HasPrefix(err.Error(), "register: ") {
			t.Fatalf("NewAPIKey(%+v) = %v, want a register: error", spec, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw, user string
		ok       bool
	}{
		{"correct horse", "bob", true},
		{"", "bob", false},
		{"short", "bob", false},
		{"pässwörd", "bob", true}, // 8 characters, 10 bytes
		{"Sensor-0001", "sensor-0001", false},
		{strings.Repeat("x", maxPasswordBytes+1), "bob", false},
	}
	for _, tt := range tests {
		if err := CheckPassword(tt.pw, tt.user, 8); (err == nil) != tt.ok {
			t.Errorf("CheckPassword(%.20q, %q) = %v, want ok %v", tt.pw, tt.user, err, tt.ok)
		}
	}
	creds, err := NewCredentials("correct horse", 4096)
	if err != nil || len(creds) != 2 || creds[0].Hash != "SHA-1" || creds[1].Hash != "SHA-256" {
		t.Fatalf("NewCredentials = %+v, %v", creds, err)
	}
	if _, err := NewCredentials("bad\u0007bell", 4096); err == nil {
		t.Fatal("a password with a control character was accepted (RFC 8265)")
	}
}
