package register

import (
	"errors"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

func parseIQ(t testing.TB, raw string) (*query, error) {
	t.Helper()
	el, err := xml.Parse([]byte(raw), stanza.NSClient)
	if err != nil {
		t.Fatalf("xml.Parse: %v", err)
	}
	return parseQuery(el)
}

func TestParseQuery(t *testing.T) {
	const x = "<x xmlns='jabber:x:data' type='submit'>"
	tests := []struct {
		name   string
		in     string
		form   bool
		remove bool
		fields []Field
		errHas string
	}{
		{name: "legacy", in: "<iq type='set'><query xmlns='jabber:iq:register'><username>bill</username><password>Calliope</password></query></iq>",
			fields: []Field{{"username", "bill"}, {"password", "Calliope"}}},
		{name: "legacy empty password", in: "<iq><query xmlns='jabber:iq:register'><username>bill</username><password/></query></iq>",
			fields: []Field{{"username", "bill"}, {"password", ""}}},
		{name: "remove", in: "<iq><query xmlns='jabber:iq:register'><remove/></query></iq>", remove: true},
		{name: "form", in: "<iq><query xmlns='jabber:iq:register'>" + x +
			"<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:xdata:signature:oauth1</value></field>" +
			"<field var='username'><value>a&amp;b</value></field><field var='oauth_nonce'><value/></field>" +
			"<field var='oauth_timestamp'/><field type='fixed'><value>ignored</value></field></x></query></iq>",
			form: true, fields: []Field{{"FORM_TYPE", NSSignature}, {"username", "a&b"}, {"oauth_nonce", ""}, {"oauth_timestamp", ""}}},
		{name: "form wins over legacy", in: "<iq><query xmlns='jabber:iq:register'><username>legacy</username>" + x +
			"<field var='username'><value>form</value></field></x></query></iq>", form: true, fields: []Field{{"username", "form"}}},
		{name: "no query", in: "<iq><ping xmlns='urn:xmpp:ping'/></iq>", errHas: "no <query"},
		{name: "form type", in: "<iq><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'/></query></iq>", errHas: "type='submit'"},
		{name: "duplicate field", in: "<iq><query xmlns='jabber:iq:register'>" + x +
			"<field var='username'><value>a</value></field><field var='username'><value>b</value></field></x></query></iq>", errHas: "twice"},
		{name: "multi-valued", in: "<iq><query xmlns='jabber:iq:register'>" + x +
			"<field var='username'><value>a</value><value>b</value></field></x></query></iq>", errHas: "several values"},
		{name: "long value", in: "<iq><query xmlns='jabber:iq:register'>" + x +
			"<field var='password'><value>" + strings.Repeat("p", maxValueBytes+1) + "</value></field></x></query></iq>", errHas: "too long"},
		{name: "too many fields", in: "<iq><query xmlns='jabber:iq:register'>" + x +
			manyFields(maxFields+1) + "</x></query></iq>", errHas: "too many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := parseIQ(t, tt.in)
			if tt.errHas != "" {
				var se stanza.Error
				if !errors.As(err, &se) || se.Condition != stanza.BadRequest || !strings.Contains(se.Text, tt.errHas) {
					t.Fatalf("err = %v, want bad-request containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.form != tt.form || q.remove != tt.remove || len(q.fields) != len(tt.fields) {
				t.Fatalf("got %+v", q)
			}
			for i := range tt.fields {
				if q.fields[i] != tt.fields[i] {
					t.Fatalf("field %d = %+v, want %+v", i, q.fields[i], tt.fields[i])
				}
			}
		})
	}
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("<field var='v")
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(byte('a' + i/26))
		b.WriteString("'/>")
	}
	return b.String()
}

// The rendered form parses back (as a client would submit it) with the
// fields of digest §4.3 in order, each single-valued.
func TestRenderForm(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		raw := renderForm("instr <&>", "t-1", "ts-1", legacy)
		el, err := xml.Parse(raw, "")
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		x := el.Child(stanza.NSDataForms, "x")
		if x == nil || x.Attr("type") != "form" || el.Child(stanza.NSRegister, "instructions").Text != "instr <&>" {
			t.Fatalf("form: %s", raw)
		}
		if (el.Child(stanza.NSRegister, "username") != nil) != legacy {
			t.Fatalf("legacy %v: %s", legacy, raw)
		}
		var vars []string
		got := map[string]string{}
		for _, f := range x.ChildrenNamed(stanza.NSDataForms, "field") {
			vars = append(vars, f.Attr("var"))
			if v := f.ChildrenNamed(stanza.NSDataForms, "value"); len(v) == 1 {
				got[f.Attr("var")] = v[0].Text
			}
		}
		want := "FORM_TYPE username password oauth_version oauth_signature_method oauth_token oauth_token_secret " +
			"oauth_nonce oauth_timestamp oauth_consumer_key oauth_signature"
		if strings.Join(vars, " ") != want {
			t.Fatalf("fields %v, want %s", vars, want)
		}
		if got[formType] != NSSignature || got["oauth_token"] != "t-1" || got[fieldTokenSecret] != "ts-1" ||
			got["oauth_signature_method"] != "HMAC-SHA1" || got["oauth_version"] != "1.0" {
			t.Fatalf("values %v", got)
		}
	}
}

// FuzzParseQuery feeds hostile iqs to the form parser: it must never panic,
// and what it accepts must be within its bounds and sign the same way
// whatever the order of the fields.
func FuzzParseQuery(f *testing.F) {
	seeds := []string{
		"<iq type='set'><query xmlns='jabber:iq:register'><username>bill</username><password>Calliope</password></query></iq>",
		"<iq><query xmlns='jabber:iq:register'><remove/></query></iq>",
		string(renderForm("i", "t", "s", true)),
		"<iq><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>" +
			"<field var='FORM_TYPE'><value>urn:xmpp:xdata:signature:oauth1</value></field>" +
			"<field var='username'><value>sensor-1</value></field><field var='password'><value>pässwörd€</value></field>" +
			"<field var='oauth_signature'><value>8C4tdz0FVFwKQGnHA9OmIVIJZcg%3D</value></field></x></query></iq>",
		"<iq><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='a'><value>1</value><value>2</value></field></x></query></iq>",
		"<iq><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data'/></query></iq>",
		"<iq/>",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		el, err := xml.Parse(raw, stanza.NSClient)
		if err != nil {
			return
		}
		q, err := parseQuery(el)
		if err != nil {
			var se stanza.Error
			if !errors.As(err, &se) || se.Condition != stanza.BadRequest {
				t.Fatalf("parseQuery error %v is not a bad-request stanza error", err)
			}
			return
		}
		if len(q.fields) > maxFields {
			t.Fatalf("%d fields accepted", len(q.fields))
		}
		seen := map[string]bool{}
		for _, fl := range q.fields {
			if len(fl.Var) > maxValueBytes || len(fl.Value) > maxValueBytes {
				t.Fatalf("oversized field accepted: %d/%d bytes", len(fl.Var), len(fl.Value))
			}
			if q.form && seen[fl.Var] {
				t.Fatalf("duplicate field %q accepted", fl.Var)
			}
			seen[fl.Var] = true
		}
		rev := make([]Field, len(q.fields))
		for i, fl := range q.fields {
			rev[len(q.fields)-1-i] = fl
		}
		for _, v := range []Variant{Waher, XEP} {
			if BaseString(v, q.fields, "d") != BaseString(v, rev, "d") {
				t.Fatalf("%s base string depends on field order", v)
			}
		}
		Verify(q.fields, "secret", "token-secret", "d")
	})
}
