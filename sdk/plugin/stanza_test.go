package plugin

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

func TestParseStanza(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      Stanza
		err       bool
	}{
		{"message", `<message from='a@b/c' to='echo.b' type='chat' id='1'><body>hi</body></message>`,
			Stanza{Kind: KindMessage, From: "a@b/c", To: "echo.b", Type: "chat", ID: "1", Payload: Name{Local: "body"}}, false},
		{"iq payload namespace", `<iq type='get' id='x'><query xmlns='urn:a'/></iq>`,
			Stanza{Kind: KindIQ, Type: "get", ID: "x", Payload: Name{Space: "urn:a", Local: "query"}}, false},
		{"escaped attribute", `<presence to='a&amp;b@c'/>`, Stanza{Kind: KindPresence, To: "a&b@c"}, false},
		{"not a stanza", `<stream:features/>`, Stanza{}, true},
		{"garbage", `<message`, Stanza{}, true},
		{"empty", ``, Stanza{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStanza([]byte(tc.raw))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got.Raw = nil
			if got.Kind != tc.want.Kind || got.To != tc.want.To || got.From != tc.want.From ||
				got.Type != tc.want.Type || got.ID != tc.want.ID || got.Payload != tc.want.Payload {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestBuilders(t *testing.T) {
	in, err := ParseStanza([]byte(`<iq from='u@d/r' to='echo.d' type='get' id='7'><ping xmlns='urn:xmpp:ping'/></iq>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  *Stanza
		want string
	}{
		{"result echoes payload", in.Result(in.Inner()), `<iq from="echo.d" to="u@d/r" type="result" id="7"><ping xmlns='urn:xmpp:ping'/></iq>`},
		{"error", in.Error("item-not-found", "no <such> thing"), `<iq from="echo.d" to="u@d/r" type="error" id="7"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">no &lt;such&gt; thing</text></error></iq>`},
		{"message escapes", NewStanza(KindMessage, `e.d`, `a"b@d`, "chat", "", Body("1 < 2 & 3")), `<message from="e.d" to="a&#34;b@d" type="chat"><body>1 &lt; 2 &amp; 3</body></message>`},
		{"empty", NewStanza(KindPresence, "e.d", "u@d", "", ""), `<presence from="e.d" to="u@d"/>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got.Raw) != tc.want {
				t.Errorf("got  %s\nwant %s", tc.got.Raw, tc.want)
			}
			back, err := ParseStanza(tc.got.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if back.To != tc.got.To || back.From != tc.got.From || back.ID != tc.got.ID || back.Type != tc.got.Type || back.Payload != tc.got.Payload {
				t.Errorf("fields %+v do not match raw %+v", *tc.got, *back)
			}
		})
	}
}

func TestBodyAndInner(t *testing.T) {
	for _, tc := range []struct {
		name, raw, body, inner string
	}{
		{"plain", `<message><body>hi &amp; bye</body></message>`, "hi & bye", `<body>hi &amp; bye</body>`},
		{"body after other child", `<message><thread>t</thread><body>x</body></message>`, "x", `<thread>t</thread><body>x</body>`},
		{"nested body is not the body", `<message><x xmlns='urn:x'><body>no</body></x></message>`, "", `<x xmlns='urn:x'><body>no</body></x>`},
		{"foreign namespace body", `<message><body xmlns='urn:other'>no</body></message>`, "", `<body xmlns='urn:other'>no</body>`},
		{"self-closing", `<iq type='get' id='1'/>`, "", ""},
		{"malformed", `<message><body>x</message>`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Stanza{Raw: []byte(tc.raw)}
			if got := s.Body(); got != tc.body {
				t.Errorf("Body() = %q, want %q", got, tc.body)
			}
			if got := string(s.Inner()); got != tc.inner {
				t.Errorf("Inner() = %q, want %q", got, tc.inner)
			}
		})
	}
}

// FuzzParseStanza checks that hostile input never panics and that what
// parses round-trips through the builders.
func FuzzParseStanza(f *testing.F) {
	for _, s := range []string{
		`<message from='a@b/c' to='e.b' type='chat' id='1'><body>hi</body></message>`,
		`<iq type='get' id='x'><query xmlns='urn:a'/></iq>`, `<presence/>`, `<message`, `<a><b>`,
		`<message><body>&lt;&#x41;</body></message>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseStanza(raw)
		if err != nil {
			return
		}
		_ = s.Body()
		inner := s.Inner()
		if len(inner) > 0 && !bytes.Contains(raw, inner) {
			t.Fatalf("Inner %q is not part of %q", inner, raw)
		}
		r := s.Reply("", Body(s.Body()))
		back, err := ParseStanza(r.Raw)
		if err != nil {
			t.Fatalf("reply %q does not parse: %v", r.Raw, err)
		}
		if back.To != s.From || back.From != s.To || back.ID != s.ID {
			t.Fatalf("reply %+v does not swap %+v", back, s)
		}
	})
}

func BenchmarkParseStanza(b *testing.B) {
	raw := []byte(`<message from='user17@localhost/res' to='echo.localhost' type='chat' id='m42'><body>hello world</body></message>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStanza(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEchoReply(b *testing.B) {
	s, _ := ParseStanza([]byte(`<message from='user17@localhost/res' to='echo.localhost' type='chat' id='m42'><body>hello world</body></message>`))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Reply("", Body(s.Body()))
	}
}

// FuzzBody checks the quick body reader against encoding/xml on every
// well-formed input it accepts.
func FuzzBody(f *testing.F) {
	for _, s := range []string{
		`<message><body>hi</body></message>`, `<message to='a' x="<"><body>a&amp;b</body></message>`,
		`<message><x><body>no</body></x><body>yes</body></message>`, `<message><body/></message>`,
		`<message><body xmlns='urn:x'>no</body></message>`, `<message/>`, `<message><!-- c --><body>x</body></message>`,
		`<message><body>a</body><body>b</body></message>`, `<message><bodyx>no</bodyx></message>`,
		`<message><x/><body>y>z</body></message>`, "<message><body>a\r\nb</body></message>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		quick, ok := quickBody(raw)
		if !ok || !wellFormed(raw) {
			return
		}
		if slow := slowBody(raw); quick != slow {
			t.Fatalf("quick %q, encoding/xml %q for %q", quick, slow, raw)
		}
	})
}

func wellFormed(raw []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth, tops := 0, 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			return depth == 0 && tops == 1
		}
		if err != nil {
			return false
		}
		switch t.(type) {
		case xml.StartElement:
			if depth == 0 {
				tops++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				return false
			}
		}
	}
}

func TestQuickName(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Name
	}{
		{`<body>x</body>`, Name{Local: "body"}},
		{`<ping xmlns='urn:xmpp:ping'/>`, Name{Space: "urn:xmpp:ping", Local: "ping"}},
		{`<query xmlns="jabber:iq:roster"><item/></query>`, Name{Space: "jabber:iq:roster", Local: "query"}},
		{`<q xmlns='urn:a' node='n'/>`, Name{Space: "urn:a", Local: "q"}},
		{`<x:q xmlns:x='urn:b'/>`, Name{Space: "urn:b", Local: "q"}},
		{` <q/>`, Name{Local: "q"}},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			if got := firstName([]byte(tc.raw)); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
