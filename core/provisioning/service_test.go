package provisioning

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

const (
	nsD = "urn:nf:iot:prov:d:1.0"
	nsO = "urn:nf:iot:prov:o:1.0"
)

func names(el *xml.Element, local, attr string) []string {
	var out []string
	for _, c := range el.Children {
		if c.Name.Local == local {
			out = append(out, c.Attr(attr))
		}
	}
	return out
}

// ask sends a device question and returns the response payload.
func (c *client) ask(id, body string) *xml.Element {
	c.e.t.Helper()
	c.send(fmt.Sprintf("<iq type='get' id='%s' to='%s'>%s</iq>", id, service, body))
	el := c.expect("answer "+id, result(id))
	if el.Attr("type") != "result" {
		c.e.t.Fatalf("question %s failed: %s", id, el.String())
	}
	if len(el.Children) != 1 {
		c.e.t.Fatalf("answer %s: %s", id, el.String())
	}
	return el.Children[0]
}

// iq sends an iq set/get and returns the response.
func (c *client) iq(id, typ, body string) *xml.Element {
	c.e.t.Helper()
	c.send(fmt.Sprintf("<iq type='%s' id='%s' to='%s'>%s</iq>", typ, id, service, body))
	return c.expect("response "+id, result(id))
}

func TestDisco(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login("alice")
	el := c.iq("d1", "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	feats := names(el.Children[0], "feature", "var")
	for _, want := range []string{"urn:ieee:iot:prov:d:1.0", "urn:nf:iot:prov:d:1.0", "urn:nfi:iot:prov:d:1.0",
		"urn:ieee:iot:prov:o:1.0", "urn:nf:iot:prov:o:1.0", "urn:nfi:iot:prov:o:1.0", "urn:xmpp:iot:provisioning", NSExtasis} {
		if !slices.Contains(feats, want) {
			t.Errorf("feature %s missing from %v", want, feats)
		}
	}
}

func TestUnclaimedDenied(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	tests := []struct{ name, body, resp string }{
		{"isFriend", "<isFriend xmlns='" + nsD + "' jid='bob@other.example'/>", "isFriendResponse"},
		{"canRead", "<canRead xmlns='" + nsD + "' jid='bob@other.example' m='true'/>", "canReadResponse"},
		{"canControl", "<canControl xmlns='" + nsD + "' jid='bob@other.example'><p n='On'/></canControl>", "canControlResponse"},
		{"legacy", "<canRead xmlns='urn:xmpp:iot:provisioning' jid='bob@other.example' momentary='true'/>", "canReadResponse"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			r := thing.ask(fmt.Sprint("u", i), tt.body)
			if r.Name.Local != tt.resp || r.Attr("result") != "false" || r.Attr("jid") != "bob@other.example" {
				t.Fatalf("got %s", r.String())
			}
		})
	}
}

