package host

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// TestE2EEchoThroughTheBroker runs `extasis serve` with the real echo
// plugin in its catalog and real XMPP clients: echo, disco#items, a crash
// mid-traffic, the CLI, and SIGKILL of the broker.
func TestE2EEchoThroughTheBroker(t *testing.T) {
	extra := fmt.Sprintf(`plugins:
  dir: %s
  list:
    - name: echo
      path: plugin-echo
      sha256: %s
      config:
        prefix: "echo: "
        allow_crash: true
`, bins.dir, bins.echoSum)
	b := apptest.Start(t, apptest.Options{Extra: extra})
	b.AddUser("alice@localhost", "alice-password")
	b.AddUser("bob@localhost", "bob-password")
	ctx := context.Background()
	alice := b.Dial(t, "alice@localhost", "alice-password", apptest.DialOptions{Resource: "a"})
	bob := b.Dial(t, "bob@localhost", "bob-password", apptest.DialOptions{Resource: "b"})
	send := func(c *apptest.Client, raw string) {
		t.Helper()
		if err := c.SendRaw(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}

	send(alice, `<message to='echo.localhost' type='chat' id='e1'><body>hello</body></message>`)
	alice.Expect(t, wait, `<message from='echo.localhost' id='e1'><body>echo: hello</body></message>`)

	send(alice, `<iq to='localhost' type='get' id='di'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	alice.Expect(t, wait, `<iq type='result' id='di'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='echo.localhost'/></query></iq>`)

	// The plugin crashes with iqs in flight behind the crash command.
	send(alice, `<message to='echo.localhost' type='chat' id='c'><body>crash</body></message>`)
	const inflight = 10
	for i := range inflight {
		send(alice, fmt.Sprintf(`<iq to='echo.localhost' type='get' id='i%d'><ping xmlns='urn:xmpp:ping'/></iq>`, i))
	}
	seen := map[string]bool{}
	for len(seen) < inflight {
		el := alice.Expect(t, wait, `<iq type='error'><error><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		seen[el.AttrValue("id")] = true
	}
	// Everyone else is still served.
	send(bob, `<message to='alice@localhost/a' type='chat' id='b1'><body>still here</body></message>`)
	alice.Expect(t, wait, `<message from='bob@localhost/b' id='b1'><body>still here</body></message>`)
	// The plugin is back within seconds.
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; ; n++ {
		id := "back" + strconv.Itoa(n)
		send(alice, `<iq to='echo.localhost' type='get' id='`+id+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if el := alice.Expect(t, wait, `<iq id='`+id+`'/>`); el.AttrValue("type") == "result" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the echo plugin did not come back")
		}
	}

	out, err := b.CLI("", "plugin", "list")
	if err != nil || !strings.Contains(out, "echo") {
		t.Errorf("plugin list: %v\n%s", err, out)
	}
	out, err = b.CLI("", "plugin", "check", "echo")
	if err != nil || !strings.Contains(out, "echo: ok") {
		t.Errorf("plugin check: %v\n%s", err, out)
	}

	// SIGKILL leaves no plugin process behind.
	pids := children(b.PID(), "plugin-echo")
	if len(pids) != 1 {
		t.Fatalf("plugin processes under the broker: %v", pids)
	}
	b.Signal(syscall.SIGKILL)
	_ = b.Wait(wait)
	waitFor(t, wait, "the plugin to die with the broker", func() bool { return !alive(pids[0]) })
}

// children returns the pids whose parent is ppid and whose command line
// contains name.
func children(ppid int, name string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 2 || f[1] != strconv.Itoa(ppid) {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmd), name) {
			out = append(out, pid)
		}
	}
	return out
}
