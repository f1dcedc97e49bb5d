package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coreconfig "github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/plugins/host"
)

// These tests run the real extasis-registry binary under the broker's
// plugin host, behind a real router and event bus, with sessions standing
// in for connected clients.

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// binary builds extasis-registry once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "extasis-registry-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "extasis-registry")
		if out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// client is a session whose received stanzas are collected; a thing
// acknowledges the registry's iq sets with empty results.
type client struct {
	jid  jid.JID
	r    *router.Router
	in   chan *stanza.Stanza
	ack  bool
	once sync.Once
}

func (c *client) Send(s *stanza.Stanza) bool {
	if c.ack && s.Kind == stanza.IQ && s.Type == "set" {
		go c.r.Route(context.Background(), s.Result())
	}
	c.in <- s
	return true
}
func (c *client) Close(string, string) {}

// env is a router, bus and plugin host running the registry.
type env struct {
	t       *testing.T
	r       *router.Router
	bus     *event.Bus
	h       *host.Host
	data    string
	events  chan event.Custom
	seq     int
	clients map[string]*client
}

func startHost(t *testing.T, data string, storage string, cfg map[string]any) *env {
	t.Helper()
	bin := binary(t)
	dir := filepath.Join(data, "plugins-bin")
	os.MkdirAll(dir, 0o700)
	dst := filepath.Join(dir, "extasis-registry")
	if _, err := os.Stat(dst); err != nil {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := host.HashFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, bus: event.New(), data: data, events: make(chan event.Custom, 64), clients: map[string]*client{}}
	e.r = router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{"localhost"}})
	for _, name := range []string{event.NameThingClaimed, event.NameThingDisowned} {
		e.bus.Subscribe(name, func(_ context.Context, ev event.Event) { e.events <- ev.(event.Custom) })
	}
	e.h, err = host.New(coreconfig.Plugins{Dir: dir, List: []coreconfig.Plugin{{
		Name: "registry", Path: "extasis-registry", SHA256: sum, Address: "registry.localhost", Storage: storage, Config: cfg,
	}}}, host.Deps{
		Log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Router: e.r, Events: e.bus, DataDir: data, Domain: "localhost",
		Tuning: host.Tuning{BackoffMin: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.h.Stop(ctx)
}

// login binds a session and announces it as c2s does.
func (e *env) login(full string, ack bool) *client {
	j := jid.MustParse(full)
	c := &client{jid: j, r: e.r, in: make(chan *stanza.Stanza, 64), ack: ack}
	if _, ok := e.r.Sessions().Add(session.New(j, c), 0); !ok {
		e.t.Fatalf("bind %s", full)
	}
	e.clients[full] = c
	e.bus.Publish(context.Background(), event.SessionOnline{JID: j})
	return c
}

func (e *env) logout(c *client) {
	e.r.Sessions().Remove(e.r.Sessions().Get(c.jid))
	e.bus.Publish(context.Background(), event.SessionOffline{JID: c.jid})
}

// ask sends an iq from c to the registry and waits for its answer.
func (e *env) ask(c *client, typ, payload string) string {
	e.t.Helper()
	e.seq++
	id := fmt.Sprintf("h%d", e.seq)
	s, err := stanza.Parse([]byte(fmt.Sprintf(`<iq from='%s' to='registry.localhost' type='%s' id='%s'>%s</iq>`, c.jid, typ, id, payload)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.r.Route(context.Background(), s)
	return e.answer(c, id)
}

// answer waits for the answer to iq id (the router writes its own error
// replies with single quotes, the plugin with double quotes).
func (e *env) answer(c *client, id string) string {
	e.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-c.in:
			if s.Kind == stanza.IQ && s.ID == id && (s.Type == "result" || s.Type == "error") {
				return string(s.Raw)
			}
		case <-deadline:
			e.t.Fatalf("%s: no answer to %s", c.jid, id)
		}
	}
}

// expect waits for a stanza to c containing frag, skipping others.
func (e *env) expect(c *client, frag string) string {
	e.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-c.in:
			if strings.Contains(string(s.Raw), frag) {
				return string(s.Raw)
			}
		case <-deadline:
			e.t.Fatalf("%s: nothing with %s", c.jid, frag)
		}
	}
}

