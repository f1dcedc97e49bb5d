package storage

import (
	"context"
	"errors"
	"time"

	"github.com/extasis/extasis/core/jid"
)

// Errors every backend returns, wrapped with detail; match them with
// errors.Is.
var (
	// ErrNotFound: the account, item or version asked for does not exist.
	// Writes for an owner that has no account also return it.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: CreateAccount for an account that already exists.
	ErrExists = errors.New("storage: already exists")
	// ErrQuota: the write would exceed the limit the caller passed.
	ErrQuota = errors.New("storage: quota exceeded")
	// ErrUnavailable: the database cannot be reached, is restarting or did
	// not answer in time. The cause is wrapped beside it. Callers answer the
	// client with a temporary error and retry later; the backend reconnects
	// by itself.
	ErrUnavailable = errors.New("storage: database unavailable")
	// ErrInvalid: a value the store refuses rather than store unfaithfully:
	// text (names, groups, JIDs) with characters XML 1.0 cannot carry, such
	// as NUL, or invalid UTF-8. Raw stanzas are bytes and stored as given.
	ErrInvalid = errors.New("storage: invalid value")
)

// Account is a local user. JID is bare.
type Account struct {
	JID         jid.JID
	Credentials []Credential
	Created     time.Time // set by CreateAccount when zero
}

// Accounts keeps accounts and their SCRAM verifiers.
type Accounts interface {
	// CreateAccount returns ErrExists if the account exists.
	CreateAccount(ctx context.Context, a Account) error
	// Account returns ErrNotFound if there is no such account.
	Account(ctx context.Context, bare jid.JID) (Account, error)
	// Credential is the login hot path: one indexed lookup. ErrNotFound if
	// the account or its verifier for h does not exist.
	Credential(ctx context.Context, bare jid.JID, h Hash) (Credential, error)
	// SetCredentials replaces all verifiers of the account. ErrNotFound.
	SetCredentials(ctx context.Context, bare jid.JID, creds []Credential) error
	// DeleteAccount removes the account with its roster, subscription
	// requests, offline messages and block list, atomically. ErrNotFound.
	DeleteAccount(ctx context.Context, bare jid.JID) error
	// ListAccounts returns up to limit accounts of domain ("" = all) whose
	// JID sorts after `after` ("" = from the start), ordered bytewise by
	// JID. limit <= 0 means no limit.
	ListAccounts(ctx context.Context, domain, after string, limit int) ([]jid.JID, error)
	// CountAccounts counts the accounts of domain ("" = all).
	CountAccounts(ctx context.Context, domain string) (int, error)
}

// Subscription is the RFC 6121 subscription state of a roster item.
type Subscription uint8

// Subscription states, in the order of RFC 6121 §2.1.2.5.
const (
	None Subscription = iota
	To
	From
	Both
)

var subscriptionNames = [...]string{"none", "to", "from", "both"}

// String returns the RFC 6121 attribute value.
func (s Subscription) String() string {
	if int(s) < len(subscriptionNames) {
		return subscriptionNames[s]
	}
	return "invalid"
}

// ParseSubscription is the inverse of String; ok is false for anything
// else, including "remove", which is an operation and not a state.
func ParseSubscription(v string) (s Subscription, ok bool) {
	for i, n := range subscriptionNames {
		if n == v {
			return Subscription(i), true
		}
	}
	return None, false
}

// RosterItem is one contact of a roster (RFC 6121 §2.1.2).
type RosterItem struct {
	Contact      jid.JID // bare
	Name         string
	Groups       []string
	Subscription Subscription
	Ask          bool // an outbound subscription request is pending
	Approved     bool // an inbound subscription is pre-approved
}

// RosterTombstones is how many roster deletions per owner a store
// remembers for XEP-0237: a client whose version predates the oldest kept
// one gets the full roster.
const RosterTombstones = 1000

