package app_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// These tests drive the real binary with real client libraries (mellium's
// Go client and Debian's python3-slixmpp) through the same test bodies:
// login with each SASL mechanism, wrong passwords, binding, and message,
// presence and iq routing with every error case of RFC 6120 §10 and
// RFC 6121 §8 that issue 2 lists.

const wait = 10 * time.Second

// peer is one logged-in client, whatever the library.
type peer interface {
	JID() string
	Send(t testing.TB, raw string)
	Expect(t testing.TB, pattern string) *apptest.Element
}

type loginOpts struct {
	mech     string // "" lets the library choose
	direct   bool   // XEP-0368 direct TLS instead of STARTTLS
	resource string // "" lets the server choose
}

// library logs clients in with one client library.
type library struct {
	name string
	// mechs are the SASL mechanisms the library can use against us.
	mechs []string
	login func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) peer
	// refused logs in expecting a SASL failure and returns its condition.
	refused func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) string
}

type melliumPeer struct{ c *apptest.Client }

func (p melliumPeer) JID() string { return p.c.JID.String() }

func (p melliumPeer) Send(t testing.TB, raw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.c.SendRaw(ctx, raw); err != nil {
		t.Fatalf("mellium %s: send: %v", p.JID(), err)
	}
}

func (p melliumPeer) Expect(t testing.TB, pattern string) *apptest.Element {
	t.Helper()
	return p.c.Expect(t, wait, pattern)
}

type slixPeer struct{ s *apptest.SlixClient }

func (p slixPeer) JID() string { return p.s.JID }

func (p slixPeer) Send(t testing.TB, raw string) {
	t.Helper()
	if err := p.s.SendRaw(raw); err != nil {
		t.Fatalf("slixmpp %s: send: %v", p.JID(), err)
	}
}

func (p slixPeer) Expect(t testing.TB, pattern string) *apptest.Element {
	t.Helper()
	el, err := p.s.TryExpect(wait, pattern)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

var mellium = library{
	name:  "mellium",
	mechs: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"},
	login: func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) peer {
		t.Helper()
		return melliumPeer{b.Dial(t, user+"@"+b.Domain, pass, melliumOpts(t, o))}
	},
	refused: func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) string {
		t.Helper()
		c, err := b.TryDial(user+"@"+b.Domain, pass, melliumOpts(t, o))
		if err == nil {
			_ = c.Close()
			t.Fatalf("mellium: %s logged in with a wrong password", user)
		}
		return melliumCondition(t, err)
	},
}

// melliumCondition digs the SASL condition out of mellium's error: its type
// is internal and its text is the server's <text/>, so reflection it is.
func melliumCondition(t testing.TB, err error) string {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Struct && v.Type().PkgPath() == "mellium.im/xmpp/internal/saslerr" {
			return fmt.Sprint(v.FieldByName("Condition").Interface())
		}
	}
	t.Fatalf("mellium: want a SASL failure, got %v", err)
	return ""
}

func melliumOpts(t testing.TB, o loginOpts) apptest.DialOptions {
	d := apptest.DialOptions{DirectTLS: o.direct, Resource: o.resource}
	if o.mech != "" {
		m, err := apptest.Mechanism(o.mech)
		if err != nil {
			t.Fatal(err)
		}
		d.Mechanisms = append(d.Mechanisms, m)
	}
	return d
}