// TestReadFlow is the heart of the issue: a third party asks to read, is
// denied, the owner is asked, answers "this party, these fields", the
// thing gets clearCache and is then answered with exactly those fields.
func TestReadFlow(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	owner := e.login("alice")
	e.claim(thing.bare(), owner.bare())
	thing.expect("clearCache after claim", has("clearCache"))

	q := "<canRead xmlns='" + nsD + "' jid='bob@other.example' m='true' i='true'><f n='Power'/><f n='Energy'/><f n='Serial'/></canRead>"
	r := thing.ask("r1", q)
	if r.Attr("result") != "false" {
		t.Fatalf("first answer: %s", r.String())
	}
	msg := owner.expect("question", has("canRead"))
	cr := payload(msg, "canRead")
	key := cr.Attr("key")
	if cr.Name.Space != nsO || key == "" || cr.Attr("jid") != thing.bare() || cr.Attr("remoteJid") != "bob@other.example" ||
		!slices.Equal(names(cr, "f", "n"), []string{"Power", "Energy", "Serial"}) || cr.Attr("m") != "true" || cr.Attr("i") != "true" {
		t.Fatalf("question: %s", msg.String())
	}
	if x := payload(msg, "x"); x == nil || x.Attr("type") != "form" {
		t.Fatalf("question without form: %s", msg.String())
	}
	// Asking again while the question is pending does not ask again.
	thing.ask("r2", q)
	owner.none("second question", has("canRead"))

	res := owner.iq("o1", "set", "<canReadRule xmlns='"+nsO+"' jid='"+thing.bare()+"' remoteJid='bob@other.example' key='"+key+
		"' result='true'><partial m='true'><f n='Power'/><f n='Energy'/></partial><fromJid/></canReadRule>")
	if res.Attr("type") != "result" {
		t.Fatalf("rule refused: %s", res.String())
	}
	cc := thing.expect("clearCache", has("clearCache"))
	if cc.Attr("from") != service || cc.Attr("type") != "set" || payload(cc, "clearCache").Name.Space != nsD {
		t.Fatalf("clearCache: %s", cc.String())
	}
	r = thing.ask("r3", q)
	if r.Attr("result") != "true" || r.Attr("m") != "true" || r.Attr("i") != "" || r.Attr("all") != "" ||
		!slices.Equal(names(r, "f", "n"), []string{"Energy", "Power"}) {
		t.Fatalf("after the rule: %s", r.String())
	}
	// Another party is still denied and makes a new question.
	r = thing.ask("r4", strings.ReplaceAll(q, "bob@", "eve@"))
	if r.Attr("result") != "false" {
		t.Fatalf("other party: %s", r.String())
	}
	owner.expect("question about eve", func(el *xml.Element) bool {
		p := payload(el, "canRead")
		return p != nil && p.Attr("remoteJid") == "eve@other.example"
	})
	// Asking for all fields gets the permitted list.
	r = thing.ask("r5", "<canRead xmlns='"+nsD+"' jid='bob@other.example' all='true'/>")
	if r.Attr("result") != "true" || r.Attr("m") != "true" || !slices.Equal(names(r, "f", "n"), []string{"Energy", "Power"}) {
		t.Fatalf("all fields: %s", r.String())
	}

	// The audit names who asked what, and the rule that decided.
	if err := e.svc.FlushAudit(e.ctx); err != nil {
		t.Fatal(err)
	}
	a := owner.iq("a1", "get", "<audit xmlns='"+NSExtasis+"' jid='"+thing.bare()+"'/>")
	ds := payload(a, "audit")
	if ds == nil || len(ds.Children) < 4 {
		t.Fatalf("audit: %s", a.String())
	}
	last := ds.Children[0]
	if last.Attr("requester") != "bob@other.example" || last.Attr("allow") != "true" || last.Attr("rules") == "" || last.Attr("via") != "question" {
		t.Fatalf("last decision: %s", last.String())
	}
	// Someone else cannot read alice's audit of the thing.
	eve := e.login("eve")
	a = eve.iq("a2", "get", "<audit xmlns='"+NSExtasis+"' jid='"+thing.bare()+"'/>")
	if d := payload(a, "audit"); d == nil || len(d.Children) != 0 {
		t.Fatalf("eve sees: %s", a.String())
	}
}

