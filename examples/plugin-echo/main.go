package main

import (
	"context"
	_ "embed"
	"os"

	"github.com/extasis/extasis/sdk/plugin"
)

// schema constrains the config block; the broker checks it before Configure.
//
//go:embed schema.json
var schema []byte

type echo struct {
	Prefix string `json:"prefix"`
	// AllowCrash: the body "crash" exits, to test the broker's restarts.
	AllowCrash bool `json:"allow_crash"`
}

func (e *echo) configure(_ context.Context, c plugin.Config) error { return c.Decode(e) }

func (e *echo) HandleStanza(ctx context.Context, b plugin.Broker, s *plugin.Stanza) {
	var reply *plugin.Stanza
	switch {
	case s.Kind == plugin.KindMessage && s.Type != "error":
		body := s.Body()
		if body == "crash" && e.AllowCrash {
			os.Exit(3)
		}
		reply = s.Reply("", plugin.Body(e.Prefix+body))
	case s.IsIQRequest():
		reply = s.Result(s.Inner())
	default:
		return // presence and errors need no answer
	}
	if err := b.Send(ctx, reply); err != nil {
		b.Log().Warn("echo: reply not sent", "error", err)
	}
}

func newPlugin() *plugin.Plugin {
	e := &echo{}
	return &plugin.Plugin{
		Info: plugin.Info{
			Name: "echo", Version: "1.0.0", Description: "Echoes messages and iq payloads to their sender.",
			Addresses:    []string{"echo"},
			Identities:   []plugin.Identity{{Category: "component", Type: "generic", Name: "Echo"}},
			ConfigSchema: schema,
		},
		Configure: e.configure,
		Stanzas:   e,
	}
}

func main() { plugin.Serve(newPlugin()) }
