package provisioning_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// TestClaimThroughRegistry: ownership comes from the real registry plugin
// binary run by the broker. The thing registers, the owner claims it with
// `mine`, the registry publishes thing.claimed, and provisioning answers
// the thing's questions for its new owner; disowning at the registry
// (thing.disowned) forgets the owner and the rules. It skips, like the
// registry's own end-to-end test, if the broker does not start plugins
// from its catalog.
func TestClaimThroughRegistry(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugins", "extasis-registry")
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", bin, "./plugins/registry")
	cmd.Dir = apptest.ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./plugins/registry: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	extra := fmt.Sprintf("plugins:\n  dir: %q\n  list:\n    - name: registry\n      path: extasis-registry\n      sha256: %s\n      address: registry.localhost\n",
		filepath.Dir(bin), hex.EncodeToString(sum[:]))
	extra += "provisioning:\n  reload_interval: 200ms\n"
	br := apptest.Start(t, apptest.Options{Extra: extra, Dir: dir})
	for _, u := range []string{"meter42", "alice", "bob"} {
		br.AddUser(u+"@localhost", "password-"+u)
	}
	e := &e2e{t: t, b: br}
	alice := br.Dial(t, "alice@localhost", "password-alice", apptest.DialOptions{Resource: "phone"})
	e.send(alice, "<presence/>")
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("items%d", i)
		e.send(alice, "<iq type='get' id='"+id+"' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
		el := alice.Expect(t, wait, "<iq type='result' id='"+id+"'/>")
		if strings.Contains(el.String(), "registry.localhost") {
			break
		}
		if time.Now().After(deadline) {
			t.Skip("the broker does not start plugins from its catalog yet (core/app wiring of plugins/host)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A raw client: mellium's answers unhandled iqs (the registry's
	// claimed push) with errors.
	thing := br.DialRaw(t, apptest.StartTLS)
	if err := thing.Login("SCRAM-SHA-256", "meter42", "password-meter42", "r1"); err != nil {
		t.Fatal(err)
	}
	tags := `<str name='MAN' value='acme-meters.example'/><str name='MODEL' value='EM-200'/><str name='SN' value='A7Q-000042'/>` +
		`<str name='KEY' value='5f0c9e1d7a2b44c6a1d3e8f09b7c6a55'/>`
	rawAsk := func(id, body string) *apptest.Element {
		t.Helper()
		if err := thing.Send("<iq type='get' id='" + id + "' to='" + prov + "'>" + body + "</iq>"); err != nil {
			t.Fatal(err)
		}
		for {
			el, err := thing.Expect("<iq/>")
			if err != nil {
				t.Fatal(err)
			}
			if el.AttrValue("id") == id {
				return el.Children[0]
			}
			if el.AttrValue("type") == "set" {
				// The registry's claimed and provisioning's clearCache:
				// acknowledge, as a thing does.
				_ = thing.Send(fmt.Sprintf("<iq type='result' id='%s' to='%s'/>", el.AttrValue("id"), el.AttrValue("from")))
			}
		}
	}
	if err := thing.Send("<iq type='set' id='r1' to='registry.localhost'><register xmlns='urn:nf:iot:disco:1.0'>" + tags + "</register></iq>"); err != nil {
		t.Fatal(err)
	}
	if _, err := thing.Expect("<iq type='result' id='r1'/>"); err != nil {
		t.Fatal(err)
	}
	if r := rawAsk("q0", "<isFriend xmlns='"+nsProD+"' jid='alice@localhost'/>"); r.AttrValue("result") != "false" {
		t.Fatalf("before the claim: %s", r)
	}
	e.send(alice, "<iq type='set' id='c1' to='registry.localhost'><mine xmlns='urn:nf:iot:disco:1.0'>"+tags+"</mine></iq>")
	alice.Expect(t, wait, "<iq type='result' id='c1'/>")
	// thing.claimed reaches provisioning: the owner is now a friend.
	deadline = time.Now().Add(wait)
	for i := 0; rawAsk(fmt.Sprint("q", i+1), "<isFriend xmlns='"+nsProD+"' jid='alice@localhost'/>").AttrValue("result") != "true"; i++ {
		if time.Now().After(deadline) {
			t.Fatal("provisioning did not learn the owner from the registry")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := rawAsk("q100", "<canRead xmlns='"+nsProD+"' jid='bob@localhost' m='true'/>"); r.AttrValue("result") != "false" {
		t.Fatalf("stranger: %s", r)
	}
	msg := alice.Expect(t, wait, "<message from='"+prov+"'><canRead xmlns='"+nsProO+"' jid='meter42@localhost' remoteJid='bob@localhost'/></message>")
	key := msg.Child(nsProO, "canRead").AttrValue("key")
	e.send(alice, "<iq type='set' id='o1' to='"+prov+"'><canReadRule xmlns='"+nsProO+"' jid='meter42@localhost' remoteJid='bob@localhost' key='"+key+
		"' result='true'><fromJid/></canReadRule></iq>")
	alice.Expect(t, wait, "<iq type='result' id='o1'/>")
	if r := rawAsk("q101", "<canRead xmlns='"+nsProD+"' jid='bob@localhost' m='true'/>"); r.AttrValue("result") != "true" {
		t.Fatalf("after the rule: %s", r)
	}

	// The owner disowns the thing at the registry: thing.disowned makes
	// provisioning forget the owner and the rules.
	e.send(alice, "<iq type='set' id='d1' to='registry.localhost'><disown xmlns='urn:nf:iot:disco:1.0' jid='meter42@localhost'/></iq>")
	deadline = time.Now().Add(wait)
	for i := 0; rawAsk(fmt.Sprint("q", 200+i), "<isFriend xmlns='"+nsProD+"' jid='alice@localhost'/>").AttrValue("result") != "false"; i++ {
		if time.Now().After(deadline) {
			t.Fatal("provisioning did not learn of the disown")
		}
		time.Sleep(100 * time.Millisecond)
	}
	alice.Expect(t, wait, "<iq type='result' id='d1'/>")
	if r := rawAsk("q300", "<canRead xmlns='"+nsProD+"' jid='bob@localhost' m='true'/>"); r.AttrValue("result") != "false" {
		t.Fatalf("after disown: %s", r)
	}
	if out := e.cli("policy", "rules", "--owner", "alice@localhost"); strings.Contains(out, "meter42") {
		t.Fatalf("rules left after disown:\n%s", out)
	}
}