func TestControlDomainEveryoneAndDelete(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("lamp")
	owner := e.login("alice")
	e.claim(thing.bare(), owner.bare())
	thing.expect("clearCache after claim", has("clearCache"))

	// Waher's devices ask with <parameter name/> and read only that.
	q := "<canControl xmlns='" + nsD + "' jid='bob@other.example'><nd id='lamp-3' src='Lighting'/><parameter name='On'/><parameter name='Brightness'/></canControl>"
	if r := thing.ask("c1", q); r.Attr("result") != "false" {
		t.Fatalf("before: %s", r.String())
	}
	msg := owner.expect("question", has("canControl"))
	cq := payload(msg, "canControl")
	if !slices.Equal(names(cq, "p", "n"), []string{"On", "Brightness"}) || payload(cq, "nd").Attr("id") != "lamp-3" {
		t.Fatalf("control question: %s", msg.String())
	}
	res := owner.iq("o1", "set", "<canControlRule xmlns='"+nsO+"' jid='"+thing.bare()+"' remoteJid='bob@other.example' key='"+cq.Attr("key")+
		"' result='true'><partial><p n='On'/></partial><fromDomain/></canControlRule>")
	if res.Attr("type") != "result" {
		t.Fatalf("rule: %s", res.String())
	}
	thing.expect("clearCache", has("clearCache"))
	r := thing.ask("c2", strings.ReplaceAll(q, "bob@", "carol@"))
	if r.Attr("result") != "true" || !slices.Equal(names(r, "parameter", "name"), []string{"On"}) || len(names(r, "p", "n")) != 0 ||
		payload(r, "nd") == nil || payload(r, "nd").Attr("id") != "lamp-3" {
		t.Fatalf("domain rule: %s", r.String())
	}
	if r := thing.ask("c3", strings.ReplaceAll(q, "bob@other.example", "bob@third.example")); r.Attr("result") != "false" {
		t.Fatalf("other domain: %s", r.String())
	}

	// Everyone may befriend it.
	res = owner.iq("o2", "set", "<isFriendRule xmlns='"+nsO+"' jid='"+thing.bare()+"' remoteJid='zed@x.example' result='true' range='All'/>")
	if res.Attr("type") != "result" {
		t.Fatalf("friend rule: %s", res.String())
	}
	thing.expect("clearCache", has("clearCache"))
	if r := thing.ask("f1", "<isFriend xmlns='"+nsD+"' jid='anyone@any.example'/>"); r.Attr("result") != "true" {
		t.Fatalf("everyone: %s", r.String())
	}
	// Listing shows both rules; deleting them all denies again.
	l := owner.iq("l1", "get", "<rules xmlns='"+NSExtasis+"'/>")
	if rs := payload(l, "rules"); rs == nil || len(rs.Children) != 2 {
		t.Fatalf("rules: %s", l.String())
	}
	res = owner.iq("o3", "set", "<deleteRules xmlns='"+nsO+"' jid='"+thing.bare()+"' id=''/>")
	if res.Attr("type") != "result" {
		t.Fatalf("deleteRules: %s", res.String())
	}
	thing.expect("clearCache after delete", has("clearCache"))
	if r := thing.ask("f2", "<isFriend xmlns='"+nsD+"' jid='anyone@any.example'/>"); r.Attr("result") != "false" {
		t.Fatalf("after delete: %s", r.String())
	}
	if r := thing.ask("c4", strings.ReplaceAll(q, "bob@", "carol@")); r.Attr("result") != "false" {
		t.Fatalf("control after delete: %s", r.String())
	}
}

func TestOwnerRulesChecked(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	alice := e.login("alice")
	eve := e.login("eve")
	e.claim(thing.bare(), alice.bare())
	tests := []struct{ name, body, cond string }{
		{"not the owner", "<canReadRule xmlns='" + nsO + "' jid='" + thing.bare() + "' remoteJid='eve@x.example' result='true'><fromJid/></canReadRule>", "item-not-found"},
		{"unknown thing", "<isFriendRule xmlns='" + nsO + "' jid='nothing@example.org' remoteJid='eve@x.example' result='true'/>", "item-not-found"},
		{"bad range", "<isFriendRule xmlns='" + nsO + "' jid='" + thing.bare() + "' remoteJid='eve@x.example' result='true' range='Galaxy'/>", "bad-request"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			c := eve
			if tt.name != "not the owner" {
				c = alice
			}
			res := c.iq(fmt.Sprint("x", i), "set", tt.body)
			if res.Attr("type") != "error" || payload(payload(res, "error"), tt.cond) == nil {
				t.Fatalf("got %s", res.String())
			}
		})
	}
}

