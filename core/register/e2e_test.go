package register_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/sdk/thing"
)

// End-to-end: the real extasis binary, keys made with its CLI, and three
// independent clients: the sdk/thing helper (Go, over mellium), Debian's
// python3-slixmpp signing with Python's standard library, and a raw XML
// client for the attacks no library would make.

const (
	nsRegister = "jabber:iq:register"
	nsData     = "jabber:x:data"
	nsStream   = "http://etherx.jabber.org/streams"
	nsFeature  = "http://jabber.org/features/iq-register"
)

// extra keeps failed first logins (thing.Connect's first attempt for a new
// device) from blocking 127.0.0.1, from which every test client comes.
const extra = "limits:\n  auth_failures: 1000\n"

type key struct {
	Key      string `json:"key"`
	Secret   string `json:"secret"`
	Accounts int    `json:"accounts"`
}

func createKey(t testing.TB, b *apptest.Broker, args ...string) key {
	t.Helper()
	out, err := b.CLI("", append([]string{"apikey", "create", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, out)
	}
	var k key
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" || k.Secret == "" {
		t.Fatalf("apikey create --json printed %q: %v", out, err)
	}
	return k
}

type shown struct {
	Key           string `json:"key"`
	State         string `json:"state"`
	Used          int    `json:"used"`
	Remaining     int    `json:"remaining"`
	Registrations []struct {
		Account, Time, Remote string
	} `json:"registrations"`
}

func showKey(t *testing.T, b *apptest.Broker, k string) shown {
	t.Helper()
	out, err := b.CLI("", "apikey", "show", k, "--json")
	if err != nil {
		t.Fatalf("apikey show: %v\n%s", err, out)
	}
	var s shown
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("apikey show --json printed %q: %v", out, err)
	}
	return s
}

func thingConfig(b *apptest.Broker, user, password string, k key) thing.Config {
	return thing.Config{JID: user + "@" + b.Domain, Password: password, APIKey: thing.APIKey{Key: k.Key, Secret: k.Secret},
		Addr: b.C2S, TLS: apptest.TLSConfig(b.Domain)}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// register runs thing.Register and returns the broker's refusal
// condition, "" on success (the session is then closed).
func register(t *testing.T, cfg thing.Config) (string, string) {
	t.Helper()
	s, err := thing.Register(ctx(t), cfg)
	if err == nil {
		s.Close()
		return "", ""
	}
	var re *thing.RegistrationError
	if !errors.As(err, &re) {
		t.Fatalf("Register(%s): %v", cfg.JID, err)
	}
	return re.Condition, re.Text
}

func wantRefusal(t *testing.T, what, cond, text, wantCond, wantText string) {
	t.Helper()
	if cond != wantCond || !strings.Contains(text, wantText) {
		t.Fatalf("%s: got <%s/> %q, want <%s/> containing %q", what, cond, text, wantCond, wantText)
	}
}

func TestSDKOnboarding(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	k := createKey(t, b, "--accounts", "5", "--note", "e2e")

	// First boot: no account yet; Connect registers and logs in.
	s, err := thing.Connect(ctx(t), thingConfig(b, "sensor-1", "sensor-1 password", k))
	if err != nil {
		t.Fatalf("first Connect: %v", err)
	}
	if got := s.LocalAddr().Bare().String(); got != "sensor-1@"+b.Domain {
		t.Fatalf("logged in as %s", got)
	}
	s.Close()
	// Next boots log in; no slot is taken.
	s, err = thing.Connect(ctx(t), thingConfig(b, "sensor-1", "sensor-1 password", k))
	if err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	s.Close()
	// A wrong password does not turn into a registration.
	if _, err := thing.Connect(ctx(t), thingConfig(b, "sensor-1", "not the password", k)); !errors.Is(err, thing.ErrNotAuthorized) || refusal(err) != "conflict" {
		t.Fatalf("Connect with a wrong password: %v, want ErrNotAuthorized with the registration's conflict", err)
	}
	// Without a key a missing account is just a failed login.
	if _, err := thing.Connect(ctx(t), thing.Config{JID: "nokey@" + b.Domain, Password: "whatever password", Addr: b.C2S, TLS: apptest.TLSConfig(b.Domain)}); !errors.Is(err, thing.ErrNotAuthorized) {
		t.Fatalf("Connect without key: %v, want ErrNotAuthorized", err)
	}

	if cond, text := register(t, thingConfig(b, "sensor-2", "sensor-2 password", k)); cond != "" {
		t.Fatalf("Register: <%s/> %s", cond, text)
	}
	// The account was made with SCRAM verifiers any client can use.
	b.Dial(t, "sensor-2@"+b.Domain, "sensor-2 password", apptest.DialOptions{})

	sk := showKey(t, b, k.Key)
	if sk.Used != 2 || sk.Remaining != 3 || sk.State != "active" || len(sk.Registrations) != 2 ||
		sk.Registrations[0].Account != "sensor-2@"+b.Domain || sk.Registrations[1].Remote != "127.0.0.1" {
		t.Fatalf("apikey show = %+v", sk)
	}
	if !strings.Contains(b.Log(), "account registered") {
		t.Fatal("the broker did not log the registration")
	}
}

func refusal(err error) string {
	var re *thing.RegistrationError
	if errors.As(err, &re) {
		return re.Condition
	}
	return ""
}

func TestSignedRefusals(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	k := createKey(t, b, "--accounts", "100")
	other := createKey(t, b, "--accounts", "1", "--domain", b.Domain)
	b.AddUser("taken@"+b.Domain, "taken password")
	tests := []struct {
		name               string
		cfg                thing.Config
		wantCond, wantText string
	}{
		{"wrong secret", func() thing.Config {
			c := thingConfig(b, "w1", "good password", k)
			c.APIKey.Secret = other.Secret
			return c
		}(), "bad-request", "signature does not match"},
		{"wrong key", func() thing.Config {
			c := thingConfig(b, "w2", "good password", k)
			c.APIKey.Key = "0123456789abcdef01234567"
			return c
		}(), "bad-request", "unknown API key"},
		{"stale clock", func() thing.Config {
			c := thingConfig(b, "w3", "good password", k)
			c.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
			return c
		}(), "bad-request", "check the device's clock"},
		{"username taken", thingConfig(b, "taken", "another password", k), "conflict", "already exists"},
		{"weak password", thingConfig(b, "w4", "short", k), "not-acceptable", "at least 8 characters"},
		{"password is the name", thingConfig(b, "w5longname", "W5LONGNAME", k), "not-acceptable", "account name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, text := register(t, tt.cfg)
			wantRefusal(t, tt.cfg.JID, cond, text, tt.wantCond, tt.wantText)
		})
	}
	if sk := showKey(t, b, k.Key); sk.Used != 0 {
		t.Fatalf("refused registrations took %d slots", sk.Used)
	}
}

