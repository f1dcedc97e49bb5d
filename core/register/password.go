package register

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/storage"
)

// MinPasswordLength is the default shortest password, in characters; the
// CLI and in-band registration use the same rule.
const MinPasswordLength = 8

// maxPasswordBytes bounds the PBKDF2 input a client can make the server
// hash.
const maxPasswordBytes = 1024

// CheckPassword reports why pw is not acceptable for the account named
// user ("" when unknown), or nil. The error text is for the user.
func CheckPassword(pw, user string, minLen int) error {
	switch {
	case pw == "":
		return fmt.Errorf("register: a password is required")
	case utf8.RuneCountInString(pw) < minLen:
		return fmt.Errorf("register: the password must have at least %d characters", minLen)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("register: the password must have at most %d bytes", maxPasswordBytes)
	case user != "" && strings.EqualFold(pw, user):
		return fmt.Errorf("register: the password must not be the account name")
	}
	return nil
}

// NewCredentials derives the SCRAM-SHA-1 and SCRAM-SHA-256 verifiers of pw:
// all the broker ever stores of a password. An error means pw is not valid
// under PRECIS OpaqueString (RFC 8265).
func NewCredentials(pw string, iterations int) ([]storage.Credential, error) {
	out := make([]storage.Credential, 0, 2)
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		c, err := sasl.NewCredentials(h, pw, iterations)
		if err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
		out = append(out, storage.Credential{Hash: storage.Hash(c.Hash), Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey})
	}
	return out, nil
}
