package stanza

import (
	"bytes"
	"sync"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/xml"
)

// Kind is the stanza kind.
type Kind uint8

const (
	Other Kind = iota // not a stanza (a stream-level element)
	Message
	Presence
	IQ
)

func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case Presence:
		return "presence"
	case IQ:
		return "iq"
	}
	return "other"
}

// KindOf returns the kind of a top-level element name in a client or server
// stream.
func KindOf(n xml.Name) Kind {
	if n.Space != NSClient && n.Space != NSServer && n.Space != "" {
		return Other
	}
	switch n.Local {
	case "message":
		return Message
	case "presence":
		return Presence
	case "iq":
		return IQ
	}
	return Other
}

// Stanza is one message, presence or iq. Raw is exactly what is written to a
// recipient's stream: the server-stamped element, in the default namespace of
// client and server streams (no xmlns on the top element unless the sender
// put one). Fields mirror Raw's top attributes; never change one without
// building a new Raw.
type Stanza struct {
	Kind    Kind
	Raw     []byte
	To      jid.JID
	From    jid.JID
	Type    string
	ID      string
	Payload xml.Name // first child element, zero if none

	once sync.Once
	elem *xml.Element
	perr error
}

// FromFrame builds a Stanza from a decoded top-level element. Raw is copied
// (the frame's bytes belong to the decoder). Invalid to/from addresses give
// a jid-malformed Error.
func FromFrame(f *xml.Frame) (*Stanza, error) {
	s := &Stanza{Kind: KindOf(f.Name), Payload: f.Child}
	if err := s.readAttrs(f); err != nil {
		return nil, err
	}
	s.Raw = bytes.Clone(f.Raw)
	return s, nil
}

// Stamped is FromFrame for a stanza received from a client: Raw is rebuilt
// with from set to the sender's address (RFC 6120 §8.1.2.1: the server
// stamps or overwrites from). One copy, no re-encoding.
func Stamped(f *xml.Frame, from jid.JID) (*Stanza, error) {
	s := &Stanza{Kind: KindOf(f.Name), Payload: f.Child}
	if err := s.readAttrs(f); err != nil {
		return nil, err
	}
	s.From = from
	s.Raw = xml.SetAttrs(make([]byte, 0, len(f.Raw)+len(from.String())+8), f.Raw, "from", from.String())
	return s, nil
}

func (s *Stanza) readAttrs(f *xml.Frame) error {
	for i := range f.Attrs {
		a := &f.Attrs[i]
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "to":
			j, err := parseJIDAttr(a.Value)
			if err != nil {
				return Error{Condition: JIDMalformed, Text: "invalid 'to' address"}
			}
			s.To = j
		case "from":
			j, err := parseJIDAttr(a.Value)
			if err != nil {
				return Error{Condition: JIDMalformed, Text: "invalid 'from' address"}
			}
			s.From = j
		case "type":
			s.Type = internType(a.Value)
		case "id":
			s.ID = xml.UnescapeString(a.Value)
		}
	}
	return nil
}

func parseJIDAttr(v []byte) (jid.JID, error) {
	if bytes.IndexByte(v, '&') >= 0 {
		return jid.Parse(xml.UnescapeString(v))
	}
	return jid.ParseBytes(v)
}

var knownTypes = []string{"chat", "normal", "headline", "groupchat", "error", "get", "set", "result",
	"unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"}

func internType(v []byte) string {
	for _, t := range knownTypes {
		if string(v) == t {
			return t
		}
	}
	return xml.UnescapeString(v)
}

// parser is a reusable fragment decoder: Parse runs for every stanza a
// plugin sends, and a decoder with its buffers per call cost more than the
// parse. Nothing of a Stanza points into the decoder's buffers.
type parser struct {
	r bytes.Reader
	d *xml.Decoder
}

var parsers = sync.Pool{New: func() any {
	p := &parser{}
	// The input is already in memory and bounded by whoever produced it;
	// depth and attribute limits still apply.
	p.d = xml.NewFragmentDecoder(&p.r, xml.Limits{MaxElement: 1 << 30})
	p.d.SetDefaultSpace(NSClient)
	return p
}}

