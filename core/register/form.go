package register

import (
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// Namespaces of the registration form.
const (
	// NSSignature is XEP-0348's FORM_TYPE for OAuth 1.0 signed forms, also
	// advertised in disco.
	NSSignature = "urn:xmpp:xdata:signature:oauth1"
	formType    = "FORM_TYPE"
)

// Bounds on a submitted query: a registration form has a dozen fields of
// short values; anything larger is not one.
const (
	maxFields     = 32
	maxValueBytes = 1024
)

// query is a parsed jabber:iq:register query.
type query struct {
	remove bool
	form   bool    // a jabber:x:data form of type submit, rather than legacy elements
	fields []Field // the form's fields in document order, or username/password of the legacy form
}

// get returns the value of field v, "" if absent.
func (q *query) get(v string) string {
	for _, f := range q.fields {
		if f.Var == v {
			return f.Value
		}
	}
	return ""
}

// has reports whether field v is present, even if empty.
func (q *query) has(v string) bool {
	for _, f := range q.fields {
		if f.Var == v {
			return true
		}
	}
	return false
}

// parseQuery reads the jabber:iq:register query of an iq. A form wins over
// legacy <username/>/<password/> elements sent beside it. Errors are
// stanza errors to send back.
func parseQuery(el *xml.Element) (*query, error) {
	q := el.Child(stanza.NSRegister, "query")
	if q == nil {
		return nil, stanza.E(stanza.BadRequest, "no <query xmlns='jabber:iq:register'/> in the iq")
	}
	out := &query{}
	if q.Child(stanza.NSRegister, "remove") != nil {
		out.remove = true
		return out, nil
	}
	if x := q.Child(stanza.NSDataForms, "x"); x != nil {
		if t := x.Attr("type"); t != "submit" {
			return nil, stanza.E(stanza.BadRequest, "the data form must have type='submit', not '"+t+"'")
		}
		out.form = true
		seen := map[string]bool{}
		for _, f := range x.ChildrenNamed(stanza.NSDataForms, "field") {
			v := f.Attr("var")
			if v == "" {
				continue // fixed text: not data
			}
			if seen[v] {
				return nil, stanza.E(stanza.BadRequest, "field '"+v+"' appears twice")
			}
			seen[v] = true
			vals := f.ChildrenNamed(stanza.NSDataForms, "value")
			if len(vals) > 1 {
				return nil, stanza.E(stanza.BadRequest, "field '"+v+"' has several values; a registration form has single values only")
			}
			val := ""
			if len(vals) == 1 {
				val = vals[0].Text
			}
			if len(v) > maxValueBytes || len(val) > maxValueBytes {
				return nil, stanza.E(stanza.BadRequest, "field '"+shorten(v)+"' is too long")
			}
			out.fields = append(out.fields, Field{Var: v, Value: val})
			if len(out.fields) > maxFields {
				return nil, stanza.E(stanza.BadRequest, "too many fields in the form")
			}
		}
		return out, nil
	}
	for _, name := range []string{"username", "password"} {
		if c := q.Child(stanza.NSRegister, name); c != nil {
			if len(c.Text) > maxValueBytes {
				return nil, stanza.E(stanza.BadRequest, "<"+name+"/> is too long")
			}
			out.fields = append(out.fields, Field{Var: name, Value: c.Text})
		}
	}
	return out, nil
}

func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// renderForm is the registration form (digest §4.3) with a fresh token.
// Field names are lower-case ASCII so that every client sorts them alike.
// legacy adds XEP-0077's <username/> and <password/> for clients without
// data forms, offered only when unsigned registration is open: a client
// answering with those cannot sign.
func renderForm(instructions, token, tokenSecret string, legacy bool) []byte {
	hidden := func(v, val string) *xml.Element {
		f := xml.New(stanza.NSDataForms, "field", "type", "hidden", "var", v)
		return f.Add(xml.New(stanza.NSDataForms, "value").SetText(val))
	}
	x := xml.New(stanza.NSDataForms, "x", "type", "form").Add(
		xml.New(stanza.NSDataForms, "title").SetText("Create device account"),
		xml.New(stanza.NSDataForms, "instructions").SetText(instructions),
		hidden(formType, NSSignature),
		xml.New(stanza.NSDataForms, "field", "type", "text-single", "var", "username", "label", "Account").
			Add(xml.New(stanza.NSDataForms, "required")),
		xml.New(stanza.NSDataForms, "field", "type", "text-private", "var", "password", "label", "Password").
			Add(xml.New(stanza.NSDataForms, "required")),
		hidden("oauth_version", "1.0"),
		hidden("oauth_signature_method", "HMAC-SHA1"),
		hidden("oauth_token", token),
		hidden(fieldTokenSecret, tokenSecret),
		hidden("oauth_nonce", ""),
		hidden("oauth_timestamp", ""),
		hidden("oauth_consumer_key", ""),
		hidden(fieldSignature, ""),
	)
	q := xml.New(stanza.NSRegister, "query").Add(xml.New(stanza.NSRegister, "instructions").SetText(instructions))
	if legacy {
		q.Add(xml.New(stanza.NSRegister, "username"), xml.New(stanza.NSRegister, "password"))
	}
	return q.Add(x).Append(nil, "")
}
