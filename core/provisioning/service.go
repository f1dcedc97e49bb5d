package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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

// Store is what the service keeps in storage.
type Store = storage.Provisioning

// Router is what the service needs from the router.
type Router interface {
	Route(ctx context.Context, s *stanza.Stanza)
	ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error)
	Sessions() *session.Table
	IsHost(domain string) bool
}

// Config holds the service's settings and dependencies.
type Config struct {
	Log    *slog.Logger
	Store  Store
	Router Router
	Events *event.Bus // thing.claimed, thing.disowned, session.online; optional
	// Domains are the hosted domains; the service answers at
	// Subdomain.D for each.
	Domains   []string
	Subdomain string // default "provisioning"
	// PolicyTimeout bounds one policy evaluation (default 50ms).
	PolicyTimeout time.Duration
	// QuestionTTL: a pending question older than this is asked again
	// (default 7 days).
	QuestionTTL time.Duration
	// AuditRetention: decisions older than this are pruned (default 30
	// days; 0 keeps them for ever).
	AuditRetention time.Duration
	// AuditQueue bounds the decisions waiting to be written (default
	// 65536); when it is full, decisions are counted as dropped.
	AuditQueue int
	// ReloadInterval: how often the store's change counter is polled, so
	// that changes made by the CLI or another node are picked up (default
	// 5s).
	ReloadInterval time.Duration
	// MaxRulesPerOwner bounds learned rules per owner (default 10000).
	MaxRulesPerOwner int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.Store == nil || c.Router == nil {
		return errors.New("provisioning: Store and Router are required")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Subdomain == "" {
		c.Subdomain = "provisioning"
	}
	if c.PolicyTimeout <= 0 {
		c.PolicyTimeout = 50 * time.Millisecond
	}
	if c.QuestionTTL <= 0 {
		c.QuestionTTL = 7 * 24 * time.Hour
	}
	if c.AuditRetention < 0 {
		return fmt.Errorf("provisioning: negative audit retention %s", c.AuditRetention)
	}
	if c.AuditQueue <= 0 {
		c.AuditQueue = 65536
	}
	if c.ReloadInterval <= 0 {
		c.ReloadInterval = 5 * time.Second
	}
	if c.MaxRulesPerOwner <= 0 {
		c.MaxRulesPerOwner = 10000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Service is the provisioning and decision-support component.
type Service struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	r      Router
	engine *Engine

	things   *things
	enforced atomic.Pointer[map[jid.JID]struct{}]
	policies atomic.Pointer[map[jid.JID]*Policy]
	polGen   atomic.Uint64

	qmu       sync.Mutex
	questions map[string]*storage.ProvisioningQuestion // by situation
	byKey     map[string]string                        // question key -> situation

	nmu     sync.Mutex
	notices map[jid.JID][]storage.ProvisioningNotice

	famMu sync.Mutex
	fams  map[jid.JID]family // the namespace family a peer last used

	tokens tokenState // open prov:t challenges

	ownersMu  sync.Mutex
	ruleCount map[jid.JID]int
	uploads   map[jid.JID]uploadWindow // policy uploads per owner

	version atomic.Int64 // the store's change counter we are in sync with

	jobs   chan func(context.Context)
	audit  chan storage.ProvisioningDecision
	stopCh chan struct{}
	wg     sync.WaitGroup
	unsub  []func()
	ids    atomic.Uint64

	metrics Metrics
	noCache bool // benchmarks: evaluate every decision
}

var (
	_ router.Handler = (*Service)(nil)
	_ router.Filter  = (*Service)(nil)
)

// Metrics are counters the service keeps; the composition root exports
// them.
type Metrics struct {
	Decisions     atomic.Uint64
	CacheHits     atomic.Uint64
	Questions     atomic.Uint64
	Enforced      atomic.Uint64
	AuditDropped  atomic.Uint64
	PolicyErrors  atomic.Uint64
	PolicyTimeout atomic.Uint64
}

// New builds the service; it touches nothing until Start.
func New(cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	eng, err := NewEngine(cfg.PolicyTimeout)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Log.With("component", "provisioning"), store: cfg.Store, r: cfg.Router, engine: eng,
		things:    newThings(),
		questions: map[string]*storage.ProvisioningQuestion{},
		byKey:     map[string]string{},
		notices:   map[jid.JID][]storage.ProvisioningNotice{},
		fams:      map[jid.JID]family{},
		ruleCount: map[jid.JID]int{},
		uploads:   map[jid.JID]uploadWindow{},
		jobs:      make(chan func(context.Context), 1024),
		audit:     make(chan storage.ProvisioningDecision, cfg.AuditQueue),
		stopCh:    make(chan struct{}),
	}
	empty := map[jid.JID]struct{}{}
	s.enforced.Store(&empty)
	pols := map[jid.JID]*Policy{}
	s.policies.Store(&pols)
	return s, nil
}

// Engine returns the policy engine.
func (s *Service) Engine() *Engine { return s.engine }

// Metrics returns the service's counters.
func (s *Service) Metrics() *Metrics { return &s.metrics }

// Addresses are the component addresses, one per hosted domain.
func (s *Service) Addresses() []string {
	out := make([]string, len(s.cfg.Domains))
	for i, d := range s.cfg.Domains {
		out[i] = s.cfg.Subdomain + "." + d
	}
	return out
}

// address is the component address things of domain d trust: ours on
// their domain, else the first.
func (s *Service) address(d string) jid.JID {
	for _, h := range s.cfg.Domains {
		if h == d {
			j, err := jid.Domain(s.cfg.Subdomain + "." + d)
			if err == nil {
				return j
			}
		}
	}
	if len(s.cfg.Domains) == 0 {
		return jid.JID{}
	}
	j, _ := jid.Domain(s.cfg.Subdomain + "." + s.cfg.Domains[0])
	return j
}

// Start loads what storage holds, subscribes to events and starts the
// background worker and audit writer.
func (s *Service) Start(ctx context.Context) error {
	if err := s.reload(ctx); err != nil {
		return err
	}
	qs, err := s.store.Questions(ctx, jid.JID{})
	if err != nil {
		return fmt.Errorf("provisioning: load questions: %w", err)
	}
	s.qmu.Lock()
	for i := range qs {
		q := &qs[i]
		a, _ := ParseAction(q.Action)
		sit := situation(q.Thing, a, q.Remote)
		s.questions[sit] = q
		s.byKey[q.Key] = sit
	}
	s.qmu.Unlock()
	if ev := s.cfg.Events; ev != nil {
		s.unsub = append(s.unsub,
			ev.Subscribe(event.NameThingClaimed, s.onClaimed),
			ev.Subscribe(event.NameThingDisowned, s.onDisowned),
			ev.Subscribe(event.NameSessionOnline, s.onOnline),
		)
	}
	s.wg.Add(2)
	go s.worker()
	go s.auditWriter()
	return nil
}

// Stop unsubscribes, finishes queued work and writes the audit still
// queued.
func (s *Service) Stop(ctx context.Context) error {
	for _, u := range s.unsub {
		u()
	}
	s.unsub = nil
	select {
	case <-s.stopCh:
		return nil
	default:
		close(s.stopCh)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("provisioning: stop: %w", ctx.Err())
	}
}

// reload replaces the in-memory copy with what storage holds.
func (s *Service) reload(ctx context.Context) error {
	v, err := s.store.ProvisioningVersion(ctx)
	if err != nil {
		return fmt.Errorf("provisioning: %w", err)
	}
	all, err := loadThings(ctx, s.store)
	if err != nil {
		return err
	}
	pols, err := s.store.OwnerPolicies(ctx, jid.JID{})
	if err != nil {
		return fmt.Errorf("provisioning: load policies: %w", err)
	}
	compiled := make(map[jid.JID]*Policy, len(pols))
	for _, p := range pols {
		old := (*s.policies.Load())[p.Owner]
		if old != nil && old.source == p.Module {
			compiled[p.Owner] = old
			continue
		}
		cp, err := s.engine.Prepare(policyFile(p.Owner), p.Module)
		if err != nil {
			// A module that compiled when it was stored no longer does
			// (a newer OPA): its owner falls back to the default policy.
			s.log.Warn("owner policy does not compile; using the default policy", "owner", p.Owner, "err", err)
			continue
		}
		compiled[p.Owner] = cp
	}
	notices, err := s.store.Notices(ctx, jid.JID{})
	if err != nil {
		return fmt.Errorf("provisioning: load notices: %w", err)
	}
	s.things.replaceAll(all)
	s.policies.Store(&compiled)
	s.polGen.Add(1)
	s.rebuildEnforced()
	counts := map[jid.JID]int{}
	for _, t := range all {
		for _, r := range t.rules {
			counts[r.Owner]++
		}
	}
	s.ownersMu.Lock()
	s.ruleCount = counts
	s.ownersMu.Unlock()
	byThing := map[jid.JID][]storage.ProvisioningNotice{}
	for _, n := range notices {
		byThing[n.Thing] = append(byThing[n.Thing], n)
	}
	s.nmu.Lock()
	s.notices = byThing
	s.nmu.Unlock()
	s.version.Store(v)
	// Things online now get what was queued for them (by the CLI, or
	// before a restart).
	for th := range byThing {
		if len(s.r.Sessions().Resources(th)) > 0 {
			s.deliverQueued(ctx, th)
		}
	}
	return nil
}

// policyFile is the file name errors of an owner's module carry.
func policyFile(owner jid.JID) string { return owner.String() + ".rego" }

// rebuildEnforced recomputes the set of things in enforcement mode.
func (s *Service) rebuildEnforced() {
	m := map[jid.JID]struct{}{}
	s.things.each(func(t *thing) {
		if t.enforce {
			m[t.jid] = struct{}{}
		}
	})
	s.enforced.Store(&m)
}

// wrote records a write of ours to the store's change counter; a jump of
// more than one means someone else wrote too, and we reload.
func (s *Service) wrote(ctx context.Context) {
	v, err := s.store.ProvisioningVersion(ctx)
	if err != nil {
		return
	}
	old := s.version.Load()
	if v == old+1 {
		s.version.CompareAndSwap(old, v)
		return
	}
	if v > old {
		s.enqueue(func(ctx context.Context) {
			if err := s.reload(ctx); err != nil {
				s.log.Warn("reload failed", "err", err)
			}
		})
	}
}

// enqueue hands work to the background worker without blocking; if the
// queue is full the work runs in its own goroutine.
func (s *Service) enqueue(f func(context.Context)) {
	select {
	case s.jobs <- f:
	default:
		go f(context.Background())
	}
}

func (s *Service) worker() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	poll := time.NewTicker(s.cfg.ReloadInterval)
	defer poll.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-s.stopCh:
			for {
				select {
				case f := <-s.jobs:
					f(ctx)
				default:
					return
				}
			}
		case f := <-s.jobs:
			f(ctx)
		case <-poll.C:
			v, err := s.store.ProvisioningVersion(ctx)
			if err == nil && v != s.version.Load() {
				if err := s.reload(ctx); err != nil {
					s.log.Warn("reload failed", "err", err)
				}
			}
		case <-prune.C:
			if s.cfg.AuditRetention > 0 {
				if _, err := s.store.PruneDecisions(ctx, s.cfg.Now().Add(-s.cfg.AuditRetention)); err != nil {
					s.log.Warn("pruning the decision audit failed", "err", err)
				}
			}
		}
	}
}

// newKey returns a random key for questions and push ids.
func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// family returns the namespace family peer last used (default NF).
func (s *Service) family(peer jid.JID) family {
	s.famMu.Lock()
	defer s.famMu.Unlock()
	if f, ok := s.fams[peer]; ok {
		return f
	}
	return famNF
}

func (s *Service) setFamily(peer jid.JID, f family) {
	s.famMu.Lock()
	if len(s.fams) > 1<<20 {
		s.fams = map[jid.JID]family{}
	}
	s.fams[peer] = f
	s.famMu.Unlock()
}

// storageError maps a storage failure to the stanza error the client gets,
// logging it once here.
func (s *Service) storageError(op string, err error) stanza.Error {
	if errors.Is(err, storage.ErrUnavailable) {
		s.log.Warn("storage unavailable", "op", op, "err", err)
		return stanza.Error{Condition: stanza.ResourceConstraint, Text: "storage is temporarily unavailable; retry later"}
	}
	if errors.Is(err, storage.ErrInvalid) {
		return stanza.Error{Condition: stanza.BadRequest, Text: "a value cannot be stored"}
	}
	s.log.Error("storage failed", "op", op, "err", err)
	return stanza.Error{Condition: stanza.InternalServerError}
}