func (e *env) event(name string) event.Custom {
	e.t.Helper()
	select {
	case ev := <-e.events:
		if ev.Name != name || ev.Source != "registry" {
			e.t.Fatalf("event %+v, want %s", ev, name)
		}
		return ev
	case <-time.After(20 * time.Second):
		e.t.Fatalf("no %s event", name)
	}
	return event.Custom{}
}

// has checks that got contains each fragment, whatever the quotes.
func has(t *testing.T, got string, frags ...string) {
	t.Helper()
	q := strings.NewReplacer(`'`, `"`)
	for _, f := range frags {
		if !strings.Contains(q.Replace(got), q.Replace(f)) {
			t.Errorf("%s\nlacks %s", got, f)
		}
	}
}

// TestHosted runs claim, notification, search, restart persistence and
// disown against the real binary, on SQLite and on PostgreSQL.
func TestHosted(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			storage := ""
			if backend == "postgres" {
				storage = pgtest.Database(t)
			}
			data := t.TempDir()
			e := startHost(t, data, storage, nil)
			thing := e.login("meter42@localhost/r1", true)
			alice := e.login("alice@localhost/phone", false)
			bob := e.login("bob@localhost/app", false)

			has(t, e.ask(thing, "set", `<register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register>`), `type="result"`)
			got := e.ask(alice, "set", `<mine xmlns='urn:ieee:iot:disco:1.0'>`+meterT+`</mine>`)
			has(t, got, `<claimed xmlns='urn:ieee:iot:disco:1.0' jid='meter42@localhost'/>`)
			has(t, e.expect(thing, "<claimed "), `from="registry.localhost"`, `to="meter42@localhost/r1"`,
				`<claimed xmlns='urn:nf:iot:disco:1.0' jid='alice@localhost' public='true'/>`)
			ev := e.event(event.NameThingClaimed)
			if ev.Attrs["thing"] != "meter42@localhost" || ev.Attrs["owner"] != "alice@localhost" {
				t.Errorf("event %+v", ev)
			}
			has(t, e.ask(bob, "get", `<search xmlns='urn:nfi:iot:disco:1.0'><strMask name='SN' value='A7Q-*' wildcard='*'/><numRange name='V' min='3' max='31E-1'/></search>`),
				`<found xmlns='urn:nfi:iot:disco:1.0' more='false'><thing jid='meter42@localhost'>`)

			// The broker restarts its plugins: nothing is lost.
			e.stop()
			e = startHost(t, data, storage, nil)
			thing = e.login("meter42@localhost/r1", true)
			alice = e.login("alice@localhost/phone", false)
			has(t, e.ask(alice, "get", `<search xmlns='urn:nf:iot:disco:1.0'><strEq name='CLASS' value='Meter'/></search>`), `<thing jid='meter42@localhost'>`)
			// Disown reaches the thing through the host and the router.
			has(t, e.ask(alice, "set", `<disown xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/>`), `type="result"`)
			has(t, e.expect(thing, "<disowned "), `<disowned xmlns='urn:nf:iot:disco:1.0'/>`)
			e.event(event.NameThingDisowned)
			// Offline thing: not-allowed.
			has(t, e.ask(thing, "set", `<register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register>`), `type="result"`)
			has(t, e.ask(alice, "set", `<mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine>`), `<claimed `)
			e.expect(thing, "<claimed ")
			e.logout(thing)
			has(t, e.ask(alice, "set", `<disown xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/>`), `<not-allowed `)
		})
	}
}

