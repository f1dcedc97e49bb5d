package jid

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want, local, domain, res string
	}{
		{"example.com", "example.com", "", "example.com", ""},
		{"alice@example.com", "alice@example.com", "alice", "example.com", ""},
		{"alice@example.com/phone", "alice@example.com/phone", "alice", "example.com", "phone"},
		{"Alice@Example.COM/Phone", "alice@example.com/Phone", "alice", "example.com", "Phone"},
		{"alice@example.com/a/b@c", "alice@example.com/a/b@c", "alice", "example.com", "a/b@c"},
		{"alice@example.com/with space", "alice@example.com/with space", "alice", "example.com", "with space"},
		{"jürgen@münchen.example/Ü", "jürgen@münchen.example/Ü", "jürgen", "münchen.example", "Ü"},
		{"example.com/res", "example.com/res", "", "example.com", "res"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			j, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if j.String() != tt.want || j.Local() != tt.local || j.Domain() != tt.domain || j.Resource() != tt.res {
				t.Fatalf("Parse(%q) = %q (%q,%q,%q), want %q (%q,%q,%q)", tt.in, j, j.Local(), j.Domain(), j.Resource(), tt.want, tt.local, tt.domain, tt.res)
			}
			if j.Bare().String() != bare(tt.local, tt.domain) {
				t.Fatalf("Bare = %q", j.Bare())
			}
			if j.IsBare() != (tt.res == "") {
				t.Fatalf("IsBare = %v", j.IsBare())
			}
			if j.DomainJID().String() != tt.domain || !j.DomainJID().IsDomain() {
				t.Fatalf("DomainJID = %q", j.DomainJID())
			}
		})
	}
}

func bare(l, d string) string {
	if l == "" {
		return d
	}
	return l + "@" + d
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", "@example.com", "alice@", "alice@example.com/", "a@b@c", "al\"ice@example.com", "alice@exa mple.com", "\xff@example.com", "alice@example.com/\x00"} {
		if j, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, j)
		}
	}
	if _, err := Parse(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
}

func TestEqualityAndKeys(t *testing.T) {
	a := MustParse("Alice@Example.com/r")
	b := MustParse("alice@example.com/r")
	if a != b {
		t.Fatalf("%q != %q", a, b)
	}
	m := map[JID]int{a.Bare(): 1}
	if m[b.Bare()] != 1 {
		t.Fatal("bare keys differ")
	}
	if w, _ := a.WithResource("other"); w.String() != "alice@example.com/other" {
		t.Fatalf("WithResource = %q", w)
	}
}

func TestParseFastAllocs(t *testing.T) {
	s := "alice@example.com/phone"
	n := testing.AllocsPerRun(100, func() {
		j, _ := Parse(s)
		_ = j.Bare()
	})
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

// FuzzParse checks that parsing is idempotent: a parsed JID's string parses
// to the same JID.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a@b", "a@b/c", "b", "Ä@ö.example/ü", "a@b/c/d", "[::1]", "a@127.0.0.1/x", "x@y.z/ r "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := Parse(s)
		if err != nil {
			return
		}
		j2, err := Parse(j.String())
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", j, s, err)
		}
		if j != j2 {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, j, j2)
		}
		if j.Domain() == "" {
			t.Fatalf("empty domain from %q", s)
		}
	})
}

func BenchmarkParseFast(b *testing.B) {
	for b.Loop() {
		_, _ = Parse("alice@example.com/phone")
	}
}
