package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/extasis/extasis/sdk/iotdisco"
)

// fixture registers: m1..m5 public meters, p1 private, u1 unclaimed,
// r1 removed, and a self-owned lamp node.
func fixture(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	add := func(jid string, claim bool, public bool, tags ...iotdisco.Tag) {
		t.Helper()
		tags = append(tags, str("KEY", "k-"+jid))
		if _, _, err := s.Register(ctx, Ref{JID: jid}, tags, false, ""); err != nil {
			t.Fatal(err)
		}
		if claim {
			if _, _, err := s.Claim(ctx, "owner@localhost", tags, public); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("m1@localhost", true, true, str("CLASS", "Meter"), str("SN", "A7Q-000041"), num("V", "3"), num("LAT", "59.2"), str("MAN", "acme"))
	add("m2@localhost", true, true, str("CLASS", "Meter"), str("SN", "A7Q-000042"), num("V", "3.5"), num("LAT", "59.3293"), str("MAN", "acme"))
	add("m3@localhost", true, true, str("CLASS", "Meter"), str("SN", "B1-000043"), num("V", "4"), num("LAT", "59.5"), str("MAN", "other"))
	add("m4@localhost", true, true, str("CLASS", "Sensor"), str("SN", "A7Q?44"), num("V", "1E1"), num("LAT", "-33.0"), str("urn_nfi_iot_hi_sensor", "x"))
	add("m5@localhost", true, true, str("CLASS", "meter"), str("SN", ""), num("V", "-2.5"), str("Room", "Kitchen"), num("urn_nfi_iot_hi_actuator", "1.0"))
	add("p1@localhost", true, false, str("CLASS", "Meter"), str("SN", "A7Q-000099"), num("V", "3.5"))
	add("u1@localhost", false, false, str("CLASS", "Meter"), str("SN", "A7Q-000098"), num("V", "3.5"))
	add("r1@localhost", true, true, str("CLASS", "Meter"), str("SN", "A7Q-000097"), num("V", "3.5"))
	if _, err := s.Remove(ctx, Ref{JID: "r1@localhost"}, "owner@localhost"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Register(ctx, Ref{JID: "gw@localhost", Node: Node{ID: "lamp", Source: "L"}},
		[]iotdisco.Tag{str("CLASS", "Lamp"), num("V", "3.5"), str("KEY", "kk")}, true, ""); err != nil {
		t.Fatal(err)
	}
}

func sop(k OpKind, name, v string) Operator { return Operator{Kind: k, Name: name, Str: v} }
func nop(k OpKind, name string, v float64) Operator {
	return Operator{Kind: k, Name: name, Num: v, Numeric: true}
}

func names(f *Found) []string {
	var out []string
	for _, t := range f.Things {
		n := strings.TrimSuffix(t.JID, "@localhost")
		if t.Node.ID != "" {
			n += "/" + t.Node.ID
		}
		out = append(out, n)
	}
	return out
}

func TestSearchOperators(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		fixture(t, s)
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			ops  []Operator
			want []string
		}{
			{"strEq", []Operator{sop(OpEq, "CLASS", "Meter")}, []string{"m1", "m2", "m3"}},
			{"strEq name case-insensitive, value exact", []Operator{sop(OpEq, "class", "meter")}, []string{"m5"}},
			{"strNEq needs the tag", []Operator{sop(OpNEq, "Room", "Hall")}, []string{"m5"}},
			{"strNEq", []Operator{sop(OpNEq, "CLASS", "Meter")}, []string{"m4", "m5", "gw/lamp"}},
			{"strGt ordinal", []Operator{sop(OpGt, "CLASS", "Meter")}, []string{"m4", "m5"}},
			{"strGtEq", []Operator{sop(OpGtEq, "CLASS", "Sensor")}, []string{"m4", "m5"}},
			{"strLt", []Operator{sop(OpLt, "CLASS", "Meter")}, []string{"gw/lamp"}},
			{"strLtEq", []Operator{sop(OpLtEq, "CLASS", "Meter")}, []string{"m1", "m2", "m3", "gw/lamp"}},
			{"strRange inclusive", []Operator{{Kind: OpRange, Name: "SN", StrMin: "A7Q-000041", StrMax: "A7Q-000042", MinIncluded: true, MaxIncluded: true}}, []string{"m1", "m2"}},
			{"strRange exclusive", []Operator{{Kind: OpRange, Name: "SN", StrMin: "A7Q-000041", StrMax: "A7Q-000042"}}, nil},
			{"strNRange", []Operator{{Kind: OpNRange, Name: "SN", StrMin: "A7Q-000041", StrMax: "A7Q-000042", MinIncluded: true, MaxIncluded: true}}, []string{"m3", "m4", "m5"}},
			{"strNRange endpoints excluded from range", []Operator{{Kind: OpNRange, Name: "SN", StrMin: "A7Q-000041", StrMax: "A7Q-000042"}}, []string{"m1", "m2", "m3", "m4", "m5"}},
			{"strMask prefix", []Operator{{Kind: OpMask, Name: "SN", Str: "A7Q-*", Wildcard: '*'}}, []string{"m1", "m2"}},
			{"strMask infix", []Operator{{Kind: OpMask, Name: "SN", Str: "*-0000*3", Wildcard: '*'}}, []string{"m3"}},
			{"strMask question mark as wildcard", []Operator{{Kind: OpMask, Name: "SN", Str: "A7Q?4?", Wildcard: '?'}}, []string{"m1", "m2", "m4"}},
			{"strMask literal star", []Operator{{Kind: OpMask, Name: "SN", Str: "A7Q?44", Wildcard: '%'}}, []string{"m4"}},
			{"strMask matches empty", []Operator{{Kind: OpMask, Name: "SN", Str: "*", Wildcard: '*'}}, []string{"m1", "m2", "m3", "m4", "m5"}},
			{"strMask no wildcard is equality", []Operator{{Kind: OpMask, Name: "SN", Str: "", Wildcard: '*'}}, []string{"m5"}},
			{"strRegEx whole value", []Operator{{Kind: OpRegEx, Name: "SN", Str: `A7Q-0+4[12]`}}, []string{"m1", "m2"}},
			{"strRegEx is anchored", []Operator{{Kind: OpRegEx, Name: "SN", Str: `0+4[12]`}}, nil},
			{"strRegEx no prefix", []Operator{{Kind: OpRegEx, Name: "CLASS", Str: `(?i)METER`}}, []string{"m1", "m2", "m3", "m5"}},
			{"numEq by value", []Operator{nop(OpEq, "V", 10)}, []string{"m4"}},
			{"numNEq", []Operator{nop(OpNEq, "V", 3.5)}, []string{"m1", "m3", "m4", "m5"}},
			{"numGt", []Operator{nop(OpGt, "V", 3.5)}, []string{"m3", "m4"}},
			{"numGtEq", []Operator{nop(OpGtEq, "V", 3.5)}, []string{"m2", "m3", "m4", "gw/lamp"}},
			{"numLt negative", []Operator{nop(OpLt, "V", 0)}, []string{"m5"}},
			{"numLtEq", []Operator{nop(OpLtEq, "V", 3)}, []string{"m1", "m5"}},
			{"numRange [3,4)", []Operator{{Kind: OpRange, Numeric: true, Name: "V", NumMin: 3, NumMax: 4, MinIncluded: true}}, []string{"m1", "m2", "gw/lamp"}},
			{"numRange (3,4]", []Operator{{Kind: OpRange, Numeric: true, Name: "V", NumMin: 3, NumMax: 4, MaxIncluded: true}}, []string{"m2", "m3", "gw/lamp"}},
			{"numNRange endpoints in range", []Operator{{Kind: OpNRange, Numeric: true, Name: "V", NumMin: 3, NumMax: 4, MinIncluded: true, MaxIncluded: true}}, []string{"m4", "m5"}},
			{"numNRange endpoints out of range", []Operator{{Kind: OpNRange, Numeric: true, Name: "V", NumMin: 3, NumMax: 4}}, []string{"m1", "m3", "m4", "m5"}},
			{"type matters: numeric op on a string tag", []Operator{nop(OpEq, "CLASS", 0)}, nil},
			{"type matters: string op on a numeric tag", []Operator{sop(OpEq, "V", "3")}, nil},
			{"AND", []Operator{sop(OpEq, "CLASS", "Meter"), {Kind: OpRange, Numeric: true, Name: "LAT", NumMin: 59.2, NumMax: 59.5, MinIncluded: true}}, []string{"m1", "m2"}},
			{"AND with mask", []Operator{sop(OpEq, "MAN", "acme"), {Kind: OpMask, Name: "SN", Str: "*2", Wildcard: '*'}}, []string{"m2"}},
			{"missing tag never matches", []Operator{sop(OpEq, "NOPE", "x")}, nil},
			{"name wildcard", []Operator{{Kind: OpEq, Name: "urn_nfi_iot_hi_*", NameWildcard: '*', Str: "x"}}, []string{"m4"}},
			{"name wildcard numeric", []Operator{{Kind: OpGtEq, Numeric: true, Name: "URN_NFI_IOT_HI_*", NameWildcard: '*', Num: 1}}, []string{"m5"}},
			{"name wildcard with another operator", []Operator{{Kind: OpMask, Name: "*", NameWildcard: '*', Str: "Kit*", Wildcard: '*'}, nop(OpLt, "V", 0)}, []string{"m5"}},
			{"KEY never", []Operator{sop(OpEq, "KEY", "k-m1@localhost")}, nil},
			{"KEY never, lower case", []Operator{{Kind: OpMask, Name: "key", Str: "*", Wildcard: '*'}}, nil},
			{"KEY never, by wildcard", []Operator{{Kind: OpMask, Name: "K*", NameWildcard: '*', Str: "*", Wildcard: '*'}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f, err := s.Search(ctx, tc.ops, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				got := names(f)
				sort.Strings(got)
				sort.Strings(tc.want)
				if !reflect.DeepEqual(got, tc.want) || f.More {
					t.Errorf("got %v (more=%v), want %v", got, f.More, tc.want)
				}
				for _, th := range f.Things {
					for _, tag := range th.Tags {
						if tag.Name == "KEY" {
							t.Errorf("KEY returned for %s", th.JID)
						}
					}
				}
			})
		}
	})
}

func TestSearchResultsAndPaging(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		fixture(t, s)
		ctx := context.Background()
		f, err := s.Search(ctx, []Operator{sop(OpEq, "SN", "A7Q-000042")}, 0, 10)
		if err != nil || len(f.Things) != 1 {
			t.Fatalf("%+v %v", f, err)
		}
		want := []iotdisco.Tag{str("CLASS", "Meter"), num("LAT", "59.3293"), str("MAN", "acme"), str("SN", "A7Q-000042"), num("V", "3.5")}
		if th := f.Things[0]; !reflect.DeepEqual(th.Tags, want) || th.Owner != "owner@localhost" {
			t.Errorf("thing %+v", th)
		}
		// Numbers order by value: 3.5 (m2, then the lamp registered
		// later), 4, 1E1.
		f, err = s.Search(ctx, []Operator{nop(OpGtEq, "V", 3.5)}, 0, 10)
		if got := names(f); err != nil || !reflect.DeepEqual(got, []string{"m2", "gw/lamp", "m3", "m4"}) {
			t.Errorf("numeric order %v %v", got, err)
		}
		// The first indexable operator orders, whichever drives.
		f, err = s.Search(ctx, []Operator{{Kind: OpMask, Name: "*", NameWildcard: '*', Str: "*", Wildcard: '*'},
			nop(OpLtEq, "V", 3), sop(OpEq, "SN", "A7Q-000041")}, 0, 10)
		if got := names(f); err != nil || !reflect.DeepEqual(got, []string{"m1"}) {
			t.Errorf("%v %v", got, err)
		}
		all := []Operator{{Kind: OpMask, Name: "CLASS", Str: "*", Wildcard: '*'}}
		for _, tc := range []struct {
			offset, max int
			want        []string
			more        bool
		}{
			// By CLASS (Lamp < Meter < Sensor < meter), then record id.
			{0, 2, []string{"gw/lamp", "m1"}, true},
			{2, 2, []string{"m2", "m3"}, true},
			{4, 2, []string{"m4", "m5"}, false},
			{5, 2, []string{"m5"}, false},
			{6, 2, nil, false},
			{0, 6, []string{"gw/lamp", "m1", "m2", "m3", "m4", "m5"}, false},
			{0, 0, nil, false},
		} {
			t.Run(fmt.Sprintf("offset %d max %d", tc.offset, tc.max), func(t *testing.T) {
				f, err := s.Search(ctx, all, tc.offset, tc.max)
				if err != nil {
					t.Fatal(err)
				}
				if got := names(f); !reflect.DeepEqual(got, tc.want) || f.More != tc.more {
					t.Errorf("got %v more=%v, want %v more=%v", got, f.More, tc.want, tc.more)
				}
			})
		}
	})
}

