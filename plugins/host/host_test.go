package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
)

const wait = 10 * time.Second

func TestEchoWithRealBinary(t *testing.T) {
	e := newEnv(t, fastTuning(), echoPlugin(map[string]any{"prefix": "echo: "}))
	c := e.client("alice")

	t.Run("message", func(t *testing.T) {
		c.msg("echo.localhost", "hello &amp; welcome")
		s := c.next(wait)
		if s.From.String() != "echo.localhost" || s.To != c.jid || s.Type != "chat" {
			t.Errorf("reply %s", s.Raw)
		}
		if got := body(t, s); got != "echo: hello & welcome" {
			t.Errorf("body %q", got)
		}
	})
	t.Run("iq payload echoed", func(t *testing.T) {
		c.send("<iq to='echo.localhost' type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>")
		s := c.next(wait)
		if s.Type != "result" || s.ID != "q1" || s.Payload.Space != "urn:xmpp:ping" {
			t.Errorf("reply %s", s.Raw)
		}
	})
	t.Run("a JID at the address", func(t *testing.T) {
		c.msg("room@echo.localhost/x", "hi")
		if s := c.next(wait); s.From.String() != "room@echo.localhost/x" || body(t, s) != "echo: hi" {
			t.Errorf("reply %s", s.Raw)
		}
	})
	t.Run("disco#info answered by the host", func(t *testing.T) {
		c.send("<iq to='echo.localhost' type='get' id='d1'><query xmlns='%s'/></iq>", stanza.NSDiscoInfo)
		s := c.next(wait)
		if s.Type != "result" || !strings.Contains(string(s.Raw), "category='component' type='generic' name='Echo'") {
			t.Errorf("reply %s", s.Raw)
		}
	})
	st := e.h.Plugins()
	if len(st) != 1 || st[0].Name != "echo" || st[0].Address != "echo.localhost" || st[0].State != "running" ||
		st[0].Info.Version != "1.0.0" || st[0].PID == 0 {
		t.Errorf("status %+v", st)
	}
	if got := value(e.h.metrics.stanzas.WithLabelValues("echo", "in")); got != 4 {
		t.Errorf("stanzas in = %v, want 4", got)
	}
}

