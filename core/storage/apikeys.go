package storage

import (
	"context"
	"errors"
	"time"

	"github.com/extasis/extasis/core/jid"
)

// ErrKeyInactive: the API key was revoked, or has expired. RegisterAccount
// returns it (wrapped) instead of ErrQuota, so the device is told why.
var ErrKeyInactive = errors.New("storage: api key revoked or expired")

// APIKey lets devices create their own accounts by in-band registration
// signed with its secret (XEP-0077 with XEP-0348). The store never sees the
// secret: the caller seals it (the broker encrypts it with a key derived
// from its node secret), and Sealed is opaque bytes here.
type APIKey struct {
	Key      string // public identifier, the OAuth consumer key
	Sealed   []byte // the secret, sealed by the caller
	Accounts int    // how many accounts it may create in all
	Used     int    // how many it has created; deleting one does not give it back
	Domain   string // the only domain it creates accounts in; "" any hosted domain
	Note     string // the operator's reminder of who has it
	Created  time.Time
	Expires  time.Time // zero: never
	Revoked  time.Time // zero: not revoked
}

// Remaining returns how many accounts the key may still create.
func (k APIKey) Remaining() int { return max(k.Accounts-k.Used, 0) }

// Active reports whether the key is neither revoked nor expired at now.
func (k APIKey) Active(now time.Time) bool {
	return k.Revoked.IsZero() && (k.Expires.IsZero() || now.Before(k.Expires))
}

// Registration is the audit record of one account created by in-band
// registration. Records outlive the account: they are what abuse handling
// and billing look at.
type Registration struct {
	Account jid.JID   // bare
	Key     string    // the API key that signed it; "" for open registration
	Time    time.Time // when; also the account's creation time
	Remote  string    // the client's IP address
}

// APIKeys keeps API keys, the nonces their signatures used, and the audit
// of registrations.
type APIKeys interface {
	// CreateAPIKey stores k (Used is ignored and starts at 0). ErrExists if
	// the key exists.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKey returns ErrNotFound if there is no such key.
	APIKey(ctx context.Context, key string) (APIKey, error)
	// ListAPIKeys returns every key, oldest first.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked at `at`; revoking again keeps the
	// first time. ErrNotFound.
	RevokeAPIKey(ctx context.Context, key string, at time.Time) error
	// RegisterAccount creates a and records r in one transaction; when
	// r.Key is set it also takes one of that key's slots, atomically under
	// concurrency, so that of two registrations racing for the last slot
	// exactly one succeeds. It fails, changing nothing, with ErrNotFound
	// (no such key), ErrKeyInactive (revoked, or expired at r.Time),
	// ErrQuota (no slot left) or ErrExists (the account exists: the slot
	// is not taken). a.Created is r.Time.
	RegisterAccount(ctx context.Context, a Account, r Registration) error
	// UseNonce records that a signature of key used nonce, remembered
	// until expires. ErrExists if it was recorded and has not expired at
	// now: the signature is a replay.
	UseNonce(ctx context.Context, key, nonce string, now, expires time.Time) error
	// PruneNonces forgets the nonces expired at now and returns how many.
	PruneNonces(ctx context.Context, now time.Time) (int, error)
	// Registrations returns up to limit (<= 0: all) audit records of key
	// ("" for open registration), newest first.
	Registrations(ctx context.Context, key string, limit int) ([]Registration, error)
}