// rawForm opens a raw stream, checks the register feature and returns the
// connection with the form's fields.
func rawForm(t *testing.T, b *apptest.Broker) (*apptest.RawConn, []thing.Field) {
	t.Helper()
	c := b.DialRaw(t, apptest.StartTLS)
	if err := c.Secure(); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	f, err := c.Features()
	if err != nil {
		t.Fatal(err)
	}
	if f.Child(nsFeature, "register") == nil {
		t.Fatalf("no <register/> stream feature: %s", f)
	}
	return c, fetchForm(t, c)
}

func fetchForm(t *testing.T, c *apptest.RawConn) []thing.Field {
	t.Helper()
	if err := c.Send("<iq type='get' id='get1'><query xmlns='jabber:iq:register'/></iq>"); err != nil {
		t.Fatal(err)
	}
	el, err := c.Expect("<iq type='result' id='get1'/>")
	if err != nil {
		t.Fatal(err)
	}
	x := el.Child(nsRegister, "query").Child(nsData, "x")
	if x == nil {
		t.Fatalf("no data form: %s", el)
	}
	var fields []thing.Field
	for _, f := range x.Children {
		if f.Name.Local != "field" || f.AttrValue("var") == "" {
			continue
		}
		v := ""
		if val := f.Child(nsData, "value"); val != nil {
			v = val.Text
		}
		fields = append(fields, thing.Field{Var: f.AttrValue("var"), Value: v})
	}
	return fields
}

func fill(fields []thing.Field, kv ...string) []thing.Field {
	out := append([]thing.Field(nil), fields...)
	for i := 0; i < len(kv); i += 2 {
		found := false
		for j := range out {
			if out[j].Var == kv[i] {
				out[j].Value, found = kv[i+1], true
			}
		}
		if !found {
			out = append(out, thing.Field{Var: kv[i], Value: kv[i+1]})
		}
	}
	return out
}

