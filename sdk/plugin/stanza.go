package plugin

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"

	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// Kind is a stanza's kind.
type Kind uint8

const (
	KindUnknown Kind = iota
	KindMessage
	KindPresence
	KindIQ
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPresence:
		return "presence"
	case KindIQ:
		return "iq"
	}
	return "unknown"
}

// Name is an XML element name.
type Name struct{ Space, Local string }

// Stanza is one XMPP stanza. Raw is what goes on the wire; the other fields
// are the broker's parse of Raw's top element (for stanzas the plugin
// receives) or the builder's arguments (for stanzas built here). Build
// stanzas with NewStanza, Reply, Result or Error rather than by hand, so
// that Raw and the fields agree.
type Stanza struct {
	Kind     Kind
	To, From string
	Type, ID string
	Payload  Name // first child element
	Raw      []byte
}

// IsIQRequest reports whether s is an iq get or set, which must be answered.
func (s *Stanza) IsIQRequest() bool {
	return s.Kind == KindIQ && (s.Type == "get" || s.Type == "set")
}

// NewStanza builds a stanza. payload elements are self-contained raw XML
// (their own xmlns where needed); empty attributes are omitted.
func NewStanza(kind Kind, from, to, typ, id string, payload ...[]byte) *Stanza {
	name := kind.String()
	var b bytes.Buffer
	b.Grow(96 + len(from) + len(to) + len(id) + total(payload))
	b.WriteByte('<')
	b.WriteString(name)
	attr(&b, "from", from)
	attr(&b, "to", to)
	attr(&b, "type", typ)
	attr(&b, "id", id)
	if total(payload) == 0 {
		payload = nil
		b.WriteString("/>")
	} else {
		b.WriteByte('>')
		for _, p := range payload {
			b.Write(p)
		}
		b.WriteString("</")
		b.WriteString(name)
		b.WriteByte('>')
	}
	s := &Stanza{Kind: kind, From: from, To: to, Type: typ, ID: id, Raw: b.Bytes()}
	for _, p := range payload {
		if len(p) > 0 {
			s.Payload = firstName(p)
			break
		}
	}
	return s
}

func total(p [][]byte) int {
	n := 0
	for _, x := range p {
		n += len(x)
	}
	return n
}

func attr(b *bytes.Buffer, k, v string) {
	if v == "" {
		return
	}
	b.WriteByte(' ')
	b.WriteString(k)
	b.WriteString(`="`)
	_ = xml.EscapeText(b, []byte(v)) // writes to a bytes.Buffer never fail
	b.WriteByte('"')
}

// firstName names the first element of a payload the plugin built. The
// common shape, <name xmlns='...'> or <name>, is read directly; anything
// else (prefixes, comments, odd spacing) goes through encoding/xml.
func firstName(raw []byte) Name {
	if n, ok := quickName(raw); ok {
		return n
	}
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		t, err := d.Token()
		if err != nil {
			return Name{}
		}
		if se, ok := t.(xml.StartElement); ok {
			return Name{Space: se.Name.Space, Local: se.Name.Local}
		}
	}
}

func quickName(raw []byte) (Name, bool) {
	if len(raw) < 3 || raw[0] != '<' {
		return Name{}, false
	}
	i := 1
	for i < len(raw) && isNameByte(raw[i]) {
		i++
	}
	if i == 1 || i == len(raw) {
		return Name{}, false
	}
	n := Name{Local: string(raw[1:i])}
	switch raw[i] {
	case '>', '/':
		return n, true
	case ' ':
		rest := raw[i:]
		for _, q := range []string{` xmlns='`, ` xmlns="`} {
			if bytes.HasPrefix(rest, []byte(q)) {
				v := rest[len(q):]
				end := bytes.IndexByte(v, q[len(q)-1])
				if end < 0 || bytes.ContainsAny(v[:end], "&<") {
					return Name{}, false
				}
				after := v[end+1:]
				if len(after) == 0 || (after[0] != '>' && after[0] != '/') {
					return Name{}, false // more attributes: let the decoder read them
				}
				n.Space = string(v[:end])
				return n, true
			}
		}
	}
	return Name{}, false
}

