package im

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
	"github.com/extasis/extasis/core/xml"
)

// These tests run the real router, session table and SQLite store in
// process, with sessions whose stream is a queue the test reads: every
// rule is checked stanza by stanza, synchronously. The same rules run
// against the real binary with real clients in e2e_test.go.

const domain = "example.org"

type fakeConn struct {
	mu      sync.Mutex
	got     []*stanza.Stanza
	refuse  bool
	closed  string
	discard bool // count only (benchmarks)
	n       atomic.Int64
}

func (c *fakeConn) Send(st *stanza.Stanza) bool {
	if c.discard {
		c.n.Add(1)
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return false
	}
	c.got = append(c.got, st)
	return true
}

func (c *fakeConn) Close(cond, _ string) {
	c.mu.Lock()
	c.closed = cond
	c.mu.Unlock()
}

func (c *fakeConn) take() []*stanza.Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

type env struct {
	t     testing.TB
	ctx   context.Context
	store *sqlstore.Store
	r     *router.Router
	svc   *Service
	now   time.Time
}

type envOptions struct {
	maxRoster, maxOffline int
	// wrap, if set, stands between the service and the store (faults).
	wrap func(Store) Store
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, ":memory:", sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{domain}})
	e := &env{t: t, ctx: ctx, store: st, r: r, now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	var store Store = st
	if o.wrap != nil {
		store = o.wrap(st)
	}
	svc, err := New(Config{Store: store, Router: r, MaxRoster: o.maxRoster, MaxOffline: o.maxOffline, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	svc.Register(r.AccountMux())
	r.SetUsers(svc)
	r.AddFilter(svc)
	e.svc = svc
	return e
}

// run runs a subtest whose client checks fail that subtest.
func (e *env) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		prev := e.t
		e.t = t
		defer func() { e.t = prev }()
		f(t)
	})
}

// account creates name@domain and returns its bare JID.
func (e *env) account(name string) jid.JID {
	e.t.Helper()
	j := jid.MustParse(name + "@" + domain)
	if err := e.store.CreateAccount(e.ctx, storage.Account{JID: j}); err != nil {
		e.t.Fatal(err)
	}
	return j
}

type client struct {
	e    *env
	sess *session.Session
	conn *fakeConn
	jid  jid.JID
}

// login binds full (user@domain/res) as c2s does.
func (e *env) login(full string) *client {
	e.t.Helper()
	j := jid.MustParse(full)
	c := &client{e: e, conn: &fakeConn{}, jid: j}
	c.sess = session.New(j, c.conn)
	if _, ok := e.r.Sessions().Add(c.sess, 0); !ok {
		e.t.Fatal("bind refused")
	}
	e.svc.SessionStarted(e.ctx, c.sess)
	return c
}

// online logs in, fetches the roster and sends initial presence.
func (e *env) online(full string) *client {
	c := e.login(full)
	c.send(`<iq type='get' id='roster0'><query xmlns='jabber:iq:roster'/></iq>`)
	c.send(`<presence/>`)
	c.drain()
	return c
}

// send processes raw as if the client sent it: from stamped, then routed.
func (c *client) send(raw string) {
	c.e.t.Helper()
	st, err := stanza.Parse([]byte(raw))
	if err != nil {
		c.e.t.Fatalf("parse %s: %v", raw, err)
	}
	st = &stanza.Stanza{Kind: st.Kind, Raw: xml.SetAttrs(nil, st.Raw, "from", c.jid.String()), To: st.To, From: c.jid, Type: st.Type, ID: st.ID, Payload: st.Payload}
	c.e.r.FromClient(c.e.ctx, c.sess, st)
}

// end ends the session as c2s does for any reason, handing back unacked.
func (c *client) end(unacked ...*stanza.Stanza) {
	c.e.r.Sessions().Remove(c.sess)
	c.e.svc.SessionEnded(c.e.ctx, c.sess, unacked)
}

func (c *client) drain() []*stanza.Stanza { return c.conn.take() }

// expect returns the first received stanza containing every substring,
// and fails if there is none. Stanzas before it are dropped.
func (c *client) expect(want ...string) *stanza.Stanza {
	c.e.t.Helper()
	got := c.conn.take()
	for i, st := range got {
		if containsAll(string(st.Raw), want) {
			c.conn.mu.Lock()
			c.conn.got = append(got[i+1:len(got):len(got)], c.conn.got...)
			c.conn.mu.Unlock()
			return st
		}
	}
	c.e.t.Fatalf("%s: nothing matching %q in %s", c.jid, want, dump(got))
	return nil
}

// never fails if a pending stanza contains every substring; it keeps the
// rest.
func (c *client) never(want ...string) {
	c.e.t.Helper()
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	for _, st := range c.conn.got {
		if containsAll(string(st.Raw), want) {
			c.e.t.Fatalf("%s: unexpected %s", c.jid, st.Raw)
		}
	}
}

// quiet fails if anything is pending.
func (c *client) quiet() {
	c.e.t.Helper()
	if got := c.conn.take(); len(got) > 0 {
		c.e.t.Fatalf("%s: unexpected %s", c.jid, dump(got))
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func dump(list []*stanza.Stanza) string {
	var b strings.Builder
	for _, st := range list {
		b.WriteString("\n  ")
		b.Write(st.Raw)
	}
	if b.Len() == 0 {
		return "(nothing)"
	}
	return b.String()
}

// item returns owner's stored roster item for contact.
func (e *env) item(owner, contact jid.JID) (storage.RosterItem, bool) {
	e.t.Helper()
	it, err := e.store.RosterItem(e.ctx, owner, contact)
	if err != nil {
		return it, false
	}
	return it, true
}

// state returns owner's subscription state toward contact, in RFC 6121
// Appendix A's words.
func (e *env) state(owner, contact jid.JID) string {
	e.t.Helper()
	it, _ := e.item(owner, contact)
	in, err := e.svc.hasRequest(e.ctx, owner, contact)
	if err != nil {
		e.t.Fatal(err)
	}
	return stateName(subState{Sub: it.Subscription, Out: it.Ask, In: in, Approved: it.Approved})
}

func stateName(s subState) string {
	n := map[storage.Subscription]string{storage.None: "None", storage.To: "To", storage.From: "From", storage.Both: "Both"}[s.Sub]
	switch {
	case s.Out && s.In:
		n += " + Pending Out/In"
	case s.Out:
		n += " + Pending Out"
	case s.In:
		n += " + Pending In"
	}
	if s.Approved {
		n += " + Pre-approved"
	}
	return n
}

func mustJID(s string) jid.JID { return jid.MustParse(s) }

func mustParse(raw string) *stanza.Stanza {
	st, err := stanza.Parse([]byte(raw))
	if err != nil {
		panic(err)
	}
	return st
}

func storageBoth(contact jid.JID) storage.RosterItem {
	return storage.RosterItem{Contact: contact, Subscription: storage.Both}
}
