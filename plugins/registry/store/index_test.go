package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// dump lists an index's contents canonically ("kind name value id") and
// checks its invariants: every id of an entry maps back to it, counts
// agree, values are in order, all is the union of the columns.
func dump(t *testing.T, d *ixdata) []string {
	t.Helper()
	var out []string
	all := map[uint32]bool{}
	tags := 0
	check := func(kind, name string, n int, fwdN int) {
		if n != fwdN {
			t.Errorf("%s %s: %d ids in entries, fwd has %d", kind, name, n, fwdN)
		}
		tags += n
	}
	for name, c := range d.str {
		n := dumpColumn(t, c, func(v string, id uint32) {
			out = append(out, fmt.Sprintf("s %s %q %d", name, v, id))
			all[id] = true
		})
		check("str", name, n, c.fwd.n)
	}
	for name, c := range d.num {
		n := dumpColumn(t, c, func(v float64, id uint32) {
			out = append(out, fmt.Sprintf("n %s %v %d", name, v, id))
			all[id] = true
		})
		check("num", name, n, c.fwd.n)
	}
	if tags != d.tags {
		t.Errorf("tags %d, counted %d", d.tags, tags)
	}
	if int(d.all.GetCardinality()) != len(all) {
		t.Errorf("all has %d things, columns %d", d.all.GetCardinality(), len(all))
	}
	for id := range all {
		if !d.all.Contains(id) {
			t.Errorf("thing %d in a column, not in all", id)
		}
	}
	slices.Sort(out)
	return out
}

func dumpColumn[K cmp.Ordered](t *testing.T, c *column[K], f func(K, uint32)) int {
	t.Helper()
	n := 0
	var prev *entry[K]
	c.vals.Scan(func(e *entry[K]) bool {
		if prev != nil && !(prev.v < e.v) {
			t.Errorf("values out of order: %v then %v", prev.v, e.v)
		}
		prev = e
		if e.n == 0 {
			t.Errorf("empty entry %v", e.v)
		}
		got := 0
		last := int64(-1)
		e.each(func(id uint32) bool {
			if int64(id) <= last {
				t.Errorf("%v: ids out of order", e.v)
			}
			last = int64(id)
			if c.fwd.get(id) != e {
				t.Errorf("%v: thing %d does not map back", e.v, id)
			}
			f(e.v, id)
			got++
			return true
		})
		if got != int(e.n) {
			t.Errorf("%v: n=%d, %d ids", e.v, e.n, got)
		}
		n += got
		return true
	})
	return n
}

