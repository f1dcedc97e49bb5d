package sasl

import (
	"context"
	"strings"
	"testing"
)

func TestPLAIN(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil", "admin": "pass word"})
	sha1Only := newCredStore(t, map[string]string{"old": "pencil"}, SHA1)
	lookup := func(ctx context.Context, u string, h Hash) (Credentials, error) {
		if u == "old" {
			return sha1Only.lookup(ctx, u, h)
		}
		return store.lookup(ctx, u, h)
	}
	tests := []struct {
		name      string
		in        string
		cond      string // "" for success
		wantUser  string
		wantAuthz string
	}{
		{"success", "\x00user\x00pencil", "", "user", ""},
		{"authzid returned", "user@example.com\x00user\x00pencil", "", "user", "user@example.com"},
		{"username case-mapped", "\x00User\x00pencil", "", "user", ""},
		{"password prepared", "\x00admin\x00pass\u00a0word", "", "admin", ""},
		{"SHA-1 credentials only", "\x00old\x00pencil", "", "old", ""},
		{"wrong password", "\x00user\x00pencil2", NotAuthorized, "", ""},
		{"password case", "\x00user\x00Pencil", NotAuthorized, "", ""},
		{"unknown user", "\x00nobody\x00pencil", NotAuthorized, "", ""},
		{"username invalid under PRECIS", "\x00us er\x00pencil", NotAuthorized, "", ""},
		{"one NUL", "user\x00pencil", MalformedRequest, "", ""},
		{"no NUL", "userpencil", MalformedRequest, "", ""},
		{"three NULs", "\x00user\x00pencil\x00", MalformedRequest, "", ""},
		{"empty authcid", "\x00\x00pencil", MalformedRequest, "", ""},
		{"empty password", "\x00user\x00", MalformedRequest, "", ""},
		{"invalid UTF-8", "\x00user\x00penc\xffil", MalformedRequest, "", ""},
		{"oversized", "\x00user\x00" + strings.Repeat("p", MaxMessageLen), MalformedRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, Plain, lookup, ChannelBinding{}, true)
			out, done, err := s.Step(context.Background(), []byte(tt.in))
			if tt.cond != "" {
				wantCondition(t, err, tt.cond, "")
				if done || out != nil || s.Username() != "" {
					t.Fatalf("failed step returned %q, %v, %q", out, done, s.Username())
				}
				return
			}
			if err != nil || !done || out != nil {
				t.Fatalf("Step = %q, %v, %v", out, done, err)
			}
			if s.Username() != tt.wantUser || s.Authzid() != tt.wantAuthz {
				t.Fatalf("identity = %q, %q; want %q, %q", s.Username(), s.Authzid(), tt.wantUser, tt.wantAuthz)
			}
		})
	}
}

func TestPLAINStateMachine(t *testing.T) {
	store := newCredStore(t, map[string]string{"user": "pencil"}, SHA256)
	ctx := context.Background()
	tests := []struct {
		name  string
		steps []string
		cond  string // of the last step; "" for success
	}{
		{"empty initial response, then response", []string{"", "\x00user\x00pencil"}, ""},
		{"two empty responses", []string{"", ""}, MalformedRequest},
		{"step after success", []string{"\x00user\x00pencil", "\x00user\x00pencil"}, MalformedRequest},
		{"step after failure", []string{"\x00user\x00wrong", "\x00user\x00pencil"}, MalformedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, Plain, store.lookup, ChannelBinding{}, true)
			var err error
			var done bool
			var out []byte
			for i, in := range tt.steps {
				var msg []byte
				if in != "" {
					msg = []byte(in)
				}
				out, done, err = s.Step(ctx, msg)
				if i == 0 && in == "" && (err != nil || done || out == nil || len(out) != 0) {
					t.Fatalf("empty initial response: %q, %v, %v", out, done, err)
				}
			}
			if tt.cond == "" {
				if err != nil || !done {
					t.Fatalf("last step: %v, %v", done, err)
				}
				return
			}
			wantCondition(t, err, tt.cond, "")
		})
	}
}
