package host

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
)

// bins are the real plugin binaries, built once by TestMain into dir.
var bins struct {
	dir                     string // the plugin directory
	echoSum, testSum, v2Sum string
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "extasis-host-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	bins.dir = filepath.Join(tmp, "plugins")
	for _, b := range []struct{ out, pkg, ldflags string }{
		{"plugin-echo", "../../examples/plugin-echo", ""},
		{"testplugin", "./internal/testplugin", ""},
		{"testplugin-v2", "./internal/testplugin", "-X main.protocolVersion=2"},
	} {
		args := []string{"build", "-o", filepath.Join(bins.dir, b.out)}
		if b.ldflags != "" {
			args = append(args, "-ldflags", b.ldflags)
		}
		if out, err := exec.Command("go", append(args, b.pkg)...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	for name, sum := range map[string]*string{"plugin-echo": &bins.echoSum, "testplugin": &bins.testSum, "testplugin-v2": &bins.v2Sum} {
		if *sum, err = HashFile(filepath.Join(bins.dir, name)); err != nil {
			return 0, err
		}
	}
	return m.Run(), nil
}

func echoPlugin(cfg map[string]any) config.Plugin {
	return config.Plugin{Name: "echo", Path: "plugin-echo", SHA256: bins.echoSum, Config: cfg}
}

func testPlugin() config.Plugin {
	return config.Plugin{Name: "test", Path: "testplugin", SHA256: bins.testSum}
}

// fastTuning makes failures show quickly in tests.
func fastTuning() Tuning {
	return Tuning{
		HealthInterval: 200 * time.Millisecond, CallTimeout: 2 * time.Second,
		BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second, IQTimeout: 5 * time.Second,
	}
}

// env is a broker core without the network: a real router and session
// table, a real event bus, the host, and clients whose sessions record
// what they are sent.
type env struct {
	t    testing.TB
	r    *router.Router
	bus  *event.Bus
	h    *Host
	reg  *prometheus.Registry
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv builds and starts a host; it fails the test if either fails.
func newEnv(t testing.TB, tuning Tuning, plugins ...config.Plugin) *env {
	t.Helper()
	e, err := startEnv(t, tuning, plugins...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func startEnv(t testing.TB, tuning Tuning, plugins ...config.Plugin) (*env, error) {
	t.Helper()
	e := &env{t: t, bus: event.New(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.r = router.New(router.Config{Log: log, Sessions: session.NewTable(), Hosts: []string{"localhost"}})
	h, err := New(config.Plugins{Dir: bins.dir, List: plugins}, Deps{
		Log: log, Router: e.r, Events: e.bus, DataDir: t.TempDir(), Domain: "localhost",
		Metrics: e.reg, Version: "test", Tuning: tuning,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		return nil, err
	}
	e.h = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
		if t.Failed() {
			t.Logf("host log:\n%s", e.logs.String())
		}
	})
	return e, nil
}

// recConn is a session.Conn that hands what it is sent to the test.
type recConn struct{ ch chan *stanza.Stanza }

func (c *recConn) Send(s *stanza.Stanza) bool {
	select {
	case c.ch <- s:
		return true
	default:
		return false
	}
}

func (c *recConn) Close(string, string) {}

type client struct {
	e   *env
	jid jid.JID
	ch  chan *stanza.Stanza
}

// client binds a session for user@localhost/r.
func (e *env) client(user string) *client {
	e.t.Helper()
	j := jid.MustParse(user + "@localhost/r")
	c := &client{e: e, jid: j, ch: make(chan *stanza.Stanza, 1024)}
	s := session.New(j, &recConn{ch: c.ch})
	s.SetPresence(nil, true, 0)
	if _, ok := e.r.Sessions().Add(s, 0); !ok {
		e.t.Fatalf("bind %s", j)
	}
	return c
}

// send routes a stanza from the client; format gets the client's JID as
// its from, the way the session layer stamps it.
func (c *client) send(format string, args ...any) {
	c.e.t.Helper()
	raw := fmt.Sprintf(format, args...)
	raw = strings.Replace(raw, "<message ", "<message from='"+c.jid.String()+"' ", 1)
	raw = strings.Replace(raw, "<iq ", "<iq from='"+c.jid.String()+"' ", 1)
	s, err := stanza.Parse([]byte(raw))
	if err != nil {
		c.e.t.Fatalf("parse %s: %v", raw, err)
	}
	c.e.r.Route(context.Background(), s)
}

func (c *client) msg(to, body string) {
	c.send("<message to='%s' type='chat' id='m'><body>%s</body></message>", to, body)
}

// next waits for the next stanza to the client.
func (c *client) next(timeout time.Duration) *stanza.Stanza {
	c.e.t.Helper()
	select {
	case s := <-c.ch:
		return s
	case <-time.After(timeout):
		c.e.t.Fatalf("%s received nothing within %s", c.jid, timeout)
	}
	return nil
}

// nextBody waits for the next message body.
func (c *client) nextBody(timeout time.Duration) string {
	c.e.t.Helper()
	return body(c.e.t, c.next(timeout))
}

func body(t testing.TB, s *stanza.Stanza) string {
	t.Helper()
	el, err := s.Element()
	if err != nil {
		t.Fatalf("parse %s: %v", s.Raw, err)
	}
	if b := el.Child(stanza.NSClient, "body"); b != nil {
		return b.Text
	}
	if e, ok := stanza.ParseError(s); ok {
		return "error " + string(e.Condition)
	}
	return ""
}

// errorCount reads extasis_plugin_errors_total for a plugin and reason.
func (e *env) errorCount(plugin, reason string) float64 {
	return value(e.h.metrics.errors.WithLabelValues(plugin, reason))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}
