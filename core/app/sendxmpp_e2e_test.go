package app_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// TestGoSendxmpp: Debian's go-sendxmpp (mattn/go-xmpp, another client
// library than the harness's) logs in over STARTTLS and over direct TLS
// and delivers a message to a mellium client; a wrong password makes it
// fail, not hang.
func TestGoSendxmpp(t *testing.T) {
	bin, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		apptest.Require(t, "go-sendxmpp (apt-get install go-sendxmpp)")
	}
	b, bob := chatPair(t, "limits:\n  auth_backoff: 0s\n")
	run := func(t *testing.T, body, password string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"-u", "alice@" + b.Domain, "-p", password, "-n", "--timeout", "10"}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, "bob@"+b.Domain)...)
		cmd.Stdin = strings.NewReader(body + "\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"starttls", []string{"-j", b.C2S}},
		{"direct-tls", []string{"-t", "-j", b.DirectTLS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "meter reading via go-sendxmpp " + tc.name
			if out, err := run(t, body, "alice-password", tc.args...); err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s", err, out)
			}
			got := bob.Expect(t, wait, "<message><body>"+body+"</body></message>")
			if from := got.AttrValue("from"); !strings.HasPrefix(from, "alice@"+b.Domain+"/") {
				t.Fatalf("from %q, want alice's full JID: %s", from, got)
			}
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		start := time.Now()
		out, err := run(t, "never delivered", "not-the-password", "-j", b.C2S)
		if err == nil {
			t.Fatalf("go-sendxmpp succeeded with a wrong password:\n%s", out)
		}
		if !strings.Contains(out, "auth") { // go-xmpp: "auth failure: invalid credentials"
			t.Fatalf("go-sendxmpp failed, but not on authentication:\n%s", out)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("the refusal took %s", d)
		}
		if _, err := bob.TryExpect(time.Second, "<message><body>never delivered</body></message>"); err == nil {
			t.Fatal("a message was delivered without a login")
		}
	})
}

// TestSendxmppPerl: Debian's sendxmpp (Perl, Net::XMPP: STARTTLS, SASL
// PLAIN with an authorization identity, RFC 3921 session establishment)
// delivers a message to a mellium client.
func TestSendxmppPerl(t *testing.T) {
	bin, err := exec.LookPath("sendxmpp")
	if err != nil {
		apptest.Require(t, "sendxmpp (apt-get install sendxmpp)")
	}
	b, bob := chatPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t", "-n", "-u", "alice", "-p", "alice-password", "-j", b.C2S, "-o", b.Domain, "bob@"+b.Domain)
	cmd.Stdin = strings.NewReader("meter reading via sendxmpp\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendxmpp: %v\n%s", err, out)
	}
	got := bob.Expect(t, wait, "<message><body>meter reading via sendxmpp</body></message>")
	if from := got.AttrValue("from"); from != "alice@"+b.Domain+"/sendxmpp" {
		t.Fatalf("from %q, want alice@%s/sendxmpp: %s", from, b.Domain, got)
	}
}

// TestAioxmpp: Debian's python3-aioxmpp (its own SASL and stream code)
// logs in over STARTTLS, sends a chat message to a mellium client and
// gets its reply.
func TestAioxmpp(t *testing.T) {
	py := apptest.Python(t)
	if err := exec.Command(py, "-c", "import aioxmpp").Run(); err != nil {
		apptest.Require(t, "python3-aioxmpp (apt-get install python3-aioxmpp)")
	}
	b, bob := chatPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, port, _ := net.SplitHostPort(b.C2S)
	cmd := exec.CommandContext(ctx, py, "testdata/aioxmpp_chat.py", "alice@"+b.Domain, "alice-password", "bob@"+b.Domain)
	cmd.Env = append(os.Environ(), "XMPP_HOST="+host, "XMPP_PORT="+port, "PYTHONUNBUFFERED=1")
	chatRoundTrip(t, b, bob, cmd, "aioxmpp", "")
}

// TestXmppJS: xmpp.js (@xmpp/client on Node.js, installed by make deps
// with npm ci in testdata/xmppjs) logs in over STARTTLS, direct TLS and RFC
// 7395 WebSocket with its own SASL, sends a chat message to a mellium client and
// gets its reply.
func TestXmppJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		apptest.Require(t, "Node.js (node)")
	}
	if _, err := os.Stat("testdata/xmppjs/node_modules/@xmpp/client/package.json"); err != nil {
		apptest.Require(t, "xmpp.js (make deps, or npm ci in core/app/testdata/xmppjs)")
	}
	b, bob := chatPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ name, service string }{
		{"starttls", "xmpp://" + b.C2S},
		{"direct-tls", "xmpps://" + b.DirectTLS},
		{"websocket", "ws://" + b.HTTP + "/xmpp-websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Node.js 20 has its WebSocket client (undici's) behind a flag;
			// 22 and later have it on (the CI machine has 20).
			cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "chat.mjs", "alice@"+b.Domain, "alice-password", "bob@"+b.Domain)
			cmd.Dir = "testdata/xmppjs"
			// The broker's certificate is self-signed.
			cmd.Env = append(os.Environ(), "XMPP_SERVICE="+tc.service, "NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_NO_WARNINGS=1")
			chatRoundTrip(t, b, bob, cmd, "xmpp.js", "xmppjs")
		})
	}
}

// chatPair starts a broker with alice and bob, and logs bob in with the
// harness's mellium client as bob@D/desk, available.
func chatPair(t *testing.T, extra string) (*apptest.Broker, *apptest.Client) {
	t.Helper()
	b := apptest.Start(t, apptest.Options{Extra: extra})
	b.AddUser("alice@"+b.Domain, "alice-password")
	b.AddUser("bob@"+b.Domain, "bob-password")
	bob := b.Dial(t, "bob@"+b.Domain, "bob-password", apptest.DialOptions{Resource: "desk"})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bob.SendRaw(ctx, "<presence/>"); err != nil {
		t.Fatal(err)
	}
	return b, bob
}

// chatRoundTrip runs cmd, a client logged in as alice that sends bob a
// chat message "hello from <name>" and prints "REPLY <body>" when bob's
// chat reply comes. bob must get the message from alice's full JID (with
// resource, unless it is empty) and the client must get the reply.
func chatRoundTrip(t *testing.T, b *apptest.Broker, bob *apptest.Client, cmd *exec.Cmd, name, resource string) {
	t.Helper()
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		done <- result{out, err}
	}()
	got, err := bob.TryExpect(30*time.Second, "<message type='chat'><body>hello from "+name+"</body></message>")
	if err != nil {
		r := <-done // cmd's context bounds it
		t.Fatalf("no message from %s (%v): %v\n%s", name, err, r.err, r.out)
	}
	from := got.AttrValue("from")
	if !strings.HasPrefix(from, "alice@"+b.Domain+"/") || resource != "" && from != "alice@"+b.Domain+"/"+resource {
		t.Fatalf("from %q, want alice@%s/%s: %s", from, b.Domain, resource, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bob.SendRaw(ctx, "<message type='chat' to='"+from+"'><body>hello from mellium</body></message>"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !strings.Contains(string(r.out), "REPLY hello from mellium") {
		t.Fatalf("%s did not get the reply (%v):\n%s", name, r.err, r.out)
	}
}
