package storage

import (
	"errors"
	"testing"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", true},
		{"ascii", "Friends", true},
		{"quotes", `'"; DROP TABLE accounts; --`, true},
		{"unicode", "Família 家族 🏠", true},
		{"tab newline", "a\tb\nc\r", true},
		{"nul", "a\x00b", false},
		{"unit separator", "a\x1fb", false},
		{"invalid utf8", "a\xffb", false},
		{"fffe", "a\uFFFEb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckText("name", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckText(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckText(%q) = %v, want ErrInvalid", tt.in, err)
			}
		})
	}
}

func TestSubscriptionString(t *testing.T) {
	for s, want := range map[Subscription]string{None: "none", To: "to", From: "from", Both: "both", 9: "invalid"} {
		t.Run(want, func(t *testing.T) {
			if got := s.String(); got != want {
				t.Fatalf("%d.String() = %q, want %q", s, got, want)
			}
			if s <= Both {
				if p, ok := ParseSubscription(want); !ok || p != s {
					t.Fatalf("ParseSubscription(%q) = %v, %v", want, p, ok)
				}
			}
		})
	}
}
