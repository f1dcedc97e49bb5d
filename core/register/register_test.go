package register

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
	"github.com/extasis/extasis/core/xml"
)

// fixture is a Service over a real in-memory SQLite store with a clock the
// test moves.
type fixture struct {
	t      testing.TB
	svc    *Service
	store  *sqlstore.Store
	sealer *Sealer
	now    atomic.Int64 // unix nanoseconds
	events atomic.Int32 // account.created published
}

func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), ":memory:", sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, store: st, sealer: testSealer(t, 7)}
	f.now.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	bus := event.New()
	bus.Subscribe(event.NameAccountCreated, func(context.Context, event.Event) { f.events.Add(1) })
	cfg := Config{
		Store: st, Sealer: f.sealer, Events: bus,
		Enabled: true, OpenRatePerIP: 2,
		TimestampWindow: 5 * time.Minute, NonceTTL: 10 * time.Minute, TokenTTL: 5 * time.Minute,
		MinPasswordLength: 8, Iterations: 4096, AllowRemove: true,
		Now: func() time.Time { return time.Unix(0, f.now.Load()).UTC() },
	}
	if edit != nil {
		edit(&cfg)
	}
	f.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) clock() time.Time { return time.Unix(0, f.now.Load()).UTC() }

// key creates an API key and returns its id and secret.
func (f *fixture) key(spec KeySpec) (string, string) {
	f.t.Helper()
	k, secret, err := NewAPIKey(f.sealer, spec, f.clock())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.CreateAPIKey(context.Background(), k); err != nil {
		f.t.Fatal(err)
	}
	return k.Key, secret
}

// device is one client connection.
type device struct {
	f      *fixture
	remote net.Addr
	domain string
	token  string
	tokSec string
}

var nextPort atomic.Int32

func (f *fixture) device(ip string) *device {
	return &device{f: f, domain: "iot.test", remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000 + int(nextPort.Add(1))}}
}

func (d *device) do(raw string) *stanza.Stanza {
	d.f.t.Helper()
	st, err := stanza.Parse([]byte(raw))
	if err != nil {
		d.f.t.Fatalf("stanza.Parse(%s): %v", raw, err)
	}
	return d.f.svc.HandleUnauthenticated(context.Background(), d.domain, d.remote, st)
}

// form asks for the registration form and keeps its token.
func (d *device) form() {
	d.f.t.Helper()
	reply := d.do("<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>")
	if reply == nil || reply.Type != "result" {
		d.f.t.Fatalf("form request: %v", reply)
	}
	el, err := reply.Element()
	if err != nil {
		d.f.t.Fatal(err)
	}
	x := el.Child(stanza.NSRegister, "query").Child(stanza.NSDataForms, "x")
	for _, fl := range x.ChildrenNamed(stanza.NSDataForms, "field") {
		v := fl.Child(stanza.NSDataForms, "value")
		switch fl.Attr("var") {
		case "oauth_token":
			d.token = v.Text
		case fieldTokenSecret:
			d.tokSec = v.Text
		}
	}
}

// submission is what a device submits.
type submission struct {
	user, pw      string
	key, secret   string
	nonce         string
	ts            time.Time
	variant       Variant
	to            string // XEP variant, and the iq's 'to'
	tamper        func([]Field) []Field
	tokenOverride string
}

func (d *device) fields(s submission) []Field {
	tok := d.token
	if s.tokenOverride != "" {
		tok = s.tokenOverride
	}
	fields := []Field{
		{formType, NSSignature}, {"username", s.user}, {"password", s.pw},
		{"oauth_version", "1.0"}, {"oauth_signature_method", "HMAC-SHA1"},
		{"oauth_token", tok}, {fieldTokenSecret, d.tokSec},
		{"oauth_nonce", s.nonce}, {"oauth_timestamp", strconv.FormatInt(s.ts.Unix(), 10)},
		{"oauth_consumer_key", s.key},
	}
	v := s.variant
	if v == "" {
		v = Waher
	}
	fields = append(fields, Field{fieldSignature, SignatureValue(Sign(v, fields, s.to, s.secret, d.tokSec))})
	if s.tamper != nil {
		fields = s.tamper(fields)
	}
	return fields
}

func submitXML(fields []Field, to string) string {
	var b strings.Builder
	b.WriteString("<iq type='set' id='s1'")
	if to != "" {
		b.WriteString(" to='" + to + "'")
	}
	b.WriteString("><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>")
	for _, f := range fields {
		b.WriteString("<field var='" + string(xml.EscapeAttr(nil, f.Var)) + "'><value>" + string(xml.EscapeText(nil, f.Value)) + "</value></field>")
	}
	b.WriteString("</x></query></iq>")
	return b.String()
}

