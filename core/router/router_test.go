package router

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
)

// box is a session.Conn that keeps what it is sent.
type box struct {
	mu   sync.Mutex
	got  []*stanza.Stanza
	full bool // Send refuses, as a closed or overflowing stream does
}

func (b *box) Send(s *stanza.Stanza) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.full {
		return false
	}
	b.got = append(b.got, s)
	return true
}

func (b *box) Close(string, string) {}

func (b *box) take() []*stanza.Stanza {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.got
	b.got = nil
	return g
}

type world struct {
	r     *Router
	boxes map[string]*box
	sess  map[string]*session.Session
}

// newWorld builds a router for localhost with bound sessions; a session
// named with a "+prio" suffix has sent available presence with it.
func newWorld(t testing.TB, sessions ...string) *world {
	t.Helper()
	w := &world{boxes: map[string]*box{}, sess: map[string]*session.Session{}}
	w.r = New(Config{Sessions: session.NewTable(), Hosts: []string{"localhost", "things.test"}, Metrics: NewMetrics(prometheus.NewRegistry())})
	for _, s := range sessions {
		full, prio, avail := strings.Cut(s, "+")
		b := &box{}
		ss := session.New(jid.MustParse(full), b)
		if avail {
			p, err := strconv.Atoi(prio)
			if err != nil {
				t.Fatal(err)
			}
			ss.SetPresence(nil, true, p)
		}
		if _, ok := w.r.Sessions().Add(ss, 0); !ok {
			t.Fatal("setup")
		}
		w.boxes[full], w.sess[full] = b, ss
	}
	return w
}

func parse(t testing.TB, raw string) *stanza.Stanza {
	t.Helper()
	s, err := stanza.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return s
}

// errCond returns the stanza error condition of s, "" if it is no error.
func errCond(t testing.TB, s *stanza.Stanza) string {
	t.Helper()
	if s.Type != "error" {
		return ""
	}
	el, err := s.Element()
	if err != nil {
		t.Fatal(err)
	}
	e := el.Child(stanza.NSClient, "error")
	if e == nil {
		t.Fatalf("error stanza without <error/>: %s", s.Raw)
	}
	for _, c := range e.Children {
		if c.Name.Space == stanza.NSStanzas && c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	t.Fatalf("<error/> without a condition: %s", s.Raw)
	return ""
}

// TestRoute covers RFC 6120 §10 and RFC 6121 §8 with the router's basic
// delivery: who gets the stanza, and which error goes back to the sender.
func TestRoute(t *testing.T) {
	const sender = "alice@localhost/a"
	for _, tc := range []struct {
		name     string
		sessions []string
		raw      string
		to       string // full JID that must get the stanza ("" none)
		also     string // a second one
		errBack  string // condition sent back to the sender ("" none)
	}{
		{"message to full JID", []string{"bob@localhost/b"}, "<message from='" + sender + "' to='bob@localhost/b' id='1'/>", "bob@localhost/b", "", ""},
		{"iq to full JID", []string{"bob@localhost/b"}, "<iq from='" + sender + "' to='bob@localhost/b' type='get' id='1'><q xmlns='urn:x'/></iq>", "bob@localhost/b", "", ""},
		{"iq to unbound resource", []string{"bob@localhost/b"}, "<iq from='" + sender + "' to='bob@localhost/gone' type='get' id='1'><q xmlns='urn:x'/></iq>", "", "", "service-unavailable"},
		{"iq result to unbound resource", nil, "<iq from='" + sender + "' to='bob@localhost/gone' type='result' id='1'/>", "", "", ""},
		{"message to bare JID, best priority", []string{"bob@localhost/low+1", "bob@localhost/high+5"}, "<message from='" + sender + "' to='bob@localhost' type='chat' id='1'/>", "bob@localhost/high", "", ""},
		{"message to bare JID, tie", []string{"bob@localhost/x+3", "bob@localhost/y+3"}, "<message from='" + sender + "' to='bob@localhost' type='chat' id='1'/>", "bob@localhost/x", "bob@localhost/y", ""},
		{"message to bare JID, negative priority only", []string{"bob@localhost/n+-1"}, "<message from='" + sender + "' to='bob@localhost' type='chat' id='1'/>", "", "", "service-unavailable"},
		{"message to bare JID, nobody available", []string{"bob@localhost/b"}, "<message from='" + sender + "' to='bob@localhost' id='1'/>", "", "", "service-unavailable"},
		{"message to offline full JID goes to the bare JID", []string{"bob@localhost/b+0"}, "<message from='" + sender + "' to='bob@localhost/gone' type='chat' id='1'/>", "bob@localhost/b", "", ""},
		{"presence to offline full JID", []string{"bob@localhost/b+0"}, "<presence from='" + sender + "' to='bob@localhost/gone'/>", "", "", ""},
		{"message to unknown user", nil, "<message from='" + sender + "' to='nobody@localhost' id='1'/>", "", "", "service-unavailable"},
		{"error message to unknown user", nil, "<message from='" + sender + "' to='nobody@localhost' type='error' id='1'/>", "", "", ""},
		{"message to the domain", nil, "<message from='" + sender + "' to='localhost' id='1'/>", "", "", ""},
		{"presence to the domain", nil, "<presence from='" + sender + "' to='localhost'/>", "", "", ""},
		{"iq to the domain, no handler", nil, "<iq from='" + sender + "' to='localhost' type='get' id='1'><q xmlns='urn:x'/></iq>", "", "", "service-unavailable"},
		{"iq to the other hosted domain", nil, "<iq from='" + sender + "' to='things.test' type='set' id='1'><q xmlns='urn:x'/></iq>", "", "", "service-unavailable"},
		{"iq to a bare JID, no handler", nil, "<iq from='" + sender + "' to='bob@localhost' type='get' id='1'><q xmlns='urn:x'/></iq>", "", "", "service-unavailable"},
		{"message to a remote domain", nil, "<message from='" + sender + "' to='romeo@example.net' id='1'/>", "", "", "remote-server-not-found"},
		{"iq error to a remote domain", nil, "<iq from='" + sender + "' to='example.net' type='error' id='1'/>", "", "", ""},
		{"presence without to", nil, "<presence from='" + sender + "'/>", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, append([]string{sender}, tc.sessions...)...)
			w.r.Route(context.Background(), parse(t, tc.raw))
			for full, b := range w.boxes {
				got := b.take()
				switch full {
				case sender:
					if tc.errBack == "" {
						if len(got) != 0 {
							t.Fatalf("sender got %s", got[0].Raw)
						}
						continue
					}
					if len(got) != 1 || errCond(t, got[0]) != tc.errBack {
						t.Fatalf("sender got %d stanzas, want one %s error: %v", len(got), tc.errBack, got)
					}
					if got[0].To.String() != sender || got[0].ID != "1" {
						t.Fatalf("error reply %s: want to=%s id=1", got[0].Raw, sender)
					}
				case tc.to, tc.also:
					if len(got) != 1 || got[0].ID != "1" {
						t.Fatalf("%s got %v, want the stanza", full, got)
					}
				default:
					if len(got) != 0 {
						t.Fatalf("%s got %s", full, got[0].Raw)
					}
				}
			}
		})
	}
}

