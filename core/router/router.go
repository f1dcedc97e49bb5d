package router

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
)

// Handler handles a stanza addressed to something it serves.
type Handler interface {
	HandleStanza(ctx context.Context, s *stanza.Stanza)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s *stanza.Stanza)

// HandleStanza calls f.
func (f HandlerFunc) HandleStanza(ctx context.Context, s *stanza.Stanza) { f(ctx, s) }

// Filter is a pre-route stage (blocking, broker-side policy enforcement).
// It returns false when the stanza must not be routed; the filter has then
// answered it (or dropped it, for presence) itself.
type Filter interface {
	Filter(ctx context.Context, s *stanza.Stanza) bool
}

// Users is the delivery logic for local accounts (RFC 6121 §8), implemented
// by the IM layer.
type Users interface {
	// Outbound processes a stanza a local session sent, before routing:
	// presence broadcast, subscription bookkeeping, carbons. It returns
	// true when it handled the stanza fully.
	Outbound(ctx context.Context, from *session.Session, s *stanza.Stanza) bool
	// Inbound delivers a message or presence to a local user address (bare
	// or full), whether or not the account exists.
	Inbound(ctx context.Context, s *stanza.Stanza)
}

// Remote routes stanzas to domains this node does not serve.
type Remote interface {
	RouteRemote(ctx context.Context, s *stanza.Stanza) error
}

// Router routes stanzas between sessions, the server, components and
// remote domains (RFC 6120 §10).
type Router struct {
	log      *slog.Logger
	sessions *session.Table
	server   *Mux // iq to a hosted domain
	account  *Mux // iq to a local bare JID, answered on the account's behalf

	hosts      atomic.Pointer[map[string]struct{}]
	compMu     sync.Mutex
	components atomic.Pointer[map[string]Handler]

	users  Users
	remote Remote
	// accountExists answers for iq to other accounts' bare JIDs; nil
	// treats every account as existing.
	accountExists func(ctx context.Context, bare jid.JID) (bool, error)
	filters       []Filter
	metrics       *metrics
}

// Config holds the router's dependencies.
type Config struct {
	Log      *slog.Logger
	Sessions *session.Table
	Hosts    []string
	Metrics  *Metrics // nil: no metrics
}

// New returns a router for the given hosted domains.
func New(cfg Config) *Router {
	r := &Router{
		log:      cfg.Log,
		sessions: cfg.Sessions,
		server:   NewMux(),
		account:  NewMux(),
		metrics:  cfg.Metrics.forRouter(),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.SetHosts(cfg.Hosts)
	comps := map[string]Handler{}
	r.components.Store(&comps)
	r.users = basicUsers{r}
	return r
}

// Sessions returns the session table.
func (r *Router) Sessions() *session.Table { return r.sessions }

// ServerMux is where iq handlers for the server's domains register.
func (r *Router) ServerMux() *Mux { return r.server }

// AccountMux is where iq handlers that answer on an account's behalf
// register (roster, blocking, account disco).
func (r *Router) AccountMux() *Mux { return r.account }

// SetUsers installs the IM delivery logic. Call before serving.
func (r *Router) SetUsers(u Users) { r.users = u }

// SetAccountExists installs the check used before answering an iq on an
// account's behalf. Call before serving.
func (r *Router) SetAccountExists(f func(ctx context.Context, bare jid.JID) (bool, error)) {
	r.accountExists = f
}

// SetRemote installs federation. Call before serving.
func (r *Router) SetRemote(rm Remote) { r.remote = rm }

// AddFilter appends a pre-route stage. Call before serving.
func (r *Router) AddFilter(f Filter) { r.filters = append(r.filters, f) }

// SetHosts replaces the set of hosted domains (config reload).
func (r *Router) SetHosts(hosts []string) {
	m := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		m[h] = struct{}{}
	}
	r.hosts.Store(&m)
}

// IsHost reports whether domain is served by this node.
func (r *Router) IsHost(domain string) bool {
	_, ok := (*r.hosts.Load())[domain]
	return ok
}