func submission(fields []thing.Field) string {
	var s strings.Builder
	s.WriteString("<iq type='set' id='set1'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>")
	for _, f := range fields {
		s.WriteString("<field var='" + f.Var + "'><value>" + xmlText(f.Value) + "</value></field>")
	}
	s.WriteString("</x></query></iq>")
	return s.String()
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// answer sends raw and returns the answer's error condition and text, ""
// for a result.
func answer(t *testing.T, c *apptest.RawConn, raw string) (string, string) {
	t.Helper()
	if err := c.Send(raw); err != nil {
		t.Fatal(err)
	}
	el, err := c.Expect("<iq id='set1'/>")
	if err != nil {
		t.Fatal(err)
	}
	if el.AttrValue("type") == "result" {
		return "", ""
	}
	e := el.Child("jabber:client", "error")
	if e == nil {
		t.Fatalf("error without <error/>: %s", el)
	}
	cond, text := "", ""
	for _, c := range e.Children {
		if c.Name.Local == "text" {
			text = c.Text
		} else {
			cond = c.Name.Local
		}
	}
	return cond, text
}

func TestRawAttacks(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	k := createKey(t, b, "--accounts", "100")
	api := thing.APIKey{Key: k.Key, Secret: k.Secret}
	b.AddUser("taken@"+b.Domain, "taken password")

	t.Run("replayed nonce", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "taken", "password", "good password"), api, time.Now(), "replayed-nonce-0001")
		cond, text := answer(t, c, submission(signed))
		wantRefusal(t, "first use", cond, text, "conflict", "already exists")
		cond, text = answer(t, c, submission(signed))
		wantRefusal(t, "replay", cond, text, "bad-request", "already used")
		// The same signature replayed on another stream: not its token.
		c2, _ := rawForm(t, b)
		cond, text = answer(t, c2, submission(signed))
		wantRefusal(t, "replay on another stream", cond, text, "bad-request", "oauth_token")
	})
	t.Run("stale timestamp", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "stale", "password", "good password"), api, time.Now().Add(-6*time.Minute), "")
		cond, text := answer(t, c, submission(signed))
		wantRefusal(t, "stale", cond, text, "bad-request", "away from the server's clock")
	})
	t.Run("tampered after signing", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "meant", "password", "good password"), api, time.Now(), "")
		cond, text := answer(t, c, submission(fill(signed, "username", "admin")))
		wantRefusal(t, "tampered", cond, text, "bad-request", "signature does not match")
	})
	t.Run("forged token secret", func(t *testing.T) {
		c, form := rawForm(t, b)
		forged := fill(form, "username", "forger", "password", "good password", "oauth_token_secret", "chosen-by-client")
		cond, text := answer(t, c, submission(thing.SignForm(forged, api, time.Now(), "")))
		wantRefusal(t, "forged token secret", cond, text, "bad-request", "signature does not match")
	})
	t.Run("invalid username", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "two words", "password", "good password"), api, time.Now(), "")
		cond, text := answer(t, c, submission(signed))
		wantRefusal(t, "PRECIS", cond, text, "not-acceptable", "not a valid account name")
	})
	t.Run("empty password", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "nopass", "password", ""), api, time.Now(), "")
		cond, text := answer(t, c, submission(signed))
		wantRefusal(t, "empty password", cond, text, "not-acceptable", "password is required")
	})
	t.Run("unsigned", func(t *testing.T) {
		c, form := rawForm(t, b)
		cond, text := answer(t, c, submission(fill(form, "username", "walkin", "password", "good password")))
		wantRefusal(t, "unsigned", cond, text, "not-allowed", "requires an API key")
	})
	t.Run("register then SASL on the same stream", func(t *testing.T) {
		c, form := rawForm(t, b)
		signed := thing.SignForm(fill(form, "username", "raw-device", "password", "raw password"), api, time.Now(), "")
		if cond, text := answer(t, c, submission(signed)); cond != "" {
			t.Fatalf("<%s/> %s", cond, text)
		}
		if err := c.Auth("SCRAM-SHA-256", "raw-device", "raw password"); err != nil {
			t.Fatalf("SASL after registration: %v", err)
		}
	})
}

