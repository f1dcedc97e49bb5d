package im

import (
	"strings"
	"testing"

	"github.com/extasis/extasis/core/stanza"
)

// TestSubscriptionLifecycle walks alice and bob through a full
// subscription life, both online, checking both sides' states, roster
// pushes, deliveries and the presence that goes with each step.
func TestSubscriptionLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := e.account("alice"), e.account("bob")
	a := e.online("alice@example.org/phone")
	b := e.online("bob@example.org/desk")

	steps := []struct {
		name       string
		who        *client
		send       string
		alice, bob string // states afterwards: alice toward bob, bob toward alice
		check      func(t *testing.T)
	}{
		{"alice subscribes", a, `<presence type='subscribe' to='bob@example.org/desk' id='s1'/>`,
			"None + Pending Out", "None + Pending In", func(t *testing.T) {
				a.expect(`<iq`, `ask='subscribe'`, `jid='bob@example.org'`)
				// From the bare JID, to the bare JID (§3.1.2).
				b.expect(`type='subscribe'`, `from='alice@example.org'`, `to='bob@example.org'`)
			}},
		{"bob approves", b, `<presence type='subscribed' to='alice@example.org'/>`,
			"To", "From", func(t *testing.T) {
				b.expect(`<iq`, `subscription='from'`)
				a.expect(`type='subscribed'`, `from='bob@example.org'`)
				a.expect(`<iq`, `subscription='to'`)
				// §3.1.5: bob's presence follows his approval.
				a.expect(`<presence`, `from='bob@example.org/desk'`)
			}},
		{"bob subscribes back", b, `<presence type='subscribe' to='alice@example.org'/>`,
			"To + Pending In", "From + Pending Out", func(t *testing.T) {
				a.expect(`type='subscribe'`, `from='bob@example.org'`)
			}},
		{"alice approves", a, `<presence type='subscribed' to='bob@example.org'/>`,
			"Both", "Both", func(t *testing.T) {
				b.expect(`type='subscribed'`)
				b.expect(`<presence`, `from='alice@example.org/phone'`)
			}},
		{"alice unsubscribes", a, `<presence type='unsubscribe' to='bob@example.org'/>`,
			"From", "To", func(t *testing.T) {
				b.expect(`type='unsubscribe'`, `from='alice@example.org'`)
				// §3.3.3: alice sees bob's resources go unavailable.
				a.expect(`type='unavailable'`, `from='bob@example.org/desk'`)
			}},
		{"alice cancels bob's subscription", a, `<presence type='unsubscribed' to='bob@example.org'/>`,
			"None", "None", func(t *testing.T) {
				b.expect(`type='unsubscribed'`, `from='alice@example.org'`)
				// §3.2.2: bob sees alice's resources go unavailable.
				b.expect(`type='unavailable'`, `from='alice@example.org/phone'`)
			}},
		{"bob's unsubscribed changes nothing now", b, `<presence type='unsubscribed' to='alice@example.org'/>`,
			"None", "None", func(t *testing.T) {
				a.never(`type='unsubscribed'`)
			}},
		{"alice subscribes again", a, `<presence type='subscribe' to='bob@example.org'/>`,
			"None + Pending Out", "None + Pending In", nil},
		{"bob denies", b, `<presence type='unsubscribed' to='alice@example.org'/>`,
			"None", "None", func(t *testing.T) {
				a.expect(`type='unsubscribed'`)
			}},
		{"bob pre-approves alice", b, `<presence type='subscribed' to='alice@example.org'/>`,
			"None", "None + Pre-approved", func(t *testing.T) {
				b.expect(`approved='true'`)
				a.never(`type='subscribed'`)
			}},
		{"alice subscribes, approved at once", a, `<presence type='subscribe' to='bob@example.org'/>`,
			"To", "From", func(t *testing.T) {
				a.expect(`type='subscribed'`, `from='bob@example.org'`)
				b.never(`type='subscribe'`)
			}},
		{"alice's unsubscribed changes nothing", a, `<presence type='unsubscribed' to='bob@example.org'/>`,
			"To", "From", func(t *testing.T) {
				b.never(`type='unsubscribed'`)
			}},
		{"bob cancels, alice loses To", b, `<presence type='unsubscribed' to='alice@example.org'/>`,
			"None", "None", func(t *testing.T) {
				a.expect(`type='unsubscribed'`)
				a.expect(`type='unavailable'`, `from='bob@example.org/desk'`)
			}},
	}
	for _, s := range steps {
		e.run(t, s.name, func(t *testing.T) {
			s.who.send(s.send)
			if got := e.state(alice, bob); got != s.alice {
				t.Errorf("alice toward bob: %q, want %q", got, s.alice)
			}
			if got := e.state(bob, alice); got != s.bob {
				t.Errorf("bob toward alice: %q, want %q", got, s.bob)
			}
			if s.check != nil {
				s.check(t)
			}
			a.drain()
			b.drain()
		})
	}
}