// Roster keeps rosters with one version counter per owner (XEP-0237).
// Every write bumps the owner's version; deletions leave tombstones, of
// which the last RosterTombstones per owner are kept.
type Roster interface {
	// RosterItems returns the whole roster sorted by contact and its
	// current version. An owner without account has an empty roster.
	RosterItems(ctx context.Context, owner jid.JID) (items []RosterItem, version int64, err error)
	// RosterItem returns ErrNotFound if the contact is not on the roster.
	RosterItem(ctx context.Context, owner, contact jid.JID) (RosterItem, error)
	// PutRosterItem inserts or replaces it.Contact. Creating item number
	// maxItems+1 returns ErrQuota (maxItems 0 = no limit); replacing never
	// does. ErrNotFound if owner has no account.
	PutRosterItem(ctx context.Context, owner jid.JID, it RosterItem, maxItems int) (version int64, err error)
	// DeleteRosterItem returns ErrNotFound if the contact is not on the
	// roster.
	DeleteRosterItem(ctx context.Context, owner, contact jid.JID) (version int64, err error)
	// RosterChanges returns the items changed and contacts removed after
	// version since, and the current version. ErrNotFound if since is
	// unknown (newer than the current version) or older than the kept
	// tombstones: the caller then sends the full roster.
	RosterChanges(ctx context.Context, owner jid.JID, since int64) (changed []RosterItem, removed []jid.JID, version int64, err error)
}

// SubscriptionRequest is an inbound presence subscription request awaiting
// the user's answer (RFC 6121 §3.1.3).
type SubscriptionRequest struct {
	From     jid.JID // bare
	Raw      []byte  // the subscribe stanza as received
	Received time.Time
}

// Subscriptions keeps inbound subscription requests.
type Subscriptions interface {
	// AddSubscriptionRequest keeps the latest request per (owner, From).
	// ErrNotFound if owner has no account.
	AddSubscriptionRequest(ctx context.Context, owner jid.JID, r SubscriptionRequest) error
	// SubscriptionRequests returns the requests oldest first.
	SubscriptionRequests(ctx context.Context, owner jid.JID) ([]SubscriptionRequest, error)
	// HasSubscriptionRequest reports whether a request from (a bare JID)
	// awaits owner's answer: one lookup by key, whatever the number of
	// requests (every subscription stanza asks it).
	HasSubscriptionRequest(ctx context.Context, owner, from jid.JID) (bool, error)
	// RemoveSubscriptionRequest is a no-op if there is no such request.
	RemoveSubscriptionRequest(ctx context.Context, owner, from jid.JID) error
}

// OfflineMessage is a stanza stored for an account while it is offline.
type OfflineMessage struct {
	ID     int64 // increases in insertion order
	Raw    []byte
	Stored time.Time
}

// Offline keeps messages for accounts that are offline.
type Offline interface {
	// StoreOffline returns ErrQuota if the account already holds max
	// messages (0 = unlimited), atomically under concurrency, and
	// ErrNotFound if owner has no account.
	StoreOffline(ctx context.Context, owner jid.JID, raw []byte, max int) (id int64, err error)
	// OfflineMessages returns up to limit messages (<= 0: all), oldest
	// first.
	OfflineMessages(ctx context.Context, owner jid.JID, limit int) ([]OfflineMessage, error)
	// DeleteOffline deletes the messages with ID <= upTo, after delivery.
	DeleteOffline(ctx context.Context, owner jid.JID, upTo int64) error
	// CountOffline counts the stored messages.
	CountOffline(ctx context.Context, owner jid.JID) (int, error)
}

// Blocking keeps XEP-0191 block lists. Items are JIDs of any form (domain,
// bare or full) as the user sent them.
type Blocking interface {
	// BlockList returns the blocked JIDs in bytewise order.
	BlockList(ctx context.Context, owner jid.JID) ([]jid.JID, error)
	// Block is idempotent. ErrNotFound if owner has no account.
	Block(ctx context.Context, owner jid.JID, items []jid.JID) error
	// Unblock removes items; empty items unblocks all.
	Unblock(ctx context.Context, owner jid.JID, items []jid.JID) error
}

// Store is everything the broker keeps.
type Store interface {
	Accounts
	Roster
	Subscriptions
	Offline
	Blocking
	// Ping checks that the database answers; ErrUnavailable if not.
	Ping(ctx context.Context) error
	Close() error
}

// Migration is one schema version of a backend.
type Migration struct {
	Version int
	Name    string
	Applied time.Time // zero if pending
}