// TestRouteHandlers: iqs to a hosted domain go to the server mux, iqs to a
// bare JID (or without to) to the account mux with To filled in.
func TestRouteHandlers(t *testing.T) {
	w := newWorld(t, "alice@localhost/a")
	var got []string
	w.r.ServerMux().HandleFunc("get", "urn:x", "q", func(_ context.Context, s *stanza.Stanza) { got = append(got, "server "+s.To.String()) })
	w.r.AccountMux().HandleFunc("get", "urn:x", "q", func(_ context.Context, s *stanza.Stanza) { got = append(got, "account "+s.To.String()) })
	w.r.AccountMux().HandleNamespace("urn:ns", HandlerFunc(func(_ context.Context, s *stanza.Stanza) { got = append(got, "namespace "+s.Type) }))
	for _, raw := range []string{
		"<iq from='alice@localhost/a' to='localhost' type='get' id='1'><q xmlns='urn:x'/></iq>",
		"<iq from='alice@localhost/a' to='bob@localhost' type='get' id='2'><q xmlns='urn:x'/></iq>",
		"<iq from='alice@localhost/a' type='get' id='3'><q xmlns='urn:x'/></iq>",
		"<iq from='alice@localhost/a' type='set' id='4'><anything xmlns='urn:ns'/></iq>",
		// The type is part of the key: a set with a get-only handler.
		"<iq from='alice@localhost/a' to='localhost' type='set' id='5'><q xmlns='urn:x'/></iq>",
	} {
		w.r.Route(context.Background(), parse(t, raw))
	}
	want := []string{"server localhost", "account bob@localhost", "account alice@localhost", "namespace set"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("handlers saw %q, want %q", got, want)
	}
	if back := w.boxes["alice@localhost/a"].take(); len(back) != 1 || back[0].ID != "5" || errCond(t, back[0]) != "service-unavailable" {
		t.Fatalf("sender got %v, want service-unavailable for id 5", back)
	}
	ns := w.r.AccountMux().Namespaces()
	if len(ns) != 2 {
		t.Fatalf("Namespaces = %v", ns)
	}
}

type fakeRemote struct {
	err  error
	seen []*stanza.Stanza
}

func (f *fakeRemote) RouteRemote(_ context.Context, s *stanza.Stanza) error {
	f.seen = append(f.seen, s)
	return f.err
}

