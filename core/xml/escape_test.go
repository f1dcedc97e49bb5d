package xml

import (
	"encoding/binary"
	"go/ast"
	"go/parser"
	"go/token"
	"math/bits"
	"strconv"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, text, attr string }{
		{"plain", "plain", "plain"},
		{"a&b<c>d", "a&amp;b&lt;c&gt;d", "a&amp;b&lt;c&gt;d"},
		{`'"`, `'"`, "&apos;&quot;"},
		{"\t\n\r", "\t\n&#xD;", "&#x9;&#xA;&#xD;"},
		{"\x00\x1f", "\ufffd\ufffd", "\ufffd\ufffd"},
		{"é\U0001F600", "é\U0001F600", "é\U0001F600"},
		{"\xff\xed\xa0\x80", "\ufffd\ufffd\ufffd\ufffd", "\ufffd\ufffd\ufffd\ufffd"},
		{"\uffff", "\ufffd", "\ufffd"},
	}
	for _, tc := range tests {
		if got := string(EscapeText(nil, tc.in)); got != tc.text {
			t.Errorf("EscapeText(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := string(EscapeAttr([]byte("x"), tc.in)); got != "x"+tc.attr {
			t.Errorf("EscapeAttr(%q) = %q, want %q", tc.in, got, tc.attr)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in, text, attr string
		cond           Condition
	}{
		{in: "plain", text: "plain", attr: "plain"},
		{in: "&lt;&gt;&amp;&apos;&quot;", text: `<>&'"`, attr: `<>&'"`},
		{in: "&#65;&#x42;&#x00043;&#0068;", text: "ABCD", attr: "ABCD"},
		{in: "&#x1F600;", text: "\U0001F600", attr: "\U0001F600"},
		{in: "a\r\nb\rc\nd\te", text: "a\nb\nc\nd\te", attr: "a b c d e"},
		{in: "&#13;&#10;&#9;", text: "\r\n\t", attr: "\r\n\t"},
		{in: "&foo;", cond: RestrictedXML},
		{in: "&#0;", cond: NotWellFormed},
		{in: "&#xFFFF;", cond: NotWellFormed},
		{in: "&amp", cond: NotWellFormed},
		{in: "& ;", cond: NotWellFormed},
	}
	for _, tc := range tests {
		got, err := Unescape(nil, []byte(tc.in))
		if condOf(err) != tc.cond || tc.cond == "" && string(got) != tc.text {
			t.Errorf("Unescape(%q) = %q, %v", tc.in, got, err)
		}
		got, err = UnescapeAttr(nil, []byte(tc.in))
		if condOf(err) != tc.cond || tc.cond == "" && string(got) != tc.attr {
			t.Errorf("UnescapeAttr(%q) = %q, %v", tc.in, got, err)
		}
		s := UnescapeString([]byte(tc.in))
		if tc.cond == "" && s != tc.attr || tc.cond != "" && s != tc.in {
			t.Errorf("UnescapeString(%q) = %q", tc.in, s)
		}
	}
	raw := []byte("juliet@example.com/balcony")
	if n := testing.AllocsPerRun(100, func() { _ = UnescapeString(raw) }); n > 1 {
		t.Errorf("UnescapeString fast path: %v allocations", n)
	}
}

// TestCharClass rebuilds the class table from the XML productions.
func TestCharClass(t *testing.T) {
	for c := 0; c < 256; c++ {
		ch := byte(c)
		ascii := c < 0x80
		legal := ascii && (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')
		var want byte
		if legal && ch != '<' && ch != '&' && ch != ']' {
			want |= cText
		}
		if legal && ch != '<' && ch != '&' && ch != '\'' && ch != '"' {
			want |= cAttr
		}
		if !ascii || isNameRune(rune(c)) || ch == ':' {
			want |= cName
		}
		if ascii && isNameStartRune(rune(c)) {
			want |= cNameStart
		}
		if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' {
			want |= cSpace
		}
		if legal && ch != ']' {
			want |= cCData
		}
		if ascii && ch != ':' && isNameRune(rune(c)) {
			want |= cNCName
		}
		if charClass[c] != want {
			t.Errorf("class of %#x = %#x, want %#x", c, charClass[c], want)
		}
	}
	if len(charClass) != 256 {
		t.Fatal(len(charClass))
	}
}

func TestNameRunes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"_a-b.c9", true}, {"a:b", true}, {"été", true}, {"a\u00b7b", true}, {"日本", true},
		{"\U00010000x", true}, {"a\u0300", true}, {"\u0300a", false}, {"\u00d7", false}, {"-a", false},
		{".a", false}, {"9", false}, {"a::b", false}, {"a:", false}, {":a", false}, {"a:-b", false}, {"", false},
		{"a\xff", false}, {"\u037e", false}, {"a\u2040", true}, {"\u2040", false},
	} {
		if _, ok := checkQName([]byte(tc.name)); ok != tc.ok {
			t.Errorf("checkQName(%q) = %v", tc.name, ok)
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if isNameStartRune(r) && !isNameRune(r) {
			t.Fatalf("%U starts a name but cannot continue one", r)
		}
	}
}

