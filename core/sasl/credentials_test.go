package sasl

import (
	"bytes"
	"strings"
	"testing"
)

func TestDeriveCredentials(t *testing.T) {
	salt := []byte("0123456789ab")
	tests := []struct {
		name     string
		hash     Hash
		password string
		salt     []byte
		iter     int
		wantErr  bool
	}{
		{"SHA-1", SHA1, "pencil", salt, MinIterations, false},
		{"SHA-256", SHA256, "pencil", salt, DefaultIterations, false},
		{"non-ASCII password", SHA256, "pässwörd ✓", salt, MinIterations, false},
		{"longest salt", SHA256, "pencil", make([]byte, MaxSaltLen), MinIterations, false},
		{"unknown hash", "SHA-512", "pencil", salt, MinIterations, true},
		{"empty hash", "", "pencil", salt, MinIterations, true},
		{"empty password", SHA256, "", salt, MinIterations, true},
		{"control character in password", SHA256, "pen\u0007cil", salt, MinIterations, true},
		{"invalid UTF-8 password", SHA256, "pen\xffcil", salt, MinIterations, true},
		{"too few iterations", SHA256, "pencil", salt, MinIterations - 1, true},
		{"too many iterations", SHA256, "pencil", salt, MaxIterations + 1, true},
		{"negative iterations", SHA256, "pencil", salt, -1, true},
		{"short salt", SHA256, "pencil", salt[:MinSaltLen-1], MinIterations, true},
		{"long salt", SHA256, "pencil", make([]byte, MaxSaltLen+1), MinIterations, true},
		{"no salt", SHA256, "pencil", nil, MinIterations, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DeriveCredentials(tt.hash, tt.password, tt.salt, tt.iter)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.HasPrefix(err.Error(), "sasl: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Fatalf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Valid(); err != nil {
				t.Fatalf("derived credentials invalid: %v", err)
			}
			if !c.VerifyPassword(tt.password) {
				t.Fatal("VerifyPassword rejects the password it was derived from")
			}
			tt.salt[0] ^= 0xff
			if bytes.Equal(c.Salt, tt.salt) {
				t.Fatal("credentials share the caller's salt slice")
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	a, err := NewCredentials(SHA256, "pencil", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCredentials(SHA256, "pencil", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Salt) != SaltLen || bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Fatalf("salts %x and %x: want two fresh %d-byte salts", a.Salt, b.Salt, SaltLen)
	}
	if _, err := NewCredentials(SHA256, "", MinIterations); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestVerifyPassword(t *testing.T) {
	c, err := DeriveCredentials(SHA256, "pass word", []byte("saltsaltsalt"), MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	broken := c
	broken.Iterations = 1
	tests := []struct {
		name     string
		creds    Credentials
		password string
		want     bool
	}{
		{"right", c, "pass word", true},
		{"wrong", c, "pass-word", false},
		{"prefix", c, "pass", false},
		{"empty", c, "", false},
		{"case matters", c, "Pass word", false},
		{"no-break space prepared to space", c, "pass\u00a0word", true},
		{"invalid UTF-8", c, "pass\xffword", false},
		{"invalid credentials", broken, "pass word", false},
		{"zero credentials", Credentials{}, "pass word", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.creds.VerifyPassword(tt.password); got != tt.want {
				t.Fatalf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCredentialsValid(t *testing.T) {
	c, err := DeriveCredentials(SHA1, "pencil", []byte("saltsaltsalt"), MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Credentials)
		valid  bool
	}{
		{"as derived", func(*Credentials) {}, true},
		{"most iterations", func(c *Credentials) { c.Iterations = MaxIterations }, true},
		{"hash of other size", func(c *Credentials) { c.Hash = SHA256 }, false},
		{"short stored key", func(c *Credentials) { c.StoredKey = c.StoredKey[:19] }, false},
		{"long server key", func(c *Credentials) { c.ServerKey = append(bytes.Clone(c.ServerKey), 0) }, false},
		{"no keys", func(c *Credentials) { c.StoredKey, c.ServerKey = nil, nil }, false},
		{"too few iterations", func(c *Credentials) { c.Iterations = 4095 }, false},
		{"too many iterations", func(c *Credentials) { c.Iterations = MaxIterations + 1 }, false},
		{"short salt", func(c *Credentials) { c.Salt = c.Salt[:7] }, false},
		{"unknown hash", func(c *Credentials) { c.Hash = "MD5" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := c
			tt.mutate(&x)
			if err := x.Valid(); (err == nil) != tt.valid {
				t.Fatalf("Valid() = %v, want valid=%v", err, tt.valid)
			}
		})
	}
}