func TestFormAnswerAndFriendPush(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	owner := e.login("alice")
	e.claim(thing.bare(), owner.bare())
	if r := thing.ask("f1", "<isFriend xmlns='"+nsD+"' jid='bob@other.example'/>"); r.Attr("result") != "false" {
		t.Fatalf("before: %s", r.String())
	}
	msg := owner.expect("question", has("isFriend"))
	key := payload(msg, "isFriend").Attr("key")
	owner.send("<message to='" + service + "'><x xmlns='jabber:x:data' type='submit'>" +
		"<field var='FORM_TYPE'><value>" + FormType + "</value></field>" +
		"<field var='key'><value>" + key + "</value></field>" +
		"<field var='result'><value>allow</value></field>" +
		"<field var='range'><value>caller</value></field></x></message>")
	f := thing.expect("friend push", has("friend"))
	if payload(f, "friend").Attr("jid") != "bob@other.example" || f.Attr("from") != service {
		t.Fatalf("friend: %s", f.String())
	}
	if r := thing.ask("f2", "<isFriend xmlns='"+nsD+"' jid='bob@other.example'/>"); r.Attr("result") != "true" {
		t.Fatalf("after: %s", r.String())
	}
	// Deleting the rule unfriends bob.
	owner.iq("d1", "set", "<deleteRules xmlns='"+nsO+"' jid='"+thing.bare()+"'/>")
	if u := thing.expect("unfriend", has("unfriend")); payload(u, "unfriend").Attr("jid") != "bob@other.example" {
		t.Fatalf("unfriend: %s", u.String())
	}
}

func TestOfflineThingGetsClearCacheWhenOnline(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	owner := e.login("alice")
	e.claim(thing.bare(), owner.bare())
	thing.ask("q1", "<canRead xmlns='"+nsD+"' jid='bob@other.example' m='true'/>")
	key := payload(owner.expect("question", has("canRead")), "canRead").Attr("key")
	thing.logout()
	owner.iq("o1", "set", "<canReadRule xmlns='"+nsO+"' jid='"+thing.bare()+"' remoteJid='bob@other.example' key='"+key+"' result='true'><fromJid/></canReadRule>")
	n, err := e.store.Notices(e.ctx, jid.MustParse(thing.bare()))
	if err != nil || len(n) != 1 {
		t.Fatalf("queued: %v %v", n, err)
	}
	// The queue survives a restart.
	e.start()
	again := e.login("meter")
	again.expect("queued clearCache", has("clearCache"))
	e.waitFor("notice deleted", func() bool {
		n, _ := e.store.Notices(e.ctx, jid.MustParse(thing.bare()))
		return len(n) == 0
	})
	if r := again.ask("q2", "<canRead xmlns='"+nsD+"' jid='bob@other.example' m='true'/>"); r.Attr("result") != "true" {
		t.Fatalf("after restart: %s", r.String())
	}
}

