package host

import (
	"log/slog"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// FuzzFromPlugin feeds hostile bytes from a plugin to the host's receive
// path: it must never panic, and nothing may reach a client unless it is
// from the plugin's own address.
func FuzzFromPlugin(f *testing.F) {
	for _, s := range []string{
		`<message from='echo.localhost' to='alice@localhost/r' type='chat'><body>hi</body></message>`,
		`<message from='x@echo.localhost/y' to='alice@localhost/r'/>`,
		`<message from='admin@localhost' to='alice@localhost/r'><body>forged</body></message>`,
		`<message to='alice@localhost/r'/>`,
		`<iq from='echo.localhost' to='alice@localhost/r' type='result' id='1'/>`,
		`<presence from='ECHO.localhost' to='alice@localhost/r'/>`,
		`<message from='echo.localhost' to='alice@localhost/r'><body>&lt;</body></message><message/>`,
		`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`,
		`<message from='echo.localhost&#47;x' to='alice@localhost/r'/>`, "", "<", "\x00",
	} {
		f.Add([]byte(s))
	}
	rt := newEnvRouter()
	got := make(chan *stanza.Stanza, 16)
	c := &client{jid: jid.MustParse("alice@localhost/r"), ch: got}
	addSession(f, rt, c)
	h := &Host{tuning: Tuning{}.withDefaults(), deps: Deps{Router: rt}}
	m, _ := newMetrics(nopRegisterer{})
	p := &managed{h: h, name: "echo", addr: "echo.localhost", m: m.forPlugin("echo"), log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		i := &instance{p: p, rejects: make(chan *pluginv1.Rejection, 64), pending: map[iqKey]pendingIQ{}, ctx: t.Context()}
		i.fromPlugin(append([]byte(nil), raw...))
		for {
			select {
			case s := <-got:
				if s.From.Domain() != "echo.localhost" {
					t.Fatalf("routed a stanza from %q: %s", s.From, s.Raw)
				}
			default:
				return
			}
		}
	})
}
