package provisioning_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// End to end: the real `extasis serve` binary, mellium clients as the
// thing, the owner and third parties, and the real CLI. Ownership is
// recorded with `extasis policy own` (what the registry plugin's
// thing.claimed event does once the plugin runs under the broker).

const (
	wait   = 10 * time.Second
	prov   = "provisioning.localhost"
	nsProD = "urn:nf:iot:prov:d:1.0"
	nsProO = "urn:nf:iot:prov:o:1.0"
	nsExt  = "urn:extasis:provisioning:0"
)

type e2e struct {
	t *testing.T
	b *apptest.Broker
	n int
}

func (e *e2e) id() string {
	e.n++
	return fmt.Sprintf("e%d", e.n)
}

// iq sends an iq to the provisioning service and returns the response.
func (e *e2e) iq(c *apptest.Client, typ, body string) *apptest.Element {
	e.t.Helper()
	id := e.id()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.SendRaw(ctx, fmt.Sprintf("<iq type='%s' id='%s' to='%s'>%s</iq>", typ, id, prov, body)); err != nil {
		e.t.Fatal(err)
	}
	return c.Expect(e.t, wait, fmt.Sprintf("<iq id='%s'/>", id))
}

// ask sends a device question and returns the response payload.
func (e *e2e) ask(c *apptest.Client, body string) *apptest.Element {
	e.t.Helper()
	res := e.iq(c, "get", body)
	if res.AttrValue("type") != "result" || len(res.Children) != 1 {
		e.t.Fatalf("question refused: %s", res)
	}
	return res.Children[0]
}