// TestPendingRequestRedelivered: a request to an offline user is kept and
// delivered at every login until answered (§3.1.3).
func TestPendingRequestRedelivered(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	bob := e.account("bob")
	a := e.online("alice@example.org/a")
	a.send(`<presence type='subscribe' to='bob@example.org'><status>it is alice</status></presence>`)
	for i := range 2 {
		b := e.online("bob@example.org/b")
		_ = i
		b.conn.got = nil
		b.end()
		b = e.login("bob@example.org/b")
		b.send(`<presence/>`)
		b.expect(`type='subscribe'`, `from='alice@example.org'`, `it is alice`)
		b.end()
	}
	b := e.online("bob@example.org/b")
	b.send(`<presence type='subscribed' to='alice@example.org'/>`)
	b.end()
	b = e.login("bob@example.org/b")
	b.send(`<presence/>`)
	b.never(`type='subscribe'`)
	if got := e.state(bob, a.jid.Bare()); got != "From" {
		t.Fatalf("bob: %s", got)
	}
}

// TestSubscribeToNobody: §3.1.3, no such account answers unsubscribed.
func TestSubscribeToNobody(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	a := e.online("alice@example.org/a")
	a.send(`<presence type='subscribe' to='ghost@example.org'/>`)
	a.expect(`type='unsubscribed'`, `from='ghost@example.org'`)
	if got := e.state(a.jid.Bare(), mustJID("ghost@example.org")); got != "None" {
		t.Fatalf("state %s", got)
	}
}

// befriend makes every pair of names mutual (Both) subscribers, offline.
func befriend(e *env, names ...string) {
	e.t.Helper()
	for i, x := range names {
		for _, y := range names[i+1:] {
			for _, p := range [][2]string{{x, y}, {y, x}} {
				if _, err := e.store.PutRosterItem(e.ctx, mustJID(p[0]+"@"+domain), storageBoth(mustJID(p[1]+"@"+domain)), 0); err != nil {
					e.t.Fatal(err)
				}
			}
		}
	}
}