// fresh builds an index from SQL as a load would.
func fresh(t *testing.T, s *Store) *ixdata {
	t.Helper()
	d, err := s.build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sameIndex(t *testing.T, s *Store, when string) {
	t.Helper()
	s.ix.mu.RLock()
	got := dump(t, s.ix.d)
	s.ix.mu.RUnlock()
	want := dump(t, fresh(t, s))
	if !reflect.DeepEqual(got, want) {
		diff := func(a, b []string) (out []string) {
			for _, x := range a {
				if _, ok := slices.BinarySearch(b, x); !ok {
					out = append(out, x)
				}
			}
			return out
		}
		t.Fatalf("%s: index differs from SQL\nonly in memory: %v\nonly in SQL: %v", when, diff(got, want), diff(want, got))
	}
}

// oracle answers a search from the records in SQL, by brute force.
func oracle(t *testing.T, s *Store, ops []Operator) []int64 {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT t.thing_id, t.name, t.s, t.n FROM registry_tags t
		JOIN registry_things h ON h.id = t.thing_id WHERE h.vis = 1`)
	if err != nil {
		t.Fatal(err)
	}
	byThing := map[int64][]itag{}
	for rows.Next() {
		var it itag
		var id int64
		if err := rows.Scan(&id, &it.name, &it.s, &it.n); err != nil {
			t.Fatal(err)
		}
		byThing[id] = append(byThing[id], it)
	}
	rows.Close()
	matches := func(o *Operator, it itag) bool {
		if it.name == iotdisco.KeyTag {
			return false
		}
		if o.NameWildcard == 0 && it.name != o.name || o.NameWildcard != 0 && !mask(it.name, o.parts) {
			return false
		}
		if o.Numeric {
			return it.n.Valid && o.matchNum(it.n.Float64)
		}
		return it.s.Valid && o.matchStr(it.s.String)
	}
	type hit struct {
		id  int64
		key *itag
	}
	var hits []hit
	order := slices.IndexFunc(ops, func(o Operator) bool { return o.NameWildcard == 0 })
	for id, tags := range byThing {
		h := hit{id: id}
		ok := true
		for i := range ops {
			found := false
			for j := range tags {
				if matches(&ops[i], tags[j]) {
					found = true
					if i == order {
						h.key = &tags[j]
					}
				}
			}
			ok = ok && found
		}
		if ok {
			hits = append(hits, h)
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if order >= 0 {
			if c := cmp.Compare(a.key.n.Float64, b.key.n.Float64); c != 0 {
				return c
			}
			if c := cmp.Compare(a.key.s.String, b.key.s.String); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.id, b.id)
	})
	var out []int64
	for _, h := range hits {
		out = append(out, h.id)
	}
	return out
}

// searchAll pages through a search, max things at a time.
func searchAll(t *testing.T, s *Store, ops []Operator, max int) []int64 {
	t.Helper()
	var out []int64
	for offset := 0; ; offset += max {
		f, err := s.Search(context.Background(), slices.Clone(ops), offset, max)
		if err != nil {
			t.Fatalf("%+v: %v", ops, err)
		}
		for _, th := range f.Things {
			out = append(out, th.ID)
			for _, tag := range th.Tags {
				if iotdisco.Fold(tag.Name) == iotdisco.KeyTag {
					t.Fatalf("KEY returned")
				}
			}
		}
		if len(f.Things) < max && f.More || len(f.Things) == max && !f.More && len(out) > 0 && offset > 1000 {
			t.Fatalf("offset %d: %d things, more=%v", offset, len(f.Things), f.More)
		}
		if !f.More {
			return out
		}
	}
}

// workload drives a store with random registry traffic over a few
// things, names and values, so that values, postings and columns appear
// and disappear.
type workload struct {
	s      *Store
	r      *rand.Rand
	mu     *sync.Mutex               // guards claims, which writers may share
	claims map[string][]iotdisco.Tag // claim-time tags per thing
}

var (
	wNames   = []string{"CLASS", "MAN", "V", "LAT", "X", "Room", "urn_a", "urn_b"}
	wStrings = []string{"a", "b", "Meter", "meter", "A7Q-1", "A7Q-2", "", "é", "zz", "A7Q-10"}
	wNumbers = []string{"-2.5", "0", "1", "3.1", "3.10", "3.5", "10", "1E6", "-0"}
)

func (w *workload) tags(n int) []iotdisco.Tag {
	var out []iotdisco.Tag
	seen := map[string]bool{}
	for range n {
		name := wNames[w.r.IntN(len(wNames))]
		if seen[name] {
			continue
		}
		seen[name] = true
		if name == "V" || name == "LAT" || (name == "X" || name == "urn_b") && w.r.IntN(2) == 0 {
			out = append(out, num(name, wNumbers[w.r.IntN(len(wNumbers))]))
		} else {
			out = append(out, str(name, wStrings[1+w.r.IntN(len(wStrings)-1)]))
		}
	}
	return out
}

// step does one random write and reports unexpected errors.
func (w *workload) step(ctx context.Context, things int) error {
	r := w.r
	ref := Ref{JID: fmt.Sprintf("t%d@x", r.IntN(things))}
	if r.IntN(4) == 0 {
		ref.Node = Node{ID: "n1"}
	}
	owner := fmt.Sprintf("o%d@x", r.IntN(2))
	var err error
	switch k := r.IntN(20); {
	case k < 6:
		tags := append(w.tags(1+r.IntN(4)), str("KEY", fmt.Sprint(r.Uint64())))
		_, _, err = w.s.Register(ctx, ref, tags, r.IntN(8) == 0, "")
		if err == nil {
			w.mu.Lock()
			w.claims[ref.JID+"/"+ref.Node.ID] = tags
			w.mu.Unlock()
		}
	case k < 10:
		w.mu.Lock()
		tags := w.claims[ref.JID+"/"+ref.Node.ID]
		w.mu.Unlock()
		if tags != nil {
			_, _, err = w.s.Claim(ctx, owner, tags, r.IntN(4) != 0)
		}
	case k < 14:
		by := owner
		if r.IntN(2) == 0 {
			by = ""
		}
		up := w.tags(1 + r.IntN(2))
		if r.IntN(3) == 0 {
			up = append(up, str(wNames[r.IntN(len(wNames))], ""))
		}
		_, _, err = w.s.Update(ctx, ref, up, by, "")
	case k < 16:
		_, err = w.s.Remove(ctx, ref, owner)
	case k < 17:
		_, err = w.s.Disown(ctx, ref, owner, r.IntN(2) == 0)
	case k < 18:
		_, err = w.s.Unregister(ctx, ref)
	case k < 19:
		_, err = w.s.ReleaseOwner(ctx, owner)
	default:
		_, err = w.s.DeleteJID(ctx, ref.JID)
	}
	if err != nil && !isProtocol(err) {
		return err
	}
	return nil
}

// randomOps makes a search of one to three operators.
func randomOps(r *rand.Rand) []Operator {
	var ops []Operator
	for range 1 + r.IntN(3) {
		name := wNames[r.IntN(len(wNames))]
		var o Operator
		switch k := r.IntN(14); {
		case k < 6:
			o = Operator{Kind: OpKind(1 + r.IntN(int(OpNRange))), Numeric: true, Name: name,
				Num: r.Float64()*12 - 3, NumMin: r.Float64()*12 - 3, NumMax: r.Float64()*12 - 3, MinIncluded: r.IntN(2) == 0, MaxIncluded: r.IntN(2) == 0}
			if r.IntN(3) == 0 {
				o.Num = []float64{-2.5, 0, 1, 3.1, 3.5, 10}[r.IntN(6)]
			}
		case k < 11:
			pick := func() string { return wStrings[r.IntN(len(wStrings))] }
			o = Operator{Kind: OpKind(1 + r.IntN(int(OpNRange))), Name: name, Str: pick(), StrMin: pick(), StrMax: pick(),
				MinIncluded: r.IntN(2) == 0, MaxIncluded: r.IntN(2) == 0}
		case k < 12:
			o = Operator{Kind: OpMask, Name: name, Str: []string{"A7Q-*", "*1", "*", "m*r", "A7Q-1"}[r.IntN(5)], Wildcard: '*'}
		case k < 13:
			o = Operator{Kind: OpRegEx, Name: name, Str: []string{"A7Q-[0-9]+", "(?i)meter", "a|b", "zz"}[r.IntN(4)]}
		default:
			o = Operator{Kind: OpGtEq, Name: []string{"urn_*", "*", "*A*"}[r.IntN(3)], NameWildcard: '*', Str: "a"}
			if r.IntN(2) == 0 {
				o.Numeric, o.Num = true, 0
			}
		}
		if name == "X" && r.IntN(2) == 0 {
			o.Name = "x" // names are case-insensitive
		}
		ops = append(ops, o)
	}
	return ops
}

// TestIndexFollowsWrites runs random registry traffic and checks, every
// few writes, that the index equals one built afresh from SQL and that
// random searches, paged, return what brute force over SQL returns, in
// order.
func TestIndexFollowsWrites(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w := &workload{s: s, r: rand.New(rand.NewPCG(1, 2)), mu: &sync.Mutex{}, claims: map[string][]iotdisco.Tag{}}
		steps := 600
		if testing.Short() {
			steps = 150
		}
		for i := range steps {
			if err := w.step(ctx, 30); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if i%30 != 29 {
				continue
			}
			sameIndex(t, s, fmt.Sprintf("after %d writes", i+1))
			for range 20 {
				ops := randomOps(w.r)
				want := oracle(t, s, prepared(t, ops))
				got := searchAll(t, s, ops, 1+w.r.IntN(4))
				if !slices.Equal(got, want) {
					t.Fatalf("after %d writes, %+v:\nsearch %v\nbrute  %v", i+1, ops, got, want)
				}
			}
		}
	})
}

func prepared(t *testing.T, ops []Operator) []Operator {
	t.Helper()
	ops = slices.Clone(ops)
	for i := range ops {
		if err := ops[i].prepare(); err != nil {
			t.Fatal(err)
		}
	}
	return ops
}

// TestIndexConcurrent races writers on the same things against
// searches and reloads of the index, then checks that the index equals
// one built afresh: writes apply in commit order, and a reload misses no
// write that committed while it read.
func TestIndexConcurrent(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		claims := map[string][]iotdisco.Tag{}
		var mu sync.Mutex
		var steps atomic.Int64
		for g := range 4 {
			wg.Go(func() {
				w := &workload{s: s, r: rand.New(rand.NewPCG(uint64(g), 7)), mu: &mu, claims: claims}
				for range 120 {
					steps.Add(1)
					// Two first registrations of one thing at once: one
					// fails on the unique key (PostgreSQL) and rolls back.
					if err := w.step(ctx, 12); err != nil && !strings.Contains(err.Error(), "SQLSTATE 23505") {
						errc <- err
						return
					}
				}
			})
		}
		stop := make(chan struct{})
		var bg sync.WaitGroup
		// Reloads stop while writes go on: a write a reload lost would
		// otherwise be healed by the next reload.
		bg.Go(func() {
			for steps.Load() < 300 {
				if err := s.reindex(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
		bg.Go(func() {
			r := rand.New(rand.NewPCG(9, 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Search(ctx, randomOps(r), 0, 5); err != nil && !errors.Is(err, ErrTooBroad) {
					errc <- err
					return
				}
			}
		})
		wg.Wait()
		close(stop)
		bg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		sameIndex(t, s, "after the race")
	})
}

// TestUpgradeFromVersion1 opens a database that a version-1 registry
// wrote (tags with vis and the two partial indexes) and finds its things.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []string{
		"DROP TABLE registry_tags",
		`CREATE TABLE registry_tags (thing_id BIGINT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, s TEXT, n REAL,
			vis SMALLINT NOT NULL DEFAULT 0, PRIMARY KEY (thing_id, name)) WITHOUT ROWID`,
		"CREATE INDEX registry_tags_str ON registry_tags (name, s, thing_id) WHERE vis = 1",
		"CREATE INDEX registry_tags_num ON registry_tags (name, n, thing_id) WHERE vis = 1",
		`INSERT INTO registry_things (id, jid, state, owner, public, vis, digest, created, updated)
			VALUES (1, 'm@x', 1, 'o@x', 1, 1, 'd', 0, 0), (2, 'p@x', 1, 'o@x', 0, 0, 'e', 0, 0)`,
		`INSERT INTO registry_tags VALUES (1, 'CLASS', 'Class', 'Meter', NULL, 1), (1, 'V', 'V', NULL, 3.5, 1),
			(2, 'CLASS', 'CLASS', 'Meter', NULL, 0)`,
		"UPDATE registry_schema SET version = 1",
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	if s, err = Open(ctx, "sqlite:"+path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.r.QueryRowContext(ctx, "SELECT version FROM registry_schema").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("version %d %v", v, err)
	}
	var ddl string
	if err := s.r.QueryRowContext(ctx, "SELECT group_concat(sql, ';') FROM sqlite_master WHERE tbl_name = 'registry_tags'").Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ddl, "vis") || strings.Contains(ddl, "registry_tags_str") {
		t.Errorf("left over: %s", ddl)
	}
	f, err := s.Search(ctx, []Operator{sop(OpEq, "CLASS", "Meter")}, 0, 10)
	if err != nil || len(f.Things) != 1 || f.Things[0].JID != "m@x" || len(f.Things[0].Tags) != 2 {
		t.Fatalf("%+v %v", f, err)
	}
}

// TestUpgradePostgres: a version-2 database gets the tag primary key that
// covers label.
func TestUpgradePostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE registry_tags DROP CONSTRAINT registry_tags_pkey, ADD CONSTRAINT registry_tags_pkey PRIMARY KEY (thing_id, name) INCLUDE (s, n)",
		"UPDATE registry_schema SET version = 2",
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	if s, err = Open(ctx, dsn, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var def string
	if err := s.r.QueryRowContext(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = 'registry_tags_pkey'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "INCLUDE (label, s, n)") {
		t.Errorf("primary key %s", def)
	}
}
