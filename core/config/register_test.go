package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRegisterDefaults(t *testing.T) {
	r := Default().Register
	if !r.Enabled || r.Open || r.OpenRatePerIP != 3 || r.TimestampWindow.D() != 5*time.Minute ||
		r.NonceTTL.D() != 10*time.Minute || r.TokenTTL.D() != 5*time.Minute || r.MinPasswordLength != 8 || !r.AllowRemove {
		t.Fatalf("register defaults = %+v", r)
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every key of the register section is documented in the example.
func TestRegisterExampleDocumented(t *testing.T) {
	b, err := os.ReadFile("../../extasis.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"register", "enabled", "open", "open_rate_per_ip", "timestamp_window",
		"nonce_ttl", "token_ttl", "min_password_length", "allow_remove"} {
		if !strings.Contains(string(b), key+":") {
			t.Errorf("extasis.example.yaml does not document %q", key)
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ok", "register:\n  open: true\n  open_rate_per_ip: 10\n", ""},
		{"unknown key", "register:\n  opne: true\n", "opne"},
		{"rate range", "register:\n  open_rate_per_ip: 0\n", "register.open_rate_per_ip"},
		{"password range", "register:\n  min_password_length: 0\n", "register.min_password_length"},
		{"window range", "register:\n  timestamp_window: 1s\n", "register.timestamp_window"},
		{"nonce shorter than window", "register:\n  timestamp_window: 10m\n  nonce_ttl: 15m\n", "at least twice register.timestamp_window"},
		{"token range", "register:\n  token_ttl: 2h\n", "register.token_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