// Parse builds a Stanza from self-contained raw bytes (from storage or a
// plugin). The bytes are kept, not copied.
func Parse(raw []byte) (*Stanza, error) {
	p := parsers.Get().(*parser)
	defer parsers.Put(p)
	p.r.Reset(raw)
	p.d.Reset(&p.r)
	f, err := p.d.Next()
	if err != nil {
		return nil, err
	}
	s := &Stanza{Kind: KindOf(f.Name), Payload: f.Child}
	if s.Kind == Other {
		return nil, Error{Condition: BadRequest, Text: "not a stanza"}
	}
	if err := s.readAttrs(&f); err != nil {
		return nil, err
	}
	s.Raw = raw[:len(f.Raw):len(f.Raw)]
	if len(f.Raw) != len(raw) {
		// Leading whitespace or a trailing element: keep exactly the element.
		s.Raw = bytes.Clone(f.Raw)
	}
	return s, nil
}

// Element parses Raw into a tree, once. Use it only for stanzas the server
// itself must understand.
func (s *Stanza) Element() (*xml.Element, error) {
	s.once.Do(func() { s.elem, s.perr = xml.Parse(s.Raw, NSClient) })
	return s.elem, s.perr
}

// IsIQRequest reports whether s is an iq get or set.
func (s *Stanza) IsIQRequest() bool {
	return s.Kind == IQ && (s.Type == "get" || s.Type == "set")
}

// Build returns a new stanza of the given kind with the given header and
// payload elements (each self-contained raw XML). Empty JIDs and strings are
// omitted.
func Build(kind Kind, from, to jid.JID, typ, id string, payload ...[]byte) *Stanza {
	name := kind.String()
	b := make([]byte, 0, 96+totalLen(payload))
	b = append(b, '<')
	b = append(b, name...)
	b = attr(b, "from", from.String())
	b = attr(b, "to", to.String())
	b = attr(b, "type", typ)
	b = attr(b, "id", id)
	if len(payload) == 0 {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
		for _, p := range payload {
			b = append(b, p...)
		}
		b = append(b, "</"...)
		b = append(b, name...)
		b = append(b, '>')
	}
	s := &Stanza{Kind: kind, Raw: b, From: from, To: to, Type: typ, ID: id}
	if len(payload) > 0 {
		s.Payload = firstName(payload[0])
	}
	return s
}

func totalLen(p [][]byte) int {
	n := 0
	for _, x := range p {
		n += len(x)
	}
	return n
}

func attr(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ' ')
	b = append(b, k...)
	b = append(b, "='"...)
	b = xml.EscapeAttr(b, v)
	return append(b, '\'')
}

func firstName(raw []byte) xml.Name {
	e, err := xml.Parse(raw, NSClient)
	if err != nil {
		return xml.Name{}
	}
	return e.Name
}

// Result builds the iq result for an iq request, with optional payload.
func (s *Stanza) Result(payload ...[]byte) *Stanza {
	return Build(IQ, s.To, s.From, "result", s.ID, payload...)
}

// ErrorReply builds the error response to s (RFC 6120 §8.3): addresses
// swapped, same id, type='error'. For iq the original payload is not echoed.
func (s *Stanza) ErrorReply(e Error) *Stanza {
	return Build(s.Kind, s.To, s.From, "error", s.ID, ErrorElement(e))
}

// ErrorElement renders e as an <error/> element.
func ErrorElement(e Error) []byte {
	b := make([]byte, 0, 160+len(e.Text)+len(e.App))
	b = append(b, "<error type='"...)
	b = append(b, e.ErrorType()...)
	b = append(b, "'><"...)
	b = append(b, e.Condition...)
	b = append(b, " xmlns='"+NSStanzas+"'/>"...)
	if e.Text != "" {
		b = append(b, "<text xmlns='"+NSStanzas+"' xml:lang='en'>"...)
		b = xml.EscapeText(b, e.Text)
		b = append(b, "</text>"...)
	}
	b = append(b, e.App...)
	return append(b, "</error>"...)
}

// ParseError extracts the Error of an error stanza.
func ParseError(s *Stanza) (Error, bool) {
	if s.Type != "error" {
		return Error{}, false
	}
	el, err := s.Element()
	if err != nil {
		return Error{}, false
	}
	for _, c := range el.Children {
		if c.Name.Local != "error" {
			continue
		}
		e := Error{Type: ErrorType(c.Attr("type")), Condition: UndefinedCondition}
		for _, cc := range c.Children {
			if cc.Name.Space != NSStanzas {
				continue
			}
			if cc.Name.Local == "text" {
				e.Text = cc.Text
			} else {
				e.Condition = Condition(cc.Name.Local)
			}
		}
		return e, true
	}
	return Error{}, false
}
