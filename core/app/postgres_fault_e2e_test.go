package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/core/storage/pgtest"
)

// The broker on PostgreSQL while the database goes away: the real binary,
// a private cluster that the test stops and freezes, and raw clients that
// see every byte the broker answers.

const (
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsPing    = "urn:xmpp:ping"
	nsRoster  = "jabber:iq:roster"
	nsDelay   = "urn:xmpp:delay"
)

// faultPool is the storage_pool of the fault tests: short bounds, so that
// a request that needs the database fails within seconds.
const faultPool = "storage_pool:\n  timeout: 2s\n  connect_timeout: 1s\n"

// faultBound is how long a request that needs the database may take to
// fail: a store call may wait its timeout plus a connection attempt, and a
// request makes up to two calls. It is a hang detector, not a benchmark:
// the figures themselves are logged.
const faultBound = 20 * time.Second

// pgClient is a logged-in raw client with a counter for stanza ids.
type pgClient struct {
	*apptest.RawConn
	t    testing.TB
	name string
	n    int
	// skipped is every element await passed over, in order.
	skipped []*apptest.Element
}

func pgLogin(t testing.TB, b *apptest.Broker, name, resource string) *pgClient {
	t.Helper()
	c := b.DialRaw(t, apptest.StartTLS)
	c.Timeout = faultBound
	if err := c.Login("SCRAM-SHA-256", name, name+"-password", resource); err != nil {
		t.Fatalf("%s: login: %v", name, err)
	}
	p := &pgClient{RawConn: c, t: t, name: name}
	p.send("<presence/>")
	p.sync()
	return p
}

func (c *pgClient) id(prefix string) string {
	c.n++
	return fmt.Sprintf("%s-%d", prefix, c.n)
}

func (c *pgClient) send(s string) {
	c.t.Helper()
	if err := c.Send(s); err != nil {
		c.t.Fatalf("%s: send: %v", c.name, err)
	}
}

// await reads until an element matches pattern, skipping others (presence
// and the like), and returns it. A read that waits longer than faultBound
// fails the test.
func (c *pgClient) await(pattern string) *apptest.Element {
	c.t.Helper()
	p := apptest.MustPattern(pattern)
	for {
		ev, err := c.Next()
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.name, pattern, err)
		}
		if ev.Kind != apptest.EventElement {
			c.t.Fatalf("%s: waiting for %s: got %s", c.name, pattern, ev)
		}
		if p.Match(ev.El) {
			return ev.El
		}
		c.skipped = append(c.skipped, ev.El)
	}
}

// sync pings the server: the session handles its stanzas in order, so
// when the pong arrives everything sent before it has been processed.
func (c *pgClient) sync() {
	c.t.Helper()
	id := c.id("sync")
	c.send("<iq type='get' id='" + id + "' to='localhost'><ping xmlns='" + nsPing + "'/></iq>")
	c.await("<iq type='result' id='" + id + "'/>")
}

