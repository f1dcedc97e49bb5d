package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/sdk/plugin"
	"github.com/extasis/extasis/sdk/plugintest"
)

// fakeNet plays the things' side of the broker: which full JIDs are
// online and how they answer the registry's iqs.
type fakeNet struct {
	mu     sync.Mutex
	online map[string]bool
	// answer replies to an iq from the registry; nil: an empty result.
	answer func(iq *plugin.Stanza) *plugin.Stanza
	got    chan *plugin.Stanza
}

func (f *fakeNet) setOnline(full string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.online[full] = on
}

func (f *fakeNet) setAnswer(a func(iq *plugin.Stanza) *plugin.Stanza) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeNet) options(cfg map[string]any) plugintest.Options {
	return plugintest.Options{
		Config: cfg,
		Online: func(jid string) (bool, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			on := f.online[jid]
			return on, on
		},
		IQ: func(iq *plugin.Stanza) *plugin.Stanza {
			f.got <- iq
			f.mu.Lock()
			a := f.answer
			f.mu.Unlock()
			if a != nil {
				return a(iq)
			}
			return iq.Result()
		},
	}
}

// notified waits for the next iq the registry sends to a thing.
func (f *fakeNet) notified(t *testing.T) *plugin.Stanza {
	t.Helper()
	select {
	case s := <-f.got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	return nil
}

func (f *fakeNet) quiet(t *testing.T) {
	t.Helper()
	select {
	case s := <-f.got:
		t.Fatalf("unexpected iq to %s: %s", s.To, s.Raw)
	case <-time.After(200 * time.Millisecond):
	}
}

func start(t *testing.T, cfg map[string]any) (*plugintest.Harness, *fakeNet) {
	t.Helper()
	f := &fakeNet{online: map[string]bool{}, got: make(chan *plugin.Stanza, 64)}
	h := plugintest.New(t, newPlugin(), f.options(cfg))
	return h, f
}

var seq int

// ask sends an iq from `from` with payload p and returns the answer.
func ask(t *testing.T, h *plugintest.Harness, from, typ, p string) *plugin.Stanza {
	t.Helper()
	seq++
	id := fmt.Sprintf("q%d", seq)
	h.Deliver(fmt.Sprintf(`<iq from='%s' to='%s' type='%s' id='%s'>%s</iq>`, from, h.Address(), typ, id, p))
	s := h.Next()
	if s.ID != id {
		t.Fatalf("answer to %s, want %s: %s", s.ID, id, s.Raw)
	}
	return s
}

// expect checks an answer: its type, and that its XML contains each of
// the fragments (attribute quotes as the registry writes them).
func expect(t *testing.T, s *plugin.Stanza, typ string, frags ...string) {
	t.Helper()
	if s.Type != typ {
		t.Fatalf("type %s, want %s: %s", s.Type, typ, s.Raw)
	}
	for _, f := range frags {
		if !strings.Contains(string(s.Raw), f) {
			t.Errorf("%s\nlacks %s", s.Raw, f)
		}
	}
}

func deny(t *testing.T, s *plugin.Stanza, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if strings.Contains(string(s.Raw), f) {
			t.Errorf("%s\ncontains %s", s.Raw, f)
		}
	}
}

const (
	nf     = "urn:nf:iot:disco:1.0"
	thingA = "meter42@localhost/r1"
	alice  = "alice@localhost/phone"
	bob    = "bob@localhost/app"
	meterT = `<str name='MAN' value='acme-meters.example'/><str name='MODEL' value='EM-200'/><str name='SN' value='A7Q-000042'/><num name='V' value='3.1'/><str name='CLASS' value='Meter'/><str name='KEY' value='5f0c9e1d7a2b44c6a1d3e8f09b7c6a55'/>`
)

