package plugin_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/sdk/plugin"
	"github.com/extasis/extasis/sdk/plugintest"
)

const schema = `{"type":"object","additionalProperties":false,
 "properties":{"greeting":{"type":"string"},"max":{"type":"integer","minimum":1}}}`

// testPlugin exercises every part of the Broker API from handlers.
func testPlugin(events chan<- plugin.Event, rejected chan<- plugin.Rejection) *plugin.Plugin {
	var greeting string
	return &plugin.Plugin{
		Info: plugin.Info{
			Name: "probe", Version: "0.1.0", Addresses: []string{"probe"},
			Features: []string{"urn:test"}, Events: []string{plugin.EventSessionOnline},
			ConfigSchema: []byte(schema),
		},
		Configure: func(_ context.Context, c plugin.Config) error {
			var cfg struct {
				Greeting string `json:"greeting"`
				Max      int    `json:"max"`
			}
			if err := c.Decode(&cfg); err != nil {
				return err
			}
			if cfg.Greeting == "refuse" {
				return errors.New("probe: greeting refused")
			}
			greeting = cfg.Greeting
			return nil
		},
		Stanzas: plugin.HandlerFunc(func(ctx context.Context, b plugin.Broker, s *plugin.Stanza) {
			if s.IsIQRequest() {
				if s.Payload.Local == "panic" {
					panic("probe: asked to")
				}
				_ = b.Send(ctx, s.Result())
				return
			}
			var text string
			switch body := s.Body(); body {
			case "iq":
				r, err := b.SendIQ(ctx, plugin.NewStanza(plugin.KindIQ, b.Address(), "peer@localhost", "get", "q1", []byte(`<q xmlns='urn:q'/>`)))
				if err != nil {
					text = "error: " + err.Error()
				} else {
					text = "iq " + r.Type
				}
			case "online":
				on, av, err := b.Online(ctx, "user@localhost")
				text = map[bool]string{true: "on", false: "off"}[on] + map[bool]string{true: "+av", false: ""}[av]
				if err != nil {
					text = err.Error()
				}
			case "publish":
				text = "published"
				if err := b.Publish(ctx, "thing.claimed", map[string]string{"thing": "t@localhost"}); err != nil {
					text = err.Error()
				}
			case "publish-core":
				text = "no error"
				if err := b.Publish(ctx, plugin.EventSessionOnline, nil); err != nil {
					text = err.Error()
				}
			case "decide":
				out, err := b.Decide(ctx, "provisioning/allow", []byte(`{"a":1}`))
				text = string(out)
				if err != nil {
					text = err.Error()
				}
			case "forge":
				_ = b.Send(ctx, plugin.NewStanza(plugin.KindMessage, "admin@localhost", s.From, "chat", "f1", plugin.Body("x")))
				return
			default:
				text = greeting + body
			}
			_ = b.Send(ctx, s.Reply("", plugin.Body(text)))
		}),
		Events: plugin.EventHandlerFunc(func(_ context.Context, _ plugin.Broker, e plugin.Event) { events <- e }),
		Rejected: func(_ context.Context, _ plugin.Broker, r plugin.Rejection) {
			rejected <- r
		},
	}
}

func msg(body string) string {
	return `<message from='user@localhost/r' to='probe.localhost' type='chat' id='m1'><body>` + body + `</body></message>`
}

