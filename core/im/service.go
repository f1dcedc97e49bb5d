package im

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// Store is what the IM layer keeps in storage.
type Store interface {
	Account(ctx context.Context, bare jid.JID) (storage.Account, error)
	storage.Roster
	storage.Subscriptions
	storage.Offline
	storage.Blocking
}

// Router is what the IM layer needs from the router.
type Router interface {
	Route(ctx context.Context, s *stanza.Stanza)
	ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error)
	Deliver(sess *session.Session, s *stanza.Stanza) bool
	BestResources(bare jid.JID) []*session.Session
	Sessions() *session.Table
	IsHost(domain string) bool
}

// Limits of roster items (RFC 6121 §2.3.3 lets the server bound them).
const (
	MaxNameLen  = 1024 // bytes of a roster item's name
	MaxGroupLen = 1024 // bytes of a group name
	MaxGroups   = 64   // groups per item
)

// Config holds the service's settings and dependencies.
type Config struct {
	Log    *slog.Logger
	Store  Store
	Router Router
	Events *event.Bus // optional
	// MaxRoster is the number of roster items per account (0: unlimited).
	MaxRoster int
	// MaxOffline is the number of offline messages per account (0:
	// unlimited).
	MaxOffline int
	// Now is the clock for delay stamps (default time.Now).
	Now func() time.Time
}

// Service is the IM layer.
type Service struct {
	log    *slog.Logger
	store  Store
	r      Router
	events *event.Bus
	cfg    Config

	seed   maphash.Seed
	shards [accountShards]accountShard
	// locks serialise the read-modify-write of one owner's roster,
	// subscription requests and block list (striped by owner). They are
	// never nested and never held while a stanza is sent.
	locks [ownerLocks]sync.Mutex

	pushID atomic.Uint64
}

var (
	_ router.Users  = (*Service)(nil)
	_ router.Filter = (*Service)(nil)
)

const (
	accountShards = 64
	ownerLocks    = 256
)

// New returns the service. Register its iq handlers, install it with
// router.SetUsers and router.AddFilter, and give it to c2s as Lifecycle.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Router == nil {
		return nil, errors.New("im: Store and Router are required")
	}
	if cfg.MaxRoster < 0 || cfg.MaxOffline < 0 {
		return nil, fmt.Errorf("im: negative limits (max roster %d, max offline %d)", cfg.MaxRoster, cfg.MaxOffline)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{log: cfg.Log.With("component", "im"), store: cfg.Store, r: cfg.Router, events: cfg.Events, cfg: cfg, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[jid.JID]*account)
	}
	return s, nil
}

// Features are the disco features the service implements on the server's
// domains. Roster versioning and pre-approval are stream features, which
// c2s announces.
func (s *Service) Features() []string {
	return []string{stanza.NSBlocking, stanza.NSCarbons, "msgoffline"}
}

// Register installs the roster, blocking and carbons iq handlers on the
// account mux (iqs to a local bare JID).
func (s *Service) Register(mux *router.Mux) {
	mux.HandleFunc("get", stanza.NSRoster, "query", s.rosterGet)
	mux.HandleFunc("set", stanza.NSRoster, "query", s.rosterSet)
	mux.HandleFunc("get", stanza.NSBlocking, "blocklist", s.blockListGet)
	mux.HandleFunc("set", stanza.NSBlocking, "block", s.blockSet)
	mux.HandleFunc("set", stanza.NSBlocking, "unblock", s.unblockSet)
	mux.HandleFunc("set", stanza.NSCarbons, "enable", s.carbonsSet)
	mux.HandleFunc("set", stanza.NSCarbons, "disable", s.carbonsSet)
}

// lock takes the owner's read-modify-write lock.
func (s *Service) lock(owner jid.JID) *sync.Mutex {
	m := &s.locks[maphash.String(s.seed, owner.String())%ownerLocks]
	m.Lock()
	return m
}

// isLocalUser reports whether j is an account address on a hosted domain.
func (s *Service) isLocalUser(j jid.JID) bool {
	return !j.IsZero() && j.Local() != "" && s.r.IsHost(j.Domain())
}

// SessionStarted loads the account's roster and block list into memory, so
// that the session's presence never waits on storage.
func (s *Service) SessionStarted(ctx context.Context, sess *session.Session) {
	a := s.acquire(sess.JID().Bare())
	if err := s.load(ctx, a); err != nil {
		s.log.Warn("loading roster and block list failed; retried on next use", "jid", sess.JID().Bare(), "err", err)
	}
}

// SessionEnded broadcasts unavailable presence for a session that ended
// without saying so, sends unavailable to where directed presence went,
// and re-routes every stanza the session never delivered: messages go to
// another resource or to offline storage, iq requests are answered with an
// error, and the rest is dropped.
func (s *Service) SessionEnded(ctx context.Context, sess *session.Session, unacked []*stanza.Stanza) {
	full := sess.JID()
	bare := full.Bare()
	a := s.cached(bare)
	// A session replaced by a newer one with the same full JID (RFC 6120
	// §7.7.2.2) must not announce that JID unavailable: it is online.
	replaced := s.r.Sessions().Get(full) != nil
	if sess.SetUnavailable() && a != nil && !replaced {
		un := stanza.Build(stanza.Presence, full, jid.JID{}, "unavailable", "")
		s.broadcast(ctx, sess, a, un, false)
		s.publishPresence(ctx, full, false, "", 0)
	}
	for _, to := range sess.TakeDirected() {
		s.r.Route(ctx, stanza.Build(stanza.Presence, full, to, "unavailable", ""))
	}
	for _, st := range unacked {
		s.reroute(ctx, full, st)
	}
	s.release(bare)
}

// reroute handles one stanza a dead session never acknowledged.
func (s *Service) reroute(ctx context.Context, was jid.JID, st *stanza.Stanza) {
	switch st.Kind {
	case stanza.Message:
		if isCarbonCopy(st, was) {
			// A copy: the original went to its own recipient.
			return
		}
		if st.To.IsZero() || st.To.Bare() != was.Bare() {
			return
		}
		s.Inbound(ctx, st)
	case stanza.IQ:
		if st.IsIQRequest() {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable, Text: "the recipient's session ended"})
		}
	}
}

func (s *Service) publishPresence(ctx context.Context, full jid.JID, available bool, show string, prio int) {
	if s.events == nil || !s.events.HasSubscribers(event.NamePresenceChanged) {
		return
	}
	s.events.Publish(ctx, event.PresenceChanged{JID: full, Available: available, Show: show, Priority: prio})
}

// storageError maps a storage failure to the stanza error the client gets,
// logging it once here.
func (s *Service) storageError(op string, owner jid.JID, err error) stanza.Error {
	if errors.Is(err, storage.ErrUnavailable) {
		s.log.Warn("storage unavailable", "op", op, "jid", owner, "err", err)
		return stanza.Error{Condition: stanza.ResourceConstraint, Text: "storage is temporarily unavailable; retry later"}
	}
	s.log.Error("storage failed", "op", op, "jid", owner, "err", err)
	return stanza.Error{Condition: stanza.InternalServerError}
}