func TestEnforcement(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	owner := e.login("alice")
	bob := e.login("bob")
	e.claim(thing.bare(), owner.bare())
	res := owner.iq("e1", "set", "<enforce xmlns='"+NSExtasis+"' jid='"+thing.bare()+"' value='true'/>")
	if res.Attr("type") != "result" {
		t.Fatalf("enforce: %s", res.String())
	}
	req := "<iq type='get' id='s1' to='" + thing.bare() + "/r1'><req xmlns='urn:nf:iot:sd:1.0' id='rq1' m='true'><f n='Power'/><f n='Serial'/></req></iq>"
	bob.send(req)
	el := bob.expect("forbidden", result("s1"))
	if el.Attr("type") != "error" || payload(payload(el, "error"), "forbidden") == nil {
		t.Fatalf("not forbidden: %s", el.String())
	}
	thing.none("request", has("req"))
	q := owner.expect("question", has("canRead"))
	key := payload(q, "canRead").Attr("key")
	owner.iq("o1", "set", "<canReadRule xmlns='"+nsO+"' jid='"+thing.bare()+"' remoteJid='"+bob.bare()+"' key='"+key+
		"' result='true'><partial m='true'><f n='Power'/></partial><fromJid/></canReadRule>")
	bob.send(req)
	got := thing.expect("narrowed request", has("req"))
	r := payload(got, "req")
	if !slices.Equal(names(r, "f", "n"), []string{"Power"}) || r.Attr("m") != "true" || r.Attr("id") != "rq1" || got.Attr("from") != bob.jid.String() {
		t.Fatalf("narrowed: %s", got.String())
	}
	// Control is still refused; the owner's own requests pass.
	bob.send("<iq type='set' id='k1' to='" + thing.bare() + "/r1'><set xmlns='urn:nf:iot:ctr:1.0'><b n='On' v='true'/></set></iq>")
	if el := bob.expect("control refused", result("k1")); el.Attr("type") != "error" {
		t.Fatalf("control: %s", el.String())
	}
	owner.send("<iq type='set' id='k2' to='" + thing.bare() + "/r1'><set xmlns='urn:nf:iot:ctr:1.0'><b n='On' v='true'/></set></iq>")
	thing.expect("owner's control", has("set"))
	// Presence subscriptions are checked too.
	bob.send("<presence type='subscribe' to='" + thing.bare() + "'/>")
	if el := bob.expect("subscription refused", func(el *xml.Element) bool { return el.Name.Local == "presence" }); el.Attr("type") != "error" {
		t.Fatalf("subscribe: %s", el.String())
	}
	if err := e.svc.FlushAudit(e.ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.Decisions(e.ctx, storage.DecisionFilter{Owner: jid.MustParse(owner.bare())})
	if err != nil || len(ds) < 4 || ds[0].Via != "broker" {
		t.Fatalf("audit: %+v %v", ds, err)
	}
	for _, d := range ds {
		if strings.Contains(d.Request+d.Granted, "true") {
			t.Fatalf("audit holds a value: %+v", d)
		}
	}
}

func TestOwnerPolicy(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PolicyTimeout = 100 * time.Millisecond })
	thing := e.login("meter")
	owner := e.login("alice")
	e.claim(thing.bare(), owner.bare())
	tests := []struct {
		name, module string
		line, col    string
		cond         string
	}{
		{"syntax error", "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := {\"allow\" true}\n\nx := 1\n", "5", "", "bad-request"},
		{"wrong package", "package extasis.provisioning\n\ndecision := 1\n", "1", "1", "bad-request"},
		{"network", "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"})\n", "5", "", "bad-request"},
		{"runtime", "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := opa.runtime()\n", "5", "", "bad-request"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			res := owner.iq(fmt.Sprint("p", i), "set", "<policy xmlns='"+NSExtasis+"'>"+string(xml.EscapeText(nil, tt.module))+"</policy>")
			pe := payload(payload(res, "error"), "policy-error")
			if res.Attr("type") != "error" || pe == nil || pe.Attr("line") != tt.line || (tt.col != "" && pe.Attr("col") != tt.col) ||
				pe.Attr("file") != owner.bare()+".rego" {
				t.Fatalf("got %s", res.String())
			}
		})
	}
	// A policy that lets everyone at other.example read, and nobody else.
	good := `package extasis.provisioning.owner

import rego.v1

decision := {"allow": true, "reason": "neighbours", "ask": false, "rules": [], "nodes": input.nodes,
	"categories": input.categories, "fields": input.fields, "params": input.params} if {
	input.domain == "other.example"
	input.action == "read"
}
`
	if res := owner.iq("p9", "set", "<policy xmlns='"+NSExtasis+"'>"+string(xml.EscapeText(nil, good))+"</policy>"); res.Attr("type") != "result" {
		t.Fatalf("good policy: %s", res.String())
	}
	thing.expect("clearCache after policy", has("clearCache"))
	if r := thing.ask("q1", "<canRead xmlns='"+nsD+"' jid='zed@other.example' m='true'/>"); r.Attr("result") != "true" || r.Attr("m") != "true" {
		t.Fatalf("policy read: %s", r.String())
	}
	if r := thing.ask("q2", "<isFriend xmlns='"+nsD+"' jid='zed@other.example'/>"); r.Attr("result") != "false" {
		t.Fatalf("policy friend falls back to rules: %s", r.String())
	}
	// A policy that loops is stopped and the question denied.
	loop := `package extasis.provisioning.owner

import rego.v1

decision := {"allow": true} if {
	count([x | some x in numbers.range(1, 1000000); some y in numbers.range(1, 1000000); x == y + 1]) > 5
}
`
	if res := owner.iq("p10", "set", "<policy xmlns='"+NSExtasis+"'>"+string(xml.EscapeText(nil, loop))+"</policy>"); res.Attr("type") != "result" {
		t.Fatalf("loop policy: %s", res.String())
	}
	start := time.Now()
	r := thing.ask("q3", "<canRead xmlns='"+nsD+"' jid='zed@other.example' m='true'/>")
	if r.Attr("result") != "false" || time.Since(start) > 3*time.Second {
		t.Fatalf("loop: %s after %s", r.String(), time.Since(start))
	}
	if e.svc.Metrics().PolicyTimeout.Load() == 0 {
		t.Fatal("the timeout was not counted")
	}
	// Back to the default.
	if res := owner.iq("p11", "set", "<deletePolicy xmlns='"+NSExtasis+"'/>"); res.Attr("type") != "result" {
		t.Fatalf("delete: %s", res.String())
	}
	if r := thing.ask("q4", "<canRead xmlns='"+nsD+"' jid='zed@other.example' m='true'/>"); r.Attr("result") != "false" {
		t.Fatalf("default again: %s", r.String())
	}
}

