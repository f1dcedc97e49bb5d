package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/extasis/extasis/core/app/apptest"
)

// These tests run `extasis serve` as an operator would: its certificates,
// signals, HTTP endpoints and limits.

// handshake connects to the direct TLS port with SNI name and returns the
// certificate the server presented.
func handshake(t *testing.T, addr, name string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr, apptest.TLSConfig(name))
	if err != nil {
		t.Fatalf("TLS to %s (SNI %s): %v", addr, name, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestGeneratedCertificate: without a certificate in the config, the first
// start generates a self-signed ECDSA P-256 one into data/certs, and later
// starts reuse it.
func TestGeneratedCertificate(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{})
	leaf := handshake(t, b.DirectTLS, "localhost")
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil || leaf.Issuer.String() != leaf.Subject.String() {
		t.Fatalf("not self-signed (issuer %s): %v", leaf.Issuer, err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"localhost.crt", "localhost.key"} {
		if _, err := os.Stat(filepath.Join(b.Dir, "data", "certs", f)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(b.Dir, "data", "certs", "localhost.key")); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("private key mode %v, want no access for group and others", fi.Mode().Perm())
	}
	b.Restart()
	if again := handshake(t, b.DirectTLS, "localhost"); !again.Equal(leaf) {
		t.Fatal("a restart generated a new certificate instead of reusing the first")
	}
}

// writeCert writes a self-signed certificate for name into dir and returns
// the file names.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"operator-provided"}},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+"-"+serial.String()+".crt")
	keyFile = filepath.Join(dir, name+"-"+serial.String()+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestVirtualHosts: several domains in one process, each with its own
// certificate (one from the config, one generated), each with its own
// accounts; a stream names the domain it wants.
func TestVirtualHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crt, key := writeCert(t, dir, "things.test")
	b := apptest.Start(t, apptest.Options{
		Domains: []string{"localhost"},
		Extra:   "domains:\n  - name: localhost\n  - name: things.test\n    cert: " + crt + "\n    key: " + key + "\n",
	})
	if got := handshake(t, b.DirectTLS, "things.test"); got.Subject.CommonName != "things.test" || got.Subject.Organization[0] != "operator-provided" {
		t.Fatalf("SNI things.test: got %v, want the configured certificate", got.Subject)
	}
	if got := handshake(t, b.DirectTLS, "localhost"); got.Subject.CommonName != "localhost" {
		t.Fatalf("SNI localhost: got %v", got.Subject)
	}
	b.AddUser("sensor@things.test", "sensor-password")
	b.AddUser("alice@localhost", "alice-password")

	c := b.DialRaw(t, apptest.StartTLS)
	c.Domain = "things.test"
	if err := c.Login("SCRAM-SHA-256", "sensor", "sensor-password", "s1"); err != nil {
		t.Fatal(err)
	}
	if c.JID != "sensor@things.test/s1" {
		t.Fatalf("bound %s", c.JID)
	}
	if c.TLSState().PeerCertificates[0].Subject.CommonName != "things.test" {
		t.Fatal("STARTTLS to things.test did not present its certificate")
	}
	// The account of one domain does not exist on the other.
	d := b.DialRaw(t, apptest.DirectTLS)
	d.Domain = "things.test"
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	var af *apptest.AuthFailure
	if err := d.Auth("SCRAM-SHA-256", "alice", "alice-password"); !errorsAs(err, &af) || af.Condition() != "not-authorized" {
		t.Fatalf("alice on things.test: %v, want not-authorized", err)
	}
	// Messages cross domains of one process.
	a := b.Dial(t, "alice@localhost", "alice-password", apptest.DialOptions{Resource: "a"})
	if err := c.Send("<message to='alice@localhost/a' id='x1'><body>hello from things.test</body></message>"); err != nil {
		t.Fatal(err)
	}
	a.Expect(t, wait, "<message id='x1' from='sensor@things.test/s1'/>")
}

func errorsAs(err error, target **apptest.AuthFailure) bool {
	f, ok := err.(*apptest.AuthFailure)
	if ok {
		*target = f
	}
	return ok
}

// TestSIGTERM: every stream is closed with <system-shutdown/>, then the
// process exits cleanly.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{})
	b.AddUser("alice@localhost", "alice-password")
	bound := b.DialRaw(t, apptest.StartTLS)
	if err := bound.Login("SCRAM-SHA-256", "alice", "alice-password", ""); err != nil {
		t.Fatal(err)
	}
	ws := b.DialRaw(t, apptest.WebSocket)
	if err := ws.Login("SCRAM-SHA-1", "alice", "alice-password", ""); err != nil {
		t.Fatal(err)
	}
	unauth := b.DialRaw(t, apptest.DirectTLS)
	if err := unauth.Open(); err != nil {
		t.Fatal(err)
	}
	if _, err := unauth.Features(); err != nil {
		t.Fatal(err)
	}
	b.Signal(syscall.SIGTERM)
	for name, c := range map[string]*apptest.RawConn{"bound": bound, "websocket": ws, "unauthenticated": unauth} {
		if err := c.ExpectStreamError("system-shutdown"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := b.Wait(15 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, b.Log())
	}
}

// TestSIGHUP: a reload applies certificates, log level and limits to new
// connections without dropping the open ones, and a broken config is
// refused while the old one keeps running.
func TestSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crt1, key1 := writeCert(t, dir, "localhost")
	domains := func(crt, key string) string {
		return "domains:\n  - name: localhost\n    cert: " + crt + "\n    key: " + key + "\n"
	}
	b := apptest.Start(t, apptest.Options{Extra: domains(crt1, key1) + "log:\n  level: info\n"})
	b.AddUser("alice@localhost", "alice-password")
	first := handshake(t, b.DirectTLS, "localhost")
	old := b.DialRaw(t, apptest.StartTLS)
	if err := old.Login("SCRAM-SHA-256", "alice", "alice-password", "old"); err != nil {
		t.Fatal(err)
	}

	crt2, key2 := writeCert(t, dir, "localhost")
	if err := b.WriteConfig(domains(crt2, key2) + "log:\n  level: debug\nlimits:\n  max_stanza: 16KiB\n"); err != nil {
		t.Fatal(err)
	}
	b.Signal(syscall.SIGHUP)
	waitLog(t, b, "configuration reloaded")

	if second := handshake(t, b.DirectTLS, "localhost"); second.Equal(first) {
		t.Fatal("new connections still get the old certificate")
	}
	fresh := b.DialRaw(t, apptest.StartTLS)
	if err := fresh.Login("SCRAM-SHA-256", "alice", "alice-password", "fresh"); err != nil {
		t.Fatal(err)
	}
	big := "<message to='alice@localhost/fresh' id='big'><body>" + strings.Repeat("x", 20<<10) + "</body></message>"
	// The old connection keeps its limits and its stream.
	if err := old.Send(big); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Expect("<message id='big' from='alice@localhost/old'/>"); err != nil {
		t.Fatal(err)
	}
	// The new one has the new limit.
	if err := fresh.Send(big); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ExpectStreamError("policy-violation"); err != nil {
		t.Fatal(err)
	}
	// The log level: a failed TLS handshake after STARTTLS is logged at
	// debug level, which the reload switched on.
	bad := b.DialRaw(t, apptest.StartTLS)
	if err := bad.Open(); err != nil {
		t.Fatal(err)
	}
	if err := bad.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Expect("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		t.Fatal(err)
	}
	if err := bad.Send("this is not a TLS ClientHello\r\n"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, b, "tls handshake failed")

	// A config that does not parse: refused, the broker keeps serving.
	if err := os.WriteFile(b.Config, []byte("domains: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Signal(syscall.SIGHUP)
	waitLog(t, b, "reload refused")
	if err := old.Send("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Expect("<iq type='result' id='still'/>"); err != nil {
		t.Fatal(err)
	}
}

// waitLog polls the broker's log for s.
func waitLog(t *testing.T, b *apptest.Broker, s string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(b.Log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the broker's log", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: wait}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestHTTP: /healthz, /metrics, XEP-0156 host-meta in both forms, and the
// WebSocket endpoint's subprotocol rule.
func TestHTTP(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{})
	b.AddUser("alice@localhost", "alice-password")
	c := b.DialRaw(t, apptest.WebSocket)
	if err := c.Login("SCRAM-SHA-256", "alice", "alice-password", ""); err != nil {
		t.Fatal(err)
	}
	base := "http://" + b.HTTP

	resp, body := httpGet(t, base+"/healthz")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "ok") || !strings.Contains(body, "sessions=1") {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}

	resp, body = httpGet(t, base+"/metrics")
	for _, m := range []string{"extasis_c2s_connections 1", "extasis_c2s_auth_total{", "extasis_router_stanzas_total{", "go_goroutines"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics has no %q", m)
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}

	want := "ws://" + b.HTTP + "/xmpp-websocket"
	resp, body = httpGet(t, base+"/.well-known/host-meta")
	x, err := apptest.ParseElement(body[strings.Index(body, "<XRD"):])
	if err != nil || !apptest.MustPattern("<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'><Link rel='urn:xmpp:alt-connections:websocket' href='"+want+"'/></XRD>").Match(x) {
		t.Fatalf("host-meta: %v %q", err, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xrd+xml" {
		t.Errorf("host-meta Content-Type %q", ct)
	}
	resp, body = httpGet(t, base+"/.well-known/host-meta.json")
	var hm struct {
		Links []struct{ Rel, Href string } `json:"links"`
	}
	if err := json.Unmarshal([]byte(body), &hm); err != nil || len(hm.Links) != 1 || hm.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || hm.Links[0].Href != want {
		t.Fatalf("host-meta.json: %v %q", err, body)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("host-meta.json is not readable by web clients of other origins (CORS)")
	}

	// RFC 7395 §3.1: without the xmpp subprotocol there is no stream.
	ctx, cancel := contextWithTimeout()
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+b.HTTP+"/xmpp-websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("no subprotocol: %v, want close status policy violation", err)
	}
}

// TestSlowReader: a client that stops reading is disconnected once its
// queue passes limits.out_queue, instead of making the server buffer
// without bound; the sender is not held up.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{Extra: "limits:\n  out_queue: 64KiB\n"})
	b.AddUser("alice@localhost", "alice-password")
	b.AddUser("bob@localhost", "bob-password")
	slow := b.DialRaw(t, apptest.StartTLS)
	if err := slow.Login("SCRAM-SHA-256", "alice", "alice-password", "slow"); err != nil {
		t.Fatal(err)
	}
	sender := b.DialRaw(t, apptest.StartTLS)
	if err := sender.Login("SCRAM-SHA-256", "bob", "bob-password", "fast"); err != nil {
		t.Fatal(err)
	}
	msg := "<message to='alice@localhost/slow' type='chat'><body>" + strings.Repeat("0123456789", 800) + "</body></message>"
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		if err := sender.Send(msg); err != nil {
			t.Fatalf("sender cut off after %d messages: %v", i, err)
		}
		if i%50 != 49 {
			continue
		}
		_, body := httpGet(t, "http://"+b.HTTP+"/healthz")
		if strings.Contains(body, "sessions=1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow reader is still connected after %d messages of %d bytes", i+1, len(msg))
		}
	}
	waitLog(t, b, "disconnecting slow reader")
	// What was queued is gone with the connection: reading it drains to
	// the end, and the sender still has its stream.
	for {
		ev, err := slow.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == apptest.EventEOF {
			break
		}
	}
	if err := sender.Send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sender.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == apptest.EventElement && ev.El.AttrValue("id") == "alive" {
			break
		}
		if ev.Kind != apptest.EventElement {
			t.Fatalf("sender: %s", ev)
		}
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wait)
}
