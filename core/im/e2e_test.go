package im_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// End-to-end tests: the real extasis binary, clients over TLS on loopback.
// The raw client (e2e_client_test.go) shows every byte; mellium and
// slixmpp run the same rules as real libraries do.

const wait = 10 * time.Second

// startBroker runs the binary with extra YAML for the im section (and any
// other top-level key) and c2s keys added to the generated c2s section.
func startBroker(t *testing.T, extra, c2s string) *apptest.Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b := apptest.Start(t, apptest.Options{Extra: extra})
	if c2s != "" {
		cfg, err := os.ReadFile(b.Config)
		if err != nil {
			t.Fatal(err)
		}
		patched := strings.Replace(string(cfg), "c2s:\n", "c2s:\n"+c2s, 1)
		if err := os.WriteFile(b.Config, []byte(patched), 0o600); err != nil {
			t.Fatal(err)
		}
		b.Restart()
	}
	return b
}

// users creates name@localhost with password name-password for each name.
func users(b *apptest.Broker, names ...string) {
	for _, n := range names {
		b.AddUser(n+"@localhost", n+"-password")
	}
}

// login dials name@localhost, fetches the roster and sends initial
// presence.
func login(t *testing.T, b *apptest.Broker, name string, o xcOptions) *xc {
	t.Helper()
	c := dial(t, b, name+"@localhost", name+"-password", o)
	c.roster()
	c.send("<presence/>")
	c.sync()
	return c
}

// befriend makes a and b mutual subscribers in band.
func befriend(t *testing.T, a, b *xc) {
	t.Helper()
	a.send("<presence type='subscribe' to='" + b.user + "'/>")
	b.expect(wait, "type='subscribe'", "from='"+a.user+"'")
	b.send("<presence type='subscribed' to='" + a.user + "'/>")
	b.send("<presence type='subscribe' to='" + a.user + "'/>")
	a.expect(wait, "type='subscribe'", "from='"+b.user+"'")
	a.send("<presence type='subscribed' to='" + b.user + "'/>")
	a.sync()
	b.sync()
	if s := a.subscription(b.user); s != "both" {
		t.Fatalf("%s toward %s: %s", a.user, b.user, s)
	}
}

// TestE2ESubscriptionStates: the outbound subscribe, subscribed,
// unsubscribe and unsubscribed of each side (eight transitions), with the
// roster of both sides read after each.
func TestE2ESubscriptionStates(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{Resource: "phone"})
	bob := login(t, b, "bob", xcOptions{Resource: "desk"})
	steps := []struct {
		name     string
		from     *xc
		send     string
		receiver *xc
		receives []string
		a, b     string // alice's item for bob, bob's item for alice
	}{
		{"alice subscribe", alice, "<presence type='subscribe' to='bob@localhost'/>", bob, []string{"type='subscribe'", "from='alice@localhost'"}, "none+ask", "absent"},
		{"bob subscribed", bob, "<presence type='subscribed' to='alice@localhost'/>", alice, []string{"type='subscribed'", "from='bob@localhost'"}, "to", "from"},
		{"bob subscribe", bob, "<presence type='subscribe' to='alice@localhost'/>", alice, []string{"type='subscribe'", "from='bob@localhost'"}, "to", "from+ask"},
		{"alice subscribed", alice, "<presence type='subscribed' to='bob@localhost'/>", bob, []string{"type='subscribed'", "from='alice@localhost'"}, "both", "both"},
		{"alice unsubscribe", alice, "<presence type='unsubscribe' to='bob@localhost'/>", alice, []string{"type='unavailable'", "from='bob@localhost/desk'"}, "from", "to"},
		{"bob unsubscribe", bob, "<presence type='unsubscribe' to='alice@localhost'/>", bob, []string{"type='unavailable'", "from='alice@localhost/phone'"}, "none", "none"},
		{"bob subscribed: pre-approval", bob, "<presence type='subscribed' to='alice@localhost'/>", bob, []string{"approved='true'"}, "none", "none+approved"},
		{"alice subscribe: approved at once", alice, "<presence type='subscribe' to='bob@localhost'/>", alice, []string{"type='subscribed'", "from='bob@localhost'"}, "to", "from"},
		{"bob unsubscribed", bob, "<presence type='unsubscribed' to='alice@localhost'/>", alice, []string{"type='unavailable'", "from='bob@localhost/desk'"}, "none", "none"},
		{"alice unsubscribed: nothing to cancel", alice, "<presence type='unsubscribed' to='bob@localhost'/>", nil, nil, "none", "none"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.from.send(s.send)
			if s.receiver != nil {
				s.receiver.expect(wait, s.receives...)
			}
			alice.sync()
			bob.sync()
			if got := alice.subscription("bob@localhost"); got != s.a {
				t.Errorf("alice's item for bob: %s, want %s", got, s.a)
			}
			if got := bob.subscription("alice@localhost"); got != s.b {
				t.Errorf("bob's item for alice: %s, want %s", got, s.b)
			}
		})
	}
}