var slixmpp = library{
	name: "slixmpp",
	// Left to choose (""), slixmpp 1.8 tries SCRAM-SHA-*-PLUS with
	// tls-unique, which TLS 1.3 lacks, and falls back to SCRAM with the
	// 'y' flag, which the server accepts after that failure. Told to use
	// one SCRAM mechanism it cannot log in (TestSlixmppForcedSCRAM).
	mechs: []string{"", "PLAIN"},
	login: func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) peer {
		t.Helper()
		return slixPeer{b.Slix(t, user+"@"+b.Domain, pass, apptest.SlixOptions{DirectTLS: o.direct, Mechanism: o.mech, Resource: o.resource})}
	},
	refused: func(t testing.TB, b *apptest.Broker, user, pass string, o loginOpts) string {
		t.Helper()
		s := b.StartSlixmpp(t, user+"@"+b.Domain, pass, apptest.SlixOptions{DirectTLS: o.direct, Mechanism: o.mech})
		// The condition of the last mechanism slixmpp tried before it gave
		// up or the server closed the stream after too many failures (left
		// to choose, slixmpp tries one mechanism after the other).
		cond := ""
		for {
			ev := s.WaitEvent(t, wait, "failed_auth", "failed_all_auth", "session_start", "disconnected")
			switch {
			case ev.Event == "failed_auth":
				cond = ev.Condition
				continue
			case ev.Event == "session_start":
				t.Fatalf("slixmpp: %s logged in with a wrong password", user)
			case cond == "":
				t.Fatalf("slixmpp: %s without a <failure/> from the server", ev.Event)
			}
			return cond
		}
	},
}

var libraries = []library{mellium, slixmpp}

// requirePeer skips (or, under CI, fails) when a library is missing.
func requirePeer(t *testing.T, lib library) {
	t.Helper()
	if lib.name == "slixmpp" {
		apptest.Python(t)
	}
}

// interopBroker starts a broker with four accounts (user-password);
// failed logins do not back off, since the tests fail some on purpose.
func interopBroker(t *testing.T) *apptest.Broker {
	t.Helper()
	b := apptest.Start(t, apptest.Options{Extra: "limits:\n  auth_backoff: 0s\n"})
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		b.AddUser(u+"@"+b.Domain, u+"-password")
	}
	return b
}

// TestInteropLogin: every mechanism each library supports, on STARTTLS and
// direct TLS; the bound JID comes from the SASL identity and carries the
// resource asked for, or one the server made up.
func TestInteropLogin(t *testing.T) {
	t.Parallel()
	b := interopBroker(t)
	for _, lib := range libraries {
		t.Run(lib.name, func(t *testing.T) {
			requirePeer(t, lib)
			for _, direct := range []bool{false, true} {
				for _, mech := range lib.mechs {
					name := mech
					if name == "" {
						name = "default"
					}
					if direct {
						name += "/direct-tls"
					}
					t.Run(name, func(t *testing.T) {
						p := lib.login(t, b, "alice", "alice-password", loginOpts{mech: mech, direct: direct, resource: "res-" + lib.name})
						if want := "alice@localhost/res-" + lib.name; p.JID() != want {
							t.Fatalf("bound %q, want %q", p.JID(), want)
						}
						p.Send(t, "<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
						p.Expect(t, "<iq type='result' id='ping1' from='localhost' to='alice@localhost/res-"+lib.name+"'/>")
					})
				}
			}
			t.Run("server-generated-resource", func(t *testing.T) {
				p := lib.login(t, b, "bob", "bob-password", loginOpts{})
				bare, res, ok := strings.Cut(p.JID(), "/")
				if !ok || bare != "bob@localhost" || len(res) < 8 {
					t.Fatalf("bound %q, want bob@localhost/<random>", p.JID())
				}
				q := lib.login(t, b, "bob", "bob-password", loginOpts{})
				if q.JID() == p.JID() {
					t.Fatalf("two sessions got the same generated resource %q", p.JID())
				}
			})
			t.Run("wrong-password", func(t *testing.T) {
				for _, m := range lib.mechs {
					if cond := lib.refused(t, b, "carol", "not-her-password", loginOpts{mech: m}); !strings.Contains(cond, "not-authorized") {
						t.Fatalf("%s: condition %q, want not-authorized", m, cond)
					}
				}
				if cond := lib.refused(t, b, "nobody", "whatever-password", loginOpts{mech: lib.mechs[0]}); !strings.Contains(cond, "not-authorized") {
					t.Fatalf("unknown user: condition %q, want not-authorized like a wrong password", cond)
				}
			})
		})
	}
}

// TestSlixmppForcedSCRAM: told to use one SCRAM mechanism, slixmpp 1.8
// cannot log in, and the server says so with a <failure/> rather than a
// dropped socket. -PLUS: slixmpp binds to tls-unique, which TLS 1.3 lacks
// (RFC 9266), so the server cannot check the binding. Without -PLUS:
// slixmpp still sends the 'y' flag (it could bind, it thinks the server
// cannot) although the server offers -PLUS, which RFC 5802 §6 requires the
// server to refuse as a possible downgrade; the server only lets 'y' pass
// after a -PLUS attempt with an unusable binding type failed on the same
// stream, which is what slixmpp does when left to choose.
func TestSlixmppForcedSCRAM(t *testing.T) {
	t.Parallel()
	apptest.Python(t)
	b := interopBroker(t)
	for _, tc := range []struct{ mech, cond string }{
		{"SCRAM-SHA-256-PLUS", "malformed-request"},
		{"SCRAM-SHA-1-PLUS", "malformed-request"},
		{"SCRAM-SHA-256", "not-authorized"},
		{"SCRAM-SHA-1", "not-authorized"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			if cond := slixmpp.refused(t, b, "alice", "alice-password", loginOpts{mech: tc.mech}); cond != tc.cond {
				t.Fatalf("condition %q, want %q", cond, tc.cond)
			}
		})
	}
}