func TestClaimFlow(t *testing.T) {
	h, f := start(t, nil)
	f.setOnline(thingA, true)

	expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`'>`+meterT+`</register>`), "result")
	// Unclaimed, so invisible.
	expect(t, ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='CLASS' value='Meter'/></search>`), "result", `more='false'/>`)

	// Wrong KEY, missing tag, extra tag: all item-not-found, nothing said.
	for _, tags := range []string{
		strings.Replace(meterT, "5f0c9e", "000000", 1),
		strings.Replace(meterT, `<str name='CLASS' value='Meter'/>`, "", 1),
		meterT + `<str name='ROOM' value='x'/>`,
	} {
		r := ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+tags+`</mine>`)
		expect(t, r, "error", "<item-not-found ")
		deny(t, r, "<text")
	}
	// The exact tags, numbers by value, R stripped: claimed.
	claim := strings.Replace(meterT, "'3.1'", "'3.10'", 1) + `<str name='R' value='registry.localhost'/>`
	r := ask(t, h, alice, "set", `<mine xmlns='`+nf+`' public='false'>`+claim+`</mine>`)
	expect(t, r, "result", `<claimed xmlns='`+nf+`' jid='meter42@localhost'/>`)
	n := f.notified(t)
	if n.To != thingA || n.From != h.Address() || n.Type != "set" {
		t.Fatalf("notification %s", n.Raw)
	}
	expect(t, n, "set", `<claimed xmlns='`+nf+`' jid='alice@localhost' public='false'/>`)
	waitPublished(t, h, 1)
	if p := h.Published()[0]; p.Name != "thing.claimed" || p.Attrs["thing"] != "meter42@localhost" || p.Attrs["owner"] != "alice@localhost" {
		t.Errorf("event %+v", p)
	}

	// The thing registers again: told its owner, tags untouched.
	expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`'><str name='X' value='1'/></register>`), "result",
		`<claimed xmlns='`+nf+`' jid='alice@localhost' public='false'/>`)
	// Private: still invisible. The owner re-claims it public with the
	// QR code's tags: success, and the thing hears it is public now.
	expect(t, ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='CLASS' value='Meter'/></search>`), "result", `more='false'/>`)
	expect(t, ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "result", `jid='meter42@localhost'`)
	expect(t, f.notified(t), "set", `public='true'`)
	// Someone else with the same tags: item-not-found.
	expect(t, ask(t, h, bob, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "error", "<item-not-found ")

	// Search finds it, without KEY, without owner.
	r = ask(t, h, bob, "get", `<search xmlns='`+nf+`' offset='0' maxCount='10'><strEq name='CLASS' value='Meter'/><numRange name='V' min='3' max='4' maxIncluded='false'/></search>`)
	expect(t, r, "result", `<found xmlns='`+nf+`' more='false'><thing jid='meter42@localhost'>`,
		`<num name='V' value='3.1'/>`, `<str name='SN' value='A7Q-000042'/>`)
	deny(t, r, "KEY", "owner=", "alice")

	// Thing update merges; an empty string deletes.
	expect(t, ask(t, h, thingA, "set", `<update xmlns='`+nf+`'><num name='LAT' value='59.3293'/><str name='MODEL' value=''/></update>`), "result")
	r = ask(t, h, bob, "get", `<search xmlns='`+nf+`'><numGtEq name='LAT' value='5.9e1'/></search>`)
	expect(t, r, "result", `<num name='LAT' value='59.3293'/>`)
	deny(t, r, "MODEL")
	// Owner update; a stranger's is item-not-found.
	expect(t, ask(t, h, alice, "set", `<update xmlns='`+nf+`' jid='meter42@localhost'><str name='BLD' value='North wing'/></update>`), "result")
	expect(t, ask(t, h, bob, "set", `<update xmlns='`+nf+`' jid='meter42@localhost'><str name='BLD' value='x'/></update>`), "error", "<item-not-found ")

	// Remove: hidden, thing told; its updates are item-not-found.
	expect(t, ask(t, h, bob, "set", `<remove xmlns='`+nf+`' jid='meter42@localhost'/>`), "error", "<item-not-found ")
	expect(t, ask(t, h, alice, "set", `<remove xmlns='`+nf+`' jid='meter42@localhost'/>`), "result")
	expect(t, f.notified(t), "set", `<removed xmlns='`+nf+`'/>`)
	expect(t, ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='CLASS' value='Meter'/></search>`), "result", `more='false'/>`)
	expect(t, ask(t, h, thingA, "set", `<update xmlns='`+nf+`'><str name='A' value='1'/></update>`), "error", "<item-not-found ")

	// Disown: a stranger gets item-not-found; offline thing: not-allowed;
	// a thing that refuses: not-allowed; a thing that accepts: done.
	expect(t, ask(t, h, bob, "set", `<disown xmlns='`+nf+`' jid='meter42@localhost'/>`), "error", "<item-not-found ")
	f.setOnline(thingA, false)
	expect(t, ask(t, h, alice, "set", `<disown xmlns='`+nf+`' jid='meter42@localhost'/>`), "error", "<not-allowed ")
	f.setOnline(thingA, true)
	// Back online: its next request tells the registry where it is.
	expect(t, ask(t, h, thingA, "set", `<update xmlns='`+nf+`'><str name='A' value='1'/></update>`), "error", "<item-not-found ")
	f.setAnswer(func(iq *plugin.Stanza) *plugin.Stanza { return iq.Error("forbidden", "") })
	expect(t, ask(t, h, alice, "set", `<disown xmlns='`+nf+`' jid='meter42@localhost'/>`), "error", "<not-allowed ")
	expect(t, f.notified(t), "set", `<disowned xmlns='`+nf+`'/>`)
	f.setAnswer(nil)
	expect(t, ask(t, h, alice, "set", `<disown xmlns='`+nf+`' jid='meter42@localhost'/>`), "result")
	expect(t, f.notified(t), "set", `<disowned xmlns='`+nf+`'/>`)
	waitPublished(t, h, 2)
	if p := h.Published()[1]; p.Name != "thing.disowned" || p.Attrs["owner"] != "alice@localhost" {
		t.Errorf("event %+v", p)
	}
	// Disowned: the old QR code no longer claims; the thing's update says
	// disowned; it registers again (new KEY) and can be claimed again.
	expect(t, ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "error", "<item-not-found ")
	expect(t, ask(t, h, thingA, "set", `<update xmlns='`+nf+`'><str name='A' value='1'/></update>`), "result", `<disowned xmlns='`+nf+`'/>`)
	newT := strings.Replace(meterT, "5f0c9e", "aaaaaa", 1)
	expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`'>`+newT+`</register>`), "result")
	expect(t, ask(t, h, bob, "set", `<mine xmlns='`+nf+`'>`+newT+`</mine>`), "result", `jid='meter42@localhost'`)
	expect(t, f.notified(t), "set", `jid='bob@localhost' public='true'`)
	// Unregister: always an empty result.
	expect(t, ask(t, h, thingA, "set", `<unregister xmlns='`+nf+`'/>`), "result")
	expect(t, ask(t, h, thingA, "set", `<unregister xmlns='`+nf+`'/>`), "result")
	expect(t, ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='CLASS' value='Meter'/></search>`), "result", `more='false'/>`)
}

func waitPublished(t *testing.T, h *plugintest.Harness, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.Published()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("published %d events, want %d: %+v", len(h.Published()), n, h.Published())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNamespaces(t *testing.T) {
	for _, ns := range []string{"urn:nf:iot:disco:1.0", "urn:ieee:iot:disco:1.0", "urn:nfi:iot:disco:1.0"} {
		t.Run(ns, func(t *testing.T) {
			h, f := start(t, nil)
			f.setOnline(thingA, true)
			expect(t, ask(t, h, thingA, "set", `<register xmlns='`+ns+`' id='n1' src='S' pt='P'>`+meterT+`</register>`), "result")
			expect(t, ask(t, h, alice, "set", `<mine xmlns='`+ns+`'>`+meterT+`</mine>`), "result",
				`<claimed xmlns='`+ns+`' jid='meter42@localhost' id='n1' src='S' pt='P'/>`)
			expect(t, f.notified(t), "set", `<claimed xmlns='`+ns+`' jid='alice@localhost' id='n1' src='S' pt='P' public='true'/>`)
			expect(t, ask(t, h, bob, "get", `<search xmlns='`+ns+`'><strEq name='SN' value='A7Q-000042'/></search>`), "result",
				`<found xmlns='`+ns+`' more='false'><thing jid='meter42@localhost' id='n1' src='S' pt='P'>`)
			expect(t, ask(t, h, bob, "get", `<search xmlns='`+ns+`'><strRegEx name='SN' value='A7Q-0+42'/></search>`), "result", `<thing `)
		})
	}
	t.Run("legacy XEP-0347", func(t *testing.T) {
		const x = "urn:xmpp:iot:discovery"
		h, f := start(t, nil)
		f.setOnline(thingA, true)
		expect(t, ask(t, h, thingA, "set", `<register xmlns='`+x+`' nodeId='imc1' sourceId='Metering' cacheType='C'>`+meterT+`</register>`), "result")
		expect(t, ask(t, h, alice, "set", `<mine xmlns='`+x+`'>`+meterT+`</mine>`), "result",
			`<claimed xmlns='`+x+`' jid='meter42@localhost' nodeId='imc1' sourceId='Metering' cacheType='C'/>`)
		expect(t, f.notified(t), "set", `<claimed xmlns='`+x+`' jid='alice@localhost' nodeId='imc1' sourceId='Metering' cacheType='C' public='true'/>`)
		r := ask(t, h, bob, "get", `<search xmlns='`+x+`' offset='0' maxCount='20'><strMask name='SN' value='A7Q*' wildcard='*'/></search>`)
		expect(t, r, "result", `<thing jid='meter42@localhost' owner='alice@localhost' nodeId='imc1' sourceId='Metering' cacheType='C'>`)
		// No strRegEx in the XEP.
		expect(t, ask(t, h, bob, "get", `<search xmlns='`+x+`'><strRegEx name='SN' value='.*'/></search>`), "error", "<bad-request ")
		// The same record, seen through NF: no owner.
		r = ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='SN' value='A7Q-000042'/></search>`)
		expect(t, r, "result", `<thing jid='meter42@localhost' id='imc1' src='Metering' pt='C'>`)
		deny(t, r, "owner")
	})
	t.Run("legacy owner hidden by config", func(t *testing.T) {
		h, _ := start(t, map[string]any{"legacy_owner": false})
		expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`' selfOwned='true'>`+meterT+`</register>`), "result")
		r := ask(t, h, bob, "get", `<search xmlns='urn:xmpp:iot:discovery'><strEq name='SN' value='A7Q-000042'/></search>`)
		expect(t, r, "result", `<thing jid='meter42@localhost'>`)
		deny(t, r, "owner")
	})
}