func TestRouteRemote(t *testing.T) {
	w := newWorld(t, "alice@localhost/a")
	rm := &fakeRemote{}
	w.r.SetRemote(rm)
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='romeo@example.net' id='1'/>"))
	if len(rm.seen) != 1 || len(w.boxes["alice@localhost/a"].take()) != 0 {
		t.Fatal("a remote stanza did not go to Remote, or the sender got something")
	}
	rm.err = stanza.Error{Condition: stanza.RemoteServerTimeout}
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='romeo@example.net' id='2'/>"))
	if back := w.boxes["alice@localhost/a"].take(); len(back) != 1 || errCond(t, back[0]) != "remote-server-timeout" {
		t.Fatalf("sender got %v, want remote-server-timeout", back)
	}
	rm.err = errors.New("anything else")
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='romeo@example.net' id='3'/>"))
	if back := w.boxes["alice@localhost/a"].take(); len(back) != 1 || back[0].Type != "error" {
		t.Fatalf("sender got %v, want an error", back)
	}
}

func TestComponents(t *testing.T) {
	w := newWorld(t, "alice@localhost/a")
	var seen []string
	h := HandlerFunc(func(_ context.Context, s *stanza.Stanza) { seen = append(seen, s.To.String()) })
	unregister, err := w.r.RegisterComponent("registry.localhost", h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.r.RegisterComponent("registry.localhost", h); !errors.Is(err, ErrAddressTaken) {
		t.Fatalf("second registration: %v", err)
	}
	if _, err := w.r.RegisterComponent("localhost", h); !errors.Is(err, ErrAddressTaken) {
		t.Fatalf("hosted domain as component: %v", err)
	}
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='thing@registry.localhost/x' id='1'/>"))
	w.r.Route(context.Background(), parse(t, "<iq from='alice@localhost/a' to='registry.localhost' type='get' id='2'><q xmlns='urn:x'/></iq>"))
	if strings.Join(seen, ",") != "thing@registry.localhost/x,registry.localhost" {
		t.Fatalf("component saw %v", seen)
	}
	if c := w.r.Components(); len(c) != 1 || c[0] != "registry.localhost" {
		t.Fatalf("Components = %v", c)
	}
	unregister()
	unregister()
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='registry.localhost' id='3'/>"))
	if back := w.boxes["alice@localhost/a"].take(); len(back) != 1 || errCond(t, back[0]) != "remote-server-not-found" {
		t.Fatalf("after unregister the sender got %v", back)
	}
}

type denyAll struct{ n int }

func (d *denyAll) Filter(context.Context, *stanza.Stanza) bool { d.n++; return false }

func TestFilter(t *testing.T) {
	w := newWorld(t, "alice@localhost/a", "bob@localhost/b")
	f := &denyAll{}
	w.r.AddFilter(f)
	w.r.Route(context.Background(), parse(t, "<message from='alice@localhost/a' to='bob@localhost/b' id='1'/>"))
	if f.n != 1 || len(w.boxes["bob@localhost/b"].take()) != 0 {
		t.Fatal("a stanza the filter refused was routed")
	}
}

// TestReplyError: never an error to an error, to an iq response, or to a
// stanza without a sender (no loops).
func TestReplyError(t *testing.T) {
	w := newWorld(t, "alice@localhost/a")
	e := stanza.Error{Condition: stanza.BadRequest}
	for _, raw := range []string{
		"<message from='alice@localhost/a' type='error' id='1'/>",
		"<iq from='alice@localhost/a' type='result' id='2'/>",
		"<iq from='alice@localhost/a' type='error' id='3'/>",
		"<message to='alice@localhost/a' id='4'/>",
	} {
		w.r.ReplyError(context.Background(), parse(t, raw), e)
	}
	if got := w.boxes["alice@localhost/a"].take(); len(got) != 0 {
		t.Fatalf("got %s", got[0].Raw)
	}
	w.r.ReplyError(context.Background(), parse(t, "<presence from='alice@localhost/a' to='localhost' id='5'/>"), e)
	if got := w.boxes["alice@localhost/a"].take(); len(got) != 1 || errCond(t, got[0]) != "bad-request" || got[0].Kind != stanza.Presence {
		t.Fatalf("got %v, want a presence error", got)
	}
}

// TestFullQueue: a session whose stream refuses the stanza (closed, or
// its queue is over the limit) counts as gone: an iq gets
// service-unavailable.
func TestFullQueue(t *testing.T) {
	w := newWorld(t, "alice@localhost/a", "bob@localhost/b")
	w.boxes["bob@localhost/b"].full = true
	w.r.Route(context.Background(), parse(t, "<iq from='alice@localhost/a' to='bob@localhost/b' type='get' id='1'><q xmlns='urn:x'/></iq>"))
	if back := w.boxes["alice@localhost/a"].take(); len(back) != 1 || errCond(t, back[0]) != "service-unavailable" {
		t.Fatalf("sender got %v", back)
	}
}

func TestHosts(t *testing.T) {
	w := newWorld(t)
	if !w.r.IsHost("localhost") || w.r.IsHost("example.net") {
		t.Fatal("IsHost")
	}
	w.r.SetHosts([]string{"example.net"})
	if w.r.IsHost("localhost") || !w.r.IsHost("example.net") || len(w.r.Hosts()) != 1 {
		t.Fatal("SetHosts did not replace the hosts")
	}
}

func TestPresencePriority(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{"<presence/>", 0},
		{"<presence><priority>5</priority></presence>", 5},
		{"<presence><priority> -7 </priority></presence>", -7},
		{"<presence><priority>127</priority></presence>", 127},
		{"<presence><priority>128</priority></presence>", 0},
		{"<presence><priority>-129</priority></presence>", 0},
		{"<presence><priority>high</priority></presence>", 0},
		{"<presence><priority xmlns='urn:other'>9</priority></presence>", 0},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			if got := PresencePriority(parse(t, tc.raw)); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBasicUsersPresence: broadcast presence (no to) marks the session
// available with its priority, unavailable clears it.
func TestBasicUsersPresence(t *testing.T) {
	w := newWorld(t, "alice@localhost/a")
	s := w.sess["alice@localhost/a"]
	w.r.FromClient(context.Background(), s, parse(t, "<presence from='alice@localhost/a'><priority>4</priority></presence>"))
	if avail, prio, _ := s.Presence(); !avail || prio != 4 {
		t.Fatalf("after available presence: %v %d", avail, prio)
	}
	if best := w.r.BestResources(jid.MustParse("alice@localhost")); len(best) != 1 || best[0] != s {
		t.Fatalf("BestResources = %v", best)
	}
	w.r.FromClient(context.Background(), s, parse(t, "<presence from='alice@localhost/a' type='unavailable'/>"))
	if s.Available() || len(w.r.BestResources(jid.MustParse("alice@localhost"))) != 0 {
		t.Fatal("still available after unavailable presence")
	}
}

func TestMetrics(t *testing.T) {
	w := newWorld(t, "alice@localhost/a", "bob@localhost/b")
	ctx := context.Background()
	w.r.FromClient(ctx, w.sess["alice@localhost/a"], parse(t, "<message from='alice@localhost/a' to='bob@localhost/b' id='1'/>"))
	w.r.FromClient(ctx, w.sess["alice@localhost/a"], parse(t, "<message from='alice@localhost/a' to='localhost' id='2'/>"))
	w.r.FromClient(ctx, w.sess["alice@localhost/a"], parse(t, "<iq from='alice@localhost/a' to='localhost' type='get' id='3'><q xmlns='urn:x'/></iq>"))
	for _, tc := range []struct {
		kind, outcome string
		want          float64
	}{
		{"message", "in", 2}, {"message", "delivered", 1}, {"message", "dropped", 1},
		{"iq", "in", 1}, {"iq", "error", 1},
	} {
		var m dto.Metric
		if err := w.r.metrics.c[kindOf(tc.kind)][outcomeOf(tc.outcome)].Write(&m); err != nil {
			t.Fatal(err)
		}
		got := m.GetCounter().GetValue()
		if got != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.kind, tc.outcome, got, tc.want)
		}
	}
}

func kindOf(s string) stanza.Kind {
	for k := stanza.Other; k <= stanza.IQ; k++ {
		if k.String() == s {
			return k
		}
	}
	return stanza.Other
}

func outcomeOf(s string) int {
	return map[string]int{"in": outIn, "delivered": outDelivered, "dropped": outDropped, "error": outError}[s]
}

func BenchmarkRouteFullJID(b *testing.B) {
	w := newWorld(b, "alice@localhost/a", "bob@localhost/b")
	s := parse(b, "<message from='alice@localhost/a' to='bob@localhost/b' type='chat' id='1'><body>22.5</body></message>")
	bx := w.boxes["bob@localhost/b"]
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.r.Route(ctx, s)
		if i%1024 == 0 {
			bx.take()
		}
	}
}

func BenchmarkRouteBareJID(b *testing.B) {
	w := newWorld(b, "alice@localhost/a", "bob@localhost/x+1", "bob@localhost/y+5", "bob@localhost/z+5")
	s := parse(b, "<message from='alice@localhost/a' to='bob@localhost' type='chat' id='1'><body>22.5</body></message>")
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.r.Route(ctx, s)
		if i%1024 == 0 {
			for _, bx := range w.boxes {
				bx.take()
			}
		}
	}
}