func TestPluginThroughHarness(t *testing.T) {
	events := make(chan plugin.Event, 4)
	rejected := make(chan plugin.Rejection, 4)
	h := plugintest.New(t, testPlugin(events, rejected), plugintest.Options{
		Config:           map[string]any{"greeting": "hello "},
		IQ:               func(iq *plugin.Stanza) *plugin.Stanza { return iq.Result() },
		Online:           func(j string) (bool, bool) { return j == "user@localhost", false },
		Decide:           func(q string, in []byte) ([]byte, error) { return []byte(`{"allow":true}`), nil },
		ExpectRejections: true,
	})
	if h.Address() != "probe.localhost" {
		t.Fatalf("address %q", h.Address())
	}
	for _, tc := range []struct{ send, want string }{
		{"world", "hello world"},
		{"iq", "iq result"},
		{"online", "on"},
		{"publish", "published"},
		{"publish-core", "PermissionDenied"},
		{"decide", `{"allow":true}`},
	} {
		t.Run(tc.send, func(t *testing.T) {
			h.Deliver(msg(tc.send))
			got := h.Next()
			if got.To != "user@localhost/r" || got.From != "probe.localhost" || got.ID != "m1" {
				t.Errorf("addresses: %+v", got)
			}
			if !strings.Contains(got.Body(), tc.want) {
				t.Errorf("body %q, want it to contain %q", got.Body(), tc.want)
			}
		})
	}
	if p := h.Published(); len(p) != 1 || p[0].Name != "thing.claimed" || p[0].Source != "probe" || p[0].Attrs["thing"] != "t@localhost" {
		t.Errorf("published %+v", p)
	}

	t.Run("iq answered", func(t *testing.T) {
		h.Deliver(`<iq from='user@localhost/r' to='probe.localhost' type='get' id='i1'><x xmlns='urn:x'/></iq>`)
		if got := h.Next(); got.Type != "result" || got.ID != "i1" {
			t.Errorf("got %s", got.Raw)
		}
	})
	t.Run("handler panic answers internal-server-error", func(t *testing.T) {
		h.Deliver(`<iq from='user@localhost/r' to='probe.localhost' type='get' id='i2'><panic xmlns='urn:x'/></iq>`)
		got := h.Next()
		if got.Type != "error" || !strings.Contains(string(got.Raw), "internal-server-error") {
			t.Errorf("got %s", got.Raw)
		}
	})
	t.Run("event", func(t *testing.T) {
		h.Event(plugin.SessionOnline{JID: "user@localhost/r"})
		select {
		case e := <-events:
			if e != (plugin.SessionOnline{JID: "user@localhost/r"}) {
				t.Errorf("event %#v", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	})
	t.Run("forged from is rejected", func(t *testing.T) {
		h.Deliver(msg("forge"))
		select {
		case r := <-rejected:
			if r.ID != "f1" || !strings.Contains(r.Reason, "not from an address the plugin owns") {
				t.Errorf("rejection %+v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no rejection")
		}
	})
}

func TestSenderOrderIsKept(t *testing.T) {
	h := plugintest.New(t, testPlugin(nil, nil), plugintest.Options{})
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			h.Deliver(msg(strings.Repeat("x", i%7) + "#"))
		}
	}()
	for i := range n {
		if got, want := h.Next().Body(), strings.Repeat("x", i%7)+"#"; got != want {
			t.Fatalf("stanza %d: body %q, want %q", i, got, want)
		}
	}
	wg.Wait()
}

func TestConfigIsValidated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config any
		want   string
	}{
		{"wrong type", map[string]any{"greeting": 3}, "config.greeting"},
		{"unknown key", map[string]any{"colour": "red"}, "colour"},
		{"range", map[string]any{"max": 0}, "config.max"},
		{"plugin refuses", map[string]any{"greeting": "refuse"}, "probe: greeting refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugintest.Start(t, testPlugin(nil, nil), plugintest.Options{Config: tc.config})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestSchemaRefusesExternalReferences(t *testing.T) {
	_, err := plugin.CompileSchema([]byte(`{"$ref":"file:///etc/passwd"}`))
	if err == nil {
		t.Fatal("a schema reading a file compiled")
	}
}

func TestNoSchemaTakesNoConfig(t *testing.T) {
	s, err := plugin.CompileSchema(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{}`)); err != nil {
		t.Errorf("empty block refused: %v", err)
	}
	if err := s.Validate([]byte(`{"a":1}`)); !errors.Is(err, plugin.ErrConfig) {
		t.Errorf("non-empty block: %v", err)
	}
}

// TestStartedRunsWithABroker: Started gets a working Broker as soon as the
// exchange opens, before any stanza or event arrives (a restarted plugin
// delivers what it queued without waiting for traffic).
func TestStartedRunsWithABroker(t *testing.T) {
	p := &plugin.Plugin{
		Info: plugin.Info{Name: "starter", Version: "1"},
		Started: func(ctx context.Context, b plugin.Broker) {
			_ = b.Send(ctx, plugin.NewStanza(plugin.KindMessage, b.Address(), "user@localhost/r", "normal", "s1", plugin.Body("queued before the restart")))
		},
	}
	h := plugintest.New(t, p, plugintest.Options{})
	got := h.Next()
	if got.ID != "s1" || got.Body() != "queued before the restart" || got.From != h.Address() {
		t.Fatalf("got %s", got.Raw)
	}
}
