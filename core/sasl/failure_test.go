package sasl

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestConditionOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("db down"), TemporaryAuthFailure},
		{"context", context.DeadlineExceeded, TemporaryAuthFailure},
		{"failure", &Failure{Condition: NotAuthorized}, NotAuthorized},
		{"wrapped failure", fmt.Errorf("sasl: lookup: %w", &Failure{Condition: AccountDisabled}), AccountDisabled},
		{"sentinel", ErrInvalidMechanism, InvalidMechanism},
		{"failure without condition", &Failure{Text: "x"}, TemporaryAuthFailure},
		{"nil failure pointer", (*Failure)(nil), TemporaryAuthFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConditionOf(tt.err); got != tt.want {
				t.Fatalf("ConditionOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFailure(t *testing.T) {
	tests := []struct {
		name      string
		f         *Failure
		wantErr   string
		wantFinal string
	}{
		{"condition only", &Failure{Condition: Aborted}, "sasl: aborted", ""},
		{"with text", &Failure{Condition: MalformedRequest, Text: "no nonce"}, "sasl: malformed-request: no nonce", ""},
		{"with server-error", &Failure{Condition: NotAuthorized, Text: "invalid credentials", ServerError: "invalid-proof"},
			"sasl: not-authorized: invalid credentials (e=invalid-proof)", "e=invalid-proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Error(); got != tt.wantErr {
				t.Fatalf("Error() = %q, want %q", got, tt.wantErr)
			}
			if got := string(tt.f.ServerFinal()); got != tt.wantFinal {
				t.Fatalf("ServerFinal() = %q, want %q", got, tt.wantFinal)
			}
			if !errors.Is(fmt.Errorf("wrapped: %w", tt.f), &Failure{Condition: tt.f.Condition}) {
				t.Fatal("errors.Is does not match on the condition")
			}
			if errors.Is(tt.f, &Failure{Condition: "other"}) {
				t.Fatal("errors.Is matches another condition")
			}
		})
	}
}