func TestQuotaAndRevocation(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	t.Run("quota exhausted", func(t *testing.T) {
		k := createKey(t, b, "--accounts", "1")
		if cond, text := register(t, thingConfig(b, "q1", "good password", k)); cond != "" {
			t.Fatalf("<%s/> %s", cond, text)
		}
		cond, text := register(t, thingConfig(b, "q2", "good password", k))
		wantRefusal(t, "over quota", cond, text, "forbidden", "all the 1 accounts")
		if sk := showKey(t, b, k.Key); sk.State != "exhausted" {
			t.Fatalf("state %q, want exhausted", sk.State)
		}
	})
	t.Run("last slot race", func(t *testing.T) {
		const slots, devices = 3, 12
		k := createKey(t, b, "--accounts", fmt.Sprint(slots))
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results = map[string]int{}
		)
		for i := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := thing.Register(ctx(t), thingConfig(b, fmt.Sprintf("racer-%02d", i), "racer password", k))
				cond := ""
				if err != nil {
					if cond = refusal(err); cond == "" {
						t.Errorf("racer %d: %v", i, err)
					}
				} else {
					s.Close()
				}
				mu.Lock()
				results[cond]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if results[""] != slots || results["forbidden"] != devices-slots {
			t.Fatalf("outcomes %v; want %d registered and %d forbidden", results, slots, devices-slots)
		}
		if sk := showKey(t, b, k.Key); sk.Used != slots || len(sk.Registrations) != slots {
			t.Fatalf("apikey show: %+v", sk)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		k := createKey(t, b, "--accounts", "10")
		if out, err := b.CLI("", "apikey", "revoke", k.Key); err != nil {
			t.Fatalf("revoke: %v\n%s", err, out)
		}
		cond, text := register(t, thingConfig(b, "rv1", "good password", k))
		wantRefusal(t, "revoked", cond, text, "forbidden", "revoked")
	})
	t.Run("expired", func(t *testing.T) {
		k := createKey(t, b, "--accounts", "100", "--expires", "1s")
		// Poll: registrations succeed until the key expires a second from
		// now, then every one is refused as expired.
		deadline := time.Now().Add(15 * time.Second)
		for i := 0; ; i++ {
			cond, text := register(t, thingConfig(b, fmt.Sprintf("ex%d", i), "good password", k))
			if cond == "forbidden" && strings.Contains(text, "expired") {
				break
			}
			if cond != "" || time.Now().After(deadline) {
				t.Fatalf("<%s/> %s", cond, text)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if sk := showKey(t, b, k.Key); sk.State != "expired" {
			t.Fatalf("state %q, want expired", sk.State)
		}
	})
	t.Run("key for another domain", func(t *testing.T) {
		b2 := apptest.Start(t, apptest.Options{Extra: extra, Domains: []string{"localhost", "iot.localhost"}})
		k := createKey(t, b2, "--accounts", "10", "--domain", "iot.localhost")
		cond, text := register(t, thingConfig(b2, "dom1", "good password", k))
		wantRefusal(t, "other domain", cond, text, "forbidden", "iot.localhost only")
	})
}

func TestSlixmpp(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	script, err := filepath.Abs("testdata/slix_register.py")
	if err != nil {
		t.Fatal(err)
	}
	k := createKey(t, b, "--accounts", "10")
	domain := b.Domain
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"waher variant", []string{"waher", "slix-w@" + domain, "slix password", k.Key, k.Secret}, []string{"REGISTERED", "SESSION slix-w@" + domain}},
		{"xep variant", []string{"xep", "slix-x@" + domain, "slix password", k.Key, k.Secret}, []string{"REGISTERED", "SESSION slix-x@" + domain}},
		{"wrong secret", []string{"waher", "slix-bad@" + domain, "slix password", k.Key, "not-the-secret"}, []string{"REGISTER_ERROR bad-request"}},
		{"unsigned", []string{"unsigned", "slix-u@" + domain, "slix password"}, []string{"REGISTER_ERROR not-allowed"}},
		{"legacy", []string{"legacy", "slix-l@" + domain, "slix password"}, []string{"REGISTER_ERROR not-allowed"}},
		{"username taken", []string{"waher", "slix-w@" + domain, "other password", k.Key, k.Secret}, []string{"REGISTER_ERROR conflict"}},
		{"password change", []string{"passwd", "slix-w@" + domain, "slix password", "a brand new password"}, []string{"SESSION", "PASSWD_OK"}},
		{"weak new password", []string{"passwd", "slix-x@" + domain, "slix password", "short"}, []string{"PASSWD_ERROR not-acceptable"}},
		{"remove", []string{"remove", "slix-x@" + domain, "slix password"}, []string{"SESSION", "REMOVED", "STREAM_ERROR not-authorized"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := b.Slixmpp(t, script, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("slixmpp printed:\n%s\nwant a line with %q", out, w)
				}
			}
		})
	}
	// The new password works and the old one no longer does; the removed
	// account is gone.
	b.Dial(t, "slix-w@"+domain, "a brand new password", apptest.DialOptions{})
	if c, err := b.TryDial("slix-w@"+domain, "slix password", apptest.DialOptions{}); err == nil {
		c.Close()
		t.Fatal("the old password still works")
	}
	if c, err := b.TryDial("slix-x@"+domain, "slix password", apptest.DialOptions{}); err == nil {
		c.Close()
		t.Fatal("the removed account still logs in")
	}
	if sk := showKey(t, b, k.Key); sk.Used != 2 {
		t.Fatalf("used %d, want 2", sk.Used)
	}
	// Each variant was verified as what it is.
	m := metrics(t, b)
	for _, want := range []string{`extasis_register_signatures_total{variant="waher"} 2`, `extasis_register_signatures_total{variant="xep"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func metrics(t *testing.T, b *apptest.Broker) string {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestClosed(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra + "register:\n  enabled: false\n"})
	k := createKey(t, b, "--accounts", "10")
	c := b.DialRaw(t, apptest.StartTLS)
	if err := c.Secure(); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	f, err := c.Features()
	if err != nil {
		t.Fatal(err)
	}
	if f.Child(nsFeature, "register") != nil {
		t.Fatalf("registration offered while disabled: %s", f)
	}
	if err := c.Send("<iq type='get' id='set1'><query xmlns='jabber:iq:register'/></iq>"); err != nil {
		t.Fatal(err)
	}
	el, err := c.Expect("<iq type='error' id='set1'><error><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(el.String(), "closed") {
		t.Fatalf("no clear text: %s", el)
	}
	// A device with a key cannot onboard: it is told its login failed.
	if _, err := thing.Connect(ctx(t), thingConfig(b, "closed-1", "good password", k)); !errors.Is(err, thing.ErrNotAuthorized) {
		t.Fatalf("Connect on a closed broker: %v", err)
	}
	if _, err := thing.Register(ctx(t), thingConfig(b, "closed-2", "good password", k)); !errors.Is(err, thing.ErrNoRegistration) {
		t.Fatalf("Register on a closed broker: %v, want ErrNoRegistration", err)
	}
}

func TestOpen(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra + "register:\n  open: true\n  open_rate_per_ip: 2\n"})
	script, err := filepath.Abs("testdata/slix_register.py")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"SESSION", "SESSION", "REGISTER_ERROR resource-constraint"} {
		mode := "legacy"
		if i == 1 {
			mode = "unsigned" // the form, unsigned
		}
		out := b.Slixmpp(t, script, mode, fmt.Sprintf("walkin-%d@%s", i, b.Domain), "walk-in password")
		if !strings.Contains(out, want) {
			t.Fatalf("registration %d printed:\n%s\nwant %q", i, out, want)
		}
	}
}

func TestDiscoAndMetrics(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	k := createKey(t, b, "--accounts", "10")
	if cond, text := register(t, thingConfig(b, "metered", "good password", k)); cond != "" {
		t.Fatalf("<%s/> %s", cond, text)
	}
	register(t, thingConfig(b, "metered", "good password", k)) // conflict
	c := b.Dial(t, "metered@"+b.Domain, "good password", apptest.DialOptions{})
	if err := c.SendRaw(ctx(t), "<iq type='get' id='d1' to='"+b.Domain+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"); err != nil {
		t.Fatal(err)
	}
	info := c.Expect(t, 5*time.Second, "<iq type='result' id='d1'/>").String()
	for _, f := range []string{nsRegister, "urn:xmpp:xdata:signature:oauth1"} {
		if !strings.Contains(info, "'"+f+"'") {
			t.Fatalf("disco#info lacks %s: %s", f, info)
		}
	}
	body := metrics(t, b)
	for _, m := range []string{
		`extasis_register_registrations_total{kind="signed",result="ok"} 1`,
		`extasis_register_registrations_total{kind="signed",result="conflict"} 1`,
		`extasis_register_signatures_total{variant="waher"} 2`,
		`extasis_register_forms_total 2`,
	} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// The example onboards a device with one call.
func TestExample(t *testing.T) {
	b := apptest.Start(t, apptest.Options{Extra: extra})
	k := createKey(t, b, "--accounts", "1")
	bin := filepath.Join(t.TempDir(), "thing-register")
	build := exec.Command("go", "build", "-o", bin, "./examples/thing-register")
	build.Dir = apptest.ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for i := range 2 { // first boot registers, the second only logs in
		cmd := exec.Command(bin, "-jid", "example-1@"+b.Domain, "-addr", b.C2S, "-insecure")
		cmd.Env = append(cmd.Environ(), "THING_PASSWORD=example password", "EXTASIS_API_KEY="+k.Key, "EXTASIS_API_SECRET="+k.Secret)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "logged in as example-1@"+b.Domain) {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
	}
	if sk := showKey(t, b, k.Key); sk.Used != 1 {
		t.Fatalf("the example used %d slots, want 1", sk.Used)
	}
}