func (e *e2e) send(c *apptest.Client, raw string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.SendRaw(ctx, raw); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) cli(args ...string) string {
	e.t.Helper()
	out, err := e.b.CLI("", args...)
	if err != nil {
		e.t.Fatalf("extasis %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func fieldNames(el *apptest.Element, local, attr string) []string {
	var out []string
	for _, c := range el.Children {
		if c.Name.Local == local {
			out = append(out, c.AttrValue(attr))
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: "provisioning:\n  reload_interval: 200ms\n  policy_timeout: 100ms\n"})
	for _, u := range []string{"meter", "alice", "bob", "carol", "dave"} {
		b.AddUser(u+"@localhost", "password-"+u)
	}
	e := &e2e{t: t, b: b}
	dial := func(u string) *apptest.Client {
		c := b.Dial(t, u+"@localhost", "password-"+u, apptest.DialOptions{Resource: "r1"})
		e.send(c, "<presence/>")
		return c
	}
	thing, alice, bob := dial("meter"), dial("alice"), dial("bob")

	t.Run("disco", func(t *testing.T) {
		e.t = t
		e.send(thing, "<iq type='get' id='di' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		thing.Expect(t, wait, "<iq type='result' id='di'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='"+prov+"'/></query></iq>")
		res := e.iq(thing, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
		for _, f := range []string{"urn:nf:iot:prov:d:1.0", "urn:ieee:iot:prov:d:1.0", "urn:nfi:iot:prov:d:1.0", "urn:nf:iot:prov:o:1.0", "urn:xmpp:iot:provisioning"} {
			if !apptest.MustPattern("<iq><query xmlns='http://jabber.org/protocol/disco#info'><feature var='" + f + "'/></query></iq>").Match(res) {
				t.Errorf("feature %s missing: %s", f, res)
			}
		}
	})

	t.Run("unclaimed thing is denied", func(t *testing.T) {
		e.t = t
		r := e.ask(thing, "<canRead xmlns='"+nsProD+"' jid='bob@localhost' m='true'/>")
		if r.AttrValue("result") != "false" {
			t.Fatalf("got %s", r)
		}
	})

	e.cli("policy", "own", "--owner", "alice@localhost", "meter@localhost")
	deadline := time.Now().Add(wait)
	for e.ask(thing, "<isFriend xmlns='"+nsProD+"' jid='alice@localhost'/>").AttrValue("result") != "true" {
		if time.Now().After(deadline) {
			t.Fatal("the broker did not pick up the claim")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// (The clearCache that follows the claim went by while polling: Expect
	// skips what does not match.)

	readQ := "<canRead xmlns='" + nsProD + "' jid='bob@localhost' m='true' i='true'><f n='Power'/><f n='Energy'/><f n='Serial'/></canRead>"
	t.Run("read: denied, owner asked, rule learned, clearCache, allowed with exactly those fields", func(t *testing.T) {
		e.t = t
		if r := e.ask(thing, readQ); r.AttrValue("result") != "false" {
			t.Fatalf("before: %s", r)
		}
		msg := alice.Expect(t, wait, "<message from='"+prov+"'><canRead xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='bob@localhost'/><x xmlns='jabber:x:data' type='form'/></message>")
		key := msg.Child(nsProO, "canRead").AttrValue("key")
		res := e.iq(alice, "set", "<canReadRule xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='bob@localhost' key='"+key+
			"' result='true'><partial m='true'><f n='Power'/><f n='Energy'/></partial><fromJid/></canReadRule>")
		if res.AttrValue("type") != "result" {
			t.Fatalf("rule: %s", res)
		}
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		r := e.ask(thing, readQ)
		if r.AttrValue("result") != "true" || r.AttrValue("m") != "true" || r.AttrValue("i") != "" ||
			strings.Join(fieldNames(r, "f", "n"), ",") != "Energy,Power" {
			t.Fatalf("after: %s", r)
		}
	})

	ctlQ := "<canControl xmlns='" + nsProD + "' jid='%s'><parameter name='On'/><parameter name='Brightness'/></canControl>"
	t.Run("control for the domain", func(t *testing.T) {
		e.t = t
		if r := e.ask(thing, fmt.Sprintf(ctlQ, "bob@localhost")); r.AttrValue("result") != "false" {
			t.Fatalf("before: %s", r)
		}
		msg := alice.Expect(t, wait, "<message from='"+prov+"'><canControl xmlns='"+nsProO+"' remoteJid='bob@localhost'/></message>")
		key := msg.Child(nsProO, "canControl").AttrValue("key")
		e.iq(alice, "set", "<canControlRule xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='bob@localhost' key='"+key+
			"' result='true'><partial><p n='On'/></partial><fromDomain/></canControlRule>")
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		r := e.ask(thing, fmt.Sprintf(ctlQ, "carol@localhost"))
		if r.AttrValue("result") != "true" || strings.Join(fieldNames(r, "parameter", "name"), ",") != "On" {
			t.Fatalf("domain rule: %s", r)
		}
	})

	t.Run("everyone may befriend; deleting rules denies again", func(t *testing.T) {
		e.t = t
		e.iq(alice, "set", "<isFriendRule xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='x@elsewhere.example' result='true' range='All'/>")
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		if r := e.ask(thing, "<isFriend xmlns='"+nsProD+"' jid='anyone@elsewhere.example'/>"); r.AttrValue("result") != "true" {
			t.Fatalf("everyone: %s", r)
		}
		if out := e.cli("policy", "rules", "--owner", "alice@localhost"); strings.Count(out, "alice@localhost") != 3 {
			t.Fatalf("policy rules:\n%s", out)
		}
		res := e.iq(alice, "set", "<deleteRules xmlns='"+nsProO+"' jid='meter@localhost' id=''/>")
		if res.AttrValue("type") != "result" {
			t.Fatalf("deleteRules: %s", res)
		}
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		if r := e.ask(thing, "<isFriend xmlns='"+nsProD+"' jid='anyone@elsewhere.example'/>"); r.AttrValue("result") != "false" {
			t.Fatalf("after delete: %s", r)
		}
		if r := e.ask(thing, readQ); r.AttrValue("result") != "false" {
			t.Fatalf("read after delete: %s", r)
		}
	})

	t.Run("owner offline: the question waits in offline storage", func(t *testing.T) {
		e.t = t
		_ = alice.Close()
		time.Sleep(200 * time.Millisecond)
		if r := e.ask(thing, "<canRead xmlns='"+nsProD+"' jid='dave@localhost' m='true'/>"); r.AttrValue("result") != "false" {
			t.Fatalf("before: %s", r)
		}
		time.Sleep(200 * time.Millisecond)
		alice = dial("alice")
		msg := alice.Expect(t, wait, "<message from='"+prov+"'><canRead xmlns='"+nsProO+"' remoteJid='dave@localhost'/></message>")
		key := msg.Child(nsProO, "canRead").AttrValue("key")
		// Answered with the data form, as a client without prov:o would.
		e.send(alice, "<message to='"+prov+"'><x xmlns='jabber:x:data' type='submit'>"+
			"<field var='FORM_TYPE'><value>urn:extasis:provisioning:question:0</value></field>"+
			"<field var='key'><value>"+key+"</value></field>"+
			"<field var='result'><value>allow</value></field>"+
			"<field var='range'><value>caller</value></field></x></message>")
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		if r := e.ask(thing, "<canRead xmlns='"+nsProD+"' jid='dave@localhost' m='true'/>"); r.AttrValue("result") != "true" || r.AttrValue("m") != "true" {
			t.Fatalf("after: %s", r)
		}
	})

	t.Run("an owner with slixmpp answers with the form", func(t *testing.T) {
		e.t = t
		_ = alice.Close()
		defer func() { alice = dial("alice") }()
		time.Sleep(200 * time.Millisecond)
		if r := e.ask(thing, "<isFriend xmlns='"+nsProD+"' jid='carol@elsewhere.example'/>"); r.AttrValue("result") != "false" {
			t.Fatalf("before: %s", r)
		}
		out := b.Slixmpp(t, "testdata/owner_form.py", "alice", "password-alice", "allow", "domain")
		if !strings.Contains(out, "answered question about meter@localhost from carol@elsewhere.example") {
			t.Fatalf("slixmpp: %s", out)
		}
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		if r := e.ask(thing, "<isFriend xmlns='"+nsProD+"' jid='someone@elsewhere.example'/>"); r.AttrValue("result") != "true" {
			t.Fatalf("domain rule from the form: %s", r)
		}
	})

	t.Run("thing offline: clearCache waits until it is online", func(t *testing.T) {
		e.t = t
		_ = thing.Close()
		time.Sleep(200 * time.Millisecond)
		e.iq(alice, "set", "<isFriendRule xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='carol@localhost' result='true'/>")
		thing = dial("meter")
		thing.Expect(t, wait, "<iq type='set' from='"+prov+"'><clearCache xmlns='"+nsProD+"'/></iq>")
		thing.Expect(t, wait, "<message from='"+prov+"'><friend xmlns='"+nsProD+"' jid='carol@localhost'/></message>")
	})

	t.Run("enforcement: the broker checks requests to the thing", func(t *testing.T) {
		e.t = t
		if res := e.iq(alice, "set", "<enforce xmlns='"+nsExt+"' jid='meter@localhost' value='true'/>"); res.AttrValue("type") != "result" {
			t.Fatalf("enforce: %s", res)
		}
		e.send(bob, "<iq type='get' id='sd1' to='meter@localhost/r1'><req xmlns='urn:nf:iot:sd:1.0' id='x1' h='true'/></iq>")
		bob.Expect(t, wait, "<iq type='error' id='sd1'><error><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		e.send(bob, "<iq type='set' id='ct1' to='meter@localhost/r1'><set xmlns='urn:nf:iot:ctr:1.0'><b n='Power' v='true'/></set></iq>")
		bob.Expect(t, wait, "<iq type='error' id='ct1'><error><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		// Once bob may read Power, his read-out reaches the thing, cut down
		// to what he may read.
		e.iq(alice, "set", "<canReadRule xmlns='"+nsProO+"' jid='meter@localhost' remoteJid='bob@localhost' result='true'>"+
			"<partial m='true'><f n='Power'/></partial><fromJid/></canReadRule>")
		e.send(bob, "<iq type='get' id='sd2' to='meter@localhost/r1'><req xmlns='urn:nf:iot:sd:1.0' id='x2' all='true'/></iq>")
		got := thing.Expect(t, wait, "<iq id='sd2'><req xmlns='urn:nf:iot:sd:1.0' id='x2' m='true'><f n='Power'/></req></iq>")
		if req := got.Child("urn:nf:iot:sd:1.0", "req"); req.AttrValue("all") != "" || len(req.Children) != 1 {
			t.Fatalf("not narrowed: %s", got)
		}
		e.iq(alice, "set", "<enforce xmlns='"+nsExt+"' jid='meter@localhost' value='false'/>")
	})

	t.Run("owner policy with a syntax error", func(t *testing.T) {
		e.t = t
		mod := "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := {\"allow\" true}\n"
		res := e.iq(alice, "set", "<policy xmlns='"+nsExt+"'>"+escape(mod)+"</policy>")
		if !apptest.MustPattern("<iq type='error'><error><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><policy-error xmlns='" + nsExt + "' file='alice@localhost.rego' line='5'/></error></iq>").Match(res) {
			t.Fatalf("got %s", res)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "mine.rego")
		if err := os.WriteFile(file, []byte(mod), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := b.CLI("", "policy", "put", "--owner", "alice@localhost", file)
		if err == nil || !strings.Contains(out, file+":5:") {
			t.Fatalf("policy put: %v\n%s", err, out)
		}
	})

	t.Run("a policy that loops is stopped", func(t *testing.T) {
		e.t = t
		loop := "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := {\"allow\": true} if {\n" +
			"\tcount([x | some x in numbers.range(1, 1000000); some y in numbers.range(1, 1000000); x == y + 1]) > 5\n}\n"
		if res := e.iq(alice, "set", "<policy xmlns='"+nsExt+"'>"+escape(loop)+"</policy>"); res.AttrValue("type") != "result" {
			t.Fatalf("upload: %s", res)
		}
		start := time.Now()
		if r := e.ask(thing, "<canRead xmlns='"+nsProD+"' jid='dave@localhost' m='true'/>"); r.AttrValue("result") != "false" {
			t.Fatalf("loop: %s", r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("answered after %s", d)
		}
		e.iq(alice, "set", "<deletePolicy xmlns='"+nsExt+"'/>")
	})

	t.Run("audit and restart", func(t *testing.T) {
		e.t = t
		time.Sleep(300 * time.Millisecond) // the audit is written every 100ms
		out := e.cli("policy", "audit", "--owner", "alice@localhost", "--limit", "200")
		for _, want := range []string{"bob@localhost", "dave@localhost", "policy timeout", "broker", "question"} {
			if !strings.Contains(out, want) {
				t.Fatalf("audit lacks %q:\n%s", want, out)
			}
		}
		b.Restart()
		thing = dial("meter")
		if r := e.ask(thing, "<canRead xmlns='"+nsProD+"' jid='dave@localhost' m='true'/>"); r.AttrValue("result") != "true" {
			t.Fatalf("after restart: %s", r)
		}
	})
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