func TestSearchErrors(t *testing.T) {
	s, err := Open(context.Background(), ":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name string
		ops  []Operator
	}{
		{"none", nil},
		{"bad regex", []Operator{{Kind: OpRegEx, Name: "A", Str: "("}}},
		{"long regex", []Operator{{Kind: OpRegEx, Name: "A", Str: strings.Repeat("a", MaxRegExLen+1)}}},
		{"complex regex", []Operator{{Kind: OpRegEx, Name: "A", Str: "(abcdefghij){300}"}}},
		{"numeric mask", []Operator{{Kind: OpMask, Numeric: true, Name: "A", Str: "*", Wildcard: '*'}}},
		{"mask without wildcard", []Operator{{Kind: OpMask, Name: "A", Str: "*"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Search(context.Background(), tc.ops, 0, 10); !errors.Is(err, ErrBadSearch) {
				t.Errorf("err %v", err)
			}
		})
	}
}

func TestSearchTooBroad(t *testing.T) {
	s, err := Open(context.Background(), ":memory:", Options{MaxScan: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range collectMax + 50 {
		tags := []iotdisco.Tag{str("CLASS", "Meter"), str("SN", fmt.Sprint(i))}
		if _, _, err := s.Register(ctx, Ref{JID: fmt.Sprintf("t%d@localhost", i)}, tags, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Search(ctx, []Operator{{Kind: OpRegEx, Name: "SN", Str: ".*x"}}, 0, 10)
	if !errors.Is(err, ErrTooBroad) {
		t.Fatalf("err %v", err)
	}
	// An indexed search over the same records is fine.
	f, err := s.Search(ctx, []Operator{sop(OpEq, "CLASS", "Meter")}, 0, 10)
	if err != nil || len(f.Things) != 10 || !f.More {
		t.Fatalf("%v %v", f, err)
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		v, p string
		ok   bool
	}{
		{"abc", "abc", true}, {"abc", "a*", true}, {"abc", "*c", true}, {"abc", "*b*", true},
		{"abc", "a*b*c", true}, {"abc", "a*c*", true}, {"ab", "a*b*b", false}, {"abab", "a*b", true},
		{"", "*", true}, {"", "", true}, {"a", "", false}, {"aXbXc", "a*b*c", true}, {"ac", "a*b*c", false},
		{"aa", "a*a", true}, {"a", "a*a", false},
	} {
		if got := mask(tc.v, strings.Split(tc.p, "*")); got != tc.ok {
			t.Errorf("mask(%q, %q) = %v", tc.v, tc.p, got)
		}
	}
}

func TestSuccessor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A7Q-", "A7Q."}, {"a", "b"}, {"\uD7FF", "\uE000"}, {"a\U0010FFFF", "b"}, {"\U0010FFFF", ""}, {"", ""},
	} {
		if got := successor(tc.in); got != tc.want {
			t.Errorf("successor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzOperatorMatch: the index (its value spans) and the operator's own
// test agree on random string operators over a fixed set of values.
func FuzzOperatorMatch(f *testing.F) {
	s, err := Open(context.Background(), ":memory:", Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	vals := []string{"", "a", "A7Q-1", "A7Q-10", "b*c", "é", "zz", "A7Q.", "\U0010FFFF"}
	for i, v := range vals {
		if _, _, err := s.Register(ctx, Ref{JID: fmt.Sprintf("t%d@x", i)}, []iotdisco.Tag{str("S", v), num("N", fmt.Sprint(i))}, true, ""); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(uint8(OpMask), "A7Q-*", "", int32('*'))
	f.Add(uint8(OpRange), "A", "b", int32(0))
	f.Add(uint8(OpRegEx), "A7Q.1.*", "", int32(0))
	f.Add(uint8(OpNRange), "a", "zz", int32(1))
	f.Fuzz(func(t *testing.T, kind uint8, a, b string, w int32) {
		op := Operator{Kind: OpKind(kind%uint8(OpRegEx)) + 1, Name: "S", Str: a, StrMin: a, StrMax: b,
			MinIncluded: w&1 == 1, MaxIncluded: w&2 == 2, Wildcard: rune(w)}
		if op.Kind == OpMask && (w <= 0 || w > 0x10FFFF) {
			op.Wildcard = '*'
		}
		if len(a) > 64 || len(b) > 64 {
			return
		}
		got, err := s.Search(ctx, []Operator{op}, 0, 100)
		if err != nil {
			return // bad patterns are refused, which is fine
		}
		if err := op.prepare(); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, v := range vals {
			if op.matchStr(v) {
				want = append(want, fmt.Sprintf("t%d@x", i))
			}
		}
		var have []string
		for _, th := range got.Things {
			have = append(have, th.JID)
		}
		sort.Strings(have)
		if !reflect.DeepEqual(have, want) {
			t.Fatalf("%+v: SQL found %v, matcher says %v", op, have, want)
		}
	})
}

// FuzzNumericMatch: the same for numeric operators (-0 and 0 are one
// value; the parser refuses NaN and infinities).
func FuzzNumericMatch(f *testing.F) {
	s, err := Open(context.Background(), ":memory:", Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	vals := []string{"-1E300", "-2.5", "-0", "0", "1", "3.1", "3.10", "3.5", "10", "1E300"}
	for i, v := range vals {
		if _, _, err := s.Register(ctx, Ref{JID: fmt.Sprintf("t%d@x", i)}, []iotdisco.Tag{num("N", v)}, true, ""); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(uint8(OpEq), 3.1, 0.0, int32(0))
	f.Add(uint8(OpNRange), 0.0, 3.5, int32(1))
	f.Add(uint8(OpRange), 3.5, 0.0, int32(3))
	f.Add(uint8(OpNEq), math.Copysign(0, -1), 0.0, int32(0))
	f.Fuzz(func(t *testing.T, kind uint8, a, b float64, w int32) {
		if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			return
		}
		op := Operator{Kind: OpKind(kind%uint8(OpNRange)) + 1, Numeric: true, Name: "n", Num: a, NumMin: a, NumMax: b,
			MinIncluded: w&1 == 1, MaxIncluded: w&2 == 2}
		got, err := s.Search(ctx, []Operator{op}, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, v := range vals {
			n, _ := iotdisco.ParseNumber(v)
			if op.matchNum(n) {
				want = append(want, fmt.Sprintf("t%d@x", i))
			}
		}
		var have []string
		for _, th := range got.Things {
			have = append(have, th.JID)
		}
		sort.Strings(have)
		if !reflect.DeepEqual(have, want) {
			t.Fatalf("%+v: index found %v, matcher says %v", op, have, want)
		}
	})
}
