package session

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
)

// nopConn is a Conn that accepts everything and remembers a Close.
type nopConn struct {
	mu     sync.Mutex
	closed string
	sent   int
}

func (c *nopConn) Send(*stanza.Stanza) bool { c.mu.Lock(); c.sent++; c.mu.Unlock(); return true }
func (c *nopConn) Close(cond, _ string)     { c.mu.Lock(); c.closed = cond; c.mu.Unlock() }

func sess(full string) *Session { return New(jid.MustParse(full), &nopConn{}) }

func TestTableAdd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing []string
		add      string
		max      int
		replaced int // index into existing, -1 none
		ok       bool
	}{
		{"first", nil, "a@x/1", 0, -1, true},
		{"second resource", []string{"a@x/1"}, "a@x/2", 0, -1, true},
		{"same full JID replaces", []string{"a@x/1", "a@x/2"}, "a@x/2", 0, 1, true},
		{"limit reached", []string{"a@x/1", "a@x/2"}, "a@x/3", 2, -1, false},
		{"replacing is not a new session", []string{"a@x/1", "a@x/2"}, "a@x/1", 2, 0, true},
		{"limit is per account", []string{"a@x/1", "a@x/2"}, "b@x/1", 2, -1, true},
		{"same local, other domain", []string{"a@x/1"}, "a@y/1", 1, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable()
			var old []*Session
			for _, e := range tc.existing {
				s := sess(e)
				if _, ok := tb.Add(s, 0); !ok {
					t.Fatal("setup")
				}
				old = append(old, s)
			}
			n := sess(tc.add)
			replaced, ok := tb.Add(n, tc.max)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			switch {
			case tc.replaced < 0 && replaced != nil:
				t.Fatalf("replaced %s, want none", replaced.JID())
			case tc.replaced >= 0 && replaced != old[tc.replaced]:
				t.Fatalf("replaced %v, want %s", replaced, old[tc.replaced].JID())
			}
			got := tb.Get(n.JID())
			if ok && got != n {
				t.Fatalf("Get after Add = %v", got)
			}
			if !ok && got != nil {
				t.Fatal("a refused session is in the table")
			}
		})
	}
}

func TestTableRemove(t *testing.T) {
	tb := NewTable()
	a1, a2 := sess("a@x/1"), sess("a@x/2")
	tb.Add(a1, 0)
	tb.Add(a2, 0)
	if !tb.Remove(a1) {
		t.Fatal("Remove of a bound session = false")
	}
	if tb.Remove(a1) {
		t.Fatal("second Remove = true")
	}
	if got := tb.Resources(jid.MustParse("a@x")); len(got) != 1 || got[0] != a2 {
		t.Fatalf("Resources = %v", got)
	}
	// A session replaced by a newer one with the same JID must not take
	// the newer one out when it ends.
	newer := sess("a@x/2")
	tb.Add(newer, 0)
	if tb.Remove(a2) {
		t.Fatal("Remove of a replaced session = true")
	}
	if tb.Get(jid.MustParse("a@x/2")) != newer {
		t.Fatal("the replaced session's Remove removed its successor")
	}
	tb.Remove(newer)
	if tb.Resources(jid.MustParse("a@x")) != nil || tb.Count() != 0 {
		t.Fatal("an empty account stays in the table")
	}
}

// TestTableResourcesCopyOnWrite: a slice returned by Resources does not
// change under its reader when sessions come and go.
func TestTableResourcesCopyOnWrite(t *testing.T) {
	tb := NewTable()
	a1 := sess("a@x/1")
	tb.Add(a1, 0)
	snap := tb.Resources(jid.MustParse("a@x"))
	tb.Add(sess("a@x/2"), 0)
	tb.Add(sess("a@x/1"), 0)
	tb.Remove(a1)
	if len(snap) != 1 || snap[0] != a1 {
		t.Fatalf("snapshot changed: %v", snap)
	}
}

