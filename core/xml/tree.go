package xml

import (
	"bytes"
	"io"
	"strconv"
)

// Attr is an attribute of an Element, its value unescaped.
type Attr struct {
	Name  Name
	Value string
}

// Element is a parsed element, for the stanzas the server itself must
// understand (roster, disco, forms...). Namespace declarations are not
// attributes: they are resolved into the names.
type Element struct {
	Name     Name
	Attrs    []Attr
	Children []*Element
	Text     string // the character data directly inside, concatenated, unescaped
}

// Parse parses raw, which must hold one self-contained element (white space
// around it is allowed), with the checks and DefaultLimits of the Decoder.
// Unqualified elements are in defaultSpace. Errors are *SyntaxError.
func Parse(raw []byte, defaultSpace string) (*Element, error) {
	p := &parseState{}
	d, tb := &p.d, &p.tb
	*d = Decoder{lim: DefaultLimits, fragment: true, st: stTop, defSpace: defaultSpace,
		buf: raw, end: len(raw), tb: tb,
		attrs: p.attrs[:0], open: p.open[:0], fattrs: p.fattrs[:0], fvals: p.fvals[:0], binds: p.binds[:0]}
	tb.stack, tb.marks = p.stack[:0], p.marks[:0]
	if _, err := d.Next(); err != nil {
		switch err {
		case io.EOF:
			return nil, &SyntaxError{Cond: NotWellFormed, Msg: "no element"}
		case io.ErrUnexpectedEOF:
			return nil, &SyntaxError{Cond: NotWellFormed, Msg: "unexpected end of element", Offset: int64(len(raw))}
		}
		return nil, err
	}
	if d.start != d.end {
		return nil, &SyntaxError{Cond: NotWellFormed, Msg: "data after the element", Offset: int64(d.start)}
	}
	return tb.root, nil
}

// parseState holds what Parse needs in one allocation, with room for the
// common sizes of stanzas.
type parseState struct {
	d      Decoder
	tb     treeBuilder
	attrs  [8]attrRec
	open   [8]openRec
	fattrs [8]RawAttr
	fvals  [16]int32
	binds  [4]binding
	stack  [8]*Element
	marks  [8]int
}

// treeBuilder receives the Decoder's events when Parse runs it. The text of
// all open elements shares one buffer: a child is closed before its parent
// gets more text, so each element's text is the buffer's tail from where it
// started.
//
// Elements and attributes are cut from slabs, a few allocations for a
// stanza rather than a few per element; values repeated in a stanza share
// their string through the Decoder's name cache.
type treeBuilder struct {
	stack []*Element
	text  []byte
	marks []int // where each open element's text starts in text
	root  *Element
	elems []Element
	attrs []Attr
}

func (t *treeBuilder) start(d *Decoder, space string, local []byte) {
	if len(t.elems) == 0 {
		t.elems = make([]Element, 8)
	}
	e := &t.elems[0]
	t.elems = t.elems[1:]
	e.Name = Name{Space: space, Local: d.intern(local)}
	if n := len(d.attrs) - d.ndecl; n > 0 {
		if len(t.attrs) < n {
			t.attrs = make([]Attr, max(n, 16))
		}
		e.Attrs = t.attrs[:0:n] // full capacity: a caller's append must not write into the slab
		t.attrs = t.attrs[n:]
	}
	for k := range d.attrs {
		a := &d.attrs[k]
		if a.decl {
			continue
		}
		var value string
		if v := d.bytes(a.vOff, a.vLen); a.amp || bytes.ContainsAny(v, "\t\n\r") {
			value = UnescapeString(v) // checked by the scanner
		} else {
			value = d.intern(v)
		}
		e.Attrs = append(e.Attrs, Attr{
			Name:  Name{Space: d.attrSpace(k), Local: d.intern(d.bytes(a.nOff+a.colon+1, a.nLen-a.colon-1))},
			Value: value,
		})
	}
	if n := len(t.stack); n > 0 {
		t.stack[n-1].Children = append(t.stack[n-1].Children, e)
	} else {
		t.root = e
	}
	t.stack = append(t.stack, e)
	t.marks = append(t.marks, len(t.text))
}

func (t *treeBuilder) chars(raw []byte, cdata bool) {
	if cdata {
		t.text = appendNormalizedNL(t.text, raw)
		return
	}
	t.text, _ = Unescape(t.text, raw) // checked by the scanner
}

func (t *treeBuilder) end() {
	n := len(t.stack) - 1
	if m := t.marks[n]; len(t.text) > m {
		t.stack[n].Text = string(t.text[m:])
		t.text = t.text[:m]
	}
	t.stack, t.marks = t.stack[:n], t.marks[:n]
}

