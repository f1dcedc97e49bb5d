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

// TestQueryPlans checks, on 20000 generated things with statistics, that
// the searches' queries use the partial tag indexes and the primary key,
// never a scan of the tag table.
func TestQueryPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20000 things")
	}
	backends(t, func(t *testing.T, s *Store) {
		generate(t, s, 20000)
		eq := Operator{Kind: OpEq, Name: "CLASS", Str: "Class3"}
		lat := Operator{Kind: OpRange, Numeric: true, Name: "LAT", NumMin: 59.2, NumMax: 59.7, MinIncluded: true, MaxIncluded: true}
		mask := Operator{Kind: OpMask, Name: "SN", Str: "SN-*77", Wildcard: '*'}
		for _, tc := range []struct {
			name  string
			ops   []Operator
			p     plan
			index []string // indexes the plan must name
		}{
			{"range drives, equality orders", []Operator{eq, lat}, plan{order: 0, driver: 1, small: true}, []string{"registry_tags_num"}},
			{"equality drives in order", []Operator{eq, lat}, plan{order: 0, driver: 0}, []string{"registry_tags_str"}},
			{"numeric range drives in order", []Operator{lat, eq}, plan{order: 0, driver: 0}, []string{"registry_tags_num"}},
			{"mask prefix in order", []Operator{mask}, plan{order: 0, driver: 0}, []string{"registry_tags_str"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for i := range tc.ops {
					if err := tc.ops[i].prepare(); err != nil {
						t.Fatal(err)
					}
				}
				q, a := tc.p.query(tc.ops, !tc.p.small)
				if !tc.p.small {
					if tc.ops[0].Numeric {
						a.v[len(a.v)-2] = float64(0)
					} else {
						a.v[len(a.v)-2] = ""
					}
				}
				got := explain(t, s, q, a.v)
				for _, idx := range tc.index {
					if !strings.Contains(got, idx) {
						t.Errorf("plan does not use %s:\n%s\n%s", idx, q, got)
					}
				}
				if s.backend == "sqlite" && !strings.HasPrefix(got, "SEARCH x ") {
					t.Errorf("the driver is not the outer loop:\n%s\n%s", q, got)
				}
				for _, bad := range []string{"SCAN x", "SCAN k", "SCAN y", "Seq Scan", "SCAN registry_tags", "USE TEMP B-TREE"} {
					if strings.Contains(got, bad) {
						t.Errorf("plan has %q:\n%s\n%s", bad, q, got)
					}
				}
			})
		}
		// The planner picks the selective operator.
		ops := []Operator{eq, lat}
		for i := range ops {
			ops[i].prepare()
		}
		p, err := s.plan(context.Background(), ops)
		if err != nil || !p.small || p.driver != 1 || p.order != 0 {
			t.Errorf("plan %+v %v", p, err)
		}
	})
}