func TestSelfOwned(t *testing.T) {
	h, _ := start(t, nil)
	gw := "gw7@localhost/main"
	expect(t, ask(t, h, gw, "set", `<register xmlns='`+nf+`' id='lamp-3' src='Lighting' selfOwned='true'><str name='CLASS' value='Lamp'/><str name='SN' value='L3-0093'/><str name='KEY' value='c0ffee11'/></register>`), "result")
	waitPublished(t, h, 1)
	if p := h.Published()[0]; p.Attrs["owner"] != "gw7@localhost" || p.Attrs["node"] != "lamp-3" || p.Attrs["source"] != "Lighting" {
		t.Errorf("event %+v", p)
	}
	r := ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='CLASS' value='Lamp'/></search>`)
	expect(t, r, "result", `<thing jid='gw7@localhost' id='lamp-3' src='Lighting'><str name='CLASS' value='Lamp'/><str name='SN' value='L3-0093'/></thing>`)
	expect(t, ask(t, h, gw, "set", `<register xmlns='`+nf+`' id='lamp-3' src='Lighting'><str name='CLASS' value='Lamp'/></register>`), "result",
		`<claimed xmlns='`+nf+`' jid='gw7@localhost' public='true'/>`)
}

func TestOfflineThingGetsNotificationsLater(t *testing.T) {
	h, f := start(t, nil)
	expect(t, ask(t, h, thingA, "set", `<register xmlns='urn:ieee:iot:disco:1.0'>`+meterT+`</register>`), "result")
	// The thing goes offline; the claim succeeds; nothing can be sent.
	h.Event(plugin.SessionOffline{JID: thingA})
	expect(t, ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "result")
	f.quiet(t)
	// It comes back on another resource: claimed arrives there, in the
	// namespace it used.
	f.setOnline("meter42@localhost/r2", true)
	h.Event(plugin.SessionOnline{JID: "meter42@localhost/r2"})
	n := f.notified(t)
	if n.To != "meter42@localhost/r2" {
		t.Fatalf("sent to %s", n.To)
	}
	expect(t, n, "set", `<claimed xmlns='urn:ieee:iot:disco:1.0' jid='alice@localhost' public='true'/>`)
	// Delivered once: another session brings nothing.
	h.Event(plugin.SessionOnline{JID: "meter42@localhost/r2"})
	f.quiet(t)

	// A thing that errors (not ready yet) is served again on presence.
	expect(t, ask(t, h, alice, "set", `<remove xmlns='`+nf+`' jid='meter42@localhost'/>`), "result")
	f.setAnswer(func(iq *plugin.Stanza) *plugin.Stanza { return iq.Error("service-unavailable", "") })
	expect(t, f.notified(t), "set", "<removed ")
	f.setAnswer(nil)
	h.Event(plugin.PresenceChanged{JID: "meter42@localhost/r2", Available: true})
	expect(t, f.notified(t), "set", "<removed ")
	h.Event(plugin.PresenceChanged{JID: "meter42@localhost/r2", Available: true})
	f.quiet(t)
}

func TestOwnerAccountDeleted(t *testing.T) {
	h, f := start(t, nil)
	f.setOnline(thingA, true)
	expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`'>`+meterT+`</register>`), "result")
	expect(t, ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "result")
	expect(t, f.notified(t), "set", "<claimed ")
	h.Event(plugin.AccountDeleted{JID: "alice@localhost"})
	expect(t, f.notified(t), "set", `<disowned xmlns='`+nf+`'/>`)
	waitPublished(t, h, 2)
	// A new alice cannot inherit or re-claim the thing.
	expect(t, ask(t, h, alice, "set", `<remove xmlns='`+nf+`' jid='meter42@localhost'/>`), "error", "<item-not-found ")
	expect(t, ask(t, h, alice, "set", `<mine xmlns='`+nf+`'>`+meterT+`</mine>`), "error", "<item-not-found ")
}