// appendNormalizedNL appends raw with CR LF and CR turned into LF.
func appendNormalizedNL(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// New returns an element named local in namespace space, with unnamespaced
// attributes given as key, value pairs. It panics on an odd number of attrs,
// a programming error.
func New(space, local string, attrs ...string) *Element {
	if len(attrs)%2 != 0 {
		panic("xml: New: odd number of attrs")
	}
	e := &Element{Name: Name{Space: space, Local: local}}
	if len(attrs) > 0 {
		e.Attrs = make([]Attr, 0, len(attrs)/2)
		for i := 0; i < len(attrs); i += 2 {
			e.Attrs = append(e.Attrs, Attr{Name: Name{Local: attrs[i]}, Value: attrs[i+1]})
		}
	}
	return e
}

// Attr returns the value of the unnamespaced attribute local, "" if absent.
func (e *Element) Attr(local string) string {
	v, _ := e.AttrNS("", local)
	return v
}

// AttrNS returns the value of the attribute local in namespace space.
func (e *Element) AttrNS(space, local string) (string, bool) {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == space {
			return e.Attrs[i].Value, true
		}
	}
	return "", false
}

// SetAttr sets the unnamespaced attribute local, replacing its value if it
// exists. It returns e.
func (e *Element) SetAttr(local, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == "" {
			e.Attrs[i].Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: Name{Local: local}, Value: value})
	return e
}

// Child returns the first child named local in namespace space, or nil.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			return c
		}
	}
	return nil
}

// ChildrenNamed returns the children named local in namespace space.
func (e *Element) ChildrenNamed(space, local string) []*Element {
	var out []*Element
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			out = append(out, c)
		}
	}
	return out
}

// Add appends children to e and returns e.
func (e *Element) Add(children ...*Element) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// SetText sets the character data of e and returns e.
func (e *Element) SetText(s string) *Element {
	e.Text = s
	return e
}

// Append appends e serialised to dst. An element gets xmlns='...' when its
// namespace differs from its parent's (for e itself, from parentSpace), so
// the output is self-contained and has no redundant declarations; an element
// in the XML namespace is written with the xml prefix instead. xml:lang
// and other attributes in the XML namespace keep the xml prefix; attributes
// in other namespaces get prefixes ns0, ns1... declared on their element.
// Namespace declarations found in Attrs are skipped. Text is written before
// the children. Names are assumed valid; values and text are escaped, and
// the output for given e and parentSpace is always the same bytes.
func (e *Element) Append(dst []byte, parentSpace string) []byte {
	// An element in the XML namespace cannot declare it as default: it gets
	// the xml prefix and leaves the default namespace as it is.
	xmlSpace := e.Name.Space == nsXML
	dst = append(dst, '<')
	if xmlSpace {
		dst = append(dst, "xml:"...)
	}
	dst = append(dst, e.Name.Local...)
	if e.Name.Space != parentSpace && !xmlSpace {
		dst = append(dst, " xmlns='"...)
		dst = EscapeAttr(dst, e.Name.Space)
		dst = append(dst, '\'')
	}
	var spaces []string // namespaces given a prefix on this element, in order
	for i := range e.Attrs {
		a := &e.Attrs[i]
		switch {
		case a.Name.Space == nsXMLNS || a.Name.Space == "" && a.Name.Local == "xmlns":
			continue
		case a.Name.Space == "":
			dst = append(dst, ' ')
		case a.Name.Space == nsXML:
			dst = append(dst, " xml:"...)
		default:
			p := -1
			for j, s := range spaces {
				if s == a.Name.Space {
					p = j
				}
			}
			if p < 0 {
				p = len(spaces)
				spaces = append(spaces, a.Name.Space)
				dst = append(dst, " xmlns:ns"...)
				dst = strconv.AppendInt(dst, int64(p), 10)
				dst = append(dst, "='"...)
				dst = EscapeAttr(dst, a.Name.Space)
				dst = append(dst, '\'')
			}
			dst = append(dst, " ns"...)
			dst = strconv.AppendInt(dst, int64(p), 10)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, "='"...)
		dst = EscapeAttr(dst, a.Value)
		dst = append(dst, '\'')
	}
	if e.Text == "" && len(e.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = EscapeText(dst, e.Text)
	inner := e.Name.Space
	if xmlSpace {
		inner = parentSpace
	}
	for _, c := range e.Children {
		dst = c.Append(dst, inner)
	}
	dst = append(dst, "</"...)
	if xmlSpace {
		dst = append(dst, "xml:"...)
	}
	dst = append(dst, e.Name.Local...)
	return append(dst, '>')
}

// String returns e serialised with no namespace in scope.
func (e *Element) String() string { return string(e.Append(nil, "")) }
