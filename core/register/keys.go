package register

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/extasis/extasis/core/storage"
)

// Sealing API key secrets.
//
// The broker must recompute each device's HMAC, so it needs the secret
// itself: a one-way hash would not do. The secret is therefore stored
// encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the
// node's secret file, data_dir/secret, which never enters the database: a
// stolen database or backup reveals no usable secret. The API key is the
// additional data, so a sealed secret copied onto another key's row does
// not open. Nodes sharing one database must share that file (they already
// must for SCRAM's fake salts); losing it makes every key unusable, and
// the fix is new keys.

const (
	sealVersion = 1
	sealInfo    = "extasis register: api key secret v1"
)

// Sealer encrypts API key secrets for storage and decrypts them to verify
// signatures.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the node secret (at least 32
// bytes).
func NewSealer(nodeSecret []byte) (*Sealer, error) {
	if len(nodeSecret) < 32 {
		return nil, fmt.Errorf("register: node secret has %d bytes, want at least 32", len(nodeSecret))
	}
	key, err := hkdf.Key(sha256.New, nodeSecret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("register: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

func additional(key string) []byte { return []byte("extasis-apikey:" + key) }

// Seal returns the stored form of key's secret: a version byte, a random
// nonce and the ciphertext.
func (s *Sealer) Seal(key, secret string) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails (crypto/rand)
	return s.aead.Seal(out, out[1:], []byte(secret), additional(key))
}

// ErrSealed: a sealed secret does not open (another node secret, a
// corrupted row, or a row copied from another key).
var ErrSealed = errors.New("register: api key secret does not open with this node's secret")

// Open returns the secret sealed for key.
func (s *Sealer) Open(key string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return "", ErrSealed
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], additional(key))
	if err != nil {
		return "", ErrSealed
	}
	return string(pt), nil
}

// KeySpec describes a key to create.
type KeySpec struct {
	Accounts int       // how many accounts it may create (at least 1)
	Domain   string    // "" any hosted domain
	Note     string    // who has it
	Expires  time.Time // zero: never
}

// NewAPIKey makes a key and its secret. The key is 24 hex digits; the
// secret is 32 random bytes in unpadded base64url, 43 characters that XEP-0348's
// Escape leaves as they are, so every client signs it alike. The caller
// stores the key and shows the secret once.
func NewAPIKey(s *Sealer, spec KeySpec, now time.Time) (k storage.APIKey, secret string, err error) {
	if spec.Accounts < 1 {
		return storage.APIKey{}, "", fmt.Errorf("register: an api key must allow at least 1 account, not %d", spec.Accounts)
	}
	if !spec.Expires.IsZero() && !spec.Expires.After(now) {
		return storage.APIKey{}, "", fmt.Errorf("register: expiry %s is not in the future", spec.Expires.Format(time.RFC3339))
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret = base64.RawURLEncoding.EncodeToString(raw)
	key := randomHex(12)
	return storage.APIKey{
		Key:      key,
		Sealed:   s.Seal(key, secret),
		Accounts: spec.Accounts,
		Domain:   spec.Domain,
		Note:     spec.Note,
		Created:  now,
		Expires:  spec.Expires,
	}, secret, nil
}