// TestPresence: initial presence, probes, broadcast, own resources,
// priorities, directed presence, unavailable on any end.
func TestPresence(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		e.account(n)
	}
	befriend(e, "alice", "bob", "carol")
	b := e.online("bob@example.org/b")
	b.send(`<presence><show>away</show><status>lunch</status></presence>`)
	b.drain()

	a := e.login("alice@example.org/phone")
	a.send(`<presence><priority>5</priority></presence>`)
	// Own presence echoed (§4.2.2), bob's answered from his last presence.
	a.expect(`from='alice@example.org/phone'`, `<priority>5</priority>`)
	a.expect(`from='bob@example.org/b'`, `<show>away</show>`, `to='alice@example.org/phone'`)
	b.expect(`from='alice@example.org/phone'`, `to='bob@example.org'`)

	e.run(t, "second resource sees the first", func(t *testing.T) {
		a2 := e.login("alice@example.org/desk")
		a2.send(`<presence/>`)
		a.expect(`from='alice@example.org/desk'`)
		a2.expect(`from='alice@example.org/desk'`)
		b.expect(`from='alice@example.org/desk'`)
		a2.end()
		a.expect(`type='unavailable'`, `from='alice@example.org/desk'`)
		b.expect(`type='unavailable'`, `from='alice@example.org/desk'`)
	})

	e.run(t, "not to unsubscribed users", func(t *testing.T) {
		d := e.online("dave@example.org/d")
		a.send(`<presence><status>update</status></presence>`)
		b.expect(`update`)
		d.never(`update`)
		d.end()
	})

	e.run(t, "directed presence is cleaned up", func(t *testing.T) {
		d := e.online("dave@example.org/d")
		a.send(`<presence to='dave@example.org/d'><status>hello dave</status></presence>`)
		d.expect(`hello dave`)
		a.end()
		d.expect(`type='unavailable'`, `from='alice@example.org/phone'`)
		b.expect(`type='unavailable'`, `from='alice@example.org/phone'`)
		d.end()
	})

	e.run(t, "probe from a subscriber and from a stranger", func(t *testing.T) {
		c := e.online("carol@example.org/c")
		c.drain()
		c.send(`<presence type='probe' to='bob@example.org'/>`)
		c.expect(`from='bob@example.org/b'`, `<show>away</show>`)
		d := e.online("dave@example.org/d")
		// The unsubscribed answer changes nothing for a stranger (Appendix
		// A.3.4), so dave's server delivers nothing.
		d.send(`<presence type='probe' to='bob@example.org'/>`)
		d.never(`<show>`)
		d.never(`from='bob@example.org`)
		b.end()
		c.send(`<presence type='probe' to='bob@example.org'/>`)
		c.expect(`type='unavailable'`, `from='bob@example.org'`)
	})
}

// TestNegativePriority: a resource with negative priority gets no bare
// JID messages and no offline flush (§8.5.2.1.1, XEP-0160).
func TestNegativePriority(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	e.account("bob")
	b := e.online("bob@example.org/b")
	a := e.login("alice@example.org/bot")
	a.send(`<presence><priority>-1</priority></presence>`)
	a.drain()
	b.send(`<message to='alice@example.org' type='chat' id='m1'><body>hi</body></message>`)
	a.never(`id='m1'`)
	a2 := e.login("alice@example.org/phone")
	a2.send(`<presence/>`)
	a2.expect(`id='m1'`, `urn:xmpp:delay`)
}

func TestMessageDelivery(t *testing.T) {
	tests := []struct {
		name    string
		to      string
		typ     string
		online  bool // alice has an available resource "a"
		deliver bool // alice's resource gets it
		err     string
		stored  bool
	}{
		{"chat to bare, online", "alice@example.org", "chat", true, true, "", false},
		{"normal to bare, online", "alice@example.org", "normal", true, true, "", false},
		{"headline to bare, online", "alice@example.org", "headline", true, true, "", false},
		{"groupchat to bare", "alice@example.org", "groupchat", true, false, "service-unavailable", false},
		{"error to bare", "alice@example.org", "error", true, false, "", false},
		{"chat to full, online", "alice@example.org/a", "chat", true, true, "", false},
		{"groupchat to full, online", "alice@example.org/a", "groupchat", true, true, "", false},
		{"chat to other full: bare rules", "alice@example.org/gone", "chat", true, true, "", false},
		{"headline to other full: dropped", "alice@example.org/gone", "headline", true, false, "", false},
		{"groupchat to other full", "alice@example.org/gone", "groupchat", true, false, "service-unavailable", false},
		{"chat offline: stored", "alice@example.org", "chat", false, false, "", true},
		{"normal offline: stored", "alice@example.org", "", false, false, "", true},
		{"chat to full offline: stored", "alice@example.org/gone", "chat", false, false, "", true},
		{"headline offline: dropped", "alice@example.org", "headline", false, false, "", false},
		{"groupchat offline", "alice@example.org", "groupchat", false, false, "service-unavailable", false},
		{"no such user", "ghost@example.org", "chat", false, false, "service-unavailable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			alice := e.account("alice")
			e.account("bob")
			b := e.online("bob@example.org/b")
			var a *client
			if tt.online {
				a = e.online("alice@example.org/a")
			}
			typ := ""
			if tt.typ != "" {
				typ = ` type='` + tt.typ + `'`
			}
			b.send(`<message to='` + tt.to + `'` + typ + ` id='m1'><body>hello</body></message>`)
			if a != nil {
				if tt.deliver {
					a.expect(`id='m1'`, `hello`)
				} else {
					a.never(`id='m1'`)
				}
			}
			if tt.err != "" {
				b.expect(`id='m1'`, `type='error'`, tt.err)
			} else {
				b.never(`type='error'`)
			}
			n, err := e.store.CountOffline(e.ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != tt.stored {
				t.Fatalf("offline count %d, want stored=%v", n, tt.stored)
			}
		})
	}
}

