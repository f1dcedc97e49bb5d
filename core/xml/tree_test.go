package xml

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	raw := "\n<iq xmlns='jabber:client' type='result' id='r1' xml:lang='en'>" +
		"<query xmlns='jabber:iq:roster' ver='v1'>" +
		"<item jid='a@b' name='A &amp; B&#x9;&#10;' subscription='both'><group>Friends</group><group>Work</group></item>" +
		"<x:item xmlns:x='urn:x' x:a='1' b=\"two\tlines\r\nend\">t<![CDATA[<c>\r\n]]>u&#13;v\r\nw\rx</x:item>" +
		"</query></iq>\n"
	e, err := Parse([]byte(raw), "jabber:server")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != (Name{"jabber:client", "iq"}) || e.Attr("type") != "result" || e.Attr("id") != "r1" || e.Attr("lang") != "" {
		t.Fatalf("top: %+v", e)
	}
	if v, ok := e.AttrNS(nsXML, "lang"); !ok || v != "en" {
		t.Fatalf("xml:lang = %q, %v", v, ok)
	}
	q := e.Child("jabber:iq:roster", "query")
	if q == nil || q.Attr("ver") != "v1" || len(q.Children) != 2 {
		t.Fatalf("query: %+v", q)
	}
	item := q.Child("jabber:iq:roster", "item")
	if item.Attr("name") != "A & B\t\n" {
		t.Errorf("references in attribute: %q", item.Attr("name"))
	}
	groups := item.ChildrenNamed("jabber:iq:roster", "group")
	if len(groups) != 2 || groups[0].Text != "Friends" || groups[1].Text != "Work" {
		t.Errorf("groups: %+v", groups)
	}
	x := q.Child("urn:x", "item")
	if x == nil {
		t.Fatal("prefixed child not found")
	}
	if v, _ := x.AttrNS("urn:x", "a"); v != "1" {
		t.Errorf("prefixed attribute: %q", v)
	}
	if got := x.Attr("b"); got != "two lines end" {
		t.Errorf("attribute normalisation: %q", got)
	}
	if x.Text != "t<c>\nu\rv\nw\nx" {
		t.Errorf("text: %q", x.Text)
	}
	if q.Child("urn:x", "nothing") != nil || len(q.ChildrenNamed("urn:y", "item")) != 0 {
		t.Error("found a missing child")
	}
}

func TestParseDefaultSpace(t *testing.T) {
	e, err := Parse([]byte("<message><body>x</body><y xmlns=''/></message>"), "jabber:client")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name.Space != "jabber:client" || e.Children[0].Name.Space != "jabber:client" || e.Children[1].Name.Space != "" {
		t.Fatalf("%+v", e)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		cond     Condition
	}{
		{"empty", "", NotWellFormed},
		{"white space", "  ", NotWellFormed},
		{"truncated", "<a><b>", NotWellFormed},
		{"two elements", "<a/><b/>", NotWellFormed},
		{"trailing text", "<a/>x", NotWellFormed},
		{"leading text", "x<a/>", NotWellFormed},
		{"end tag", "</a>", NotWellFormed},
		{"too large", "<a>" + strings.Repeat("x", 256<<10) + "</a>", PolicyViolation},
		{"too deep", strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65), PolicyViolation},
		{"too many attrs", "<a" + manyAttrs(65) + "/>", PolicyViolation},
		{"doctype", "<!DOCTYPE a><a/>", RestrictedXML},
		{"declaration", "<?xml version='1.0'?><a/>", RestrictedXML},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), "")
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
		})
	}
	if _, err := Parse([]byte(strings.Repeat("<a>", 64)+strings.Repeat("</a>", 64)), ""); err != nil {
		t.Fatalf("depth 64: %v", err)
	}
	if _, err := Parse([]byte("<a"+manyAttrs(64)+"/>"), ""); err != nil {
		t.Fatalf("64 attributes: %v", err)
	}
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("='1'")
	}
	return b.String()
}