func (d *device) submit(s submission) *stanza.Stanza {
	to := ""
	if s.variant == XEP && s.to != "" && s.to != d.domain {
		to = s.to
	}
	return d.do(submitXML(d.fields(s), to))
}

// outcome is the condition of a reply ("" for a result) and its text.
func outcome(t testing.TB, reply *stanza.Stanza) (stanza.Condition, string) {
	t.Helper()
	if reply == nil {
		t.Fatal("no reply")
	}
	if reply.Type == "result" {
		return "", ""
	}
	e, ok := stanza.ParseError(reply)
	if !ok {
		t.Fatalf("reply is neither result nor error: %s", reply.Raw)
	}
	return e.Condition, e.Text
}

var nonceSeq atomic.Int64

func nonce() string { return fmt.Sprintf("%032x", nonceSeq.Add(1)) }

func TestSignedRegistration(t *testing.T) {
	f := newFixture(t, nil)
	key, secret := f.key(KeySpec{Accounts: 100})
	domainKey, domainSecret := f.key(KeySpec{Accounts: 5, Domain: "other.test"})
	tests := []struct {
		name     string
		s        func(now time.Time) submission
		wantCond stanza.Condition
		wantText string
	}{
		{"waher", func(now time.Time) submission {
			return submission{user: "sensor-1", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now}
		}, "", ""},
		{"xep variant", func(now time.Time) submission {
			return submission{user: "sensor-2", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now, variant: XEP, to: "iot.test"}
		}, "", ""},
		{"xep variant to the iq's 'to'", func(now time.Time) submission {
			return submission{user: "sensor-3", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now, variant: XEP, to: "alias.test"}
		}, "", ""},
		{"case folded user name", func(now time.Time) submission {
			return submission{user: "Sensor-4", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now}
		}, "", ""},
		{"wrong secret", func(now time.Time) submission {
			return submission{user: "x1", pw: "correct horse", key: key, secret: secret + "x", nonce: nonce(), ts: now}
		}, stanza.BadRequest, "signature does not match"},
		{"unknown key", func(now time.Time) submission {
			return submission{user: "x2", pw: "correct horse", key: "nope", secret: secret, nonce: nonce(), ts: now}
		}, stanza.BadRequest, "unknown API key"},
		{"tampered after signing", func(now time.Time) submission {
			return submission{user: "x3", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now,
				tamper: func(fl []Field) []Field { return replace(fl, "username", "admin") }}
		}, stanza.BadRequest, "signature does not match"},
		{"stale timestamp", func(now time.Time) submission {
			return submission{user: "x4", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now.Add(-6 * time.Minute)}
		}, stanza.BadRequest, "6m0s away from the server's clock"},
		{"future timestamp", func(now time.Time) submission {
			return submission{user: "x5", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now.Add(6 * time.Minute)}
		}, stanza.BadRequest, "check the device's clock"},
		{"unknown token", func(now time.Time) submission {
			return submission{user: "x6", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now, tokenOverride: "t-forged"}
		}, stanza.BadRequest, "oauth_token"},
		{"method", func(now time.Time) submission {
			return submission{user: "x7", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now,
				tamper: func(fl []Field) []Field { return replace(fl, "oauth_signature_method", "PLAINTEXT") }}
		}, stanza.BadRequest, "use HMAC-SHA1"},
		{"key of another domain", func(now time.Time) submission {
			return submission{user: "x8", pw: "correct horse", key: domainKey, secret: domainSecret, nonce: nonce(), ts: now}
		}, stanza.Forbidden, "on other.test only"},
		{"invalid user name", func(now time.Time) submission {
			return submission{user: "bad user@x", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: now}
		}, stanza.NotAcceptable, "not a valid account name"},
		{"weak password", func(now time.Time) submission {
			return submission{user: "x9", pw: "1234567", key: key, secret: secret, nonce: nonce(), ts: now}
		}, stanza.NotAcceptable, "at least 8 characters"},
		{"empty password", func(now time.Time) submission {
			return submission{user: "x10", pw: "", key: key, secret: secret, nonce: nonce(), ts: now}
		}, stanza.NotAcceptable, "password is required"},
		{"password is the user name", func(now time.Time) submission {
			return submission{user: "sensor-0001", pw: "Sensor-0001", key: key, secret: secret, nonce: nonce(), ts: now}
		}, stanza.NotAcceptable, "must not be the account name"},
		{"empty nonce", func(now time.Time) submission {
			return submission{user: "x11", pw: "correct horse", key: key, secret: secret, nonce: "", ts: now}
		}, stanza.BadRequest, "oauth_nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := f.device("192.0.2.10")
			d.form()
			s := tt.s(f.clock())
			cond, text := outcome(t, d.submit(s))
			if cond != tt.wantCond || !strings.Contains(text, tt.wantText) {
				t.Fatalf("got <%s/> %q, want <%s/> containing %q", cond, text, tt.wantCond, tt.wantText)
			}
			bare, _ := jid.New(s.user, "iot.test", "")
			_, err := f.store.Account(context.Background(), bare)
			if created := err == nil; created != (tt.wantCond == "") {
				t.Fatalf("account %s exists: %v, want %v", bare, created, tt.wantCond == "")
			}
		})
	}
	k, _ := f.store.APIKey(context.Background(), key)
	if k.Used != 4 {
		t.Fatalf("the key was used %d times, want 4 (refusals take no slot)", k.Used)
	}
	regs, _ := f.store.Registrations(context.Background(), key, 0)
	if len(regs) != 4 || regs[0].Remote != "192.0.2.10" {
		t.Fatalf("audit = %+v", regs)
	}
	if n := f.events.Load(); n != 4 {
		t.Fatalf("%d account.created events, want 4", n)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t, nil)
	key, secret := f.key(KeySpec{Accounts: 10})
	ctx := context.Background()
	if err := f.store.CreateAccount(ctx, storage.Account{JID: jid.MustParse("taken@iot.test"),
		Credentials: mustCreds(t)}); err != nil {
		t.Fatal(err)
	}
	d := f.device("192.0.2.20")
	d.form()
	s := submission{user: "taken", pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: f.clock()}
	if cond, _ := outcome(t, d.submit(s)); cond != stanza.Conflict {
		t.Fatalf("taken name: <%s/>, want <conflict/>", cond)
	}
	// The same signed bytes again on the same stream: the nonce is spent.
	if cond, text := outcome(t, d.submit(s)); cond != stanza.BadRequest || !strings.Contains(text, "already used") {
		t.Fatalf("replay: <%s/> %q", cond, text)
	}
	// Captured on the wire and replayed on another stream: that stream's
	// token is not the one signed.
	other := f.device("198.51.100.1")
	other.form()
	if cond, text := outcome(t, other.do(submitXML(d.fields(s), ""))); cond != stanza.BadRequest || !strings.Contains(text, "oauth_token") {
		t.Fatalf("replay on another stream: <%s/> %q", cond, text)
	}
	// A fresh signature with the spent nonce on a new form.
	d.form()
	s.user = "free"
	if cond, text := outcome(t, d.submit(s)); cond != stanza.BadRequest || !strings.Contains(text, "already used") {
		t.Fatalf("spent nonce, new form: <%s/> %q", cond, text)
	}
	s.nonce = nonce()
	if cond, text := outcome(t, d.submit(s)); cond != "" {
		t.Fatalf("fresh nonce: <%s/> %q", cond, text)
	}
	// A token creates one account.
	s.user, s.nonce = "free2", nonce()
	if cond, text := outcome(t, d.submit(s)); cond != stanza.BadRequest || !strings.Contains(text, "oauth_token") {
		t.Fatalf("second account on one token: <%s/> %q", cond, text)
	}
}

