package stanza

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/xml"
)

func frame(t *testing.T, raw string) xml.Frame {
	t.Helper()
	d := xml.NewFragmentDecoder(strings.NewReader(raw), xml.Limits{})
	d.SetDefaultSpace(NSClient)
	f, err := d.Next()
	if err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return f
}

func TestStampedReplacesFrom(t *testing.T) {
	alice := jid.MustParse("alice@localhost/phone")
	for _, raw := range []string{
		`<message to='bob@localhost' type='chat' id='m1'><body>hi</body></message>`,
		`<message from='mallory@evil.example/x' to='bob@localhost' type='chat' id='m1'><body>hi</body></message>`,
		`<message from="alice@localhost" to='bob@localhost' type='chat' id='m1'><body>hi</body></message>`,
	} {
		f := frame(t, raw)
		s, err := Stamped(&f, alice)
		if err != nil {
			t.Fatal(err)
		}
		if s.From != alice || s.To.String() != "bob@localhost" || s.Type != "chat" || s.ID != "m1" || s.Kind != Message {
			t.Fatalf("fields %+v", s)
		}
		if s.Payload != (xml.Name{Space: NSClient, Local: "body"}) {
			t.Fatalf("payload %+v", s.Payload)
		}
		// The written bytes carry exactly one from: the stamped one.
		el, err := xml.Parse(s.Raw, NSClient)
		if err != nil {
			t.Fatalf("stamped raw %q does not parse: %v", s.Raw, err)
		}
		if el.Attr("from") != alice.String() || bytes.Count(s.Raw, []byte("from=")) != 1 {
			t.Fatalf("stamped raw %q", s.Raw)
		}
		if el.Child(NSClient, "body").Text != "hi" {
			t.Fatalf("body lost: %q", s.Raw)
		}
	}
}

func TestMalformedAddressesAreStanzaErrors(t *testing.T) {
	for _, raw := range []string{
		`<message to='@localhost' id='x'/>`,
		`<iq from='a@b@c' type='get' id='x'/>`,
	} {
		f := frame(t, raw)
		_, err := FromFrame(&f)
		if !errors.Is(err, Error{Condition: JIDMalformed}) {
			t.Errorf("%s: err = %v, want jid-malformed", raw, err)
		}
	}
}

func TestParseAndReplies(t *testing.T) {
	raw := []byte(`<iq from='alice@localhost/phone' to='localhost' type='get' id='p&amp;1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	s, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != IQ || !s.IsIQRequest() || s.ID != "p&1" || s.Payload != (xml.Name{Space: NSPing, Local: "ping"}) {
		t.Fatalf("parsed %+v", s)
	}
	r := s.Result()
	if r.From.String() != "localhost" || r.To.String() != "alice@localhost/phone" || r.Type != "result" || r.ID != "p&1" {
		t.Fatalf("result %+v", r)
	}
	if !bytes.Contains(r.Raw, []byte("id='p&amp;1'")) {
		t.Fatalf("result raw %q: id not escaped", r.Raw)
	}
	e := s.ErrorReply(Error{Condition: ServiceUnavailable, Text: "no <such> service"})
	back, err := Parse(e.Raw)
	if err != nil {
		t.Fatalf("error reply %q: %v", e.Raw, err)
	}
	got, ok := ParseError(back)
	if !ok || got.Condition != ServiceUnavailable || got.ErrorType() != Cancel || got.Text != "no <such> service" {
		t.Fatalf("ParseError = %+v, %v from %q", got, ok, e.Raw)
	}
	if _, err := Parse([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err == nil {
		t.Fatal("a non-stanza parsed as a stanza")
	}
	if _, err := Parse([]byte(`<message><body>open`)); err == nil {
		t.Fatal("a truncated stanza parsed")
	}
}

func TestErrorTypesAndMatching(t *testing.T) {
	if (Error{Condition: ItemNotFound}).ErrorType() != Cancel || (Error{Condition: NotAuthorized}).ErrorType() != Auth {
		t.Fatal("default types")
	}
	if (Error{Condition: ItemNotFound, Type: Wait}).ErrorType() != Wait {
		t.Fatal("explicit type lost")
	}
	wrapped := errors.Join(errors.New("context"), Error{Condition: Forbidden, Text: "x"})
	if !errors.Is(wrapped, Error{Condition: Forbidden}) || errors.Is(wrapped, Error{Condition: Conflict}) {
		t.Fatal("errors.Is on conditions")
	}
	if AsError(errors.New("disk on fire")).Condition != InternalServerError || AsError(errors.New("disk on fire")).Text != "" {
		t.Fatal("internal errors must not leak their text")
	}
	if !KnownCondition(PolicyViolation) || KnownCondition("made-up") {
		t.Fatal("KnownCondition")
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		n    xml.Name
		want Kind
	}{
		{xml.Name{Space: NSClient, Local: "message"}, Message},
		{xml.Name{Space: NSServer, Local: "presence"}, Presence},
		{xml.Name{Space: NSClient, Local: "iq"}, IQ},
		{xml.Name{Space: "urn:other", Local: "message"}, Other},
		{xml.Name{Space: NSClient, Local: "features"}, Other},
	} {
		if got := KindOf(tc.n); got != tc.want {
			t.Errorf("KindOf(%v) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// FuzzParse: any input either fails cleanly or gives a stanza whose Raw
// parses again to the same header fields.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<message to='a@b' from='c@d/e' type='chat' id='1'><body>x</body></message>`,
		`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<presence/>`,
		`<c:message xmlns:c='jabber:client' to='x@y'/>`,
		`<message to='&amp;@b'/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Parse(raw)
		if err != nil {
			return
		}
		s2, err := Parse(s.Raw)
		if err != nil {
			t.Fatalf("Raw %q of a parsed stanza does not parse: %v", s.Raw, err)
		}
		if s2.Kind != s.Kind || s2.To != s.To || s2.From != s.From || s2.Type != s.Type || s2.ID != s.ID || s2.Payload != s.Payload {
			t.Fatalf("reparse differs: %+v vs %+v", s, s2)
		}
	})
}