func TestParseDoesNotModifyInput(t *testing.T) {
	raw := []byte("<a xmlns:p='urn:p'><p:b x='&amp;'>t&lt;</p:b></a>")
	keep := string(raw)
	if _, err := Parse(raw, ""); err != nil {
		t.Fatal(err)
	}
	if string(raw) != keep {
		t.Fatal("Parse wrote to its input")
	}
}

func TestBuildAndAppend(t *testing.T) {
	e := New("jabber:client", "iq", "type", "set", "id", "b1").Add(
		New("urn:ietf:params:xml:ns:xmpp-bind", "bind").Add(
			New("urn:ietf:params:xml:ns:xmpp-bind", "resource").SetText("balcony <&> 'q'\r\n"),
		),
	)
	e.SetAttr("to", "juliet@example.com").SetAttr("id", "b2")
	e.Attrs = append(e.Attrs, Attr{Name{nsXML, "lang"}, "en"}, Attr{Name{"urn:x", "a"}, "1"}, Attr{Name{"urn:y", "b"}, "2"},
		Attr{Name{"urn:x", "c"}, "3"}, Attr{Name{"", "xmlns"}, "ignored"}, Attr{Name{nsXMLNS, "p"}, "ignored"})
	want := "<iq type='set' id='b2' to='juliet@example.com' xml:lang='en' xmlns:ns0='urn:x' ns0:a='1' xmlns:ns1='urn:y' ns1:b='2' ns0:c='3'>" +
		"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony &lt;&amp;&gt; 'q'&#xD;\n</resource></bind></iq>"
	if got := string(e.Append(nil, "jabber:client")); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := e.String(); !strings.HasPrefix(got, "<iq xmlns='jabber:client' type='set'") {
		t.Fatalf("String() = %s", got)
	}
	back, err := Parse(e.Append(nil, "jabber:client"), "jabber:client")
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind").Children[0].Text; got != "balcony <&> 'q'\r\n" {
		t.Fatalf("text after round trip: %q", got)
	}
	if e.Attr("missing") != "" {
		t.Fatal("Attr of a missing attribute")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New with an odd number of attrs did not panic")
			}
		}()
		New("", "a", "x")
	}()
}

func TestAppendInvalidCharacters(t *testing.T) {
	e := New("", "a", "x", "bad\x00\xff\ufffe").SetText("t\x01\xc0")
	out := e.Append(nil, "")
	back, err := Parse(out, "")
	if err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if back.Attr("x") != "bad\ufffd\ufffd\ufffd" || back.Text != "t\ufffd\ufffd" {
		t.Fatalf("%q", out)
	}
}

var roundTrips = []string{
	"<a/>",
	"<message xmlns='jabber:client' to='a' from='b'><body>hi &amp; bye</body><x xmlns='urn:x'><y/></x></message>",
	"<p:a xmlns:p='urn:p' xmlns:q='urn:q' q:x='1' p:x='2' xml:lang='de'><q:b p:y='&lt;'/></p:a>",
	"<a>mixed<b/>content<c>deep</c>again<![CDATA[]]>\r\n</a>",
	"<a x='&#9;&#10;&#13; spaced&quot;&apos;'>&#xD;&#x10FFFF;\u00e9</a>",
	"<a xmlns='urn:a'><b xmlns=''><c xmlns='urn:a'/></b></a>",
}

func TestRoundTrip(t *testing.T) {
	for _, s := range roundTrips {
		for _, ds := range []string{"", "jabber:client"} {
			e, err := Parse([]byte(s), ds)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			out := e.Append(nil, ds)
			e2, err := Parse(out, ds)
			if err != nil {
				t.Fatalf("%s -> %s: %v", s, out, err)
			}
			if !equalElement(e, e2) {
				t.Fatalf("%s -> %s: trees differ", s, out)
			}
			if out2 := e2.Append(nil, ds); string(out2) != string(out) {
				t.Fatalf("not deterministic: %s then %s", out, out2)
			}
		}
	}
}

func equalElement(a, b *Element) bool {
	if a.Name != b.Name || a.Text != b.Text || len(a.Attrs) != len(b.Attrs) || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return false
		}
	}
	for i := range a.Children {
		if !equalElement(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}