// errorCondition returns the defined condition of a stanza's <error/>.
func errorCondition(el *apptest.Element) string {
	e := el.Child("jabber:client", "error")
	if e == nil {
		return ""
	}
	for _, c := range e.Children {
		if c.Name.Space == nsStanzas && c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return ""
}

// wantStorageError checks that el is the error a client gets while the
// database is away: resource-constraint of type wait (retry later).
func wantStorageError(t *testing.T, what string, el *apptest.Element, took time.Duration) {
	t.Helper()
	cond := errorCondition(el)
	typ := ""
	if e := el.Child("jabber:client", "error"); e != nil {
		typ = e.AttrValue("type")
	}
	if cond != "resource-constraint" || typ != "wait" {
		t.Fatalf("%s: got %s, want <error type='wait'><resource-constraint/>", what, el)
	}
	t.Logf("%s: <%s/> after %v", what, cond, took.Round(time.Millisecond))
}

// chat sends n messages from one client to another's bare JID and checks
// that each arrives: live traffic between connected users.
func chat(t *testing.T, from, to *pgClient, tag string, n int) time.Duration {
	t.Helper()
	start := time.Now()
	for i := range n {
		body := fmt.Sprintf("%s %d from %s", tag, i, from.name)
		from.send("<message type='chat' to='" + to.name + "@localhost'><body>" + body + "</body></message>")
		to.await("<message type='chat'><body>" + body + "</body></message>")
	}
	return time.Since(start)
}

// background keeps one client sending to another's bare JID every few
// milliseconds, from before the first outage to after the last, and checks
// that every message arrives once and in order: routing between connected
// users never needs the database.
type background struct {
	stop chan struct{}
	sent chan int   // how many the sender sent, when it stops
	errc chan error // the receiver's verdict
}

func startBackground(from, to *pgClient) *background {
	bg := &background{stop: make(chan struct{}), sent: make(chan int, 1), errc: make(chan error, 1)}
	go func() {
		n := 0
		defer func() { bg.sent <- n }()
		for {
			body := fmt.Sprintf("background %d", n)
			select {
			case <-bg.stop:
				body = "background end"
			default:
			}
			if err := from.Send("<message type='chat' to='" + to.name + "@localhost'><body>" + body + "</body></message>"); err != nil {
				return
			}
			if body == "background end" {
				return
			}
			n++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		next := 0
		for {
			ev, err := to.Next()
			if err != nil {
				bg.errc <- fmt.Errorf("after %d messages: %w", next, err)
				return
			}
			if ev.Kind != apptest.EventElement {
				bg.errc <- fmt.Errorf("after %d messages: %s", next, ev)
				return
			}
			bd := ev.El.Child("jabber:client", "body")
			if ev.El.Name.Local != "message" || bd == nil {
				continue
			}
			if bd.Text == "background end" {
				bg.errc <- nil
				return
			}
			if want := fmt.Sprintf("background %d", next); bd.Text != want {
				bg.errc <- fmt.Errorf("got %q, want %q", bd.Text, want)
				return
			}
			next++
		}
	}()
	return bg
}

// finish stops the sender and returns how many messages went through.
func (bg *background) finish(t *testing.T) int {
	t.Helper()
	close(bg.stop)
	n := <-bg.sent
	select {
	case err := <-bg.errc:
		if err != nil {
			t.Fatalf("background traffic: %v", err)
		}
	case <-time.After(faultBound):
		t.Fatalf("background traffic: the end marker did not arrive within %v", faultBound)
	}
	return n
}

// TestPostgresOutageUnderTraffic stops PostgreSQL, and then freezes it
// (SIGSTOP: connections are accepted but never answered), under a broker
// with connected clients. While the database is away, live chat between
// connected users keeps flowing; a roster change, a message to an offline
// user and a new login get a clear error within seconds, and the broker
// logs why; when the database is back the broker serves again without a
// restart, and the offline message accepted before the outage is
// delivered at the user's next login.
func TestPostgresOutageUnderTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cluster := pgtest.StartCluster(t)
	dsn := pgtest.DatabaseOn(t, cluster.DSN)
	b := apptest.Start(t, apptest.Options{Storage: dsn, Extra: faultPool})
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"} {
		b.AddUser(u+"@localhost", u+"-password")
	}
	alice := pgLogin(t, b, "alice", "a")
	bob := pgLogin(t, b, "bob", "b")
	chat(t, alice, bob, "warm-up", 3)
	bg := startBackground(pgLogin(t, b, "erin", "e"), pgLogin(t, b, "frank", "f"))

	// A roster change before the outages, so that a client holding the
	// roster version from before it must ask the database what changed.
	alice.send("<iq type='set' id='roster-bob'><query xmlns='" + nsRoster + "'><item jid='bob@localhost'/></query></iq>")
	alice.await("<iq type='result' id='roster-bob'/>")

	// Accepted before the outage: carol is offline, so the broker stores
	// it. No error came back, and the pong after it says it was handled.
	alice.send("<message type='chat' id='kept' to='carol@localhost'><body>accepted before the outage</body></message>")
	alice.sync()

	faults := []struct {
		name     string
		down, up func(testing.TB)
		// late authenticates before the outage and binds during it; one
		// per fault, so that a session of the last fault, still closing,
		// cannot take the message meant for the next login.
		late string
	}{
		{name: "stopped", down: cluster.Down, up: cluster.Up, late: "gina"},
		{name: "frozen", down: cluster.Freeze, up: cluster.Thaw, late: "hank"},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			alice.t, bob.t = t, t
			logBefore := len(b.Log())

			// The late user has a message waiting, and authenticates
			// before the outage but binds the session during it: the
			// broker can neither load the roster nor deliver what waits.
			waiting := "for " + f.late + " before the database was " + f.name
			alice.send("<message type='chat' to='" + f.late + "@localhost'><body>" + waiting + "</body></message>")
			alice.sync()
			lc := b.DialRaw(t, apptest.StartTLS)
			lc.Timeout = faultBound
			for _, step := range []func() error{lc.Secure, lc.Open, func() error { return lc.Auth("SCRAM-SHA-256", f.late, f.late+"-password") }} {
				if err := step(); err != nil {
					t.Fatalf("%s: %v", f.late, err)
				}
			}

			f.down(t)
			start := time.Now()
			if err := lc.Open(); err != nil {
				t.Fatalf("%s: %v", f.late, err)
			}
			if err := lc.Bind("r"); err != nil {
				t.Fatalf("%s binds while the database is %s: %v", f.late, f.name, err)
			}
			late := &pgClient{RawConn: lc, t: t, name: f.late}
			late.send("<presence/>")
			id := late.id("roster-get")
			late.send("<iq type='get' id='" + id + "'><query xmlns='" + nsRoster + "'/></iq>")
			wantStorageError(t, "roster get of a session bound during the outage", late.await("<iq type='error' id='"+id+"'/>"), time.Since(start))
			id = late.id("roster-set")
			start = time.Now()
			late.send("<iq type='set' id='" + id + "'><query xmlns='" + nsRoster + "'><item jid='alice@localhost'/></query></iq>")
			wantStorageError(t, "roster set of a session bound during the outage", late.await("<iq type='error' id='"+id+"'/>"), time.Since(start))

			took := chat(t, alice, bob, f.name+" live", 5)
			t.Logf("5 live messages while the database is %s: %v", f.name, took.Round(time.Millisecond))

			// A roster change must be stored: it fails, and says so.
			id = alice.id("roster-set")
			start = time.Now()
			alice.send("<iq type='set' id='" + id + "'><query xmlns='" + nsRoster + "'><item jid='dave@localhost' name='Dave " + f.name + "'/></query></iq>")
			wantStorageError(t, "roster set", alice.await("<iq type='error' id='"+id+"'/>"), time.Since(start))

			// A client that cached the roster at version 0 asks what
			// changed since: only the database knows.
			id = alice.id("roster-get")
			start = time.Now()
			alice.send("<iq type='get' id='" + id + "'><query xmlns='" + nsRoster + "' ver='0'/></iq>")
			wantStorageError(t, "roster get since version 0", alice.await("<iq type='error' id='"+id+"'/>"), time.Since(start))

			// A message to an offline user must be stored: it bounces
			// with the reason instead of vanishing.
			id = alice.id("offline")
			start = time.Now()
			alice.send("<message type='chat' id='" + id + "' to='carol@localhost'><body>sent while " + f.name + "</body></message>")
			wantStorageError(t, "message to an offline user", alice.await("<message type='error' id='"+id+"'/>"), time.Since(start))

			// A new login needs the credentials: temporary-auth-failure.
			start = time.Now()
			c, err := b.TryDialRaw(apptest.StartTLS)
			if err != nil {
				t.Fatal(err)
			}
			c.Timeout = faultBound
			err = c.Login("SCRAM-SHA-256", "dave", "dave-password", "d")
			_ = c.Close()
			var af *apptest.AuthFailure
			if !errors.As(err, &af) || af.Condition() != "temporary-auth-failure" {
				t.Fatalf("login while the database is %s: %v, want <temporary-auth-failure/>", f.name, err)
			}
			t.Logf("login: <%s/> after %v", af.Condition(), time.Since(start).Round(time.Millisecond))

			// The failures did not disturb the sessions.
			chat(t, bob, alice, f.name+" still live", 3)

			log := b.Log()[logBefore:]
			for _, want := range []string{"storage unavailable", "credential lookup failed"} {
				if !strings.Contains(log, want) {
					t.Errorf("the broker logged no %q while the database was %s; log:\n%s", want, f.name, log)
				}
			}
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "sent while") || strings.Contains(line, "live 0 from") {
					t.Errorf("the broker logged a message body: %s", line)
				}
			}

			f.up(t)
			start = time.Now()
			deadline := start.Add(60 * time.Second)
			for {
				c, err := b.TryDialRaw(apptest.StartTLS)
				if err != nil {
					t.Fatal(err)
				}
				c.Timeout = faultBound
				err = c.Login("SCRAM-SHA-256", "dave", "dave-password", "d")
				_ = c.Close()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no login within 60s after the database came back: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("first login %v after the database came back", time.Since(start).Round(time.Millisecond))

			id = alice.id("roster-set")
			alice.send("<iq type='set' id='" + id + "'><query xmlns='" + nsRoster + "'><item jid='dave@localhost' name='Dave after " + f.name + "'/></query></iq>")
			alice.await("<iq type='result' id='" + id + "'/>")
			alice.send("<message type='chat' to='carol@localhost'><body>accepted after " + f.name + "</body></message>")
			alice.sync()

			// The late session recovers by itself; what waited comes at
			// the next login.
			id = late.id("roster-set")
			late.send("<iq type='set' id='" + id + "'><query xmlns='" + nsRoster + "'><item jid='alice@localhost' name='after " + f.name + "'/></query></iq>")
			late.await("<iq type='result' id='" + id + "'/>")
			late.Close()
			again := pgLogin(t, b, f.late, "r2")
			var got []string
			for _, el := range again.skipped {
				if bd := el.Child("jabber:client", "body"); el.Name.Local == "message" && bd != nil {
					got = append(got, bd.Text)
				}
			}
			if len(got) != 1 || got[0] != waiting {
				t.Fatalf("%s's next login got %q, want %q", f.late, got, waiting)
			}
			again.Close()
		})
		if t.Failed() {
			return
		}
	}

	t.Logf("background traffic: %d messages, none lost, in order", bg.finish(t))

	// carol's next login gets, before the answer to the ping that follows
	// her initial presence, what was accepted, in order, and not what
	// bounced while the database was stopped. What bounced while it was
	// frozen may come too: the INSERT sat in the socket of the frozen
	// server, which ran it when it woke up, after the broker had given up
	// waiting. The sender was told it failed; the recipient may still get
	// it (never the other way round).
	alice.t = t
	carol := pgLogin(t, b, "carol", "c")
	var got []string
	for _, el := range carol.skipped {
		if el.Name.Local != "message" {
			continue
		}
		body := ""
		if bd := el.Child("jabber:client", "body"); bd != nil {
			body = bd.Text
		}
		if el.Child(nsDelay, "delay") == nil {
			t.Errorf("offline message %q has no <delay/>", body)
		}
		if body == "sent while frozen" {
			t.Logf("the message that bounced while the database was frozen was stored anyway")
			continue
		}
		got = append(got, body)
	}
	want := []string{"accepted before the outage", "accepted after stopped", "accepted after frozen"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("carol's offline messages: %q, want %q", got, want)
	}

	alice.send("<iq type='get' id='r2'><query xmlns='" + nsRoster + "'/></iq>")
	roster := alice.await("<iq type='result' id='r2'/>")
	var items []string
	for _, it := range roster.Child(nsRoster, "query").Children {
		items = append(items, it.AttrValue("jid")+"="+it.AttrValue("name"))
	}
	if strings.Join(items, ",") != "bob@localhost=,dave@localhost=Dave after frozen" {
		t.Fatalf("alice's roster after the outages: %q, want bob and dave named 'Dave after frozen'", items)
	}
}