// TestE2EPendingAfterRelogin: a request to an offline user is delivered at
// each login until answered.
func TestE2EPendingAfterRelogin(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{})
	alice.send("<presence type='subscribe' to='bob@localhost'/>")
	alice.sync()
	for i := range 2 {
		bob := login(t, b, "bob", xcOptions{Resource: fmt.Sprint("r", i)})
		bob.expect(wait, "type='subscribe'", "from='alice@localhost'")
		bob.close()
	}
	bob := login(t, b, "bob", xcOptions{})
	bob.expect(wait, "type='subscribe'")
	bob.send("<presence type='subscribed' to='alice@localhost'/>")
	alice.expect(wait, "type='subscribed'", "from='bob@localhost'")
	bob.close()
	bob = login(t, b, "bob", xcOptions{})
	for _, s := range bob.collect(time.Second) {
		if strings.Contains(s, "type='subscribe'") {
			t.Fatalf("answered request delivered again: %s", s)
		}
	}
}

// TestE2EPresence: probes at login, broadcast, and unavailable when a
// client closes its socket without a word.
func TestE2EPresence(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{Resource: "phone"})
	bob := login(t, b, "bob", xcOptions{Resource: "desk"})
	befriend(t, alice, bob)
	bob.send("<presence><show>dnd</show></presence>")
	alice.expect(wait, "from='bob@localhost/desk'", "<show>dnd</show>")

	t.Run("probe answered at login", func(t *testing.T) {
		alice2 := login(t, b, "alice", xcOptions{Resource: "desk"})
		alice2.expect(wait, "from='bob@localhost/desk'", "<show>dnd</show>")
		bob.expect(wait, "from='alice@localhost/desk'")
		alice2.close()
		bob.expect(wait, "type='unavailable'", "from='alice@localhost/desk'")
	})
	t.Run("killed socket", func(t *testing.T) {
		bob.kill()
		alice.expect(wait, "type='unavailable'", "from='bob@localhost/desk'")
	})
}

// TestE2EPresenceOnPingTimeout: a client that goes silent with its TCP
// connection open is found dead by the server's ping and its contacts see
// it go unavailable.
func TestE2EPresenceOnPingTimeout(t *testing.T) {
	b := startBroker(t, "", "  ping_interval: 1s\n  ping_timeout: 1s\n")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{})
	bob := login(t, b, "bob", xcOptions{Resource: "sensor"})
	befriend(t, alice, bob)
	bob.silent.Store(true)
	alice.expect(15*time.Second, "type='unavailable'", "from='bob@localhost/sensor'")
}

// TestE2EOffline: XEP-0160 storage with XEP-0203 delay stamps, in order;
// nothing stored for headlines or bare chat states; the quota answered.
func TestE2EOffline(t *testing.T) {
	b := startBroker(t, "im:\n  max_offline: 3\n", "")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{})
	alice.send("<message to='bob@localhost' type='chat' id='m1'><body>one</body></message>")
	alice.send("<message to='bob@localhost' type='headline' id='h1'><body>news</body></message>")
	alice.send("<message to='bob@localhost' type='chat' id='cs'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	alice.send("<message to='bob@localhost' id='m2'><body>two</body></message>")
	alice.send("<message to='bob@localhost/gone' type='chat' id='m3'><body>three</body></message>")
	alice.send("<message to='bob@localhost' type='chat' id='m4'><body>four</body></message>")
	alice.expect(wait, "id='m4'", "type='error'", "service-unavailable")
	alice.sync()

	bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{})
	bob.send("<presence/>")
	var got []string
	for _, id := range []string{"m1", "m2", "m3"} {
		s := bob.expect(wait, "<message")
		got = append(got, s)
		if !strings.Contains(s, "id='"+id+"'") {
			t.Fatalf("got %s, want %s next", s, id)
		}
		if !strings.Contains(s, "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='") {
			t.Fatalf("no delay stamp: %s", s)
		}
	}
	for _, s := range bob.collect(time.Second) {
		if strings.Contains(s, "<message") {
			t.Fatalf("unexpected %s", s)
		}
	}
	// Delivered, so deleted: the next login gets nothing.
	bob.close()
	bob = login(t, b, "bob", xcOptions{})
	for _, s := range bob.collect(time.Second) {
		if strings.Contains(s, "<message") {
			t.Fatalf("delivered twice: %s", s)
		}
	}
}