// isNameByte accepts the ASCII letters, digits and '-', '_', '.' of
// ordinary element names; a ':' (prefix) or anything else takes the slow
// path.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// Reply builds the answer to s: addresses swapped, same id, the given type
// ("" keeps s's type).
func (s *Stanza) Reply(typ string, payload ...[]byte) *Stanza {
	if typ == "" {
		typ = s.Type
	}
	return NewStanza(s.Kind, s.To, s.From, typ, s.ID, payload...)
}

// Result builds the iq result for the iq request s.
func (s *Stanza) Result(payload ...[]byte) *Stanza {
	return NewStanza(KindIQ, s.To, s.From, "result", s.ID, payload...)
}

// Error builds the error reply to s (RFC 6120 §8.3) with a defined
// condition such as "item-not-found", its default error type, and an
// optional human-readable text that must never carry a secret or a body.
func (s *Stanza) Error(condition, text string) *Stanza {
	const ns = "urn:ietf:params:xml:ns:xmpp-stanzas"
	var b bytes.Buffer
	b.WriteString(`<error type="`)
	b.WriteString(errorType(condition))
	b.WriteString(`"><`)
	b.WriteString(condition)
	b.WriteString(` xmlns="` + ns + `"/>`)
	if text != "" {
		b.WriteString(`<text xmlns="` + ns + `" xml:lang="en">`)
		_ = xml.EscapeText(&b, []byte(text))
		b.WriteString("</text>")
	}
	b.WriteString("</error>")
	return NewStanza(s.Kind, s.To, s.From, "error", s.ID, b.Bytes())
}

// errorType is RFC 6120 §8.3.3's type for each condition.
func errorType(cond string) string {
	switch cond {
	case "bad-request", "jid-malformed", "not-acceptable", "policy-violation", "redirect":
		return "modify"
	case "forbidden", "not-authorized", "registration-required", "subscription-required":
		return "auth"
	case "recipient-unavailable", "remote-server-timeout", "resource-constraint", "unexpected-request":
		return "wait"
	}
	return "cancel"
}

// Body returns the text of a message's <body/> ("" if none).
func (s *Stanza) Body() string {
	if b, ok := quickBody(s.Raw); ok {
		return b
	}
	return slowBody(s.Raw)
}

// quickBody finds the body of the common stanza without encoding/xml:
// plain start and end tags, an unprefixed <body> child of the top element
// with no attributes and text without references. It reports false for
// anything else (comments, CDATA, processing instructions, entities,
// namespaces on the body), which slowBody then reads properly.
func quickBody(raw []byte) (string, bool) {
	if bytes.Contains(raw, []byte("<!")) || bytes.Contains(raw, []byte("<?")) {
		return "", false
	}
	i, self, ok := tagEnd(raw, bytes.IndexByte(raw, '<'))
	if !ok {
		return "", false
	}
	if self {
		return "", true
	}
	depth := 1
	for {
		j := bytes.IndexByte(raw[i:], '<')
		if j < 0 {
			return "", false
		}
		j += i
		if j+1 < len(raw) && raw[j+1] == '/' {
			k := bytes.IndexByte(raw[j:], '>')
			if k < 0 {
				return "", false
			}
			i = j + k + 1
			if depth--; depth == 0 {
				return "", true
			}
			continue
		}
		end, self, ok := tagEnd(raw, j)
		if !ok {
			return "", false
		}
		if depth == 1 && bytes.HasPrefix(raw[j:], []byte("<body")) {
			switch tag := raw[j+5 : end]; string(tag) {
			case ">":
				k := bytes.IndexByte(raw[end:], '<')
				if k < 0 || !bytes.HasPrefix(raw[end+k:], []byte("</body>")) {
					return "", false
				}
				text := raw[end : end+k]
				if bytes.IndexByte(text, '&') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
					return "", false
				}
				return string(text), true
			case "/>":
				return "", true
			default:
				return "", false // attributes or a longer name: read properly
			}
		}
		i = end
		if !self {
			depth++
		}
	}
}

// tagEnd returns the index after the start tag at raw[at], skipping
// quoted attribute values, and whether the tag closes itself.
func tagEnd(raw []byte, at int) (end int, self bool, ok bool) {
	if at < 0 || at+1 >= len(raw) || !isNameByte(raw[at+1]) {
		return 0, false, false
	}
	var quote byte
	for i := at + 1; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '<':
			return 0, false, false
		case c == '>':
			return i + 1, raw[i-1] == '/', true
		}
	}
	return 0, false, false
}

