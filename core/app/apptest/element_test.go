package apptest

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, pattern, got string
		want               bool
	}{
		{"same", "<message id='1'/>", "<message id='1'/>", true},
		{"extra attributes", "<message id='1'/>", "<message id='1' from='a@b/c' type='chat'/>", true},
		{"missing attribute", "<message id='1' type='chat'/>", "<message id='1'/>", false},
		{"other value", "<message id='1'/>", "<message id='2'/>", false},
		{"wildcard value", "<message id='{*}'/>", "<message id='anything'/>", true},
		{"wildcard needs the attribute", "<message id='{*}'/>", "<message/>", false},
		{"other name", "<message/>", "<presence/>", false},
		{"other namespace", "<message/>", "<message xmlns='jabber:server'/>", false},
		{"namespaced payload", "<iq><ping xmlns='urn:xmpp:ping'/></iq>", "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", true},
		{"payload in another namespace", "<iq><ping xmlns='urn:xmpp:ping'/></iq>", "<iq><ping xmlns='urn:other'/></iq>", false},
		{"prefixes do not matter", "<message><x xmlns='urn:x'/></message>", "<c:message xmlns:c='jabber:client'><y:x xmlns:y='urn:x'/></c:message>", true},
		{"text", "<message><body>hi</body></message>", "<message><body> hi </body></message>", true},
		{"other text", "<message><body>hi</body></message>", "<message><body>ho</body></message>", false},
		{"text ignored when the pattern has none", "<message><body/></message>", "<message><body>ho</body></message>", true},
		{"wildcard text", "<message><body>{*}</body></message>", "<message><body>ho</body></message>", true},
		{"children in any order", "<q><b/><a/></q>", "<q><a/><c/><b/></q>", true},
		{"each pattern child needs its own", "<q><a/><a/></q>", "<q><a/></q>", false},
		{"two of the same", "<q><a n='1'/><a/></q>", "<q><a/><a n='1'/></q>", true},
		{"missing child", "<q><a/></q>", "<q><b/></q>", false},
		{"xml:lang", "<text xml:lang='en'/>", "<text xml:lang='en'/>", true},
		{"xml:lang differs", "<text xml:lang='en'/>", "<text xml:lang='de'/>", false},
		{"stream prefix", "<stream:features/>", "<features xmlns='http://etherx.jabber.org/streams'/>", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			g, err := ParseElement(tc.got)
			if err != nil {
				t.Fatal(err)
			}
			if p.Match(g) != tc.want {
				t.Fatalf("Match(%s, %s) = %v", p, g, !tc.want)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, s := range []string{"", "text", "<a/><b/>", "<a>", "<a></b>", "x<a/>"} {
		if _, err := ParsePattern(s); err == nil {
			t.Errorf("ParsePattern(%q) did not fail", s)
		}
	}
}

func TestElementString(t *testing.T) {
	el, err := ParseElement("<iq type='get' id='a&amp;b'><ping xmlns='urn:xmpp:ping'/><x:y xmlns:x='urn:x' xml:lang='en'>t&lt;</x:y></iq>")
	if err != nil {
		t.Fatal(err)
	}
	want := "<iq xmlns='jabber:client' type='get' id='a&amp;b'><ping xmlns='urn:xmpp:ping'/><y xmlns='urn:x' xml:lang='en'>t&lt;</y></iq>"
	if got := el.String(); got != want {
		t.Fatalf("String() = %s\nwant       %s", got, want)
	}
	back, err := ParseElement(el.String())
	if err != nil || !el.Match(back) || !back.Match(el) {
		t.Fatalf("String() does not parse back to the same element: %v", err)
	}
}

func TestMergeYAML(t *testing.T) {
	base := map[string]any{"c2s": map[string]any{"listen": []any{"a"}, "direct_tls": []any{"b"}}, "log": map[string]any{"level": "debug"}}
	got := mergeYAML(base, map[string]any{"c2s": map[string]any{"allow_plain": false, "listen": []any{"c"}}, "admins": []any{"x@y"}})
	c2s := got["c2s"].(map[string]any)
	if c2s["allow_plain"] != false || c2s["listen"].([]any)[0] != "c" || c2s["direct_tls"].([]any)[0] != "b" || got["admins"] == nil || got["log"] == nil {
		t.Fatalf("merged %v", got)
	}
	if _, ok := base["c2s"].(map[string]any)["allow_plain"]; ok {
		t.Fatal("mergeYAML changed its input")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("<message id='1'><body>{*}</body></message>", "<message id='1' from='a@b'><body>x</body></message>")
	f.Add("<q><a/><a/></q>", "<q><a/><b/><a/></q>")
	f.Fuzz(func(t *testing.T, pattern, got string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		g, err := ParseElement(got)
		if err != nil {
			return
		}
		p.Match(g)
		// Every element matches itself, printed and parsed again.
		if back, err := ParseElement(g.String()); err == nil && !g.Match(back) && !strings.Contains(g.String(), Wildcard) {
			t.Fatalf("%s does not match itself after String()", g)
		}
	})
}