func TestCrashRestart(t *testing.T) {
	e := newEnv(t, fastTuning(), echoPlugin(map[string]any{"allow_crash": true}), testPlugin())
	alice, bob, carol := e.client("alice"), e.client("bob"), e.client("carol")

	// Bob keeps talking to another plugin the whole time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bobOK, bobFail int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			bob.msg("test.localhost", "ping")
			select {
			case s := <-bob.ch:
				if body(t, s) == "ping" {
					bobOK++
				} else {
					bobFail++
				}
			case <-time.After(wait):
				bobFail++
			}
		}
	}()

	alice.msg("echo.localhost", "before")
	if got := alice.nextBody(wait); got != "before" {
		t.Fatalf("body %q", got)
	}
	// Crash, then iqs in flight behind it from the same sender (the plugin
	// handles one sender's stanzas in order, so it dies before them).
	alice.msg("echo.localhost", "crash")
	const inflight = 20
	for i := range inflight {
		alice.send("<iq to='echo.localhost' type='get' id='i%d'><ping xmlns='urn:xmpp:ping'/></iq>", i)
	}
	answered := map[string]string{}
	for len(answered) < inflight {
		s := alice.next(wait)
		if s.Kind != stanza.IQ {
			t.Fatalf("unexpected %s", s.Raw)
		}
		cond := s.Type
		if e, ok := stanza.ParseError(s); ok {
			cond = string(e.Condition)
		}
		answered[s.ID] = cond
	}
	for id, cond := range answered {
		if cond != string(stanza.ServiceUnavailable) {
			t.Errorf("in-flight iq %s: %s, want service-unavailable", id, cond)
		}
	}
	// Carol gets service-unavailable or, once it is back, the echo.
	waitFor(t, wait, "echo to come back", func() bool {
		carol.send("<iq to='echo.localhost' type='get' id='c'><ping xmlns='urn:xmpp:ping'/></iq>")
		return carol.next(wait).Type == "result"
	})
	alice.msg("echo.localhost", "after")
	if got := alice.nextBody(wait); got != "after" {
		t.Errorf("after restart: %q", got)
	}
	close(stop)
	wg.Wait()
	if bobFail > 0 || bobOK == 0 {
		t.Errorf("the other plugin's client: %d ok, %d failed", bobOK, bobFail)
	}
	if got := value(e.h.metrics.restarts.WithLabelValues("echo")); got != 1 {
		t.Errorf("restarts = %v", got)
	}
	if st := e.h.Plugins()[0]; st.Restarts != 1 || st.State != "running" || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	outside := t.TempDir()
	if err := os.Symlink(filepath.Join(bins.dir, "plugin-echo"), filepath.Join(outside, "echo-link")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(bins.dir, "escape")
	if err := os.Symlink(filepath.Join(outside, "evil"), link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "evil"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	evilSum, _ := HashFile(filepath.Join(outside, "evil"))

	echo := echoPlugin(nil)
	wrongSum := echo
	wrongSum.SHA256 = strings.Repeat("ab", 32)
	dotdot := echo
	dotdot.Path = "../plugins/../../" + filepath.Base(filepath.Dir(bins.dir)) + "/x"
	escape := echo
	escape.Path, escape.SHA256 = "escape", evilSum
	v2 := config.Plugin{Name: "future", Path: "testplugin-v2", SHA256: bins.v2Sum}
	badCfg := echoPlugin(map[string]any{"prefix": 42})
	unknownKey := echoPlugin(map[string]any{"colour": "red"})
	dupA, dupB := echoPlugin(nil), testPlugin()
	dupA.Address, dupB.Address = "same.localhost", "same.localhost"
	hostDomain := echoPlugin(nil)
	hostDomain.Address = "localhost"

	for _, tc := range []struct {
		name    string
		plugins []config.Plugin
		want    error
		text    string
	}{
		{"wrong sha256", []config.Plugin{wrongSum}, ErrChecksum, `host: plugin "echo": sha256 mismatch`},
		{"path with ..", []config.Plugin{dotdot}, ErrBinary, `host: plugin "echo"`},
		{"symlink out of the directory", []config.Plugin{escape}, ErrOutsideDir, `host: plugin "echo": binary is outside the plugin directory`},
		{"protocol version mismatch", []config.Plugin{v2}, ErrProtocol, `host: plugin "future": incompatible protocol version`},
		{"config against schema", []config.Plugin{badCfg}, ErrConfig, `host: plugin "echo": invalid config: config.prefix`},
		{"unknown config key", []config.Plugin{unknownKey}, ErrConfig, `colour`},
		{"two plugins on one address", []config.Plugin{dupA, dupB}, ErrAddressTaken, `host: plugin "test": address already served: same.localhost is already served by plugin "echo"`},
		{"a hosted domain", []config.Plugin{hostDomain}, ErrAddressTaken, `host: plugin "echo": address already served: localhost`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := startEnv(t, fastTuning(), tc.plugins...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %q, want it to contain %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}

	t.Run("binary replaced after New", func(t *testing.T) {
		dir := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(bins.dir, "plugin-echo"))
		if err := os.WriteFile(filepath.Join(dir, "echo"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		h, err := New(config.Plugins{Dir: dir, List: []config.Plugin{{Name: "echo", Path: "echo", SHA256: bins.echoSum}}},
			Deps{Router: newEnvRouter(), DataDir: t.TempDir(), Domain: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "echo"), append(data, 0), 0o755); err != nil {
			t.Fatal(err)
		}
		err = h.Start(context.Background())
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestForgedFrom(t *testing.T) {
	e := newEnv(t, fastTuning(), testPlugin())
	c := e.client("alice")
	c.msg("test.localhost", "forge")
	// The forged message never arrives; the plugin is told why and says so.
	got := c.nextBody(wait)
	want := `rejected: host: plugin "test": stanza not from an address the plugin owns: from "admin@localhost", the plugin serves "test.localhost"`
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	c.msg("test.localhost", "forge-iq")
	if got := c.nextBody(wait); !strings.Contains(got, "PermissionDenied") || !strings.Contains(got, "stanza not from an address the plugin owns") {
		t.Errorf("forged SendIQ: %q", got)
	}
	if n := e.errorCount("test", "rejected"); n != 2 {
		t.Errorf("rejected = %v", n)
	}
	// The plugin echoes a body too large for the broker's stanza limit.
	c.msg("test.localhost", strings.Repeat("x", 300<<10))
	waitFor(t, wait, "the oversized stanza to be refused", func() bool { return e.errorCount("test", "rejected") >= 3 })
	if !strings.Contains(e.logs.String(), "over the limit of 262144") {
		t.Error("oversized stanza not logged")
	}
	if n := e.errorCount("test", "rejected"); n != 3 {
		t.Errorf("rejected = %v", n)
	}
	if !strings.Contains(e.logs.String(), "stanza not from an address the plugin owns") {
		t.Errorf("refusal not logged")
	}
}

func TestHostAPI(t *testing.T) {
	e := newEnv(t, fastTuning(), testPlugin())
	c := e.client("alice")
	var published []event.Custom
	var mu sync.Mutex
	e.bus.Subscribe("door.opened", func(_ context.Context, ev event.Event) {
		mu.Lock()
		published = append(published, ev.(event.Custom))
		mu.Unlock()
	})
	for _, tc := range []struct{ send, want string }{
		{"online alice@localhost", "online=true available=true err=<nil>"},
		{"online alice@localhost/r", "online=true available=true err=<nil>"},
		{"online nobody@localhost", "online=false available=false err=<nil>"},
		{"sendiq localhost", "sendiq error from localhost"},
		{"sendiq alice@localhost/r", ""}, // answered below by the client
		{"publish door.opened", "publish err=<nil>"},
		{"publish session.online", "PermissionDenied"},
		{"decide", "Unimplemented"},
	} {
		t.Run(tc.send, func(t *testing.T) {
			c.msg("test.localhost", tc.send)
			s := c.next(wait)
			if tc.want == "" {
				// The plugin's iq to the client: answer it, then read the plugin's report.
				if s.Kind != stanza.IQ || s.Type != "get" || s.From.String() != "test.localhost" {
					t.Fatalf("expected the plugin's iq, got %s", s.Raw)
				}
				c.send("<iq to='test.localhost' type='result' id='%s'/>", s.ID)
				if got := c.nextBody(wait); got != "sendiq result from alice@localhost/r" {
					t.Errorf("got %q", got)
				}
				return
			}
			if got := body(t, s); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	mu.Lock()
	if len(published) != 1 || published[0].Source != "test" || published[0].Attrs["by"] != "alice@localhost/r" {
		t.Errorf("published %+v", published)
	}
	mu.Unlock()

	t.Run("events", func(t *testing.T) {
		e.bus.Publish(context.Background(), event.SessionOnline{JID: c.jid})
		if got := c.nextBody(wait); got != "event session.online alice@localhost/r" {
			t.Errorf("got %q", got)
		}
		e.bus.Publish(context.Background(), event.Custom{Name: "thing.claimed", Source: "registry", Attrs: map[string]string{"by": c.jid.String()}})
		if got := c.nextBody(wait); got != "event thing.claimed from registry" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("stopping drops subscriptions", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.h.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if e.bus.HasSubscribers(event.NameSessionOnline) {
			t.Error("session.online still subscribed")
		}
		c.send("<iq to='test.localhost' type='get' id='gone'><ping xmlns='urn:xmpp:ping'/></iq>")
		if s := c.next(wait); s.Type != "error" {
			t.Errorf("after stop: %s", s.Raw) // no route any more: remote-server-not-found
		}
	})
}

func TestIQTimeout(t *testing.T) {
	tu := fastTuning()
	tu.IQTimeout = 300 * time.Millisecond
	e := newEnv(t, tu, testPlugin())
	c := e.client("alice")
	c.send("<iq to='test.localhost' type='get' id='t1'><ignore xmlns='urn:x'/></iq>")
	s := c.next(wait)
	if er, ok := stanza.ParseError(s); !ok || er.Condition != stanza.RemoteServerTimeout || s.ID != "t1" {
		t.Errorf("got %s", s.Raw)
	}
	if n := e.errorCount("test", "timeout"); n != 1 {
		t.Errorf("timeout = %v", n)
	}
}

func TestHealthCheckRestartsAFrozenPlugin(t *testing.T) {
	tu := fastTuning()
	tu.CallTimeout = 300 * time.Millisecond
	e := newEnv(t, tu, testPlugin())
	c := e.client("alice")
	c.msg("test.localhost", "pid")
	pid1 := c.nextBody(wait)
	c.msg("test.localhost", "freeze") // SIGSTOPs itself: alive, but deaf
	waitFor(t, wait, "a restart", func() bool { return e.h.Plugins()[0].Restarts == 1 && e.h.Plugins()[0].State == "running" })
	c.msg("test.localhost", "pid")
	for {
		s := c.next(wait)
		if s.Kind == stanza.Message && s.Type != "error" {
			if got := body(t, s); got == pid1 {
				t.Errorf("same pid %s after restart", got)
			}
			break
		}
	}
	if !strings.Contains(e.h.Plugins()[0].LastError, "health check") {
		t.Errorf("last error %q", e.h.Plugins()[0].LastError)
	}
}

func TestSlowPluginOnlyDelaysItsOwnAddress(t *testing.T) {
	e := newEnv(t, fastTuning(), echoPlugin(nil), testPlugin())
	// Keep every worker of the test plugin asleep.
	var sleepers []*client
	for i := range 16 {
		s := e.client("sleeper" + strconv.Itoa(i))
		s.msg("test.localhost", "sleep 1s")
		sleepers = append(sleepers, s)
	}
	c := e.client("alice")
	for i := range 20 {
		c.msg("echo.localhost", "x"+strconv.Itoa(i))
		if got := c.nextBody(wait); got != "x"+strconv.Itoa(i) {
			t.Fatalf("echo: %q", got)
		}
	}
	// The echo answered while the sleepers still wait.
	select {
	case s := <-sleepers[0].ch:
		t.Logf("a sleeper was answered before the echo finished: %s", s.Raw)
	default:
	}
	for _, s := range sleepers {
		if got := s.nextBody(wait); got != "slept" {
			t.Errorf("sleeper: %q", got)
		}
	}
}

func TestFullQueueAnswersResourceConstraint(t *testing.T) {
	e := &env{t: t}
	rt := newEnvRouter()
	c := &client{e: &env{t: t, r: rt}, jid: jid.MustParse("alice@localhost/r"), ch: make(chan *stanza.Stanza, 8)}
	e.r = rt
	addSession(t, rt, c)
	h := &Host{tuning: Tuning{QueueLen: 1, EnqueueWait: time.Millisecond}.withDefaults(), deps: Deps{Router: rt}}
	m, _ := newMetrics(nopRegisterer{})
	p := &managed{h: h, name: "slow", addr: "slow.localhost", m: m.forPlugin("slow")}
	inst := &instance{p: p, queue: make(chan *stanza.Stanza, 1), done: make(chan struct{}), dead: make(chan struct{}), pending: map[iqKey]pendingIQ{}}
	iq := func(id string) *stanza.Stanza {
		s, err := stanza.Parse([]byte("<iq from='alice@localhost/r' to='slow.localhost' type='get' id='" + id + "'><q xmlns='urn:q'/></iq>"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	inst.deliver(context.Background(), iq("1")) // fills the queue
	inst.deliver(context.Background(), iq("2")) // waits, then is refused
	s := <-c.ch
	if er, ok := stanza.ParseError(s); !ok || er.Condition != stanza.ResourceConstraint || s.ID != "2" {
		t.Errorf("got %s", s.Raw)
	}
	if _, ok := inst.pending[iqKey{c.jid, "2"}]; ok {
		t.Error("refused iq still pending")
	}
	if _, ok := inst.pending[iqKey{c.jid, "1"}]; !ok {
		t.Error("queued iq not pending")
	}
}

func TestMemoryLimitIsApplied(t *testing.T) {
	p := testPlugin()
	p.MemoryLimit = 3 << 30
	e := newEnv(t, fastTuning(), p)
	pid := e.h.Plugins()[0].PID
	limits, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(3<<30, 10)
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max data size") {
			if f := strings.Fields(line); len(f) < 5 || f[3] != want || f[4] != want {
				t.Errorf("limit line %q, want %s", line, want)
			}
			return
		}
	}
	t.Error("no data size line in /proc/pid/limits")
}

func TestMemoryLimitStopsARunawayPlugin(t *testing.T) {
	p := testPlugin()
	p.MemoryLimit = 512 << 20
	e := newEnv(t, fastTuning(), p)
	c := e.client("alice")
	c.msg("test.localhost", "alloc 256")
	if got := c.nextBody(wait); got != "allocated 256 MiB" {
		t.Fatalf("within the limit: %q", got)
	}
	c.msg("test.localhost", "alloc 1024")
	waitFor(t, wait, "a restart", func() bool { st := e.h.Plugins()[0]; return st.Restarts == 1 && st.State == "running" })
	c.msg("test.localhost", "still there?")
	for {
		if s := c.next(wait); s.Type != "error" {
			if got := body(t, s); got != "still there?" {
				t.Errorf("after restart: %q", got)
			}
			break
		}
	}
}

func TestInspect(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    config.Plugin
		want error
	}{
		{"ok", echoPlugin(map[string]any{"prefix": "x"}), nil},
		{"bad config", echoPlugin(map[string]any{"prefix": true}), ErrConfig},
		{"version", config.Plugin{Name: "future", Path: "testplugin-v2", SHA256: bins.v2Sum}, ErrProtocol},
		{"checksum", config.Plugin{Name: "echo", Path: "plugin-echo", SHA256: bins.testSum}, ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			info, err := Inspect(ctx, bins.dir, tc.p, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && (info.Name != "echo" || len(info.Addresses) != 1 || len(info.ConfigSchema) == 0) {
				t.Errorf("info %+v", info)
			}
		})
	}
}

func TestSecondHostSharesMetrics(t *testing.T) {
	e := newEnv(t, fastTuning(), echoPlugin(nil))
	h2, err := New(config.Plugins{Dir: bins.dir, List: []config.Plugin{echoPlugin(nil)}},
		Deps{Router: e.r, DataDir: t.TempDir(), Domain: "localhost", Metrics: e.reg})
	if err != nil {
		t.Fatalf("a second host on the same registry (config reload): %v", err)
	}
	if h2.metrics.stanzas != e.h.metrics.stanzas {
		t.Error("the second host registered new collectors")
	}
}
