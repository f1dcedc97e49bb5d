package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// backends runs f against SQLite and PostgreSQL (which skips without
// EXTASIS_TEST_POSTGRES, and fails under CI=true).
func backends(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "registry.db"), Options{MaxTags: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := Open(context.Background(), pgtest.Database(t), Options{MaxTags: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f(t, s)
	})
}

func str(n, v string) iotdisco.Tag { return iotdisco.Tag{Name: n, Value: v} }
func num(n, v string) iotdisco.Tag { return iotdisco.Tag{Name: n, Value: v, Numeric: true} }

var meter = []iotdisco.Tag{str("MAN", "acme"), str("SN", "A7Q-1"), num("V", "3.1"), str("KEY", "secret")}

func TestStateMachine(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		thing := Ref{JID: "meter@localhost"}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// Register, then register again: the whole set is replaced.
		_, _, err := s.Register(ctx, thing, []iotdisco.Tag{str("OLD", "x"), str("KEY", "k0")}, false, "urn:nf:iot:disco:1.0")
		must(err)
		got, _, err := s.Register(ctx, thing, meter, false, "urn:nf:iot:disco:1.0")
		must(err)
		if got.State != Unclaimed {
			t.Fatalf("state %s", got.State)
		}
		rec, err := s.Get(ctx, thing)
		must(err)
		if len(rec.Tags) != 4 {
			t.Fatalf("tags after re-register: %+v", rec.Tags)
		}
		// An update from an unclaimed thing changes nothing: disowned.
		if _, disowned, err := s.Update(ctx, thing, []iotdisco.Tag{str("X", "1")}, "", ""); err != nil || !disowned {
			t.Fatalf("update unclaimed: disowned=%v err=%v", disowned, err)
		}

		// Claims that must fail, all the same way.
		for _, tc := range []struct {
			name string
			tags []iotdisco.Tag
		}{
			{"wrong key", []iotdisco.Tag{str("MAN", "acme"), str("SN", "A7Q-1"), num("V", "3.1"), str("KEY", "guess")}},
			{"partial", []iotdisco.Tag{str("MAN", "acme"), str("KEY", "secret")}},
			{"extra tag", append(append([]iotdisco.Tag{}, meter...), str("X", "1"))},
			{"number as string", []iotdisco.Tag{str("MAN", "acme"), str("SN", "A7Q-1"), str("V", "3.1"), str("KEY", "secret")}},
			{"value case differs", []iotdisco.Tag{str("MAN", "ACME"), str("SN", "A7Q-1"), num("V", "3.1"), str("KEY", "secret")}},
		} {
			if _, _, err := s.Claim(ctx, "alice@localhost", tc.tags, true); !errors.Is(err, ErrNotFound) {
				t.Errorf("claim %s: %v", tc.name, err)
			}
		}
		// Names case-insensitive, order irrelevant, numbers by value.
		claim := []iotdisco.Tag{str("key", "secret"), num("v", "31E-1"), str("sn", "A7Q-1"), str("Man", "acme")}
		c, changed, err := s.Claim(ctx, "alice@localhost", claim, false)
		must(err)
		if !changed || c.JID != thing.JID || c.Owner != "alice@localhost" || c.Public || c.State != Claimed {
			t.Fatalf("claim: %+v changed=%v", c, changed)
		}
		rec, _ = s.Get(ctx, thing)
		for _, tag := range rec.Tags {
			if tag.Name == "KEY" {
				t.Error("KEY kept after the claim")
			}
		}
		// Claimed notification and event queued.
		pend, err := s.Pending(ctx, thing.JID)
		must(err)
		if len(pend) != 1 || pend[0].Kind != NotifyClaimed || pend[0].Owner != "alice@localhost" || pend[0].Public || pend[0].NS != "urn:nf:iot:disco:1.0" {
			t.Fatalf("pending %+v", pend)
		}
		evs, err := s.Events(ctx)
		must(err)
		if len(evs) != 1 || evs[0].Name != EventClaimed || !reflect.DeepEqual(evs[0].Attrs, map[string]string{"thing": thing.JID, "owner": "alice@localhost"}) {
			t.Fatalf("events %+v", evs)
		}
		must(s.Published(ctx, evs[0].ID))
		// Same owner again with the same tags: success, now public, a new
		// claimed notification replaces the undelivered one.
		c, changed, err = s.Claim(ctx, "alice@localhost", meter, true)
		must(err)
		if !changed || !c.Public {
			t.Fatalf("re-claim: %+v %v", c, changed)
		}
		if pend, _ = s.Pending(ctx, thing.JID); len(pend) != 1 || !pend[0].Public {
			t.Fatalf("pending after re-claim %+v", pend)
		}
		must(s.Delivered(ctx, pend[0].ID))
		if _, changed, err = s.Claim(ctx, "alice@localhost", meter, true); err != nil || changed {
			t.Fatalf("idempotent re-claim: changed=%v %v", changed, err)
		}
		// Someone else: not found.
		if _, _, err := s.Claim(ctx, "mallory@localhost", meter, true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("claim by another: %v", err)
		}
		// A claimed thing registering again: untouched.
		r, owned, err := s.Register(ctx, thing, []iotdisco.Tag{str("NEW", "1")}, false, "urn:ieee:iot:disco:1.0")
		must(err)
		if !owned || r.State != Claimed || r.Owner != "alice@localhost" {
			t.Fatalf("register claimed: %+v", r)
		}
		// Thing update merges; empty string deletes.
		_, _, err = s.Update(ctx, thing, []iotdisco.Tag{num("LAT", "59.3"), str("MAN", ""), str("KEY", "ignored")}, "", "")
		must(err)
		rec, _ = s.Get(ctx, thing)
		want := []iotdisco.Tag{num("LAT", "59.3"), str("SN", "A7Q-1"), num("V", "3.1")}
		if !reflect.DeepEqual(rec.Tags, want) {
			t.Fatalf("after update %+v", rec.Tags)
		}
		// Owner update by a stranger: not found; by the owner: merged.
		if _, _, err := s.Update(ctx, thing, []iotdisco.Tag{str("BLD", "x")}, "mallory@localhost", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("stranger update: %v", err)
		}
		_, _, err = s.Update(ctx, thing, []iotdisco.Tag{str("BLD", "North")}, "alice@localhost", "")
		must(err)
		// Tag limit (8 in this test).
		many := []iotdisco.Tag{}
		for i := range 6 {
			many = append(many, str(fmt.Sprintf("T%d", i), "v"))
		}
		if _, _, err := s.Update(ctx, thing, many, "alice@localhost", ""); !errors.Is(err, ErrLimit) {
			t.Fatalf("limit: %v", err)
		}
		// Remove by a stranger, then by the owner.
		if _, err := s.Remove(ctx, thing, "mallory@localhost"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		rm, err := s.Remove(ctx, thing, "alice@localhost")
		must(err)
		if rm.State != Removed {
			t.Fatal(rm.State)
		}
		if pend, _ = s.Pending(ctx, thing.JID); len(pend) != 1 || pend[0].Kind != NotifyRemoved {
			t.Fatalf("pending after remove %+v", pend)
		}
		// Removed: the thing's update is not found; register says claimed.
		if _, _, err := s.Update(ctx, thing, []iotdisco.Tag{str("X", "1")}, "", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update removed: %v", err)
		}
		// Disown: only the owner.
		if _, err := s.Owned(ctx, thing, "mallory@localhost"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := s.Owned(ctx, thing, "alice@localhost"); err != nil {
			t.Fatal(err)
		}
		d, err := s.Disown(ctx, thing, "alice@localhost", false)
		must(err)
		if d.State != Unclaimed || d.Owner != "" {
			t.Fatalf("disowned %+v", d)
		}
		rec, _ = s.Get(ctx, thing)
		if len(rec.Tags) != 1 || rec.Tags[0].Name != "KEY" || len(rec.Tags[0].Value) != 64 {
			t.Fatalf("after disown %+v", rec.Tags)
		}
		if pend, _ = s.Pending(ctx, thing.JID); len(pend) != 0 {
			t.Fatalf("pending after disown %+v", pend)
		}
		if _, _, err := s.Claim(ctx, "alice@localhost", meter, true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("claim with the old tags after disown: %v", err)
		}
		evs, _ = s.Events(ctx)
		if len(evs) != 1 || evs[0].Name != EventDisowned || evs[0].Attrs["owner"] != "alice@localhost" {
			t.Fatalf("events %+v", evs)
		}
		// Unregister deletes; twice is fine.
		if ok, err := s.Unregister(ctx, thing); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if ok, err := s.Unregister(ctx, thing); err != nil || ok {
			t.Fatal(ok, err)
		}
		if _, err := s.Get(ctx, thing); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func TestNodesSelfOwnedConflict(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		gw := "gw7@localhost"
		lamp := Ref{JID: gw, Node: Node{ID: "lamp-3", Source: "Lighting"}}
		r, _, err := s.Register(ctx, lamp, []iotdisco.Tag{str("CLASS", "Lamp"), str("KEY", "c0ffee")}, true, "urn:nf:iot:disco:1.0")
		if err != nil {
			t.Fatal(err)
		}
		if r.State != Claimed || !r.SelfOwned || !r.Public || r.Owner != gw {
			t.Fatalf("self-owned %+v", r)
		}
		rec, _ := s.Get(ctx, lamp)
		if len(rec.Tags) != 1 {
			t.Fatalf("self-owned keeps KEY: %+v", rec.Tags)
		}
		evs, _ := s.Events(ctx)
		if len(evs) != 1 || !reflect.DeepEqual(evs[0].Attrs, map[string]string{"thing": gw, "owner": gw, "node": "lamp-3", "source": "Lighting", "partition": ""}) {
			t.Fatalf("events %+v", evs)
		}
		// The node and the concentrator itself are distinct records.
		if _, _, err := s.Register(ctx, Ref{JID: gw}, meter, false, ""); err != nil {
			t.Fatal(err)
		}
		// Another thing with the same tags (KEY included): conflict.
		if _, _, err := s.Register(ctx, Ref{JID: "copy@localhost"}, meter, false, ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if _, _, err := s.Register(ctx, Ref{JID: "big@localhost"}, make([]iotdisco.Tag, 9), false, ""); !errors.Is(err, ErrLimit) {
			t.Fatalf("limit: %v", err)
		}
		// The owner's account goes: things released and told.
		if _, _, err := s.Claim(ctx, "alice@localhost", meter, true); err != nil {
			t.Fatal(err)
		}
		rel, err := s.ReleaseOwner(ctx, "alice@localhost")
		if err != nil || len(rel) != 1 {
			t.Fatalf("release %v %v", rel, err)
		}
		pend, _ := s.Pending(ctx, gw)
		if len(pend) != 1 || pend[0].Kind != NotifyDisowned {
			t.Fatalf("pending %+v", pend)
		}
		// The thing's account goes: records deleted.
		if n, err := s.DeleteJID(ctx, gw); err != nil || n != 2 {
			t.Fatalf("delete jid %d %v", n, err)
		}
		if ids, _ := s.PendingJIDs(ctx); len(ids) != 0 {
			t.Fatalf("pending jids %v", ids)
		}
	})
}

func TestConcurrentClaims(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for round := range 5 {
			thing := Ref{JID: fmt.Sprintf("t%d@localhost", round)}
			tags := []iotdisco.Tag{str("SN", thing.JID), str("KEY", "k")}
			if _, _, err := s.Register(ctx, thing, tags, false, ""); err != nil {
				t.Fatal(err)
			}
			const n = 8
			var wg sync.WaitGroup
			wins := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					owner := fmt.Sprintf("o%d@localhost", i)
					_, _, err := s.Claim(ctx, owner, tags, true)
					switch {
					case err == nil:
						wins <- owner
					case !errors.Is(err, ErrNotFound):
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			close(wins)
			var w []string
			for o := range wins {
				w = append(w, o)
			}
			rec, _ := s.Get(ctx, thing)
			if len(w) != 1 || rec.Owner != w[0] {
				t.Fatalf("round %d: winners %v, owner %q", round, w, rec.Owner)
			}
		}
	})
}

func TestOutboxAndSessions(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		thing := Ref{JID: "m@localhost"}
		if err := s.Seen(ctx, "m@localhost/r1", "m@localhost"); err != nil {
			t.Fatal(err)
		}
		if res, _ := s.Resources(ctx, "m@localhost"); len(res) != 0 {
			t.Fatalf("tracked a JID without a record: %v", res)
		}
		s.Register(ctx, thing, meter, false, "")
		s.Seen(ctx, "m@localhost/r1", "m@localhost")
		s.o.Now = func() time.Time { return time.Now().Add(time.Hour) }
		s.Seen(ctx, "m@localhost/r2", "m@localhost")
		if res, _ := s.Resources(ctx, "m@localhost"); !reflect.DeepEqual(res, []string{"m@localhost/r2", "m@localhost/r1"}) {
			t.Fatalf("resources %v", res)
		}
		s.Gone(ctx, "m@localhost/r2")
		if res, _ := s.Resources(ctx, "m@localhost"); !reflect.DeepEqual(res, []string{"m@localhost/r1"}) {
			t.Fatalf("resources %v", res)
		}
		s.Claim(ctx, "a@localhost", meter, true)
		pend, _ := s.Pending(ctx, thing.JID)
		for i := 1; i <= 3; i++ {
			dropped, err := s.Failed(ctx, pend[0].ID, 3)
			if err != nil || dropped != (i == 3) {
				t.Fatalf("attempt %d: dropped=%v %v", i, dropped, err)
			}
		}
		if pend, _ = s.Pending(ctx, thing.JID); len(pend) != 0 {
			t.Fatalf("kept after max attempts: %+v", pend)
		}
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Register(ctx, Ref{JID: "m@localhost"}, meter, false, "")
	s.Claim(ctx, "a@localhost", meter, true)
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, _ := s.Pending(ctx, "m@localhost"); len(p) != 1 {
		t.Fatalf("pending lost across a restart: %+v", p)
	}
	if rec, err := s.Get(ctx, Ref{JID: "m@localhost"}); err != nil || rec.Owner != "a@localhost" {
		t.Fatalf("record lost across a restart: %+v %v", rec, err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"sqlite:", "a?b", "postgres://%zz"} {
		if _, err := Open(context.Background(), dsn, Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
	_, err := Open(context.Background(), "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=1", Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v (must fail without echoing the password)", err)
	}
}