func TestRequestErrors(t *testing.T) {
	h, _ := start(t, map[string]any{"max_tags": 4, "claims_per_minute": 2})
	long := strings.Repeat("x", 129)
	for _, tc := range []struct{ name, from, typ, p, cond, text string }{
		{"long name", thingA, "set", `<register xmlns='` + nf + `'><str name='` + strings.Repeat("N", 65) + `' value='1'/></register>`, "bad-request", "65 characters"},
		{"bad name charset", thingA, "set", `<register xmlns='` + nf + `'><str name='A:B' value='1'/></register>`, "bad-request", "contains"},
		{"long value", thingA, "set", `<register xmlns='` + nf + `'><str name='A' value='` + long + `'/></register>`, "bad-request", "129 characters"},
		{"bad number", thingA, "set", `<register xmlns='` + nf + `'><num name='V' value='3,1'/></register>`, "bad-request", "not a number"},
		{"duplicate", thingA, "set", `<register xmlns='` + nf + `'><str name='A' value='1'/><num name='a' value='2'/></register>`, "bad-request", "twice"},
		{"too many", thingA, "set", `<register xmlns='` + nf + `'><str name='A' value='1'/><str name='B' value='1'/><str name='C' value='1'/><str name='D' value='1'/><str name='E' value='1'/></register>`, "bad-request", "at most 4"},
		{"R registered", thingA, "set", `<register xmlns='` + nf + `'><str name='R' value='registry.localhost'/></register>`, "bad-request", "R is"},
		{"not a tag", thingA, "set", `<register xmlns='` + nf + `'><tag name='A' value='1'/></register>`, "bad-request", "not a tag"},
		{"no value", thingA, "set", `<register xmlns='` + nf + `'><str name='A'/></register>`, "bad-request", "no value"},
		{"bad bool", thingA, "set", `<register xmlns='` + nf + `' selfOwned='yes'/>`, "bad-request", "boolean"},
		{"remove without jid", alice, "set", `<remove xmlns='` + nf + `'/>`, "bad-request", "jid"},
		{"disown without jid", alice, "set", `<disown xmlns='` + nf + `'/>`, "bad-request", "jid"},
		{"search without operator", bob, "get", `<search xmlns='` + nf + `'/>`, "bad-request", "at least one"},
		{"unknown operator", bob, "get", `<search xmlns='` + nf + `'><strLike name='A' value='x'/></search>`, "bad-request", "not a search operator"},
		{"numeric operand", bob, "get", `<search xmlns='` + nf + `'><numEq name='V' value='x'/></search>`, "bad-request", "not a number"},
		{"mask without wildcard", bob, "get", `<search xmlns='` + nf + `'><strMask name='V' value='x*'/></search>`, "bad-request", "wildcard"},
		{"two-char wildcard", bob, "get", `<search xmlns='` + nf + `'><strMask name='V' value='x*' wildcard='**'/></search>`, "bad-request", "one character"},
		{"bad regex", bob, "get", `<search xmlns='` + nf + `'><strRegEx name='V' value='(a'/></search>`, "bad-request", "regular expression"},
		{"regex too complex", bob, "get", `<search xmlns='` + nf + `'><strRegEx name='V' value='(abcdefghij){300}'/></search>`, "bad-request", "too complex"},
		{"bad offset", bob, "get", `<search xmlns='` + nf + `' offset='-1'><strEq name='A' value='x'/></search>`, "bad-request", "offset"},
		{"range without max", bob, "get", `<search xmlns='` + nf + `'><numRange name='V' min='1'/></search>`, "bad-request", "no max"},
		{"search as set", bob, "set", `<search xmlns='` + nf + `'><strEq name='A' value='x'/></search>`, "feature-not-implemented", ""},
		{"unknown element", bob, "get", `<frobnicate xmlns='` + nf + `'/>`, "feature-not-implemented", ""},
		{"other namespace", bob, "get", `<query xmlns='jabber:iq:version'/>`, "service-unavailable", ""},
		{"from a server", "localhost", "get", `<search xmlns='` + nf + `'><strEq name='A' value='x'/></search>`, "forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, h, tc.from, tc.typ, tc.p)
			expect(t, r, "error", "<"+tc.cond+" ", tc.text)
		})
	}
	t.Run("KEY searches find nothing", func(t *testing.T) {
		expect(t, ask(t, h, thingA, "set", `<register xmlns='`+nf+`' selfOwned='true'><str name='KEY' value='k'/><str name='A' value='1'/></register>`), "result")
		expect(t, ask(t, h, bob, "get", `<search xmlns='`+nf+`'><strEq name='A' value='1'/><strMask name='key' value='*' wildcard='*'/></search>`), "result", "more='false'/>")
	})
	t.Run("claim rate", func(t *testing.T) {
		for range 2 {
			expect(t, ask(t, h, "eve@localhost/x", "set", `<mine xmlns='`+nf+`'><str name='KEY' value='guess'/></mine>`), "error", "<item-not-found ")
		}
		expect(t, ask(t, h, "eve@localhost/y", "set", `<mine xmlns='`+nf+`'><str name='KEY' value='guess'/></mine>`), "error", "<resource-constraint ")
	})
	t.Run("conflict", func(t *testing.T) {
		expect(t, ask(t, h, "c1@localhost/r", "set", `<register xmlns='`+nf+`'><str name='KEY' value='same'/></register>`), "result")
		expect(t, ask(t, h, "c2@localhost/r", "set", `<register xmlns='`+nf+`'><str name='KEY' value='same'/></register>`), "error", "<conflict ")
	})
}