// TestIntern checks every case of knownName returns its own key, without
// allocating.
func TestIntern(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "intern.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	ast.Inspect(f, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		if len(cc.List) != 1 || len(cc.Body) != 1 {
			t.Fatalf("case with %d values", len(cc.List))
		}
		key, _ := strconv.Unquote(cc.List[0].(*ast.BasicLit).Value)
		ret := cc.Body[0].(*ast.ReturnStmt)
		val, _ := strconv.Unquote(ret.Results[0].(*ast.BasicLit).Value)
		if key != val {
			t.Errorf("case %q returns %q", key, val)
		}
		keys = append(keys, key)
		return true
	})
	if len(keys) < 200 {
		t.Fatalf("only %d known names", len(keys))
	}
	for i, k := range keys {
		if i > 0 && keys[i-1] >= k {
			t.Errorf("cases not sorted at %q", k)
		}
		b := []byte(k)
		if n := testing.AllocsPerRun(10, func() { _ = intern(b) }); n != 0 {
			t.Errorf("intern(%q) allocates", k)
		}
	}
	for _, want := range []string{"jabber:client", "message", "to", "from", "type", "id", "lang", "urn:xmpp:ping", nsXML, nsStream, "urn:xmpp:sm:3", "urn:ietf:params:xml:ns:xmpp-sasl"} {
		if _, ok := knownName([]byte(want)); !ok {
			t.Errorf("%q not interned", want)
		}
	}
	if s := intern([]byte("unknown")); s != "unknown" {
		t.Error(s)
	}
}

// TestSpecialMasks checks the eight-byte tests against the class table on
// words made of interesting bytes.
func TestSpecialMasks(t *testing.T) {
	pool := []byte{'a', ' ', '\t', '\n', 0, 0x1f, 0x20, '<', '&', ']', '\'', '"', '>', 0x7f, 0x80, 0xff, 0x3b, 0x3d}
	seed := uint64(1)
	for range 200000 {
		var b [8]byte
		for k := range b {
			seed = seed*6364136223846793005 + 1442695040888963407
			b[k] = pool[(seed>>33)%uint64(len(pool))]
		}
		w := binary.LittleEndian.Uint64(b[:])
		for _, tc := range []struct {
			mask  uint64
			plain byte
		}{{textSpecial(w), cText}, {attrSpecial(w), cAttr}} {
			first := 8
			for k, c := range b {
				if charClass[c]&tc.plain == 0 || c < 0x20 {
					first = k
					break
				}
			}
			got := 8
			if tc.mask != 0 {
				got = bits.TrailingZeros64(tc.mask) >> 3
			}
			if got != first {
				t.Fatalf("%q: first special byte %d, mask says %d", b, first, got)
			}
		}
	}
}
