package apptest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Namespaces the harness needs to recognise stream-level elements.
const (
	nsClient  = "jabber:client"
	nsStream  = "http://etherx.jabber.org/streams"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Wildcard as an attribute value or as text matches any value.
const Wildcard = "{*}"

// Element is a received element, or a pattern to match one. It is parsed
// with encoding/xml, not with the broker's tokenizer, so that the harness
// does not share the bugs of the code it tests.
type Element struct {
	Name     xml.Name
	Attr     []xml.Attr // namespace declarations excluded
	Children []*Element
	Text     string // character data directly inside, concatenated
}

// Get returns the value of the attribute local in namespace space.
func (e *Element) Get(space, local string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value, true
		}
	}
	return "", false
}

// AttrValue returns the unnamespaced attribute local, "" if absent.
func (e *Element) AttrValue(local string) string {
	v, _ := e.Get("", local)
	return v
}

// Child returns the first child with the given name, nil if none.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Children {
		if c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// Is reports whether e has the given name.
func (e *Element) Is(space, local string) bool {
	return e != nil && e.Name.Space == space && e.Name.Local == local
}

// String renders e with every namespace written out where it changes, for
// failure messages.
func (e *Element) String() string {
	var b strings.Builder
	e.write(&b, "")
	return b.String()
}

func (e *Element) write(b *strings.Builder, parentSpace string) {
	b.WriteString("<" + e.Name.Local)
	if e.Name.Space != parentSpace {
		fmt.Fprintf(b, " xmlns='%s'", escape(e.Name.Space))
	}
	for _, a := range e.Attr {
		name := a.Name.Local
		switch a.Name.Space {
		case "":
		case "http://www.w3.org/XML/1998/namespace":
			name = "xml:" + name
		default:
			name = "{" + a.Name.Space + "}" + name
		}
		fmt.Fprintf(b, " %s='%s'", name, escape(a.Value))
	}
	if len(e.Children) == 0 && e.Text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	b.WriteString(escape(e.Text))
	for _, c := range e.Children {
		c.write(b, e.Name.Space)
	}
	b.WriteString("</" + e.Name.Local + ">")
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// readElement builds the element that start opens from the tokens of d.
func readElement(d *xml.Decoder, start xml.StartElement) (*Element, error) {
	e := &Element{Name: start.Name}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		e.Attr = append(e.Attr, a)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := readElement(d, t)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.CharData:
			e.Text += string(t)
		case xml.EndElement:
			return e, nil
		}
	}
}

// Patterns are written in the context of a client stream: unprefixed names
// are in jabber:client and the stream: prefix is bound.
const (
	patternOpen  = "<stream:stream xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'>"
	patternClose = "</stream:stream>"
)

// ParsePattern parses one element written as in a client stream.
func ParsePattern(s string) (*Element, error) {
	d := xml.NewDecoder(strings.NewReader(patternOpen + s + patternClose))
	var out *Element
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("apptest: pattern %q: %w", s, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				depth++
				continue
			}
			if out != nil {
				return nil, fmt.Errorf("apptest: pattern %q: more than one element", s)
			}
			if out, err = readElement(d, t); err != nil {
				return nil, fmt.Errorf("apptest: pattern %q: %w", s, err)
			}
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, fmt.Errorf("apptest: pattern %q: text outside the element", s)
			}
		}
	}
	if out == nil {
		return nil, fmt.Errorf("apptest: pattern %q: no element", s)
	}
	return out, nil
}

// MustPattern is ParsePattern for patterns written in test code.
func MustPattern(s string) *Element {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// ParseElement parses one complete element whose unprefixed names default
// to jabber:client (what slixmpp prints, what a WebSocket message holds).
func ParseElement(s string) (*Element, error) { return ParsePattern(s) }

// Match reports whether got has everything pattern p lists: the same name,
// each of p's attributes with the same value (or any value for Wildcard),
// p's text if it has any, and for each of p's children a distinct child of
// got that matches it, in any order. Anything else got has is allowed.
func (p *Element) Match(got *Element) bool {
	if got == nil || p.Name != got.Name {
		return false
	}
	for _, a := range p.Attr {
		v, ok := got.Get(a.Name.Space, a.Name.Local)
		if !ok || (a.Value != Wildcard && a.Value != v) {
			return false
		}
	}
	if want := strings.TrimSpace(p.Text); want != "" && want != Wildcard && want != strings.TrimSpace(got.Text) {
		return false
	}
	used := make([]bool, len(got.Children))
	for _, pc := range p.Children {
		i := slices.IndexFunc(got.Children, func(gc *Element) bool { return pc.Match(gc) })
		for i >= 0 && used[i] {
			j := slices.IndexFunc(got.Children[i+1:], func(gc *Element) bool { return pc.Match(gc) })
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 {
			return false
		}
		used[i] = true
	}
	return true
}
