package im

import (
	"strings"
	"testing"

	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// FuzzRosterItem: whatever a client puts in a roster set, parseItem either
// refuses it or returns an item within the limits the storage relies on.
func FuzzRosterItem(f *testing.F) {
	for _, s := range []string{
		`<item jid='bob@example.org' name='Bob'><group>Friends</group></item>`,
		`<item jid='bob@example.org' subscription='remove'/>`,
		`<item jid='@@'/>`,
		`<item jid='bob@example.org/x'/>`,
		`<item jid='c@example.org'><group/></item>`,
		`<item jid='c@example.org'><group>a</group><group>a</group></item>`,
		`<item jid='ß@EXAMPLE.org' name='&amp;&lt;'/>`,
		``,
	} {
		f.Add(s)
	}
	owner := mustJID("alice@example.org")
	f.Fuzz(func(t *testing.T, items string) {
		q, err := xml.Parse([]byte("<query xmlns='jabber:iq:roster'>"+items+"</query>"), stanza.NSClient)
		if err != nil {
			return
		}
		it, remove, e := parseItem(q, owner)
		if e != nil {
			if !stanza.KnownCondition(e.Condition) {
				t.Fatalf("unknown condition %q", e.Condition)
			}
			return
		}
		if !it.Contact.IsBare() || it.Contact == owner {
			t.Fatalf("accepted contact %q", it.Contact)
		}
		if remove {
			return
		}
		if len(it.Name) > MaxNameLen || len(it.Groups) > MaxGroups {
			t.Fatalf("accepted item beyond limits: %d bytes, %d groups", len(it.Name), len(it.Groups))
		}
		seen := map[string]bool{}
		for _, g := range it.Groups {
			if g == "" || len(g) > MaxGroupLen || seen[g] {
				t.Fatalf("accepted group %q", g)
			}
			seen[g] = true
		}
	})
}

// FuzzClientStanza: any stanza a client can send goes through outbound
// processing, routing and delivery without a panic, and the sessions stay
// usable afterwards.
func FuzzClientStanza(f *testing.F) {
	for _, s := range []string{
		`<presence/>`,
		`<presence type='subscribe' to='bob@example.org'/>`,
		`<presence type='probe' to='bob@example.org'/>`,
		`<presence to='bob@example.org/b'><priority>300</priority></presence>`,
		`<message to='bob@example.org' type='chat'><body>x</body></message>`,
		`<message to='nobody@example.org' type='groupchat'><body>x</body></message>`,
		`<message to='bob@example.org/zz'><no-store xmlns='urn:xmpp:hints'/></message>`,
		`<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='bob@example.org'/></query></iq>`,
		`<iq type='set' id='2'><block xmlns='urn:xmpp:blocking'><item jid='example.org'/></block></iq>`,
		`<iq type='set' id='3'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
		`<iq type='set' id='4'><enable xmlns='urn:xmpp:carbons:2'/></iq>`,
		`<iq type='get' id='5'><query xmlns='jabber:iq:roster' ver='0'/></iq>`,
	} {
		f.Add(s)
	}
	e := newEnv(f, envOptions{maxRoster: 20, maxOffline: 20})
	e.account("alice")
	e.account("bob")
	befriend(e, "alice", "bob")
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := stanza.Parse([]byte(raw))
		if err != nil || strings.Contains(raw, "from=") {
			return
		}
		_ = st
		e.t = t
		defer func() { e.t = f }()
		a.send(raw)
		a.drain()
		// Unblock everything and check the pair still talks.
		a.send(`<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
		b.send(`<message to='alice@example.org/a' type='chat' id='ok'><body>x</body></message>`)
		a.expect(`id='ok'`)
		a.drain()
		b.drain()
	})
}