// TestHostedCrashBetweenClaimAndNotification: the registry dies right
// after committing a claim. The owner's request fails; the host restarts
// the plugin; the owner's retry succeeds (same owner, same tags), and the
// thing gets its claimed notification and the broker its event, once.
func TestHostedCrashBetweenClaimAndNotification(t *testing.T) {
	e := startHost(t, t.TempDir(), "", map[string]any{"crash_after_claim": true})
	thing := e.login("meter42@localhost/r1", true)
	alice := e.login("alice@localhost/phone", false)
	has(t, e.ask(thing, "set", `<register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register>`), `type="result"`)
	has(t, e.ask(alice, "set", `<mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine>`), `type="error"`)
	var got string
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = e.ask(alice, "set", `<mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine>`)
		if strings.Contains(got, `type="result"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the host restarts it with backoff
	}
	has(t, got, `<claimed xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/>`)
	has(t, e.expect(thing, "<claimed "), `jid='alice@localhost' public='true'`)
	e.event(event.NameThingClaimed)
	select {
	case s := <-thing.in:
		t.Errorf("notified twice: %s", s.Raw)
	case ev := <-e.events:
		t.Errorf("event twice: %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestHostedConcurrentClaims: owners race for one thing through the
// router and the plugin's workers; exactly one wins.
func TestHostedConcurrentClaims(t *testing.T) {
	e := startHost(t, t.TempDir(), "", nil)
	thing := e.login("meter42@localhost/r1", true)
	has(t, e.ask(thing, "set", `<register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register>`), `type="result"`)
	const n = 6
	owners := make([]*client, n)
	for i := range owners {
		owners[i] = e.login(fmt.Sprintf("o%d@localhost/x", i), false)
	}
	for i, o := range owners {
		s, _ := stanza.Parse([]byte(fmt.Sprintf(`<iq from='%s' to='registry.localhost' type='set' id='c%d'><mine xmlns='urn:nf:iot:disco:1.0'>%s</mine></iq>`, o.jid, i, meterT)))
		go e.r.Route(context.Background(), s)
	}
	wins := 0
	for i, o := range owners {
		got := e.answer(o, fmt.Sprintf("c%d", i))
		if strings.Contains(got, `type="result"`) {
			wins++
		} else if !strings.Contains(got, "<item-not-found") {
			t.Errorf("loser got %s", got)
		}
	}
	if wins != 1 {
		t.Fatalf("%d owners won", wins)
	}
	e.expect(thing, "<claimed ")
}

// TestREADMEConfig runs the README's catalog entry against the real
// binary: pinned, validated by config.Parse and started by the host.
func TestREADMEConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Config.*?```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("no yaml block under ## Config in README.md")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugins", "extasis-registry")
	os.MkdirAll(filepath.Dir(bin), 0o700)
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o700)
	sum, err := host.HashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(m[1]), strings.Repeat("0", 64), sum, 1)
	yaml = strings.Replace(yaml, "dir: ./plugins", "dir: "+filepath.Dir(bin), 1)
	cfg, err := coreconfig.Parse("README.md", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(router.Config{Sessions: session.NewTable(), Hosts: cfg.DomainNames()})
	h, err := host.New(cfg.Plugins, host.Deps{Router: r, Events: event.New(), DataDir: t.TempDir(), Domain: cfg.Domains[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)
	st := h.Plugins()
	if len(st) != 1 || st[0].Address != "registry.localhost" || st[0].State != "running" {
		t.Fatalf("status %+v", st)
	}
}

// TestHostedOfflineThing: a claim while the thing is offline is delivered
// when the broker reports its next session (session.online through the
// host's event subscription).
func TestHostedOfflineThing(t *testing.T) {
	e := startHost(t, t.TempDir(), "", nil)
	thing := e.login("meter42@localhost/r1", true)
	alice := e.login("alice@localhost/phone", false)
	has(t, e.ask(thing, "set", `<register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register>`), `type="result"`)
	e.logout(thing)
	has(t, e.ask(alice, "set", `<mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine>`), `<claimed `)
	select {
	case s := <-thing.in:
		t.Fatalf("sent to an offline thing: %s", s.Raw)
	case <-time.After(300 * time.Millisecond):
	}
	thing = e.login("meter42@localhost/r2", true)
	has(t, e.expect(thing, "<claimed "), `to="meter42@localhost/r2"`, `jid='alice@localhost' public='true'`)
}