// TestOffline: XEP-0160 storage, order, delay stamps, hints, quota.
func TestOffline(t *testing.T) {
	e := newEnv(t, envOptions{maxOffline: 3})
	e.account("alice")
	e.account("bob")
	b := e.online("bob@example.org/b")
	b.send(`<message to='alice@example.org' type='chat' id='m1'><body>one</body></message>`)
	b.send(`<message to='alice@example.org' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	b.send(`<message to='alice@example.org' type='chat' id='ns'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`)
	b.expect(`id='ns'`, `service-unavailable`)
	b.send(`<message to='alice@example.org' id='m2'><body>two</body></message>`)
	b.send(`<message to='alice@example.org' type='chat' id='m3'><body>three</body></message>`)
	b.send(`<message to='alice@example.org' type='chat' id='m4'><body>four</body></message>`)
	b.expect(`id='m4'`, `type='error'`, `service-unavailable`, `offline storage is full`)
	b.quiet()

	a := e.login("alice@example.org/a")
	a.send(`<presence/>`)
	var ids []string
	for _, st := range a.drain() {
		if st.Kind == stanza.Message {
			ids = append(ids, st.ID)
			if !strings.Contains(string(st.Raw), `<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-11-26T10:00:00.000Z'>`) {
				t.Fatalf("no delay stamp: %s", st.Raw)
			}
		}
	}
	if strings.Join(ids, ",") != "m1,m2,m3" {
		t.Fatalf("delivered %v, want m1,m2,m3 in order", ids)
	}
	if n, _ := e.store.CountOffline(e.ctx, a.jid.Bare()); n != 0 {
		t.Fatalf("%d left after delivery", n)
	}
}

// TestOfflineFlushStopsAtDeadSession: what a session does not take stays
// stored (delete only what was queued).
func TestOfflineFlushStopsAtDeadSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	e.account("bob")
	b := e.online("bob@example.org/b")
	for _, id := range []string{"m1", "m2"} {
		b.send(`<message to='alice@example.org' type='chat' id='` + id + `'><body>x</body></message>`)
	}
	a := e.login("alice@example.org/a")
	a.conn.refuse = true
	a.send(`<presence/>`)
	if n, _ := e.store.CountOffline(e.ctx, a.jid.Bare()); n != 2 {
		t.Fatalf("%d stored, want 2 kept", n)
	}
}

// TestUnackedRerouted: what a dead session never acknowledged goes to
// another resource, or offline when there is none; iqs get errors;
// carbons are not duplicated.
func TestUnackedRerouted(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.account("alice")
	e.account("bob")
	b := e.online("bob@example.org/b")
	a1 := e.online("alice@example.org/one")
	a2 := e.online("alice@example.org/two")
	b.drain()
	m1 := mustParse(`<message from='bob@example.org/b' to='alice@example.org/one' type='chat' id='m1'><body>1</body></message>`)
	m2 := mustParse(`<message from='bob@example.org/b' to='alice@example.org' type='chat' id='m2'><body>2</body></message>`)
	iq := mustParse(`<iq from='bob@example.org/b' to='alice@example.org/one' type='get' id='q1'><query xmlns='jabber:iq:version'/></iq>`)
	cc := carbon("received", alice, a1.jid, m2)
	a1.end(m1, m2, iq, cc)
	a2.expect(`id='m1'`)
	a2.expect(`id='m2'`)
	a2.never(`urn:xmpp:carbons:2`)
	b.expect(`id='q1'`, `type='error'`, `service-unavailable`)
	m3 := mustParse(`<message from='bob@example.org/b' to='alice@example.org/two' type='chat' id='m3'><body>3</body></message>`)
	a2.end(m3)
	if n, _ := e.store.CountOffline(e.ctx, alice); n != 1 {
		t.Fatalf("offline %d, want 1", n)
	}
}