func TestNodeOwnersAndDisown(t *testing.T) {
	e := newEnv(t, nil)
	gw := e.login("gw")
	alice := e.login("alice")
	bob := e.login("bob")
	e.claim(gw.bare(), alice.bare())
	e.claim(gw.bare(), bob.bare(), "meter-1", "Energy")
	// bob owns meter-1: he may read it, alice's rules do not reach it.
	r := gw.ask("n1", "<canRead xmlns='"+nsD+"' jid='"+bob.bare()+"' m='true'><nd id='meter-1' src='Energy'/></canRead>")
	if r.Attr("result") != "true" || payload(r, "nd").Attr("id") != "meter-1" {
		t.Fatalf("node owner: %s", r.String())
	}
	alice.iq("a1", "set", "<canReadRule xmlns='"+nsO+"' jid='"+gw.bare()+"' remoteJid='eve@x.example' result='true'><all/></canReadRule>")
	if r := gw.ask("n2", "<canRead xmlns='"+nsD+"' jid='eve@x.example' m='true'><nd id='meter-1' src='Energy'/></canRead>"); r.Attr("result") != "false" {
		t.Fatalf("alice's rule reached bob's node: %s", r.String())
	}
	if r := gw.ask("n3", "<canRead xmlns='"+nsD+"' jid='eve@x.example' m='true'/>"); r.Attr("result") != "true" {
		t.Fatalf("alice's rule: %s", r.String())
	}
	// Disowning the gateway forgets alice and her rules.
	e.bus.Publish(e.ctx, disowned(gw.bare()))
	e.waitFor("disown", func() bool {
		t := e.svc.things.get(jid.MustParse(gw.bare()))
		return t == nil || t.owner.IsZero()
	})
	if r := gw.ask("n4", "<canRead xmlns='"+nsD+"' jid='eve@x.example' m='true'/>"); r.Attr("result") != "false" {
		t.Fatalf("after disown: %s", r.String())
	}
	if rs, _ := e.store.Rules(e.ctx, storage.RuleFilter{Owner: jid.MustParse(alice.bare())}); len(rs) != 0 {
		t.Fatalf("rules left: %+v", rs)
	}
}

func TestReloadPicksUpExternalChanges(t *testing.T) {
	e := newEnv(t, nil)
	thing := e.login("meter")
	e.claim(thing.bare(), "alice@"+domain)
	// The CLI writes to the store directly; the service polls.
	_, err := e.store.AddRule(context.Background(), storage.ProvisioningRule{Owner: jid.MustParse("alice@" + domain),
		Thing: storage.ThingRef{JID: jid.MustParse(thing.bare())}, Action: "friend", Origin: "all", Allow: true})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("reload", func() bool {
		t := e.svc.things.get(jid.MustParse(thing.bare()))
		return t != nil && len(t.rules) == 1
	})
	if r := thing.ask("f1", "<isFriend xmlns='"+nsD+"' jid='x@y.example'/>"); r.Attr("result") != "true" {
		t.Fatalf("after reload: %s", r.String())
	}
}
