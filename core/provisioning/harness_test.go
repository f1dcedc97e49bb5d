package provisioning

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage/sqlstore"
	"github.com/extasis/extasis/core/xml"
)

// These tests run the real router, session table, event bus and SQLite
// store in process, with sessions whose stream is a queue the test reads.
// The same flows run against the real binary with real clients in
// core/app's end-to-end tests.

const domain = "example.org"
const service = "provisioning.example.org"

type fakeConn struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (c *fakeConn) Send(st *stanza.Stanza) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, st)
	return true
}

func (c *fakeConn) Close(string, string) {}

type env struct {
	t     testing.TB
	ctx   context.Context
	store *sqlstore.Store
	r     *router.Router
	bus   *event.Bus
	svc   *Service
	cfg   Config
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, ":memory:", sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: ctx, store: st, bus: event.New(),
		r: router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{domain}})}
	e.cfg = Config{Store: st, Router: e.r, Events: e.bus, Domains: []string{domain}, ReloadInterval: 50 * time.Millisecond}
	if mod != nil {
		mod(&e.cfg)
	}
	e.start()
	return e
}

// start builds and starts a service on the env's store; a second call is
// a restart (the router keeps forwarding to the env's current service).
func (e *env) start() {
	e.t.Helper()
	first := e.svc == nil
	if !first {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.svc.Stop(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
	svc, err := New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	if !first {
		return
	}
	if _, err := e.r.RegisterComponent(service, forward{e}); err != nil {
		e.t.Fatal(err)
	}
	e.r.AddFilter(forward{e})
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.svc.Stop(ctx)
	})
}

// forward hands stanzas and the filter stage to the env's current service.
type forward struct{ e *env }

func (f forward) Filter(ctx context.Context, st *stanza.Stanza) bool { return f.e.svc.Filter(ctx, st) }

func (f forward) HandleStanza(ctx context.Context, st *stanza.Stanza) { f.e.svc.HandleStanza(ctx, st) }

type client struct {
	e    *env
	jid  jid.JID
	sess *session.Session
	conn *fakeConn
}

// login binds a resource for name@domain and sends available presence
// (so that messages to the bare JID reach it).
func (e *env) login(name string) *client {
	e.t.Helper()
	full := jid.MustParse(name + "@" + domain + "/r1")
	c := &client{e: e, jid: full, conn: &fakeConn{}}
	c.sess = session.New(full, c.conn)
	if _, ok := e.r.Sessions().Add(c.sess, 10); !ok {
		e.t.Fatal("session not added")
	}
	c.sess.SetPresence(stanza.Build(stanza.Presence, full, jid.JID{}, "", ""), true, 0)
	e.bus.Publish(e.ctx, event.SessionOnline{JID: full})
	return c
}

func (c *client) logout() {
	c.e.r.Sessions().Remove(c.sess)
}

func (c *client) bare() string { return c.jid.Bare().String() }

// send routes raw XML as if the client sent it (from stamped).
func (c *client) send(raw string) {
	c.e.t.Helper()
	st, err := stanza.Parse([]byte(raw))
	if err != nil {
		c.e.t.Fatalf("bad test stanza %s: %v", raw, err)
	}
	st.From = c.jid
	st.Raw = xml.SetAttrs(nil, st.Raw, "from", c.jid.String())
	c.e.r.FromClient(c.e.ctx, c.sess, st)
}

// expect waits for a stanza whose element matches and returns it; others
// are kept for later expectations.
func (c *client) expect(what string, match func(*xml.Element) bool) *xml.Element {
	c.e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.conn.mu.Lock()
		for i, st := range c.conn.got {
			el, err := xml.Parse(st.Raw, stanza.NSClient)
			if err == nil && match(el) {
				c.conn.got = append(c.conn.got[:i:i], c.conn.got[i+1:]...)
				c.conn.mu.Unlock()
				return el
			}
		}
		got := len(c.conn.got)
		var dump []string
		for _, st := range c.conn.got {
			dump = append(dump, string(st.Raw))
		}
		c.conn.mu.Unlock()
		if time.Now().After(deadline) {
			c.e.t.Fatalf("%s: no %s within 5s; got %d stanzas: %s", c.jid, what, got, strings.Join(dump, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// none checks that nothing matching arrives for a short while.
func (c *client) none(what string, match func(*xml.Element) bool) {
	c.e.t.Helper()
	time.Sleep(50 * time.Millisecond)
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	for _, st := range c.conn.got {
		if el, err := xml.Parse(st.Raw, stanza.NSClient); err == nil && match(el) {
			c.e.t.Fatalf("%s: unexpected %s: %s", c.jid, what, st.Raw)
		}
	}
}

// payload finds the first child named local in any namespace.
func payload(el *xml.Element, local string) *xml.Element {
	for _, c := range el.Children {
		if c.Name.Local == local {
			return c
		}
	}
	return nil
}

func has(local string) func(*xml.Element) bool {
	return func(el *xml.Element) bool { return payload(el, local) != nil }
}

// result matches the iq result with id.
func result(id string) func(*xml.Element) bool {
	return func(el *xml.Element) bool {
		return el.Name.Local == "iq" && el.Attr("id") == id && (el.Attr("type") == "result" || el.Attr("type") == "error")
	}
}

// claim publishes thing.claimed as the registry does, and waits until the
// service knows.
func (e *env) claim(thing, owner string, node ...string) {
	e.t.Helper()
	attrs := map[string]string{"thing": thing, "owner": owner}
	if len(node) > 0 {
		attrs["node"] = node[0]
	}
	if len(node) > 1 {
		attrs["source"] = node[1]
	}
	e.bus.Publish(e.ctx, event.Custom{Name: event.NameThingClaimed, Source: "registry", Attrs: attrs})
	n := Node{}
	if len(node) > 0 {
		n.ID = node[0]
	}
	if len(node) > 1 {
		n.Source = node[1]
	}
	o := jid.MustParse(owner)
	e.waitFor("claim of "+thing, func() bool {
		t := e.svc.things.get(jid.MustParse(thing))
		return t != nil && t.ownerOf(n) == o
	})
}

func (e *env) waitFor(what string, f func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func disowned(thing string) event.Custom {
	return event.Custom{Name: event.NameThingDisowned, Source: "registry", Attrs: map[string]string{"thing": thing}}
}
