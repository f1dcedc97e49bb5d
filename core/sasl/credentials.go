package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Hash names the hash function of a SCRAM mechanism as it appears in the
// mechanism name ("SHA-1" in SCRAM-SHA-1).
type Hash string

// The hashes the broker offers.
const (
	SHA1   Hash = "SHA-1"
	SHA256 Hash = "SHA-256"
)

// Bounds of stored credentials, checked by Credentials.Valid.
const (
	// DefaultIterations is the PBKDF2 iteration count of new credentials:
	// above RFC 7677's minimum of 4096 while keeping a PLAIN login (which
	// runs PBKDF2 on the server) around 10 ms.
	DefaultIterations = 10000
	// MinIterations is RFC 7677 §4's floor; RFC 5802's examples use it.
	MinIterations = 4096
	// MaxIterations bounds the PBKDF2 work a stored record can make the
	// server do for one PLAIN login (about 3 s with SHA-256), leaving room
	// for today's recommendations (600 000 for SHA-256, 1 300 000 for SHA-1).
	MaxIterations = 10_000_000
	// MinSaltLen admits RFC 5802's 12-byte example salt; new salts have
	// SaltLen bytes.
	MinSaltLen = 8
	// MaxSaltLen keeps the server-first message small.
	MaxSaltLen = 128
	// SaltLen is the length of a salt made by NewCredentials.
	SaltLen = 16
)

// Credentials is one RFC 5802 verifier of a password for one hash: what the
// server needs to check SCRAM and PLAIN without knowing the password or the
// salted password.
type Credentials struct {
	Hash       Hash
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// newHash returns the hash constructor of h, or nil for an unknown hash.
func (h Hash) newHash() func() hash.Hash {
	switch h {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	}
	return nil
}

func (h Hash) size() int {
	switch h {
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

// DeriveCredentials computes the verifier of password for hash h with the
// given salt and iteration count. The password is prepared with the PRECIS
// OpaqueString profile (RFC 8265, SASLprep's successor), so it must be
// non-empty and valid under that profile.
func DeriveCredentials(h Hash, password string, salt []byte, iterations int) (Credentials, error) {
	c := Credentials{Hash: h, Salt: salt, Iterations: iterations}
	if err := c.checkParams(); err != nil {
		return Credentials{}, err
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return Credentials{}, err
	}
	storedKey, serverKey, err := deriveKeys(h, prepared, salt, iterations)
	if err != nil {
		return Credentials{}, err
	}
	// The caller's salt slice may be reused by the caller; the verifier must
	// not change under it.
	c.Salt = append([]byte(nil), salt...)
	c.StoredKey, c.ServerKey = storedKey, serverKey
	return c, nil
}

// NewCredentials is DeriveCredentials with a fresh random salt of SaltLen
// bytes, for a new or changed password.
func NewCredentials(h Hash, password string, iterations int) (Credentials, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return Credentials{}, fmt.Errorf("sasl: salt: %w", err)
	}
	return DeriveCredentials(h, password, salt, iterations)
}

// VerifyPassword reports whether password matches the verifier. It runs
// PBKDF2 with the stored iteration count and compares both keys in constant
// time; it returns false for invalid credentials or an unpreparable password.
func (c Credentials) VerifyPassword(password string) bool {
	if c.Valid() != nil {
		return false
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return false
	}
	storedKey, serverKey, err := deriveKeys(c.Hash, prepared, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	// Both keys, combined without a short cut, so that timing says nothing
	// about which one differed.
	ok := subtle.ConstantTimeCompare(storedKey, c.StoredKey) & subtle.ConstantTimeCompare(serverKey, c.ServerKey)
	return ok == 1
}

// Valid checks the verifier against the package bounds: a known Hash,
// MinIterations <= Iterations <= MaxIterations, MinSaltLen <= len(Salt) <=
// MaxSaltLen, and StoredKey and ServerKey exactly the hash's size.
func (c Credentials) Valid() error {
	if err := c.checkParams(); err != nil {
		return err
	}
	if n := c.Hash.size(); len(c.StoredKey) != n || len(c.ServerKey) != n {
		return fmt.Errorf("sasl: %s credentials need %d-byte keys, have %d and %d",
			c.Hash, n, len(c.StoredKey), len(c.ServerKey))
	}
	return nil
}

// checkParams validates what DeriveCredentials takes as input.
func (c Credentials) checkParams() error {
	if c.Hash.newHash() == nil {
		return fmt.Errorf("sasl: unknown hash %q (want %q or %q)", c.Hash, SHA1, SHA256)
	}
	if c.Iterations < MinIterations || c.Iterations > MaxIterations {
		return fmt.Errorf("sasl: iteration count %d outside [%d, %d]", c.Iterations, MinIterations, MaxIterations)
	}
	if len(c.Salt) < MinSaltLen || len(c.Salt) > MaxSaltLen {
		return fmt.Errorf("sasl: salt of %d bytes outside [%d, %d]", len(c.Salt), MinSaltLen, MaxSaltLen)
	}
	return nil
}

// deriveKeys is RFC 5802 §3 from the prepared password to the two keys the
// server keeps.
func deriveKeys(h Hash, prepared string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	newHash := h.newHash()
	salted, err := pbkdf2.Key(newHash, prepared, salt, iterations, h.size())
	if err != nil {
		return nil, nil, fmt.Errorf("sasl: pbkdf2: %w", err)
	}
	clientKey := hmacSum(newHash, salted, []byte("Client Key"))
	sum := newHash()
	sum.Write(clientKey)
	storedKey = sum.Sum(nil)
	serverKey = hmacSum(newHash, salted, []byte("Server Key"))
	clear(salted)
	clear(clientKey)
	return storedKey, serverKey, nil
}

func hmacSum(newHash func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(newHash, key)
	m.Write(msg)
	return m.Sum(nil)
}

var errEmptyPassword = errors.New("sasl: empty password")

// preparePassword applies the OpaqueString profile. Errors name no part of
// the password.
func preparePassword(password string) (string, error) {
	if password == "" {
		return "", errEmptyPassword
	}
	// precis turns invalid UTF-8 into U+FFFD, which would make different
	// byte strings the same password.
	if !utf8.ValidString(password) {
		return "", errors.New("sasl: password is not UTF-8")
	}
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", errors.New("sasl: password not valid under PRECIS OpaqueString")
	}
	if p == "" {
		return "", errEmptyPassword
	}
	return p, nil
}
