package im

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestConcurrentTraffic drives many sessions at once through every path
// that takes a lock (subscriptions both ways, presence, messages, roster,
// blocking, logins and session ends with unacknowledged stanzas), so that
// the race detector and a deadline catch what single-stepped tests cannot.
func TestConcurrentTraffic(t *testing.T) {
	e := newEnv(t, envOptions{maxOffline: 50})
	const n = 12
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("u%d", i)
		e.account(names[i])
	}
	befriend(e, names[:n/2]...)
	actions := []func(c *client, other string){
		func(c *client, o string) { c.send(`<presence type='subscribe' to='` + o + `@example.org'/>`) },
		func(c *client, o string) { c.send(`<presence type='subscribed' to='` + o + `@example.org'/>`) },
		func(c *client, o string) { c.send(`<presence type='unsubscribe' to='` + o + `@example.org'/>`) },
		func(c *client, o string) { c.send(`<presence type='unsubscribed' to='` + o + `@example.org'/>`) },
		func(c *client, o string) { c.send(`<presence><status>s</status></presence>`) },
		func(c *client, o string) { c.send(`<presence to='` + o + `@example.org/r'/>`) },
		func(c *client, o string) {
			c.send(`<message to='` + o + `@example.org' type='chat'><body>m</body></message>`)
		},
		func(c *client, o string) {
			c.send(`<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='` + o + `@example.org'/></block></iq>`)
		},
		func(c *client, o string) {
			c.send(`<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
		},
		func(c *client, o string) {
			c.send(`<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='` + o + `@example.org' subscription='remove'/></query></iq>`)
		},
		func(c *client, o string) {
			c.send(`<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver='1'/></iq>`)
		},
		func(c *client, o string) { c.send(`<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>`) },
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for round := range 4 {
				c := e.login(fmt.Sprintf("%s@example.org/r%d", names[i], round%2))
				c.send(`<presence/>`)
				for range 40 {
					actions[rng.IntN(len(actions))](c, names[rng.IntN(n)])
					c.drain()
				}
				c.end(c.drain()...)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("deadlock: concurrent traffic did not finish")
	}
}
