package im_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/blocklist"
	"mellium.im/xmpp/carbons"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"

	"github.com/extasis/extasis/core/app/apptest"
)

// mc is a mellium client: roster pushes go to pushes, every presence and
// message (as XML text) to in.
type mc struct {
	*xmpp.Session
	pushes chan roster.Item
	in     chan string
}

func dialMellium(t *testing.T, b *apptest.Broker, user, res string) *mc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	origin := jid.MustParse(user + "@" + b.Domain + "/" + res)
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", b.C2S)
	if err != nil {
		t.Fatal(err)
	}
	s, err := xmpp.NewClientSession(ctx, origin, nc,
		xmpp.StartTLS(apptest.TLSConfig(b.Domain)),
		xmpp.SASL("", user+"-password", sasl.Plain),
		xmpp.BindResource())
	if err != nil {
		nc.Close()
		t.Fatalf("mellium login %s: %v", user, err)
	}
	c := &mc{Session: s, pushes: make(chan roster.Item, 64), in: make(chan string, 256)}
	collect := xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		var buf bytes.Buffer
		enc := xml.NewEncoder(&buf)
		enc.EncodeToken(*start)
		xmlstream.Copy(enc, xmlstream.Inner(r))
		enc.EncodeToken(start.End())
		enc.Flush()
		select {
		case c.in <- buf.String():
		default:
		}
		return nil
	})
	m := mux.New(stanza.NSClient,
		roster.Handle(roster.Handler{Push: func(_ string, it roster.Item) error { c.pushes <- it; return nil }}))
	h := xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local == "iq" {
			return m.HandleXMPP(r, start)
		}
		return collect.HandleXMPP(r, start)
	})
	go s.Serve(h)
	t.Cleanup(func() { s.Close() })
	return c
}

func (c *mc) expect(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case s := <-c.in:
			if matches(s, want) {
				return s
			}
		case <-deadline:
			t.Fatalf("mellium %s: nothing matching %q", c.LocalAddr(), want)
			return ""
		}
	}
}

func (c *mc) sendPresence(t *testing.T, to jid.JID, typ stanza.PresenceType) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Send(ctx, stanza.Presence{To: to, Type: typ}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
}

// item fetches the roster and returns contact's item.
func (c *mc) item(t *testing.T, contact jid.JID) (roster.Item, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	iter := roster.Fetch(ctx, c.Session)
	defer iter.Close()
	for iter.Next() {
		if it := iter.Item(); it.JID.Equal(contact) {
			return it, true
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return roster.Item{}, false
}

// TestMellium runs the roster, subscription, blocking and carbons rules
// through mellium's client packages.
func TestMellium(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob", "carol")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := dialMellium(t, b, "alice", "m")
	bob := dialMellium(t, b, "bob", "m")
	aliceJ, bobJ, carolJ := jid.MustParse("alice@localhost"), jid.MustParse("bob@localhost"), jid.MustParse("carol@localhost")
	for _, c := range []*mc{alice, bob} {
		roster.Fetch(ctx, c.Session).Close()
		if err := c.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("roster set, push, fetch, delete", func(t *testing.T) {
		if err := roster.Set(ctx, alice.Session, roster.Item{JID: carolJ, Name: "Carol", Group: []string{"Lab"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case it := <-alice.pushes:
			if !it.JID.Equal(carolJ) || it.Name != "Carol" {
				t.Fatalf("push %+v", it)
			}
		case <-time.After(wait):
			t.Fatal("no roster push")
		}
		it, ok := alice.item(t, carolJ)
		if !ok || it.Name != "Carol" || len(it.Group) != 1 || it.Group[0] != "Lab" || it.Subscription != "none" {
			t.Fatalf("item %+v", it)
		}
		if err := roster.Delete(ctx, alice.Session, carolJ); err != nil {
			t.Fatal(err)
		}
		if _, ok := alice.item(t, carolJ); ok {
			t.Fatal("deleted item still listed")
		}
	})

	t.Run("subscription", func(t *testing.T) {
		alice.sendPresence(t, bobJ, stanza.SubscribePresence)
		bob.expect(t, `type="subscribe"`, `from="alice@localhost"`)
		if it, _ := alice.item(t, bobJ); it.Subscription != "none" {
			t.Fatalf("alice's item after subscribe: %+v", it)
		}
		bob.sendPresence(t, aliceJ, stanza.SubscribedPresence)
		alice.expect(t, `type="subscribed"`)
		alice.expect(t, `from="bob@localhost/`)
		if it, _ := alice.item(t, bobJ); it.Subscription != "to" {
			t.Fatalf("alice's item: %+v", it)
		}
		if it, _ := bob.item(t, aliceJ); it.Subscription != "from" {
			t.Fatalf("bob's item: %+v", it)
		}
	})

	t.Run("blocking", func(t *testing.T) {
		if err := blocklist.Add(ctx, alice.Session, carolJ); err != nil {
			t.Fatal(err)
		}
		iter := blocklist.Fetch(ctx, alice.Session)
		var got []string
		for iter.Next() {
			got = append(got, iter.JID().String())
		}
		iter.Close()
		if strings.Join(got, ",") != "carol@localhost" {
			t.Fatalf("block list %v", got)
		}
		carol := dialMellium(t, b, "carol", "m")
		if err := carol.Send(ctx, stanza.Message{To: aliceJ, Type: stanza.ChatMessage, ID: "blk"}.Wrap(nil)); err != nil {
			t.Fatal(err)
		}
		carol.expect(t, `id="blk"`, `type="error"`, "service-unavailable")
		if err := blocklist.Remove(ctx, alice.Session, carolJ); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("carbons", func(t *testing.T) {
		desk := dialMellium(t, b, "alice", "desk")
		for _, c := range []*mc{alice, desk} {
			if err := carbons.Enable(ctx, c.Session); err != nil {
				t.Fatal(err)
			}
		}
		// mellium binds a resource of the server's choosing.
		msg := stanza.Message{To: alice.LocalAddr(), Type: stanza.ChatMessage, ID: "cc1"}
		if err := bob.Send(ctx, msg.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData("hi")), xml.StartElement{Name: xml.Name{Local: "body"}}))); err != nil {
			t.Fatal(err)
		}
		alice.expect(t, `id="cc1"`)
		desk.expect(t, `urn:xmpp:carbons:2`, `received`, `cc1`)
	})
}
