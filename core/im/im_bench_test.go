package im

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// The benchmarks run the service over the real router, session table and
// SQLite store, with sessions whose stream only counts what it is given:
// they measure the IM layer's own cost per delivered stanza, not TLS or
// socket writes (the side-by-side figures with Prosody and ejabberd over
// real connections come from ../shared/bench).

// fanoutEnv has user0 with n mutual contacts user1..n, all online.
func fanoutEnv(b *testing.B, n int) (*env, []*client) {
	e := newEnv(b, envOptions{})
	owner := e.account("user0")
	for i := 1; i <= n; i++ {
		c := e.account("user" + strconv.Itoa(i))
		for _, p := range [][2]jid.JID{{owner, c}, {c, owner}} {
			if _, err := e.store.PutRosterItem(e.ctx, p[0], storage.RosterItem{Contact: p[1], Subscription: storage.Both}, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	var contacts []*client
	for i := 1; i <= n; i++ {
		c := e.login("user" + strconv.Itoa(i) + "@" + domain + "/r")
		c.conn.discard = true
		c.send(`<presence/>`)
		contacts = append(contacts, c)
	}
	return e, contacts
}

func delivered(cs []*client) int64 {
	var n int64
	for _, c := range cs {
		n += c.conn.n.Load()
	}
	return n
}

// BenchmarkPresenceUpdate: one presence update of a user with n online
// contacts (RFC 6121 §4.4), delivered to every contact and echoed to the
// sender.
func BenchmarkPresenceUpdate(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			e, contacts := fanoutEnv(b, n)
			u := e.login("user0@" + domain + "/r")
			u.conn.discard = true
			u.send(`<presence/>`)
			st := mustParse(`<presence from='user0@example.org/r'><status>at work</status></presence>`)
			before := delivered(contacts)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				e.r.FromClient(e.ctx, u.sess, st)
			}
			el := time.Since(start)
			got := delivered(contacts) - before
			if got != int64(b.N*n) {
				b.Fatalf("delivered %d, want %d", got, b.N*n)
			}
			b.ReportMetric(float64(got)/el.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPresenceLogin: a user with n online contacts logs in: bind,
// roster loaded, initial presence broadcast to n contacts and n probes
// answered from memory, then the session ends and unavailable goes to the
// n contacts. deliveries/s counts every presence stanza delivered.
func BenchmarkPresenceLogin(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			e, contacts := fanoutEnv(b, n)
			owner := jid.MustParse("user0@" + domain + "/r")
			initial := mustParse(`<presence from='user0@example.org/r'/>`)
			before := delivered(contacts)
			var own int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				conn := &fakeConn{discard: true}
				sess := session.New(owner, conn)
				e.r.Sessions().Add(sess, 0)
				e.svc.SessionStarted(e.ctx, sess)
				e.r.FromClient(e.ctx, sess, initial)
				e.r.Sessions().Remove(sess)
				e.svc.SessionEnded(e.ctx, sess, nil)
				own += conn.n.Load()
			}
			el := time.Since(start)
			got := delivered(contacts) - before + own
			if want := int64(b.N) * int64(3*n); got < want {
				b.Fatalf("delivered %d, want at least %d", got, want)
			}
			b.ReportMetric(float64(got)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.N)/el.Seconds(), "logins/s")
		})
	}
}

// BenchmarkMessage: a chat message between two online users: no storage.
func BenchmarkMessage(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.account("alice")
	e.account("bob")
	a := e.online("alice@example.org/a")
	bob := e.login("bob@example.org/b")
	bob.conn.discard = true
	bob.send(`<presence/>`)
	st := mustParse(`<message from='alice@example.org/a' to='bob@example.org' type='chat' id='m'><body>hello</body></message>`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.r.FromClient(e.ctx, a.sess, st)
	}
	if bob.conn.n.Load() < int64(b.N) {
		b.Fatal("not delivered")
	}
}

// BenchmarkOffline: store b.N messages for an offline user (XEP-0160, one
// SQLite transaction each), then flush them at its initial presence.
func BenchmarkOffline(b *testing.B) {
	for _, phase := range []string{"store", "flush"} {
		b.Run(phase, func(b *testing.B) {
			e := newEnv(b, envOptions{})
			e.account("alice")
			e.account("bob")
			bob := e.online("bob@example.org/b")
			st := mustParse(`<message from='bob@example.org/b' to='alice@example.org' type='chat' id='m'><body>hello there</body></message>`)
			if phase == "store" {
				b.ReportAllocs()
				b.ResetTimer()
			}
			start := time.Now()
			for range b.N {
				e.r.FromClient(e.ctx, bob.sess, st)
			}
			if phase == "store" {
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				return
			}
			b.ReportAllocs()
			b.ResetTimer()
			start = time.Now()
			a := e.login("alice@example.org/a")
			a.conn.discard = true
			a.send(`<presence/>`)
			el := time.Since(start)
			if got := a.conn.n.Load(); got < int64(b.N) {
				b.Fatalf("flushed %d of %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
		})
	}
}

var benchSink *stanza.Stanza

// BenchmarkCarbonWrap: the cost of one XEP-0280 copy.
func BenchmarkCarbonWrap(b *testing.B) {
	st := mustParse(`<message from='bob@example.org/b' to='alice@example.org/a' type='chat' id='m'><body>hello</body></message>`)
	owner, to := jid.MustParse("alice@example.org"), jid.MustParse("alice@example.org/desk")
	b.ReportAllocs()
	for range b.N {
		benchSink = carbon("received", owner, to, st)
	}
}
