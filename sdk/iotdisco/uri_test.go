package iotdisco

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     *URI
		kind     Kind
	}{
		{"claim (digest 6.3)",
			"iotdisco:MAN=acme-meters.example;MODEL=EM-200;SN=A7Q-000042;#V=3.1;CLASS=Meter;KEY=5f0c9e1d7a2b44c6a1d3e8f09b7c6a55;R=registry.extasis.example",
			&URI{Registry: "registry.extasis.example", Conditions: []Condition{
				{Name: "MAN", Op: OpEq, Value: "acme-meters.example"},
				{Name: "MODEL", Op: OpEq, Value: "EM-200"},
				{Name: "SN", Op: OpEq, Value: "A7Q-000042"},
				{Name: "V", Numeric: true, Op: OpEq, Value: "3.1"},
				{Name: "CLASS", Op: OpEq, Value: "Meter"},
				{Name: "KEY", Op: OpEq, Value: "5f0c9e1d7a2b44c6a1d3e8f09b7c6a55"},
			}}, KindClaim},
		{"search with mask and ranges",
			"iotdisco:CLASS=Meter;SN~*A7Q-*;#V>=3;#V<4;#LAT>=59.2;#LAT<=59.5;R=registry.extasis.example",
			&URI{Registry: "registry.extasis.example", Conditions: []Condition{
				{Name: "CLASS", Op: OpEq, Value: "Meter"},
				{Name: "SN", Op: OpMask, Wildcard: '*', Value: "A7Q-*"},
				{Name: "V", Numeric: true, Op: OpRange, Min: "3", MinIncluded: true, Max: "4"},
				{Name: "LAT", Numeric: true, Op: OpRange, Min: "59.2", MinIncluded: true, Max: "59.5", MaxIncluded: true},
			}}, KindSearch},
		{"outside range folds to nrange",
			"iotdisco:#V<1;#V>=5",
			&URI{Conditions: []Condition{{Name: "V", Numeric: true, Op: OpNRange, Min: "1", MinIncluded: true, Max: "5"}}},
			KindSearch},
		{"numbers compare numerically when folding", "iotdisco:#V>=9;#V<10",
			&URI{Conditions: []Condition{{Name: "V", Numeric: true, Op: OpRange, Min: "9", MinIncluded: true, Max: "10"}}},
			KindSearch},
		{"strings compare ordinally when folding", "iotdisco:N>=9;N<10",
			&URI{Conditions: []Condition{{Name: "N", Op: OpNRange, Min: "10", MinIncluded: true, Max: "9"}}},
			KindSearch},
		{"equal inclusive bounds are an equality range", "iotdisco:#V>=3;#V<=3E0",
			&URI{Conditions: []Condition{{Name: "V", Numeric: true, Op: OpRange, Min: "3", MinIncluded: true, Max: "3E0", MaxIncluded: true}}},
			KindSearch},
		{"not equal", "iotdisco:CLASS<>Lamp;#V<>2",
			&URI{Conditions: []Condition{{Name: "CLASS", Op: OpNEq, Value: "Lamp"}, {Name: "V", Numeric: true, Op: OpNEq, Value: "2"}}},
			KindSearch},
		{"direct", "iotdisco:JID=gw7@extasis.example;NID=lamp-3;SID=Lighting",
			&URI{Conditions: []Condition{{Name: "JID", Op: OpEq, Value: "gw7@extasis.example"},
				{Name: "NID", Op: OpEq, Value: "lamp-3"}, {Name: "SID", Op: OpEq, Value: "Lighting"}}},
			KindDirect},
		{"both escapings", `iotdisco:NAME=Caf\;e\\Bar;PURL=https%3A%2F%2Fexample.org%2Fp;KEY=9a81;R=registry.extasis.example`,
			&URI{Registry: "registry.extasis.example", Conditions: []Condition{
				{Name: "NAME", Op: OpEq, Value: `Caf;e\Bar`},
				{Name: "PURL", Op: OpEq, Value: "https://example.org/p"},
				{Name: "KEY", Op: OpEq, Value: "9a81"}}},
			KindClaim},
		{"scheme case-insensitive, claim without R", "IOTDISCO:SN=1;KEY=k",
			&URI{Conditions: []Condition{{Name: "SN", Op: OpEq, Value: "1"}, {Name: "KEY", Op: OpEq, Value: "k"}}},
			KindOther},
		{"legacy QR string", `IoTDisco;SN:394872348732948723;MAN:www.ktc.se;#V:1.2;KEY:48574\;02`,
			&URI{Legacy: true, Conditions: []Condition{
				{Name: "SN", Op: OpEq, Value: "394872348732948723"}, {Name: "MAN", Op: OpEq, Value: "www.ktc.se"},
				{Name: "V", Numeric: true, Op: OpEq, Value: "1.2"}, {Name: "KEY", Op: OpEq, Value: "48574;02"}}},
			KindClaim},
		{"mask with question mark and percent wildcard", "iotdisco:SN~?A?;MODEL~%25EM%25",
			&URI{Conditions: []Condition{{Name: "SN", Op: OpMask, Wildcard: '?', Value: "A?"},
				{Name: "MODEL", Op: OpMask, Wildcard: '%', Value: "EM%"}}},
			KindSearch},
		{"exponent numbers", "iotdisco:#V=31E-1;#W>-.5e+2",
			&URI{Conditions: []Condition{{Name: "V", Numeric: true, Op: OpEq, Value: "31E-1"},
				{Name: "W", Numeric: true, Op: OpGt, Value: "-.5e+2"}}},
			KindSearch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if k := got.Kind(); k != tc.kind {
				t.Errorf("kind %s, want %s", k, tc.kind)
			}
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("re-parse %q: %v", got.String(), err)
			}
			got.Legacy = false
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip through %q\ngot  %+v\nwant %+v", got.String(), again, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, msg string }{
		{"no scheme", "MAN=x", "does not start"},
		{"other scheme", "xmpp:a@b", "does not start"},
		{"empty", "iotdisco:", "empty tag"},
		{"empty tag", "iotdisco:A=1;;B=2", "empty tag"},
		{"no operator", "iotdisco:MAN", "no operator"},
		{"no name", "iotdisco:=x", "no name"},
		{"bad name", "iotdisco:M N=x", "contains"},
		{"colon in name", "iotdisco:urn:x=1", "contains"},
		{"long name", "iotdisco:" + strings.Repeat("N", 65) + "=1", "characters"},
		{"long value", "iotdisco:N=" + strings.Repeat("v", 129), "characters"},
		{"bad number", "iotdisco:#V=3,1", "not a number"},
		{"hex number", "iotdisco:#V=0x10", "not a number"},
		{"infinite number", "iotdisco:#V=1e999", "out of range"},
		{"INF", "iotdisco:#V=INF", "not a number"},
		{"numeric mask", "iotdisco:#V~*1*", "strings only"},
		{"mask without wildcard", "iotdisco:SN~", "no wildcard"},
		{"duplicate", "iotdisco:A=1;a=2", "twice"},
		{"two lower bounds", "iotdisco:#V>1;#V>=2", "twice"},
		{"three bounds", "iotdisco:#V>1;#V<2;#V<3", "twice"},
		{"mixed types", "iotdisco:#V>1;V<2", "twice"},
		{"R twice", "iotdisco:R=a;R=b", "R must"},
		{"R not equal", "iotdisco:R<>a", "R must"},
		{"empty R", "iotdisco:A=1;R=", "R is empty"},
		{"bad percent", "iotdisco:A=%4", "percent"},
		{"percent not utf8", "iotdisco:A=%FF", "not UTF-8"},
		{"lone backslash", `iotdisco:A=1\`, "backslash"},
		{"legacy without colon", "IoTDisco;SN", "no ':'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("accepted %q", tc.in)
			}
			if !errors.Is(err, ErrURI) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want ErrURI mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestClaimURI(t *testing.T) {
	tags := []Tag{
		{Name: "MAN", Value: "acme-meters.example"},
		{Name: "SN", Value: "A7Q;00\\42 %"},
		{Name: "V", Value: "3.1", Numeric: true},
		{Name: "NAME", Value: "Café = <ok>"},
		{Name: "KEY", Value: "5f0c9e1d7a2b44c6"},
	}
	s, err := ClaimURI(tags, "registry.extasis.example")
	if err != nil {
		t.Fatal(err)
	}
	const want = "iotdisco:MAN=acme-meters.example;SN=A7Q%3B00%5C42%20%25;#V=3.1;NAME=Caf%C3%A9%20%3D%20%3Cok%3E;KEY=5f0c9e1d7a2b44c6;R=registry.extasis.example"
	if s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	u, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := u.Tags()
	if err != nil || !reflect.DeepEqual(back, tags) || u.Registry != "registry.extasis.example" || u.Kind() != KindClaim {
		t.Errorf("decoded %+v %v (R %q, kind %s)", back, err, u.Registry, u.Kind())
	}

	for _, tc := range []struct {
		name     string
		tags     []Tag
		registry string
	}{
		{"no registry", tags, ""},
		{"R as a tag", []Tag{{Name: "r", Value: "x"}}, "reg"},
		{"duplicate", []Tag{{Name: "SN", Value: "1"}, {Name: "sn", Value: "2"}}, "reg"},
		{"bad number", []Tag{{Name: "V", Value: "x", Numeric: true}}, "reg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ClaimURI(tc.tags, tc.registry); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"3.1", 3.1, true}, {"3.10", 3.1, true}, {"31E-1", 3.1, true}, {"+2", 2, true}, {"-.5", -0.5, true},
		{"5.", 5, true}, {"1e3", 1000, true}, {"-0", 0, true},
		{"", 0, false}, {".", 0, false}, {"e3", 0, false}, {"1e", 0, false}, {"1_000", 0, false},
		{"Inf", 0, false}, {"NaN", 0, false}, {" 1", 0, false}, {"1e400", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNumber(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseNumber(%q) = %v, %v", tc.in, got, err)
			}
			if tc.ok {
				if back, err := ParseNumber(FormatNumber(got)); err != nil || back != got {
					t.Errorf("FormatNumber(%v) = %q does not read back", got, FormatNumber(got))
				}
			}
		})
	}
}

func TestCheckTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tag  Tag
		ok   bool
	}{
		{"plain", Tag{Name: "MAN", Value: "x"}, true},
		{"harmonized interface name", Tag{Name: "urn_nfi_iot_hi_sensor", Value: "1.0", Numeric: true}, true},
		{"unicode letters", Tag{Name: "Gebäude", Value: "Nord"}, true},
		{"64 chars", Tag{Name: strings.Repeat("a", 64), Value: ""}, true},
		{"128 char value", Tag{Name: "A", Value: strings.Repeat("é", 128)}, true},
		{"65 chars", Tag{Name: strings.Repeat("a", 65)}, false},
		{"space", Tag{Name: "A B"}, false},
		{"hash", Tag{Name: "#A"}, false},
		{"colon", Tag{Name: "a:b"}, false},
		{"empty", Tag{Name: ""}, false},
		{"129 char value", Tag{Name: "A", Value: strings.Repeat("x", 129)}, false},
		{"control char", Tag{Name: "A", Value: "a\x00b"}, false},
		{"bad utf8", Tag{Name: "A", Value: "\xff"}, false},
		{"bad number", Tag{Name: "A", Value: "1.2.3", Numeric: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTag(tc.tag)
			if (err == nil) != tc.ok {
				t.Errorf("CheckTag(%+v) = %v", tc.tag, err)
			}
			if err != nil && !errors.Is(err, ErrTag) {
				t.Errorf("error %v does not wrap ErrTag", err)
			}
		})
	}
}

// FuzzParse: whatever parses re-encodes to a URI that parses to the same
// value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"iotdisco:MAN=acme-meters.example;MODEL=EM-200;SN=A7Q-000042;#V=3.1;CLASS=Meter;KEY=5f0c;R=registry.extasis.example",
		"iotdisco:CLASS=Meter;SN~*A7Q-*;#V>=3;#V<4;#LAT>=59.2;#LAT<=59.5;R=r",
		"iotdisco:#V<1;#V>5", "iotdisco:#V>3;#V<3", "iotdisco:#V>=3;#V<=3", "iotdisco:A<b;A>a",
		`iotdisco:NAME=Caf\;e\\Bar;PURL=https%3A%2F%2Fexample.org%2Fp`,
		"IoTDisco;SN:1;#V:1.2;KEY:x", "iotdisco:SN~%25a%25", "iotdisco:A<>x;#B<>-1e3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrURI) {
				t.Fatalf("error %v does not wrap ErrURI", err)
			}
			return
		}
		enc := u.String()
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("%q parsed, but its encoding %q does not: %v", s, enc, err)
		}
		u.Legacy = false
		if !reflect.DeepEqual(again, u) {
			t.Fatalf("round trip of %q through %q:\ngot  %+v\nwant %+v", s, enc, again, u)
		}
		if again.String() != enc {
			t.Fatalf("encoding is not stable: %q then %q", enc, again.String())
		}
	})
}

// FuzzClaimURI: any valid tag set survives ClaimURI and Parse unchanged.
func FuzzClaimURI(f *testing.F) {
	f.Add("SN", "A7Q;00\\42", "V", "3.1", "registry.localhost")
	f.Add("NAME", "Café = <ok> ~*?", "LAT", "-59.33e0", "r")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, reg string) {
		tags := []Tag{{Name: n1, Value: v1}, {Name: n2, Value: v2, Numeric: true}, {Name: "KEY", Value: "k"}}
		s, err := ClaimURI(tags, reg)
		if err != nil {
			return
		}
		u, err := Parse(s)
		if err != nil {
			t.Fatalf("ClaimURI made %q, which does not parse: %v", s, err)
		}
		back, err := u.Tags()
		if err != nil || !reflect.DeepEqual(back, tags) || u.Registry != reg || u.Kind() != KindClaim {
			t.Fatalf("%q decoded to %+v R=%q kind=%s (%v)", s, back, u.Registry, u.Kind(), err)
		}
	})
}

func BenchmarkParseClaim(b *testing.B) {
	const s = "iotdisco:MAN=acme-meters.example;MODEL=EM-200;SN=A7Q-000042;#V=3.1;CLASS=Meter;KEY=5f0c9e1d7a2b44c6a1d3e8f09b7c6a55;R=registry.extasis.example"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimURI(b *testing.B) {
	tags := []Tag{{Name: "MAN", Value: "acme-meters.example"}, {Name: "SN", Value: "A7Q-000042"},
		{Name: "V", Value: "3.1", Numeric: true}, {Name: "KEY", Value: "5f0c9e1d7a2b44c6a1d3e8f09b7c6a55"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ClaimURI(tags, "registry.extasis.example"); err != nil {
			b.Fatal(err)
		}
	}
}