func TestTableCountEach(t *testing.T) {
	tb := NewTable()
	var want []string
	for i := range 200 {
		j := fmt.Sprintf("u%d@x/r%d", i%50, i)
		tb.Add(sess(j), 0)
		want = append(want, j)
	}
	if tb.Count() != 200 {
		t.Fatalf("Count = %d", tb.Count())
	}
	var got []string
	tb.Each(func(s *Session) { got = append(got, s.JID().String()) })
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Each visited %d sessions, want %d", len(got), len(want))
	}
}

// TestTableConcurrent is for the race detector: binds, lookups and unbinds
// of one account from many goroutines.
func TestTableConcurrent(t *testing.T) {
	tb := NewTable()
	bare := jid.MustParse("a@x")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := sess(fmt.Sprintf("a@x/g%d-%d", g, i%5))
				tb.Add(s, 0)
				_ = tb.Get(s.JID())
				for _, r := range tb.Resources(bare) {
					_ = r.JID()
				}
				tb.Remove(s)
			}
		}()
	}
	wg.Wait()
	if n := tb.Count(); n != 0 {
		t.Fatalf("Count = %d after every session left", n)
	}
}

func TestSessionPresence(t *testing.T) {
	s := sess("a@x/1")
	if s.Available() {
		t.Fatal("available before any presence")
	}
	p := &stanza.Stanza{Kind: stanza.Presence}
	if !s.SetPresence(p, true, 5) {
		t.Fatal("first available presence is not initial")
	}
	if s.SetPresence(p, true, 7) {
		t.Fatal("an update is reported as initial")
	}
	if avail, prio, last := s.Presence(); !avail || prio != 7 || last != p {
		t.Fatalf("Presence = %v %d %v", avail, prio, last)
	}
	s.SetPresence(nil, false, 0)
	if avail, _, last := s.Presence(); avail || last != nil {
		t.Fatal("still available after unavailable")
	}
	if !s.SetPresence(p, true, 0) {
		t.Fatal("available after unavailable is not initial")
	}
}

func TestSessionDirected(t *testing.T) {
	s := sess("a@x/1")
	b, c := jid.MustParse("b@y"), jid.MustParse("c@y/r")
	s.AddDirected(b)
	s.AddDirected(c)
	s.AddDirected(b)
	if !s.HasDirected(b) || !s.HasDirected(c) {
		t.Fatal("directed presence not recorded")
	}
	s.RemoveDirected(b)
	if s.HasDirected(b) {
		t.Fatal("RemoveDirected kept it")
	}
	if got := s.TakeDirected(); len(got) != 1 || got[0] != c {
		t.Fatalf("TakeDirected = %v", got)
	}
	if len(s.TakeDirected()) != 0 {
		t.Fatal("TakeDirected did not clear")
	}
}

func TestSessionCloseAndSend(t *testing.T) {
	c := &nopConn{}
	s := New(jid.MustParse("a@x/1"), c)
	if !s.Send(&stanza.Stanza{}) || c.sent != 1 {
		t.Fatal("Send did not reach the Conn")
	}
	s.Close("conflict", "replaced")
	if c.closed != "conflict" {
		t.Fatalf("Close reached the Conn with %q", c.closed)
	}
	if s.Conn() != c {
		t.Fatal("Conn() is not the stream")
	}
	if !s.MarkInitialDone() || s.MarkInitialDone() {
		t.Fatal("MarkInitialDone is not true exactly once")
	}
}

func BenchmarkTableGet(b *testing.B) {
	tb := NewTable()
	for i := range 10000 {
		tb.Add(sess(fmt.Sprintf("u%d@x/r%d", i, i%3)), 0)
	}
	full := jid.MustParse("u4242@x/r0")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tb.Get(full) == nil {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkTableAddRemove(b *testing.B) {
	tb := NewTable()
	s := sess("a@x/1")
	b.ReportAllocs()
	for b.Loop() {
		tb.Add(s, 0)
		tb.Remove(s)
	}
}
