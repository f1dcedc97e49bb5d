package store

import (
	"context"
	"strings"
	"testing"
)

// explain returns the backend's plan for q, one line per step.
func explain(t *testing.T, s *Store, q string, a []any) string {
	t.Helper()
	prefix := "EXPLAIN QUERY PLAN "
	if s.backend == "postgres" {
		prefix = "EXPLAIN "
	}
	rows, err := s.r.QueryContext(context.Background(), prefix+q, a...)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		switch v := vals[len(vals)-1].(type) {
		case []byte:
			b.Write(v)
		case string:
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestQueryPlans checks, on 20000 generated things with statistics, the
// SQL behind searches: a page of results and the things a write touched
// are read by primary key, never by a scan; loading the index reads each
// table once, without sorting.
func TestQueryPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20000 things")
	}
	backends(t, func(t *testing.T, s *Store) {
		generate(t, s, 20000)
		var page []int64
		for i := range 100 {
			page = append(page, int64(i*197+3))
		}
		pq, pa := inIDs(qPage, page)
		tq, ta := inIDs(qPageTags, page)
		sq, sa := inIDs(qSearchable, []uint32{5, 77, 19000})
		// Either index on registry_things.id will do: the primary key or
		// registry_things_vis (the planner picks the smaller). The tags
		// of a page come from the index alone on PostgreSQL.
		pk := map[string][]string{"sqlite": {"SEARCH registry_things USING"}, "postgres": {"Index Cond: (id = ANY"}}
		tagPK := map[string][]string{"sqlite": {"SEARCH registry_tags USING PRIMARY KEY (thing_id=?)"},
			"postgres": {"Index Only Scan using registry_tags_pkey", "Index Cond: (thing_id = ANY"}}
		both := map[string][]string{"sqlite": {"SEARCH t USING PRIMARY KEY (thing_id=?)", "SEARCH h USING"},
			"postgres": {"registry_tags_pkey", "Index Cond: (id = t.thing_id)"}}
		probes := []string{"SCAN registry_things", "SCAN registry_tags", "SCAN t", "SCAN h", "Seq Scan"}
		for _, tc := range []struct {
			name string
			q    string
			a    []any
			want map[string][]string // per backend, what the plan must name
			bad  []string            // what it must not
		}{
			{"page of records", pq, pa, pk, probes},
			{"their tags", tq, ta, tagPK, probes},
			{"a write's touched things", sq, sa, both, probes},
			{"load: visible things", qLoadVisible, nil, nil, []string{"USE TEMP B-TREE", "Sort"}},
			{"load: tags", qLoadTags, nil, map[string][]string{"sqlite": {"SCAN registry_tags"}, "postgres": {"Seq Scan on registry_tags"}},
				[]string{"USE TEMP B-TREE", "Sort"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := explain(t, s, tc.q, tc.a)
				for _, w := range tc.want[s.backend] {
					if !strings.Contains(got, w) {
						t.Errorf("plan lacks %q:\n%s\n%s", w, tc.q, got)
					}
				}
				for _, b := range tc.bad {
					if strings.Contains(got, b) {
						t.Errorf("plan has %q:\n%s\n%s", b, tc.q, got)
					}
				}
			})
		}
	})
}

// TestSearchPaths checks how the in-memory searches run on 20000
// generated things (the plans of the index): which path each takes and
// that what it examines stays near the page, not the candidates.
func TestSearchPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20000 things")
	}
	s, err := Open(context.Background(), ":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	generate(t, s, 20000)
	eq := Operator{Kind: OpEq, Name: "CLASS", Str: "Class3"}
	band := Operator{Kind: OpRange, Numeric: true, Name: "LAT", NumMin: 59.2, NumMax: 61.7, MinIncluded: true, MaxIncluded: true}
	all := Operator{Kind: OpGtEq, Numeric: true, Name: "LAT", Num: -90}
	v := Operator{Kind: OpGtEq, Numeric: true, Name: "V", Num: 0}
	for _, tc := range []struct {
		name     string
		ops      []Operator
		path     string
		examined int // at most
		found    int
	}{
		// 1000 of CLASS, 278 in the band: both are sets; one CLASS value
		// means the intersection is in result order.
		{"equality and band", []Operator{eq, band}, "set", 20, 13},
		{"band and equality: the intersection is sorted", []Operator{band, eq}, "sort", 20, 13},
		{"two broad ranges: walk the first in order", []Operator{all, v}, "walk", 2 * 101, 100},
		{"two broad ranges, a selective second", []Operator{all, {Kind: OpGtEq, Numeric: true, Name: "V", Num: 3}}, "walk", 5 * 101, 100},
		{"prefix mask: walk the prefix", []Operator{{Kind: OpMask, Name: "SN", Str: "SN-0001*", Wildcard: '*'}}, "walk", 2 * 101, 100},
		{"suffix mask: walk every value", []Operator{{Kind: OpMask, Name: "SN", Str: "SN-*77", Wildcard: '*'}}, "walk", 10300, 100},
		{"name wildcard only: every thing in id order", []Operator{{Kind: OpEq, Name: "CL*", NameWildcard: '*', Str: "Class3"}}, "all", 21 * 101, 100},
		{"no such tag", []Operator{eq, {Kind: OpEq, Name: "NOPE", Str: "x"}}, "none", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.ops {
				if err := tc.ops[i].prepare(); err != nil {
					t.Fatal(err)
				}
			}
			s.ix.mu.RLock()
			ids, _, tr, err := s.ix.d.search(tc.ops, 0, 100, s.o.MaxScan)
			s.ix.mu.RUnlock()
			if err != nil {
				t.Fatal(err)
			}
			if tr.path != tc.path || tr.examined > tc.examined || len(ids) != tc.found {
				t.Errorf("path %s, examined %d, found %d; want %s, at most %d, %d", tr.path, tr.examined, len(ids), tc.path, tc.examined, tc.found)
			}
		})
	}
}