// TestInteropRouting runs the routing body for each library, and once with
// the two libraries talking to each other.
func TestInteropRouting(t *testing.T) {
	t.Parallel()
	b := interopBroker(t)
	pairs := []struct {
		name     string
		from, to library
	}{
		{"mellium", mellium, mellium},
		{"slixmpp", slixmpp, slixmpp},
		{"slixmpp-to-mellium", slixmpp, mellium},
	}
	users := [][2]string{{"alice", "bob"}, {"carol", "dave"}, {"alice", "dave"}}
	for i, pair := range pairs {
		t.Run(pair.name, func(t *testing.T) {
			requirePeer(t, pair.from)
			requirePeer(t, pair.to)
			routing(t, b, pair.from, pair.to, users[i][0], users[i][1])
		})
	}
}

// routing is the test body: sender s (user from) and two resources of
// user to, r1 and r2.
func routing(t *testing.T, b *apptest.Broker, fromLib, toLib library, from, to string) {
	s := fromLib.login(t, b, from, from+"-password", loginOpts{resource: "s"})
	r1 := toLib.login(t, b, to, to+"-password", loginOpts{resource: "r1"})
	r2 := toLib.login(t, b, to, to+"-password", loginOpts{resource: "r2"})
	sj, r1j, r2j := s.JID(), r1.JID(), r2.JID()
	bare := to + "@localhost"

	// Presence: broadcast to the user's own available resources, the
	// sender's included (RFC 6121 §4.2.2).
	r1.Send(t, "<presence><priority>5</priority></presence>")
	r1.Expect(t, "<presence from='"+r1j+"'><priority>5</priority></presence>")
	r2.Send(t, "<presence><priority>1</priority></presence>")
	r2.Expect(t, "<presence from='"+r2j+"'/>")
	r1.Expect(t, "<presence from='"+r2j+"'/>")

	t.Run("message-to-full-jid", func(t *testing.T) {
		s.Send(t, "<message to='"+r2j+"' type='chat' id='full1'><body>to r2</body></message>")
		r2.Expect(t, "<message id='full1' from='"+sj+"' to='"+r2j+"' type='chat'><body>to r2</body></message>")
	})
	t.Run("message-to-bare-jid-highest-priority", func(t *testing.T) {
		s.Send(t, "<message to='"+bare+"' type='chat' id='bare1'><body>to the best</body></message>")
		r1.Expect(t, "<message id='bare1' from='"+sj+"'><body>to the best</body></message>")
		// r2 (lower priority) must not get it: the next message from s that
		// r2 sees is one sent to it directly afterwards.
		s.Send(t, "<message to='"+r2j+"' type='chat' id='marker1'><body>marker</body></message>")
		if got := r2.Expect(t, "<message from='"+sj+"'/>"); got.AttrValue("id") != "marker1" {
			t.Fatalf("r2 (priority 1) got %s, want only the marker", got)
		}
	})
	t.Run("message-to-bare-jid-equal-priority", func(t *testing.T) {
		r2.Send(t, "<presence><priority>5</priority></presence>")
		r1.Expect(t, "<presence from='"+r2j+"'><priority>5</priority></presence>")
		s.Send(t, "<message to='"+bare+"' type='chat' id='bare2'><body>to both</body></message>")
		r1.Expect(t, "<message id='bare2' from='"+sj+"'/>")
		r2.Expect(t, "<message id='bare2' from='"+sj+"'/>")
	})
	t.Run("spoofed-from-replaced", func(t *testing.T) {
		s.Send(t, "<message to='"+r1j+"' from='admin@localhost/console' id='spoof1'><body>trust me</body></message>")
		r1.Expect(t, "<message id='spoof1' from='"+sj+"'/>")
	})
	t.Run("iq-to-full-jid", func(t *testing.T) {
		// The receiving library answers an iq it does not know itself
		// (with an error): the answer is routed back to the sender.
		s.Send(t, "<iq type='get' id='iq1' to='"+r1j+"'><query xmlns='urn:example:extasis'/></iq>")
		r1.Expect(t, "<iq type='get' id='iq1' from='"+sj+"'><query xmlns='urn:example:extasis'/></iq>")
		s.Expect(t, "<iq id='iq1' from='"+r1j+"' to='"+sj+"'/>")
	})
	t.Run("iq-to-bare-jid-answered-by-server", func(t *testing.T) {
		s.Send(t, "<iq type='get' id='iq2' to='"+bare+"'><ping xmlns='urn:xmpp:ping'/></iq>")
		s.Expect(t, "<iq type='result' id='iq2' from='"+bare+"' to='"+sj+"'/>")
		s.Send(t, "<iq type='get' id='iq3' to='"+bare+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		s.Expect(t, "<iq type='error' id='iq3' from='"+bare+"'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	})
	t.Run("server-services", func(t *testing.T) {
		s.Send(t, "<iq type='get' id='srv1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		s.Expect(t, "<iq type='result' id='srv1' from='localhost'><query xmlns='http://jabber.org/protocol/disco#info'>"+
			"<identity category='server' type='im'/><feature var='urn:xmpp:ping'/><feature var='jabber:iq:version'/></query></iq>")
		s.Send(t, "<iq type='get' id='srv2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		s.Expect(t, "<iq type='result' id='srv2' from='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		s.Send(t, "<iq type='get' id='srv3' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
		s.Expect(t, "<iq type='result' id='srv3' from='localhost'><query xmlns='jabber:iq:version'><name>Extasis</name></query></iq>")
		s.Send(t, "<iq type='get' id='srv4' to='localhost'><query xmlns='urn:example:nothing-here'/></iq>")
		s.Expect(t, "<iq type='error' id='srv4' from='localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	})
	t.Run("errors", func(t *testing.T) {
		s.Send(t, "<message to='nobody@localhost' type='chat' id='e1'><body>x</body></message>")
		s.Expect(t, "<message type='error' id='e1' from='nobody@localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
		s.Send(t, "<iq type='get' id='e2' to='"+bare+"/gone'><query xmlns='urn:example:extasis'/></iq>")
		s.Expect(t, "<iq type='error' id='e2' from='"+bare+"/gone'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		s.Send(t, "<message to='juliet@example.net' type='chat' id='e3'><body>x</body></message>")
		s.Expect(t, "<message type='error' id='e3' from='juliet@example.net'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
		s.Send(t, "<iq type='get' id='e4' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>")
		s.Expect(t, "<iq type='error' id='e4' from='localhost'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	})
}
