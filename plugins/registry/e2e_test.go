package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/plugins/host"
)

// End to end: the real broker (extasis serve) launches the real plugin
// binary from its catalog; mellium clients play thing and owner, Debian's
// slixmpp the stranger who searches.

const wait = 20 * time.Second

// startBroker runs extasis serve with the registry in its catalog. It
// skips when the broker does not serve plugins from its config yet.
func startBroker(t *testing.T, dir string, storage string, config ...string) *apptest.Broker {
	t.Helper()
	bin := filepath.Join(dir, "plugins", "extasis-registry")
	if _, err := os.Stat(bin); err != nil {
		os.MkdirAll(filepath.Dir(bin), 0o700)
		b, err := os.ReadFile(binary(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := host.HashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("plugins:\n  dir: %q\n  list:\n    - name: registry\n      path: extasis-registry\n      sha256: %s\n      address: registry.localhost\n", filepath.Dir(bin), sum)
	if storage != "" {
		extra += fmt.Sprintf("      storage: %q\n", storage)
	}
	extra += "      config:\n        claims_per_minute: 100\n"
	for _, c := range config {
		extra += "        " + c + "\n"
	}
	b := apptest.Start(t, apptest.Options{Extra: extra, Dir: dir})
	return b
}

// brokerServes reports whether the broker lists the registry in
// disco#items (polled a while: plugins may start after the listeners).
func brokerServes(t *testing.T, c *apptest.Client) bool {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("items%d", i)
		c.SendRaw(ctx, `<iq type='get' id='`+id+`' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		el, err := c.TryExpect(wait, `<iq type='result' id='`+id+`'/>`)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(el.String(), "registry.localhost") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rawThing logs a thing in with apptest's raw client, which answers
// nothing by itself (mellium's client answers unhandled iqs with errors,
// which the registry rightly counts as refusals).
func rawThing(t *testing.T, b *apptest.Broker, user, resource string) *apptest.RawConn {
	t.Helper()
	c := b.DialRaw(t, apptest.StartTLS)
	if err := c.Login("SCRAM-SHA-256", user, user+" password", resource); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawExpect reads until an element matches pattern, skipping others (the
// provisioning service's pushes, presence).
func rawExpect(t *testing.T, c *apptest.RawConn, pattern string) *apptest.Element {
	t.Helper()
	p := apptest.MustPattern(pattern)
	deadline := time.Now().Add(wait)
	var seen []string
	for time.Now().Before(deadline) {
		ev, err := c.Next()
		if err != nil {
			t.Fatalf("%s: want %s: %v (seen %q)", c.JID, pattern, err, seen)
		}
		if ev.Kind == apptest.EventElement && p.Match(ev.El) {
			return ev.El
		}
		seen = append(seen, ev.String())
	}
	t.Fatalf("%s: nothing matching %s (seen %q)", c.JID, pattern, seen)
	return nil
}

func rawSend(t *testing.T, c *apptest.RawConn, raw string) {
	t.Helper()
	if err := c.Send(raw); err != nil {
		t.Fatal(err)
	}
}

func send(t *testing.T, c *apptest.Client, raw string) {
	t.Helper()
	if err := c.SendRaw(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, "")
	for _, u := range []string{"meter42", "alice", "bob"} {
		b.AddUser(u+"@localhost", u+" password")
	}
	alice := b.Dial(t, "alice@localhost", "alice password", apptest.DialOptions{Resource: "phone"})
	if !brokerServes(t, alice) {
		t.Skip("the broker does not start plugins from its catalog yet (core/app wiring of plugins/host)")
	}
	send(t, alice, `<presence/>`)
	thing := rawThing(t, b, "meter42", "r1")

	// The thing finds the registry and its features.
	rawSend(t, thing, `<iq type='get' id='i1' to='registry.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	rawExpect(t, thing, `<iq type='result' id='i1'><query xmlns='http://jabber.org/protocol/disco#info'>
		<feature var='urn:ieee:iot:disco:1.0'/><feature var='urn:nf:iot:disco:1.0'/><feature var='urn:nfi:iot:disco:1.0'/>
		<feature var='urn:xmpp:iot:discovery'/></query></iq>`)

	// Register, claim with the URI's tags, the thing acknowledges.
	rawSend(t, thing, `<iq type='set' id='r1' to='registry.localhost'><register xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</register></iq>`)
	rawExpect(t, thing, `<iq type='result' id='r1'/>`)
	send(t, alice, `<iq type='set' id='c1' to='registry.localhost'><mine xmlns='urn:nf:iot:disco:1.0' public='true'>`+meterT+`</mine></iq>`)
	alice.Expect(t, wait, `<iq type='result' id='c1'><claimed xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/></iq>`)
	n := rawExpect(t, thing, `<iq type='set' from='registry.localhost'><claimed xmlns='urn:nf:iot:disco:1.0' jid='alice@localhost' public='true'/></iq>`)
	rawSend(t, thing, fmt.Sprintf(`<iq type='result' id='%s' to='registry.localhost'/>`, n.AttrValue("id")))

	// Friends: mutual presence subscription, then each sees the other's
	// full JID.
	rawSend(t, thing, `<presence/>`)
	rawSend(t, thing, `<presence type='subscribe' to='alice@localhost'/>`)
	alice.Expect(t, wait, `<presence type='subscribe' from='meter42@localhost'/>`)
	send(t, alice, `<presence type='subscribed' to='meter42@localhost'/>`)
	rawExpect(t, thing, `<presence from='alice@localhost/phone'/>`)
	send(t, alice, `<presence type='subscribe' to='meter42@localhost'/>`)
	rawExpect(t, thing, `<presence type='subscribe' from='alice@localhost'/>`)
	rawSend(t, thing, `<presence type='subscribed' to='alice@localhost'/>`)
	alice.Expect(t, wait, `<presence from='meter42@localhost/r1'/>`)

	// A stranger searches with slixmpp: every operator, edge cases.
	script, err := filepath.Abs("testdata/slix_iq.py")
	if err != nil {
		t.Fatal(err)
	}
	found := `<thing jid='meter42@localhost'>`
	none := `more='false'`
	for _, tc := range []struct{ op, want string }{
		{`<strEq name='CLASS' value='Meter'/>`, found},
		{`<strEq name='class' value='meter'/>`, none},
		{`<strNEq name='CLASS' value='Lamp'/>`, found},
		{`<strGt name='SN' value='A7Q-000041'/>`, found},
		{`<strGtEq name='SN' value='A7Q-000042'/>`, found},
		{`<strGt name='SN' value='A7Q-000042'/>`, none},
		{`<strLt name='SN' value='A7Q-000043'/>`, found},
		{`<strLtEq name='SN' value='A7Q-000042'/>`, found},
		{`<strRange name='SN' min='A7Q-000042' max='A7Q-000043' minIncluded='false'/>`, none},
		{`<strRange name='SN' min='A7Q-000042' max='A7Q-000043'/>`, found},
		{`<strNRange name='SN' min='A7Q-000042' max='A7Q-000043' minIncluded='false'/>`, found},
		{`<strMask name='SN' value='A7Q-*' wildcard='*'/>`, found},
		{`<strMask name='SN' value='?000042' wildcard='?'/>`, found},
		{`<strMask name='SN' value='*43' wildcard='*'/>`, none},
		{`<strRegEx name='SN' value='A7Q-0{4}4[0-9]'/>`, found},
		{`<numEq name='V' value='31E-1'/>`, found},
		{`<numNEq name='V' value='3.1'/>`, none},
		{`<numGt name='V' value='3'/>`, found},
		{`<numGtEq name='V' value='3.1'/>`, found},
		{`<numLt name='V' value='3.1'/>`, none},
		{`<numLtEq name='V' value='3.1'/>`, found},
		{`<numRange name='V' min='3' max='3.1' maxIncluded='false'/>`, none},
		{`<numRange name='V' min='3' max='3.1'/>`, found},
		{`<numNRange name='V' min='3' max='3.1'/>`, none},
		{`<numNRange name='V' min='3.1' max='4' minIncluded='false'/>`, found},
		{`<strEq name='M*' nameWildcard='*' value='EM-200'/>`, found},
		{`<strEq name='KEY' value='5f0c9e1d7a2b44c6a1d3e8f09b7c6a55'/>`, none},
	} {
		t.Run(tc.op, func(t *testing.T) {
			out := b.Slixmpp(t, script, "bob@localhost", "bob password", "registry.localhost",
				"get", `<search xmlns='urn:nf:iot:disco:1.0'>`+tc.op+`</search>`)
			q := strings.NewReplacer(`"`, `'`).Replace(out)
			ok := strings.Contains(q, "RESULT") && strings.Contains(q, tc.want) && !strings.Contains(q, "5f0c9e1d")
			if tc.want == none && strings.Contains(q, "<thing") {
				ok = false
			}
			if !ok {
				t.Errorf("slixmpp printed:\n%s\nwant %s", out, tc.want)
			}
		})
	}

	// The thing goes offline; the owner removes it; the broker restarts;
	// the thing logs in again and gets removed, once.
	thing.Close()
	send(t, alice, `<iq type='set' id='x1' to='registry.localhost'><remove xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/></iq>`)
	alice.Expect(t, wait, `<iq type='result' id='x1'/>`)
	alice.Close()
	b.Restart()
	alice = b.Dial(t, "alice@localhost", "alice password", apptest.DialOptions{Resource: "phone"})
	if !brokerServes(t, alice) {
		t.Fatal("the registry is not back after the restart")
	}
	thing = rawThing(t, b, "meter42", "r2")
	rawSend(t, thing, `<presence/>`)
	n = rawExpect(t, thing, `<iq type='set' from='registry.localhost' to='meter42@localhost/r2'><removed xmlns='urn:nf:iot:disco:1.0'/></iq>`)
	rawSend(t, thing, fmt.Sprintf(`<iq type='result' id='%s' to='registry.localhost'/>`, n.AttrValue("id")))

	// Disown needs the thing online and agreeing.
	send(t, alice, `<iq type='set' id='d1' to='registry.localhost'><disown xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/></iq>`)
	n = rawExpect(t, thing, `<iq type='set' from='registry.localhost'><disowned xmlns='urn:nf:iot:disco:1.0'/></iq>`)
	rawSend(t, thing, fmt.Sprintf(`<iq type='result' id='%s' to='registry.localhost'/>`, n.AttrValue("id")))
	alice.Expect(t, wait, `<iq type='result' id='d1'/>`)
	send(t, alice, `<iq type='set' id='c2' to='registry.localhost'><mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine></iq>`)
	alice.Expect(t, wait, `<iq type='error' id='c2'><error><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	// The thing was told removed exactly once.
	rawSend(t, thing, `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		ev, err := thing.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != apptest.EventElement {
			continue
		}
		if ev.El.AttrValue("id") == "p1" {
			break
		}
		if strings.Contains(ev.El.String(), "removed") {
			t.Errorf("removed twice: %s", ev.El)
		}
	}
}

// TestEndToEndCrashPostgres: the registry keeps its records in PostgreSQL
// and dies right after committing a claim, before answering or notifying.
// The broker restarts it; the owner's retry succeeds (same owner, same
// tags) and the thing gets its claimed notification.
func TestEndToEndCrashPostgres(t *testing.T) {
	b := startBroker(t, t.TempDir(), pgtest.Database(t), "crash_after_claim: true")
	for _, u := range []string{"meter42", "alice"} {
		b.AddUser(u+"@localhost", u+" password")
	}
	alice := b.Dial(t, "alice@localhost", "alice password", apptest.DialOptions{Resource: "phone"})
	if !brokerServes(t, alice) {
		t.Skip("the broker does not start plugins from its catalog yet (core/app wiring of plugins/host)")
	}
	thing := rawThing(t, b, "meter42", "r1")
	rawSend(t, thing, `<iq type='set' id='r1' to='registry.localhost'><register xmlns='urn:ieee:iot:disco:1.0'>`+meterT+`</register></iq>`)
	rawExpect(t, thing, `<iq type='result' id='r1'/>`)
	send(t, alice, `<iq type='set' id='c0' to='registry.localhost'><mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine></iq>`)
	alice.Expect(t, wait, `<iq type='error' id='c0'/>`)
	deadline := time.Now().Add(wait)
	for i := 1; ; i++ {
		id := fmt.Sprintf("c%d", i)
		send(t, alice, `<iq type='set' id='`+id+`' to='registry.localhost'><mine xmlns='urn:nf:iot:disco:1.0'>`+meterT+`</mine></iq>`)
		el := alice.Expect(t, wait, `<iq id='`+id+`'/>`)
		if el.AttrValue("type") == "result" {
			if !apptest.MustPattern(`<iq><claimed xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/></iq>`).Match(el) {
				t.Fatalf("claim answer %s", el)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not come back: %s", el)
		}
		time.Sleep(200 * time.Millisecond)
	}
	n := rawExpect(t, thing, `<iq type='set' from='registry.localhost'><claimed xmlns='urn:ieee:iot:disco:1.0' jid='alice@localhost' public='true'/></iq>`)
	rawSend(t, thing, fmt.Sprintf(`<iq type='result' id='%s' to='registry.localhost'/>`, n.AttrValue("id")))
}