func mustCreds(t testing.TB) []storage.Credential {
	c, err := NewCredentials("correct horse", 4096)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeyLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	key, secret := f.key(KeySpec{Accounts: 1, Expires: f.clock().Add(time.Hour)})
	reg := func(user string) (stanza.Condition, string) {
		d := f.device("192.0.2.30")
		d.form()
		return outcome(t, d.submit(submission{user: user, pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: f.clock()}))
	}
	if cond, text := reg("one"); cond != "" {
		t.Fatalf("first: <%s/> %q", cond, text)
	}
	if cond, text := reg("two"); cond != stanza.Forbidden || !strings.Contains(text, "all the 1 accounts") {
		t.Fatalf("over quota: <%s/> %q", cond, text)
	}
	key2, secret2 := f.key(KeySpec{Accounts: 5, Expires: f.clock().Add(time.Hour)})
	key, secret = key2, secret2
	f.now.Add(int64(time.Hour))
	if cond, text := reg("three"); cond != stanza.Forbidden || !strings.Contains(text, "expired on") {
		t.Fatalf("expired: <%s/> %q", cond, text)
	}
	key, secret = f.key(KeySpec{Accounts: 5})
	if err := f.store.RevokeAPIKey(ctx, key, f.clock()); err != nil {
		t.Fatal(err)
	}
	if cond, text := reg("four"); cond != stanza.Forbidden || !strings.Contains(text, "revoked") {
		t.Fatalf("revoked: <%s/> %q", cond, text)
	}
}