func TestCarbons(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	e.account("bob")
	b := e.online("bob@example.org/b")
	phone := e.online("alice@example.org/phone")
	desk := e.online("alice@example.org/desk")
	old := e.online("alice@example.org/old") // carbons not enabled
	for _, c := range []*client{phone, desk} {
		c.send(`<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
		c.expect(`id='c1'`, `type='result'`)
	}
	e.run(t, "sent", func(t *testing.T) {
		phone.send(`<message to='bob@example.org' type='chat' id='s1'><body>hi bob</body></message>`)
		b.expect(`id='s1'`)
		got := desk.expect(`<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'`, `id='s1'`)
		if got.From.String() != "alice@example.org" || got.To.String() != "alice@example.org/desk" {
			t.Fatalf("carbon addresses: %s", got.Raw)
		}
		phone.never(`<sent`)
		old.never(`<sent`)
	})
	e.run(t, "received to full JID", func(t *testing.T) {
		b.send(`<message to='alice@example.org/phone' type='chat' id='r1'><body>hi phone</body></message>`)
		phone.expect(`id='r1'`)
		desk.expect(`<received xmlns='urn:xmpp:carbons:2'>`, `id='r1'`)
		old.never(`id='r1'`)
	})
	e.run(t, "private and no-copy", func(t *testing.T) {
		b.send(`<message to='alice@example.org/phone' type='chat' id='p1'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>`)
		b.send(`<message to='alice@example.org/phone' type='chat' id='p2'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>`)
		b.send(`<message to='alice@example.org/phone' type='headline' id='p3'><body>x</body></message>`)
		desk.never(`id='p`)
	})
	e.run(t, "disable", func(t *testing.T) {
		desk.send(`<iq type='set' id='c2'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
		desk.expect(`id='c2'`, `type='result'`)
		phone.send(`<message to='bob@example.org' type='chat' id='s2'><body>x</body></message>`)
		desk.never(`id='s2'`)
	})
}

func TestBlocking(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	e.account("bob")
	e.account("carol")
	befriend(e, "alice", "bob")
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	a.send(`<iq type='get' id='bl0'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	a.expect(`id='bl0'`, `<blocklist xmlns='urn:xmpp:blocking'/>`)
	b.drain()

	a.send(`<iq type='set' id='bl1'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`)
	a.expect(`id='bl1'`, `type='result'`)
	a.expect(`<block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block>`)
	// bob sees alice go offline (§3.3).
	b.expect(`type='unavailable'`, `from='alice@example.org/a'`)

	tests := []struct {
		name, send string
		from       *client
		to         *client
		err        string // error the sender gets, "" for silence
	}{
		{"inbound message", `<message to='alice@example.org' type='chat' id='x1'><body>x</body></message>`, b, a, "service-unavailable"},
		{"inbound iq", `<iq to='alice@example.org/a' type='get' id='x2'><query xmlns='jabber:iq:version'/></iq>`, b, a, "service-unavailable"},
		{"inbound presence", `<presence to='alice@example.org/a' id='x3'/>`, b, a, ""},
		{"inbound subscribe", `<presence to='alice@example.org' type='subscribe' id='x4'/>`, b, a, ""},
		{"outbound message", `<message to='bob@example.org' type='chat' id='x5'><body>x</body></message>`, a, b, "not-acceptable"},
		{"outbound iq", `<iq to='bob@example.org/b' type='get' id='x6'><query xmlns='jabber:iq:version'/></iq>`, a, b, "not-acceptable"},
		{"outbound directed presence", `<presence to='bob@example.org/b' id='x7'/>`, a, b, "not-acceptable"},
	}
	for _, tt := range tests {
		e.run(t, tt.name, func(t *testing.T) {
			id := tt.send[strings.Index(tt.send, "id='")+4:]
			id = id[:strings.IndexByte(id, '\'')]
			tt.from.send(tt.send)
			tt.to.never(`id='` + id + `'`)
			if tt.err != "" {
				got := tt.from.expect(`id='`+id+`'`, `type='error'`, tt.err)
				if tt.err == "not-acceptable" && !strings.Contains(string(got.Raw), `<blocked xmlns='urn:xmpp:blocking:errors'/>`) {
					t.Fatalf("no <blocked/>: %s", got.Raw)
				}
			} else {
				tt.from.never(`id='`+id+`'`, `type='error'`)
			}
		})
	}
	e.run(t, "broadcast skips blocked", func(t *testing.T) {
		a.send(`<presence><status>new</status></presence>`)
		b.never(`new`)
		b.send(`<presence><status>bob new</status></presence>`)
		a.never(`bob new`)
	})
	e.run(t, "other contacts unaffected", func(t *testing.T) {
		c := e.online("carol@example.org/c")
		c.send(`<message to='alice@example.org' type='chat' id='y1'><body>x</body></message>`)
		a.expect(`id='y1'`)
	})
	e.run(t, "unblock", func(t *testing.T) {
		a.send(`<iq type='set' id='ub'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
		a.expect(`id='ub'`, `type='result'`)
		a.expect(`<unblock xmlns='urn:xmpp:blocking'/>`)
		b.expect(`from='alice@example.org/a'`, `new`)
		b.send(`<message to='alice@example.org' type='chat' id='y2'><body>x</body></message>`)
		a.expect(`id='y2'`)
	})
	e.run(t, "blocked while offline: not stored", func(t *testing.T) {
		a.send(`<iq type='set' id='bl2'><block xmlns='urn:xmpp:blocking'><item jid='example.org'/></block></iq>`)
		a.end()
		b.send(`<message to='alice@example.org' type='chat' id='y3'><body>x</body></message>`)
		b.expect(`id='y3'`, `service-unavailable`)
		if n, _ := e.store.CountOffline(e.ctx, a.jid.Bare()); n != 0 {
			t.Fatalf("stored %d", n)
		}
	})
}

func TestRoster(t *testing.T) {
	e := newEnv(t, envOptions{maxRoster: 3})
	e.account("alice")
	a := e.online("alice@example.org/a")
	a2 := e.online("alice@example.org/b")
	long := strings.Repeat("n", MaxNameLen+1)
	tests := []struct {
		name, item, want string
	}{
		{"add", `<item jid='bob@example.org' name='Bob'><group>Friends</group></item>`, "result"},
		{"update", `<item jid='bob@example.org' name='Robert'><group>Friends</group><group>Work</group></item>`, "result"},
		{"bad jid", `<item jid='@@'/>`, "jid-malformed"},
		{"full jid", `<item jid='bob@example.org/x'/>`, "bad-request"},
		{"self", `<item jid='alice@example.org'/>`, "not-allowed"},
		{"two items", `<item jid='c@example.org'/><item jid='d@example.org'/>`, "bad-request"},
		{"name too long", `<item jid='c@example.org' name='` + long + `'/>`, "not-acceptable"},
		{"empty group", `<item jid='c@example.org'><group/></item>`, "not-acceptable"},
		{"duplicate group", `<item jid='c@example.org'><group>a</group><group>a</group></item>`, "bad-request"},
		{"add 2", `<item jid='c@example.org'/>`, "result"},
		{"add 3", `<item jid='d@example.org'/>`, "result"},
		{"quota", `<item jid='e@example.org'/>`, "not-allowed"},
		{"remove", `<item jid='d@example.org' subscription='remove'/>`, "result"},
		{"remove unknown", `<item jid='zz@example.org' subscription='remove'/>`, "item-not-found"},
	}
	for _, tt := range tests {
		e.run(t, tt.name, func(t *testing.T) {
			a.send(`<iq type='set' id='rs'><query xmlns='jabber:iq:roster'>` + tt.item + `</query></iq>`)
			a.expect(`id='rs'`, tt.want)
			if tt.want == "result" {
				// §2.1.6: every interested resource gets the push.
				a2.expect(`<iq`, `type='set'`, `jabber:iq:roster`, `ver=`)
			}
		})
	}
	e.run(t, "quota text", func(t *testing.T) {
		a.send(`<iq type='set' id='rq0'><query xmlns='jabber:iq:roster'><item jid='x@example.org'/></query></iq>`)
		a.expect(`id='rq0'`, `type='result'`)
		a.send(`<iq type='set' id='rq'><query xmlns='jabber:iq:roster'><item jid='f@example.org'/></query></iq>`)
		a.expect(`id='rq'`, `roster is full: at most 3 contacts`)
	})
	e.run(t, "someone else's roster", func(t *testing.T) {
		e.account("mallory")
		m := e.online("mallory@example.org/m")
		m.send(`<iq type='get' to='alice@example.org' id='rg'><query xmlns='jabber:iq:roster'/></iq>`)
		m.expect(`id='rg'`, `forbidden`)
	})
}

// TestRosterVersioning: XEP-0237 / RFC 6121 §2.6.
func TestRosterVersioning(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	a := e.online("alice@example.org/a")
	for _, c := range []string{"b", "c", "d"} {
		a.send(`<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='` + c + `@example.org'/></query></iq>`)
	}
	a.drain()
	a.send(`<iq type='get' id='v0'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	full := a.expect(`id='v0'`, `ver=`)
	el, _ := full.Element()
	ver := el.Child("jabber:iq:roster", "query").Attr("ver")

	a.send(`<iq type='get' id='v1'><query xmlns='jabber:iq:roster' ver='` + ver + `'/></iq>`)
	got := a.expect(`id='v1'`, `type='result'`)
	if strings.Contains(string(got.Raw), "query") {
		t.Fatalf("unchanged roster sent again: %s", got.Raw)
	}
	a.quiet()

	a.send(`<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='e@example.org'/></query></iq>`)
	a.send(`<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='b@example.org' subscription='remove'/></query></iq>`)
	a.drain()
	a.send(`<iq type='get' id='v2'><query xmlns='jabber:iq:roster' ver='` + ver + `'/></iq>`)
	a.expect(`id='v2'`, `type='result'`)
	pushes := a.drain()
	if len(pushes) != 2 || !strings.Contains(string(pushes[0].Raw), `e@example.org`) || !strings.Contains(string(pushes[1].Raw), `subscription='remove'`) {
		t.Fatalf("changes as pushes: %s", dump(pushes))
	}
	if !strings.Contains(string(pushes[0].Raw), `ver='`+ver+`'`) || strings.Contains(string(pushes[1].Raw), `ver='`+ver+`'`) {
		t.Fatalf("only the last push carries the new version: %s", dump(pushes))
	}
	a.send(`<iq type='get' id='v3'><query xmlns='jabber:iq:roster' ver='999999999999999999'/></iq>`)
	a.expect(`id='v3'`, `c@example.org`, `d@example.org`, `e@example.org`)
}

// TestReplacedSession: when a new session takes over a full JID (RFC 6120
// §7.7.2.2), the end of the old one does not announce the JID unavailable,
// and what it never delivered goes to the new one.
func TestReplacedSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.account("alice")
	e.account("bob")
	befriend(e, "alice", "bob")
	b := e.online("bob@example.org/b")
	old := e.online("alice@example.org/x")
	cur := e.login("alice@example.org/x")
	cur.send(`<presence/>`)
	b.drain()
	cur.drain()
	m := mustParse(`<message from='bob@example.org/b' to='alice@example.org/x' type='chat' id='m1'><body>1</body></message>`)
	old.end(m)
	b.never(`type='unavailable'`)
	cur.expect(`id='m1'`)
}
