package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/plugins/host"
	"github.com/extasis/extasis/sdk/plugintest"
)

func TestEcho(t *testing.T) {
	h := plugintest.New(t, newPlugin(), plugintest.Options{Config: map[string]any{"prefix": "> "}})
	if h.Address() != "echo.localhost" {
		t.Fatalf("address %q", h.Address())
	}
	for _, tc := range []struct{ name, send, want string }{
		{"message", `<message from='a@localhost/r' to='echo.localhost' type='chat' id='1'><body>hi &amp; bye</body></message>`,
			`<message from="echo.localhost" to="a@localhost/r" type="chat" id="1"><body>&gt; hi &amp; bye</body></message>`},
		{"crash is echoed unless allowed", `<message from='a@localhost/r' to='echo.localhost' id='2'><body>crash</body></message>`,
			`<message from="echo.localhost" to="a@localhost/r" id="2"><body>&gt; crash</body></message>`},
		{"iq payload", `<iq from='a@localhost/r' to='echo.localhost' type='set' id='3'><x xmlns='urn:x'>y</x></iq>`,
			`<iq from="echo.localhost" to="a@localhost/r" type="result" id="3"><x xmlns='urn:x'>y</x></iq>`},
		{"empty iq", `<iq from='a@localhost/r' to='echo.localhost' type='get' id='4'/>`,
			`<iq from="echo.localhost" to="a@localhost/r" type="result" id="4"/>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.Deliver(tc.send)
			if got := string(h.Next().Raw); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	// Presence gets no answer: the next thing out is the answer to the iq after it.
	h.Deliver(`<presence from='a@localhost/r' to='echo.localhost'/>`)
	h.Deliver(`<iq from='a@localhost/r' to='echo.localhost' type='get' id='5'/>`)
	if got := h.Next(); got.ID != "5" {
		t.Errorf("presence answered: %s", got.Raw)
	}
}

func TestConfigSchema(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		ok     bool
	}{
		{"empty", nil, true},
		{"prefix", map[string]any{"prefix": "x"}, true},
		{"prefix not a string", map[string]any{"prefix": 1}, false},
		{"unknown key", map[string]any{"prefx": "x"}, false},
		{"prefix too long", map[string]any{"prefix": strings.Repeat("x", 257)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugintest.Start(t, newPlugin(), plugintest.Options{Config: tc.config})
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// recConn records what the router delivers to a client session.
type recConn struct{ ch chan *stanza.Stanza }

func (c recConn) Send(s *stanza.Stanza) bool { c.ch <- s; return true }
func (c recConn) Close(string, string)       {}

// TestREADMEConfig runs the README's YAML against the real binary: built,
// pinned, validated by config.Parse, started by the plugin host behind a
// real router, and answering a client.
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
	bin := filepath.Join(dir, "plugins", "plugin-echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sum, err := host.HashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(m[1]), strings.Repeat("0", 64), sum, 1)
	yaml = strings.Replace(yaml, "dir: ./plugins", "dir: "+filepath.Dir(bin), 1)
	cfg, err := config.Parse("README.md", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}

	r := router.New(router.Config{Sessions: session.NewTable(), Hosts: cfg.DomainNames()})
	h, err := host.New(cfg.Plugins, host.Deps{
		Log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Router: r, Events: event.New(), DataDir: t.TempDir(), Domain: cfg.Domains[0].Name,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)

	me := jid.MustParse("alice@localhost/r")
	got := make(chan *stanza.Stanza, 1)
	if _, ok := r.Sessions().Add(session.New(me, recConn{got}), 0); !ok {
		t.Fatal("bind")
	}
	s, err := stanza.Parse([]byte(`<message from='alice@localhost/r' to='echo.localhost' type='chat' id='1'><body>hello</body></message>`))
	if err != nil {
		t.Fatal(err)
	}
	r.Route(ctx, s)
	select {
	case reply := <-got:
		if !strings.Contains(string(reply.Raw), "<body>echo: hello</body>") || reply.From.String() != "echo.localhost" {
			t.Errorf("reply %s", reply.Raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no echo")
	}
}