func TestClosedAndOpen(t *testing.T) {
	legacy := "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>walkin</username><password>correct horse</password></query></iq>"
	t.Run("unsigned when closed", func(t *testing.T) {
		f := newFixture(t, nil)
		d := f.device("192.0.2.40")
		if cond, text := outcome(t, d.do(legacy)); cond != stanza.NotAllowed || !strings.Contains(text, "requires an API key") {
			t.Fatalf("<%s/> %q", cond, text)
		}
		// What a client without a key sends: the form with empty OAuth fields.
		d.form()
		fl := d.fields(submission{user: "walkin", pw: "correct horse"})
		fl = replace(replace(fl, fieldSignature, ""), "oauth_consumer_key", "")
		if cond, _ := outcome(t, d.do(submitXML(fl, ""))); cond != stanza.NotAllowed {
			t.Fatalf("empty OAuth fields: <%s/>", cond)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.Enabled = false })
		d := f.device("192.0.2.41")
		if f.svc.Offer("iot.test") || len(f.svc.Features()) != 0 {
			t.Fatal("a disabled service offers registration")
		}
		for _, raw := range []string{"<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>", legacy} {
			if cond, text := outcome(t, d.do(raw)); cond != stanza.NotAllowed || !strings.Contains(text, "closed") {
				t.Fatalf("<%s/> %q", cond, text)
			}
		}
	})
	t.Run("open with rate limit", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.Open = true })
		d := f.device("192.0.2.42")
		d.form()
		for i, user := range []string{"walkin", "walkin2"} {
			raw := strings.Replace(legacy, "walkin", user, 1)
			if cond, text := outcome(t, d.do(raw)); cond != "" {
				t.Fatalf("%d: <%s/> %q", i, cond, text)
			}
		}
		if cond, text := outcome(t, d.do(strings.Replace(legacy, "walkin", "walkin3", 1))); cond != stanza.ResourceConstraint || !strings.Contains(text, "retry in") {
			t.Fatalf("third from one IP: <%s/> %q", cond, text)
		}
		if cond, _ := outcome(t, f.device("192.0.2.43").do(strings.Replace(legacy, "walkin", "walkin4", 1))); cond != "" {
			t.Fatalf("another IP: <%s/>", cond)
		}
		regs, _ := f.store.Registrations(context.Background(), "", 0)
		if len(regs) != 3 {
			t.Fatalf("open registrations audited: %d, want 3", len(regs))
		}
	})
	t.Run("remove before login", func(t *testing.T) {
		f := newFixture(t, nil)
		if cond, _ := outcome(t, f.device("192.0.2.44").do("<iq type='set' id='r'><query xmlns='jabber:iq:register'><remove/></query></iq>")); cond != stanza.NotAuthorized {
			t.Fatalf("<%s/>", cond)
		}
	})
}

// Devices racing for the last slot of a key: exactly one wins.
func TestQuotaRace(t *testing.T) {
	f := newFixture(t, nil)
	key, secret := f.key(KeySpec{Accounts: 3})
	const devices = 12
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[stanza.Condition]int{}
		start  = make(chan struct{})
	)
	ds := make([]*device, devices)
	for i := range ds {
		ds[i] = f.device("192.0.2.50")
		ds[i].form()
	}
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := submission{user: fmt.Sprintf("racer-%d", i), pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: f.clock()}
			raw := submitXML(d.fields(s), "")
			<-start
			cond, _ := outcome(t, d.do(raw))
			mu.Lock()
			counts[cond]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[""] != 3 || counts[stanza.Forbidden] != devices-3 {
		t.Fatalf("outcomes %v; want 3 results and %d forbidden", counts, devices-3)
	}
	if n, _ := f.store.CountAccounts(context.Background(), "iot.test"); n != 3 {
		t.Fatalf("%d accounts, want 3", n)
	}
}

func TestNewValidates(t *testing.T) {
	base := Config{Store: &sqlstore.Store{}, Sealer: testSealer(t, 1), TimestampWindow: time.Minute, NonceTTL: 2 * time.Minute, TokenTTL: time.Minute, Iterations: 4096}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no store", func(c *Config) { c.Store = nil }},
		{"nonce ttl", func(c *Config) { c.NonceTTL = time.Minute }},
		{"token ttl", func(c *Config) { c.TokenTTL = 0 }},
		{"open without rate", func(c *Config) { c.Open = true }},
		{"iterations", func(c *Config) { c.Iterations = 0 }},
	}
	if _, err := New(base); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "register: ") {
				t.Fatalf("New = %v", err)
			}
		})
	}
}

// BenchmarkSignedRegistration is one device's registration inside the
// service, over in-memory SQLite: form, signature check, nonce, PBKDF2 for
// two verifiers (4096 iterations, as in tests), one transaction.
func BenchmarkSignedRegistration(b *testing.B) {
	f := newFixture(b, nil)
	key, secret := f.key(KeySpec{Accounts: 1 << 30})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		d := f.device("192.0.2.60")
		d.form()
		reply := d.submit(submission{user: "bench-" + strconv.Itoa(i), pw: "correct horse", key: key, secret: secret, nonce: nonce(), ts: f.clock()})
		if reply.Type != "result" {
			b.Fatalf("%s", reply.Raw)
		}
	}
}