// slowBody is Body through encoding/xml.
func slowBody(raw []byte) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	top := false
	for {
		t, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := t.(type) {
		case xml.StartElement:
			if !top {
				top = true
				continue
			}
			if t.Name.Local == "body" && (t.Name.Space == "" || t.Name.Space == "jabber:client" || t.Name.Space == "jabber:server") {
				var body string
				if err := d.DecodeElement(&body, &t); err != nil {
					return ""
				}
				return body
			}
			if err := d.Skip(); err != nil {
				return ""
			}
		case xml.EndElement:
			return ""
		}
	}
}

// Inner returns the raw children of the top element (nil if it is empty),
// e.g. to echo an iq's payload. It shares Raw's memory.
func (s *Stanza) Inner() []byte {
	d := xml.NewDecoder(bytes.NewReader(s.Raw))
	for {
		t, err := d.Token()
		if err != nil {
			return nil
		}
		if _, ok := t.(xml.StartElement); !ok {
			continue
		}
		start := d.InputOffset()
		if err := d.Skip(); err != nil && err != io.EOF {
			return nil
		}
		end := d.InputOffset()
		if end == start {
			return nil // self-closing
		}
		close := bytes.LastIndex(s.Raw[:end], []byte("</"))
		if close < int(start) {
			return nil
		}
		return s.Raw[start:close]
	}
}

// Body returns a <body/> element with text escaped, for NewStanza and Reply.
func Body(text string) []byte {
	var b bytes.Buffer
	b.Grow(len(text) + 13)
	b.WriteString("<body>")
	_ = xml.EscapeText(&b, []byte(text))
	b.WriteString("</body>")
	return b.Bytes()
}

// StanzaFromProto converts a wire stanza.
func StanzaFromProto(p *pluginv1.Stanza) *Stanza {
	return &Stanza{
		Kind: Kind(p.GetKind()), To: p.GetTo(), From: p.GetFrom(), Type: p.GetType(), ID: p.GetId(),
		Payload: Name{Space: p.GetPayloadSpace(), Local: p.GetPayloadLocal()}, Raw: p.GetRaw(),
	}
}

// StanzaToProto converts a stanza for the wire.
func StanzaToProto(s *Stanza) *pluginv1.Stanza {
	return &pluginv1.Stanza{
		Kind: pluginv1.Kind(s.Kind), To: s.To, From: s.From, Type: s.Type, Id: s.ID,
		PayloadSpace: s.Payload.Space, PayloadLocal: s.Payload.Local, Raw: s.Raw,
	}
}

// ParseStanza reads the top element of raw into a Stanza, as the broker
// does for stanzas it delivers. Raw is kept, not copied.
func ParseStanza(raw []byte) (*Stanza, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		t, err := d.RawToken()
		if err != nil {
			return nil, fmt.Errorf("plugin: parse stanza: %w", err)
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			continue
		}
		s := &Stanza{Raw: raw}
		switch se.Name.Local {
		case "message":
			s.Kind = KindMessage
		case "presence":
			s.Kind = KindPresence
		case "iq":
			s.Kind = KindIQ
		default:
			return nil, fmt.Errorf("plugin: parse stanza: <%s/> is not a stanza", se.Name.Local)
		}
		for _, a := range se.Attr {
			if a.Name.Space != "" {
				continue
			}
			switch a.Name.Local {
			case "to":
				s.To = a.Value
			case "from":
				s.From = a.Value
			case "type":
				s.Type = a.Value
			case "id":
				s.ID = a.Value
			}
		}
		// The first child, if any, names the payload.
		for {
			t, err := d.RawToken()
			if err != nil {
				return nil, fmt.Errorf("plugin: parse stanza: %w", err)
			}
			switch t := t.(type) {
			case xml.StartElement:
				s.Payload = Name{Local: t.Name.Local}
				for _, a := range t.Attr {
					if a.Name.Space == "" && a.Name.Local == "xmlns" {
						s.Payload.Space = a.Value
					}
				}
				return s, nil
			case xml.EndElement:
				return s, nil
			}
		}
	}
}