// Hosts returns the hosted domains.
func (r *Router) Hosts() []string {
	m := *r.hosts.Load()
	out := make([]string, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	return out
}

// ErrAddressTaken is returned when a component domain is already served.
var ErrAddressTaken = errors.New("router: address already served")

// RegisterComponent routes every stanza to domain (and any JID at it) to h.
// The returned function unregisters it.
func (r *Router) RegisterComponent(domain string, h Handler) (unregister func(), err error) {
	r.compMu.Lock()
	defer r.compMu.Unlock()
	if r.IsHost(domain) {
		return nil, ErrAddressTaken
	}
	old := *r.components.Load()
	if _, ok := old[domain]; ok {
		return nil, ErrAddressTaken
	}
	m := make(map[string]Handler, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[domain] = h
	r.components.Store(&m)
	return func() {
		r.compMu.Lock()
		defer r.compMu.Unlock()
		old := *r.components.Load()
		if old[domain] == nil {
			return
		}
		m := make(map[string]Handler, len(old))
		for k, v := range old {
			if k != domain {
				m[k] = v
			}
		}
		r.components.Store(&m)
	}, nil
}

// Components returns the served component domains.
func (r *Router) Components() []string {
	m := *r.components.Load()
	out := make([]string, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	return out
}

// FromClient routes a stanza sent by a local session: outbound processing
// first (presence broadcast, subscriptions, carbons), then routing.
func (r *Router) FromClient(ctx context.Context, from *session.Session, s *stanza.Stanza) {
	r.metrics.in(s.Kind)
	if r.users.Outbound(ctx, from, s) {
		return
	}
	r.Route(ctx, s)
}

// Route delivers s to its destination. It never blocks on a slow
// recipient. Errors go back to the sender as stanza errors.
func (r *Router) Route(ctx context.Context, s *stanza.Stanza) {
	for _, f := range r.filters {
		if !f.Filter(ctx, s) {
			return
		}
	}
	to := s.To
	if to.IsZero() {
		if s.Kind == stanza.Presence {
			// Broadcast presence is handled by Outbound; anything else
			// without a destination has none.
			return
		}
		// RFC 6120 §10.3: no 'to' means the sender's own account.
		to = s.From.Bare()
	}
	d := to.Domain()
	if r.IsHost(d) {
		if to.Local() == "" {
			r.toServer(ctx, s)
			return
		}
		r.toUser(ctx, s, to)
		return
	}
	if h := (*r.components.Load())[d]; h != nil {
		r.metrics.delivered(s.Kind)
		h.HandleStanza(ctx, s)
		return
	}
	if r.remote != nil {
		if err := r.remote.RouteRemote(ctx, s); err != nil {
			r.ReplyError(ctx, s, stanza.AsError(err))
		}
		return
	}
	r.ReplyError(ctx, s, stanza.Error{Condition: stanza.RemoteServerNotFound, Text: "no route to " + d})
}

func (r *Router) toServer(ctx context.Context, s *stanza.Stanza) {
	if s.Kind != stanza.IQ {
		// Messages and presence to the bare domain: nothing on the server
		// consumes them yet (RFC 6120 §10.4.1 allows ignoring them).
		r.metrics.dropped(s.Kind)
		return
	}
	if !s.IsIQRequest() {
		r.metrics.dropped(s.Kind)
		return
	}
	if h := r.server.lookup(s); h != nil {
		h.HandleStanza(ctx, s)
		return
	}
	r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
}

func (r *Router) toUser(ctx context.Context, s *stanza.Stanza, to jid.JID) {
	if s.Kind != stanza.IQ {
		r.users.Inbound(ctx, s)
		return
	}
	if !to.IsBare() {
		if sess := r.sessions.Get(to); sess != nil {
			if sess.Send(s) {
				r.metrics.delivered(s.Kind)
				return
			}
		}
		// RFC 6121 §8.5.3.2.3 / §8.5.4: no such resource.
		if s.IsIQRequest() {
			r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
			return
		}
		r.metrics.dropped(s.Kind)
		return
	}
	if !s.IsIQRequest() {
		r.metrics.dropped(s.Kind)
		return
	}
	if s.To.IsZero() {
		// Handlers see the account they act for.
		s = withTo(s, to)
	}
	if ex := r.accountExists; ex != nil && s.From.Bare() != to {
		// RFC 6121 §8.5.1: an iq to an account that does not exist gets
		// service-unavailable, whatever it asks.
		if ok, err := ex(ctx, to); err != nil || !ok {
			r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
			return
		}
	}
	if h := r.account.lookup(s); h != nil {
		h.HandleStanza(ctx, s)
		return
	}
	r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
}

// withTo returns a shallow copy of s with To set, for handlers only: Raw is
// unchanged because handler replies are built from the fields.
func withTo(s *stanza.Stanza, to jid.JID) *stanza.Stanza {
	c := &stanza.Stanza{Kind: s.Kind, Raw: s.Raw, To: to, From: s.From, Type: s.Type, ID: s.ID, Payload: s.Payload}
	return c
}

// ReplyError sends the error response for s, unless s is itself an error
// or an iq response (which are never answered).
func (r *Router) ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error) {
	if s.Type == "error" || (s.Kind == stanza.IQ && !s.IsIQRequest()) || s.From.IsZero() {
		r.metrics.dropped(s.Kind)
		return
	}
	r.metrics.errored(s.Kind)
	r.Route(ctx, s.ErrorReply(e))
}

// Deliver sends s to one session, reporting whether it was queued.
func (r *Router) Deliver(sess *session.Session, s *stanza.Stanza) bool {
	if sess.Send(s) {
		r.metrics.delivered(s.Kind)
		return true
	}
	return false
}

// basicUsers is the RFC 6120 delivery used until the IM layer is installed:
// full JIDs go to their session; bare JIDs to the available resources with
// the highest non-negative priority.
type basicUsers struct{ r *Router }

// Outbound records broadcast presence so bare-JID delivery knows who is
// available; there are no rosters at this level.
func (b basicUsers) Outbound(_ context.Context, from *session.Session, s *stanza.Stanza) bool {
	if s.Kind != stanza.Presence || !s.To.IsZero() {
		return false
	}
	switch s.Type {
	case "":
		from.SetPresence(s, true, PresencePriority(s))
	case "unavailable":
		from.SetPresence(nil, false, 0)
	}
	return true
}

// PresencePriority returns the <priority/> of a presence stanza (RFC 6121
// §4.7.2.3): an integer in -128..127, 0 when absent or invalid.
func PresencePriority(s *stanza.Stanza) int {
	el, err := s.Element()
	if err != nil {
		return 0
	}
	for _, c := range el.Children {
		if c.Name.Local == "priority" && (c.Name.Space == stanza.NSClient || c.Name.Space == stanza.NSServer) {
			n, err := strconv.Atoi(strings.TrimSpace(c.Text))
			if err != nil || n < -128 || n > 127 {
				return 0
			}
			return n
		}
	}
	return 0
}

func (b basicUsers) Inbound(ctx context.Context, s *stanza.Stanza) {
	r := b.r
	if !s.To.IsBare() {
		if sess := r.sessions.Get(s.To); sess != nil && r.Deliver(sess, s) {
			return
		}
		if s.Kind == stanza.Presence {
			r.metrics.dropped(s.Kind)
			return
		}
	}
	best := r.BestResources(s.To.Bare())
	delivered := false
	for _, sess := range best {
		if r.Deliver(sess, s) {
			delivered = true
		}
	}
	if !delivered && s.Kind == stanza.Message {
		r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
	}
}

// BestResources returns the available sessions of an account with the
// highest non-negative priority (RFC 6121 §8.5.2.1.1).
func (r *Router) BestResources(bare jid.JID) []*session.Session {
	var best []*session.Session
	top := -1
	for _, sess := range r.sessions.Resources(bare) {
		avail, prio, _ := sess.Presence()
		if !avail || prio < 0 {
			continue
		}
		switch {
		case prio > top:
			top = prio
			best = append(best[:0], sess)
		case prio == top:
			best = append(best, sess)
		}
	}
	return best
}