// TestE2EBlocking: XEP-0191 for each stanza kind.
func TestE2EBlocking(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob")
	alice := login(t, b, "alice", xcOptions{})
	bob := login(t, b, "bob", xcOptions{Resource: "b"})
	befriend(t, alice, bob)
	alice.send("<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	alice.expect(wait, "id='bl'", "type='result'")
	alice.send("<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>")
	alice.expect(wait, "id='blk'", "type='result'")
	alice.expect(wait, "<block xmlns='urn:xmpp:blocking'>", "bob@localhost")
	alice.collect(0) // what bob sent before the block
	bob.expect(wait, "type='unavailable'", "from='"+alice.JID+"'")

	bob.send("<message to='alice@localhost' type='chat' id='x1'><body>hi</body></message>")
	bob.expect(wait, "id='x1'", "type='error'", "service-unavailable")
	bob.send("<iq to='" + alice.JID + "' type='get' id='x2'><query xmlns='jabber:iq:version'/></iq>")
	bob.expect(wait, "id='x2'", "type='error'", "service-unavailable")
	bob.send("<presence><status>bob is here</status></presence>")
	bob.send("<presence to='" + alice.JID + "' id='x3'/>")
	alice.send("<message to='bob@localhost' type='chat' id='x4'><body>hi</body></message>")
	alice.expect(wait, "id='x4'", "type='error'", "not-acceptable", "<blocked xmlns='urn:xmpp:blocking:errors'/>")
	bob.sync()
	alice.sync()
	for _, s := range alice.collect(time.Second) {
		if strings.Contains(s, "from='bob@localhost") {
			t.Fatalf("a blocked stanza arrived: %s", s)
		}
	}
	alice.send("<iq type='set' id='ub'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>")
	alice.expect(wait, "id='ub'", "type='result'")
	bob.send("<message to='alice@localhost' type='chat' id='x5'><body>hi again</body></message>")
	alice.expect(wait, "id='x5'")
}

// TestE2ECarbons: XEP-0280, sent and received copies to a second resource.
func TestE2ECarbons(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob")
	bob := login(t, b, "bob", xcOptions{})
	phone := login(t, b, "alice", xcOptions{Resource: "phone"})
	desk := login(t, b, "alice", xcOptions{Resource: "desk"})
	for _, c := range []*xc{phone, desk} {
		c.send("<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
		c.expect(wait, "id='cb'", "type='result'")
	}
	bob.send("<message to='alice@localhost/phone' type='chat' id='r1'><body>to the phone</body></message>")
	phone.expect(wait, "id='r1'")
	desk.expect(wait, "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'", "id='r1'")
	phone.send("<message to='bob@localhost' type='chat' id='s1'><body>from the phone</body></message>")
	bob.expect(wait, "id='s1'")
	desk.expect(wait, "<sent xmlns='urn:xmpp:carbons:2'>", "id='s1'", "from='alice@localhost'")
}

// messageIDs collects the ids of chat messages with prefix among what c
// receives until n distinct ones arrived or d passed; dups counts repeats.
func messageIDs(c *xc, prefix string, n int, d time.Duration) (ids map[string]int, dups int) {
	ids = map[string]int{}
	deadline := time.Now().Add(d)
	for len(ids) < n {
		s, ok := c.next(time.Until(deadline))
		if !ok {
			return ids, dups
		}
		i := strings.Index(s, "id='"+prefix)
		if i < 0 || !strings.HasPrefix(s, "<message") {
			continue
		}
		id := s[i+4:]
		id = id[:strings.IndexByte(id, '\'')]
		if ids[id]++; ids[id] > 1 {
			dups++
		}
	}
	return ids, dups
}

func sendMessages(c *xc, to, prefix string, from, n int) {
	for i := from; i < from+n; i++ {
		c.send(fmt.Sprintf("<message to='%s' type='chat' id='%s%d'><body>%d</body></message>", to, prefix, i, i))
	}
	c.sync()
}

// TestE2EStreamManagement: XEP-0198 with messages in flight. Every message
// arrives exactly once: after a resumption within the window, after a break
// the server itself detected, and, when the client never comes back, on
// another resource or from offline storage.
func TestE2EStreamManagement(t *testing.T) {
	t.Run("resume after a dropped connection", func(t *testing.T) {
		b := startBroker(t, "", "")
		users(b, "alice", "bob")
		alice := login(t, b, "alice", xcOptions{})
		bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{SM: true, NoAutoAck: true})
		bob.send("<presence/>")
		bob.sync()
		sendMessages(alice, "bob@localhost", "m", 0, 40)
		first, _ := messageIDs(bob, "m", 40, wait)
		bob.ack()
		bob.sync()
		acked := bob.handled.Load()
		// 20 more reach the device but die with it before it processes
		// them: never acknowledged, so the server must send them again.
		sendMessages(alice, "bob@localhost", "m", 40, 20)
		bob.collect(300 * time.Millisecond)
		bob.kill()
		sendMessages(alice, "bob@localhost", "m", 60, 40) // queued while detached
		nb, err := tryDial(t, b, "bob@localhost", "bob-password", xcOptions{}, bob.smID, acked)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nb.kill)
		rest, dups := messageIDs(nb, "m", 60, wait)
		total := len(first) + len(rest)
		if total != 100 || dups != 0 {
			t.Fatalf("received %d distinct of 100 (%d before, %d after resume), %d duplicates", total, len(first), len(rest), dups)
		}
		for id := range rest {
			if first[id] > 0 {
				t.Fatalf("%s received before and after resumption", id)
			}
		}
	})

	t.Run("resume after a break the server detected", func(t *testing.T) {
		b := startBroker(t, "", "  ping_interval: 1s\n  ping_timeout: 1s\n")
		users(b, "alice", "bob")
		alice := login(t, b, "alice", xcOptions{})
		bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{SM: true, NoAutoAck: true})
		bob.send("<presence/>")
		bob.sync()
		bob.silent.Store(true)
		sendMessages(alice, "bob@localhost", "k", 0, 10)
		got, _ := messageIDs(bob, "k", 10, wait)
		if len(got) != 10 {
			t.Fatalf("got %d before the break", len(got))
		}
		// Wait for the server to give up on the transport: pings unanswered.
		time.Sleep(4 * time.Second)
		sendMessages(alice, "bob@localhost", "k", 10, 10)
		nb, err := tryDial(t, b, "bob@localhost", "bob-password", xcOptions{}, bob.smID, 0)
		if err != nil {
			t.Fatalf("resume after server-side break: %v", err)
		}
		t.Cleanup(nb.kill)
		bob.kill()
		all, dups := messageIDs(nb, "k", 20, wait)
		// h was 0: XEP-0198 re-sends the 10 unacknowledged ones, which the
		// client recognises by their position; every message is there.
		if len(all) != 20 || dups != 0 {
			t.Fatalf("got %d distinct of 20, %d duplicates", len(all), dups)
		}
	})

	t.Run("no resumption: re-routed to another resource", func(t *testing.T) {
		b := startBroker(t, "im:\n  resume_timeout: 1s\n", "")
		users(b, "alice", "bob")
		alice := login(t, b, "alice", xcOptions{})
		other := login(t, b, "bob", xcOptions{Resource: "other"})
		bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{Resource: "phone", SM: true, NoAutoAck: true})
		bob.send("<presence><priority>10</priority></presence>")
		bob.sync()
		sendMessages(alice, "bob@localhost/phone", "u", 0, 30)
		got, _ := messageIDs(bob, "u", 30, wait)
		if len(got) != 30 {
			t.Fatalf("phone got %d", len(got))
		}
		bob.kill()
		all, dups := messageIDs(other, "u", 30, 15*time.Second)
		if len(all) != 30 || dups != 0 {
			t.Fatalf("other resource got %d distinct of 30, %d duplicates", len(all), dups)
		}
	})

	t.Run("detached at shutdown: kept offline across a restart", func(t *testing.T) {
		b := startBroker(t, "", "")
		users(b, "alice", "bob")
		alice := login(t, b, "alice", xcOptions{})
		bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{SM: true, NoAutoAck: true})
		bob.send("<presence/>")
		bob.sync()
		sendMessages(alice, "bob@localhost", "z", 0, 15)
		if got, _ := messageIDs(bob, "z", 15, wait); len(got) != 15 {
			t.Fatalf("got %d", len(got))
		}
		bob.kill()
		time.Sleep(300 * time.Millisecond)
		b.Restart()
		nb := dial(t, b, "bob@localhost", "bob-password", xcOptions{})
		nb.send("<presence/>")
		all, dups := messageIDs(nb, "z", 15, wait)
		if len(all) != 15 || dups != 0 {
			t.Fatalf("after restart: %d distinct of 15, %d duplicates", len(all), dups)
		}
	})

	t.Run("no resumption: offline storage", func(t *testing.T) {
		b := startBroker(t, "im:\n  resume_timeout: 1s\n", "")
		users(b, "alice", "bob")
		alice := login(t, b, "alice", xcOptions{})
		bob := dial(t, b, "bob@localhost", "bob-password", xcOptions{SM: true, NoAutoAck: true})
		bob.send("<presence/>")
		bob.sync()
		sendMessages(alice, "bob@localhost", "o", 0, 25)
		if got, _ := messageIDs(bob, "o", 25, wait); len(got) != 25 {
			t.Fatalf("got %d", len(got))
		}
		bob.kill()
		time.Sleep(3 * time.Second)
		nb := dial(t, b, "bob@localhost", "bob-password", xcOptions{})
		nb.send("<presence/>")
		all, dups := messageIDs(nb, "o", 25, wait)
		if len(all) != 25 || dups != 0 {
			t.Fatalf("offline delivery: %d distinct of 25, %d duplicates", len(all), dups)
		}
	})
}