func TestPaging(t *testing.T) {
	h, _ := start(t, map[string]any{"max_count": 3})
	for i := range 7 {
		expect(t, ask(t, h, fmt.Sprintf("t%d@localhost/r", i), "set",
			fmt.Sprintf(`<register xmlns='%s' selfOwned='true'><str name='CLASS' value='Meter'/><num name='N' value='%d'/></register>`, nf, i)), "result")
	}
	for _, tc := range []struct {
		attrs string
		want  []int
		more  bool
	}{
		{"", []int{0, 1, 2}, true}, // lowered to max_count
		{"maxCount='2'", []int{0, 1}, true},
		{"offset='2' maxCount='2'", []int{2, 3}, true},
		{"offset='5' maxCount='10'", []int{5, 6}, false},
		{"offset='7'", nil, false},
	} {
		t.Run(tc.attrs, func(t *testing.T) {
			r := ask(t, h, bob, "get", `<search xmlns='`+nf+`' `+tc.attrs+`><strEq name='CLASS' value='Meter'/></search>`)
			for _, i := range tc.want {
				expect(t, r, "result", fmt.Sprintf("jid='t%d@localhost'", i))
			}
			if n := strings.Count(string(r.Raw), "<thing "); n != len(tc.want) {
				t.Errorf("%d things: %s", n, r.Raw)
			}
			expect(t, r, "result", fmt.Sprintf("more='%v'", tc.more))
		})
	}
}

func TestDiscoInfo(t *testing.T) {
	h, _ := start(t, nil)
	r := ask(t, h, bob, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	for _, f := range []string{nf, "urn:ieee:iot:disco:1.0", "urn:nfi:iot:disco:1.0", "urn:xmpp:iot:discovery"} {
		expect(t, r, "result", `var='`+f+`'`)
	}
	if info := h.Info(); len(info.Features) != 4 || info.Addresses[0] != "registry" {
		t.Errorf("info %+v", info)
	}
}

func TestConfigSchema(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		ok     bool
	}{
		{"empty", nil, true},
		{"all", map[string]any{"max_tags": 10, "max_count": 50, "max_scan": 5000, "claims_per_minute": 5,
			"searches_per_minute": 60, "notify_attempts": 3, "disown_timeout": "2s", "legacy_owner": false}, true},
		{"unknown key", map[string]any{"max_tag": 1}, false},
		{"bad duration", map[string]any{"disown_timeout": "soon"}, false},
		{"duration too long", map[string]any{"disown_timeout": "10m"}, false},
		{"max_tags too big", map[string]any{"max_tags": 1000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugintest.Start(t, newPlugin(), plugintest.Options{Config: tc.config})
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
