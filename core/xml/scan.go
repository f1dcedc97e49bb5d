package xml

import (
	"encoding/binary"
	"math/bits"
)

// The scanner is a resumable state machine over d.buf[d.pos:d.end]. Each
// state has a tight loop for its common bytes; a state that needs a few
// bytes of look-ahead (a reference, a UTF-8 sequence, "]]>", "<![CDATA[")
// stops before them and is resumed at the same byte once more input has
// arrived. No state has to remember half a token, and since such tokens are
// at most maxRef bytes, scanning them again costs nothing; every other byte
// is scanned once, whatever the sizes of the reads.

type state uint8

const (
	stProlog    state = iota // stream mode, before the header: white space, XML declaration
	stTop                    // between top-level elements
	stLT                     // after '<'
	stStartName              // in a start tag's name
	stTagSpace               // in a start tag, after the name or an attribute
	stAttrName               // in an attribute name
	stAttrEq                 // after an attribute name, before '='
	stAttrQuote              // after '=', before the quote
	stAttrValue              // inside a quoted attribute value
	stEmptyEnd               // after '/' in a start tag
	stText                   // character data inside an element
	stEndName                // in an end tag's name
	stEndSpace               // after an end tag's name
	stCData                  // inside a CDATA section
	stDone                   // after the stream's close tag
)

const (
	scanMore  = iota // need more input
	scanFrame        // d.frame is ready
	scanError        // d.err is set
)

const (
	nsXML    = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS  = "http://www.w3.org/2000/xmlns/"
	nsStream = "http://etherx.jabber.org/streams"
)

func (d *Decoder) rel(i int) int32 { return int32(i - d.start) }

func (d *Decoder) bytes(off, n int32) []byte {
	return d.buf[d.start+int(off) : d.start+int(off)+int(n)]
}

// limit is the end of what may be scanned of the current element: the
// buffered bytes, but no further than its size limit.
func (d *Decoder) limit() int {
	m := d.lim.MaxElement
	if d.inHeader {
		m = maxHeader
	}
	if d.end-d.start > m { // written so that a huge limit cannot overflow
		return d.start + m
	}
	return d.end
}

// suspend stops scanning at i for more input, unless the limit, not the end
// of input, stopped it.
func (d *Decoder) suspend(i, limit int) int {
	d.pos = i
	if limit < d.end {
		if d.inHeader {
			return d.fail(limit, PolicyViolation, "stream header larger than 8 KiB")
		}
		return d.fail(limit, PolicyViolation, "element larger than the limit")
	}
	return scanMore
}

func (d *Decoder) scan() int {
	buf := d.buf[:d.end]
	i := d.pos
	limit := d.limit()
	for {
		switch d.st {
		case stProlog:
			for i < len(buf) && isSpace(buf[i]) {
				i++
			}
			d.start = i
			if i == len(buf) {
				d.pos = i
				return scanMore
			}
			if buf[i] != '<' {
				return d.fail(i, NotWellFormed, "text before the stream header")
			}
			if !d.declSeen {
				b := buf[i:]
				if len(b) > maxDecl {
					b = b[:maxDecl]
				}
				if len(b) < 6 && string(b) == "<?xml "[:len(b)] {
					d.pos = i
					return scanMore
				}
				if len(b) >= 6 && string(b[:5]) == "<?xml" && isSpace(b[5]) {
					n, cond, msg := parseDecl(b)
					if n < 0 {
						return d.fail(i, cond, msg)
					}
					if n == 0 {
						if len(b) == maxDecl {
							return d.fail(i, NotWellFormed, "XML declaration too long")
						}
						d.pos = i
						return scanMore
					}
					d.declSeen = true
					i += n
					continue
				}
			}
			d.declSeen = true
			d.inHeader = true
			limit = d.limit()
			i++
			d.st = stLT

		case stTop:
			for i < len(buf) && isSpace(buf[i]) {
				i++
			}
			d.start = i
			if i == len(buf) {
				d.pos = i
				return scanMore
			}
			if buf[i] != '<' {
				return d.fail(i, NotWellFormed, "character data between top-level elements")
			}
			d.epoch++
			d.hasChild = false
			d.frame = Frame{}
			limit = d.limit()
			i++
			d.st = stLT

		case stLT:
			if i >= limit {
				return d.suspend(i, limit)
			}
			// The common case, a start tag, falls through to the states that
			// follow; the others dispatch through the loop.
			if c := buf[i]; charClass[c]&cName == 0 {
				switch c {
				case '/':
					if d.depth == 0 && (d.fragment || d.inHeader) {
						return d.fail(i, NotWellFormed, "end tag without start tag")
					}
					i++
					d.tok = d.rel(i)
					d.st = stEndName
					continue
				case '!':
					b := buf[i-1 : limit]
					if len(b) < 3 {
						return d.suspend(i, limit)
					}
					switch {
					case b[2] == '-':
						return d.fail(i, RestrictedXML, "comment")
					case b[2] >= 'A' && b[2] <= 'Z':
						return d.fail(i, RestrictedXML, "document type or markup declaration")
					case b[2] != '[':
						return d.fail(i, NotWellFormed, "malformed markup")
					case d.depth == 0:
						return d.fail(i, NotWellFormed, "CDATA section outside an element")
					}
					const open = "<![CDATA["
					if len(b) < len(open) {
						if string(b) != open[:len(b)] {
							return d.fail(i, NotWellFormed, "malformed CDATA section")
						}
						return d.suspend(i, limit)
					}
					if string(b[:len(open)]) != open {
						return d.fail(i, NotWellFormed, "malformed CDATA section")
					}
					i += len(open) - 1
					d.tok = d.rel(i)
					d.st = stCData
					continue
				case '?':
					return d.fail(i, RestrictedXML, "processing instruction")
				}
				return d.fail(i, NotWellFormed, "malformed start tag")
			}
			d.nameOff = d.rel(i)
			d.complex = false
			d.st = stStartName
			fallthrough

		case stStartName:
			i = d.scanName(buf, i, limit)
			if i >= limit {
				return d.suspend(i, limit)
			}
			colon, ok := -1, charClass[buf[d.start+int(d.nameOff)]]&cNameStart != 0
			if d.complex {
				colon, ok = checkQName(buf[d.start+int(d.nameOff) : i])
			}
			if !ok {
				return d.fail(d.start+int(d.nameOff), NotWellFormed, "invalid element name")
			}
			d.colon = int32(colon)
			d.nameEnd = d.rel(i)
			d.attrs = d.attrs[:0]
			d.ndecl, d.nprefixed = 0, 0
			d.spaced = false
			d.st = stTagSpace
			fallthrough

		case stTagSpace:
			for i < limit && isSpace(buf[i]) {
				i++
				d.spaced = true
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			switch c := buf[i]; {
			case c == '>':
				i++
				if r := d.startTag(i, false); r != scanMore {
					d.pos = i
					return r
				}
				limit = d.limit()
				continue
			case c == '/':
				i++
				d.st = stEmptyEnd
				continue
			case !d.spaced || charClass[c]&cName == 0:
				return d.fail(i, NotWellFormed, "malformed start tag")
			}
			d.tok = d.rel(i)
			d.complex = false
			d.st = stAttrName
			fallthrough

		case stAttrName:
			i = d.scanName(buf, i, limit)
			if i >= limit {
				return d.suspend(i, limit)
			}
			name := buf[d.start+int(d.tok) : i]
			colon, ok := -1, charClass[name[0]]&cNameStart != 0
			if d.complex {
				colon, ok = checkQName(name)
			}
			if !ok {
				return d.fail(d.start+int(d.tok), NotWellFormed, "invalid attribute name")
			}
			if len(d.attrs) >= d.lim.MaxAttrs {
				return d.fail(d.start+int(d.tok), PolicyViolation, "too many attributes")
			}
			decl := colon < 0 && string(name) == "xmlns" || colon == 5 && string(name[:5]) == "xmlns"
			if decl {
				d.ndecl++
			} else if colon >= 0 {
				d.nprefixed++
			}
			d.attrs = append(d.attrs, attrRec{nOff: d.tok, nLen: int32(len(name)), colon: int32(colon), decl: decl})
			d.st = stAttrEq
			fallthrough

		case stAttrEq:
			for i < limit && isSpace(buf[i]) {
				i++
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			if buf[i] != '=' {
				return d.fail(i, NotWellFormed, "attribute without value")
			}
			i++
			d.st = stAttrQuote
			fallthrough

		case stAttrQuote:
			for i < limit && isSpace(buf[i]) {
				i++
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			if c := buf[i]; c != '\'' && c != '"' {
				return d.fail(i, NotWellFormed, "unquoted attribute value")
			}
			d.quote = buf[i]
			i++
			d.tok = d.rel(i)
			d.amp = false
			d.st = stAttrValue
			fallthrough

		case stAttrValue:
			q := d.quote
		value:
			for i < limit {
				if i+8 <= limit {
					m := attrSpecial(binary.LittleEndian.Uint64(buf[i:]))
					if m == 0 {
						i += 8
						continue
					}
					i += bits.TrailingZeros64(m) >> 3
				}
				c := buf[i]
				if charClass[c]&cAttr != 0 {
					i++
					continue
				}
				switch {
				case c == q:
					break value
				case c == '\'' || c == '"':
					i++
				case c == '&':
					_, n, cond, msg := parseRef(buf[i:limit])
					if n == 0 {
						return d.suspend(i, limit)
					}
					if n < 0 {
						return d.fail(i, cond, msg)
					}
					i += n
					d.amp = true
				case c == '<':
					return d.fail(i, NotWellFormed, "'<' in attribute value")
				case c >= 0x80:
					_, n := decodeChar(buf[i:limit])
					if n == 0 {
						return d.suspend(i, limit)
					}
					if n < 0 {
						return d.fail(i, NotWellFormed, "invalid UTF-8 or illegal character")
					}
					i += n
				default:
					return d.fail(i, NotWellFormed, "illegal character")
				}
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			a := &d.attrs[len(d.attrs)-1]
			a.vOff, a.vLen, a.amp = d.tok, d.rel(i)-d.tok, d.amp
			i++
			d.spaced = false
			d.st = stTagSpace

		case stEmptyEnd:
			if i >= limit {
				return d.suspend(i, limit)
			}
			if buf[i] != '>' {
				return d.fail(i, NotWellFormed, "malformed empty-element tag")
			}
			i++
			if r := d.startTag(i, true); r != scanMore {
				d.pos = i
				return r
			}
			limit = d.limit()

		case stText:
		text:
			for i < limit {
				if i+8 <= limit {
					m := textSpecial(binary.LittleEndian.Uint64(buf[i:]))
					if m == 0 {
						i += 8
						continue
					}
					i += bits.TrailingZeros64(m) >> 3
				}
				c := buf[i]
				if charClass[c]&cText != 0 {
					i++
					continue
				}
				switch {
				case c == '<':
					break text
				case c == '&':
					_, n, cond, msg := parseRef(buf[i:limit])
					if n == 0 {
						return d.suspend(i, limit)
					}
					if n < 0 {
						return d.fail(i, cond, msg)
					}
					i += n
				case c == ']':
					if i+2 >= limit {
						if i+1 < limit && buf[i+1] != ']' {
							i++
							continue
						}
						return d.suspend(i, limit)
					}
					if buf[i+1] == ']' && buf[i+2] == '>' {
						return d.fail(i, NotWellFormed, "']]>' in character data")
					}
					i++
				case c >= 0x80:
					_, n := decodeChar(buf[i:limit])
					if n == 0 {
						return d.suspend(i, limit)
					}
					if n < 0 {
						return d.fail(i, NotWellFormed, "invalid UTF-8 or illegal character")
					}
					i += n
				default:
					return d.fail(i, NotWellFormed, "illegal character")
				}
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			if d.tb != nil {
				d.tb.chars(buf[d.start+int(d.tok):i], false)
			}
			i++
			d.st = stLT

		case stEndName:
			for i < limit && charClass[buf[i]]&cName != 0 {
				i++
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			name := buf[d.start+int(d.tok) : i]
			if d.depth == 0 {
				if string(name) != d.hdrQName {
					return d.fail(d.start+int(d.tok), NotWellFormed, "end tag does not match the stream header")
				}
			} else if o := d.open[len(d.open)-1]; string(name) != string(d.bytes(o.off, o.n)) {
				return d.fail(d.start+int(d.tok), NotWellFormed, "end tag does not match start tag")
			}
			d.st = stEndSpace
			fallthrough

		case stEndSpace:
			for i < limit && isSpace(buf[i]) {
				i++
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			if buf[i] != '>' {
				return d.fail(i, NotWellFormed, "malformed end tag")
			}
			i++
			if d.depth == 0 {
				d.frame = Frame{Kind: StreamClose, Raw: buf[d.start:i], Name: Name{Space: nsStream, Local: "stream"}}
				d.closed = true
				d.st = stDone
				d.start, d.pos = i, i
				return scanFrame
			}
			if r := d.endTag(i); r != scanMore {
				d.pos = i
				return r
			}

		case stCData:
		cdata:
			for i < limit {
				c := buf[i]
				if charClass[c]&cCData != 0 {
					i++
					continue
				}
				switch {
				case c == ']':
					if i+2 >= limit {
						if i+1 < limit && buf[i+1] != ']' {
							i++
							continue
						}
						return d.suspend(i, limit)
					}
					if buf[i+1] == ']' && buf[i+2] == '>' {
						break cdata
					}
					i++
				case c >= 0x80:
					_, n := decodeChar(buf[i:limit])
					if n == 0 {
						return d.suspend(i, limit)
					}
					if n < 0 {
						return d.fail(i, NotWellFormed, "invalid UTF-8 or illegal character")
					}
					i += n
				default:
					return d.fail(i, NotWellFormed, "illegal character")
				}
			}
			if i >= limit {
				return d.suspend(i, limit)
			}
			if d.tb != nil {
				d.tb.chars(buf[d.start+int(d.tok):i], true)
			}
			i += 3
			d.tok = d.rel(i)
			d.st = stText

		default: // stDone
			d.pos = i
			return scanMore
		}
	}
}

// scanName advances over the bytes of a name. Most names are ASCII without
// a prefix; for those the loop tests one class bit and checkName only the
// first byte. A colon or a byte >= 0x80 marks the name for a full check.
func (d *Decoder) scanName(buf []byte, i, limit int) int {
	for {
		for i < limit && charClass[buf[i]]&cNCName != 0 {
			i++
		}
		if i >= limit || charClass[buf[i]]&cName == 0 {
			return i
		}
		d.complex = true
		i++
	}
}

// startTag completes a start tag that ended before i: namespace
// declarations, resolution, duplicate attributes, then the frame's fields.
func (d *Decoder) startTag(i int, empty bool) int {
	depth := d.depth + 1
	if d.inHeader {
		depth = 0
	} else if depth > d.lim.MaxDepth {
		return d.fail(d.start+int(d.nameOff), PolicyViolation, "elements nested too deeply")
	}
	space, r := d.resolve(int32(depth))
	if r != scanMore {
		return r
	}
	qname := d.bytes(d.nameOff, d.nameEnd-d.nameOff)
	local := qname[d.colon+1:]
	if d.inHeader {
		return d.header(i, empty, space, local, qname)
	}
	switch {
	case depth == 1:
		d.frame.Name = Name{Space: space, Local: d.intern(local)}
		d.topNameEnd = d.nameEnd
		d.topAttrs()
	case depth == 2 && !d.hasChild:
		d.frame.Child = Name{Space: space, Local: d.intern(local)}
		d.hasChild = true
	}
	if d.tb != nil {
		d.tb.start(d, space, local)
	}
	if empty {
		for len(d.binds) > 0 && d.binds[len(d.binds)-1].depth == int32(depth) {
			d.binds = d.binds[:len(d.binds)-1]
		}
		if d.tb != nil {
			d.tb.end()
		}
		if depth == 1 {
			return d.finish(i)
		}
	} else {
		d.open = append(d.open, openRec{off: d.nameOff, n: d.nameEnd - d.nameOff})
		d.depth = depth
	}
	d.tok = d.rel(i)
	d.st = stText
	return scanMore
}

// resolve handles the namespace declarations of the current start tag,
// resolves the prefixes of its attributes, checks for duplicates, and
// returns the namespace of the element.
func (d *Decoder) resolve(depth int32) (string, int) {
	unbound := NotWellFormed
	if d.inHeader {
		unbound = InvalidNamespace
	}
	for k := 0; k < len(d.attrs) && d.ndecl > 0; k++ {
		a := &d.attrs[k]
		if !a.decl {
			continue
		}
		name := d.bytes(a.nOff, a.nLen)
		var pOff, pLen int32
		if a.colon >= 0 {
			pOff, pLen = a.nOff+6, a.nLen-6
		}
		uri := d.attrValue(a)
		prefix := name[len(name)-int(pLen):]
		switch {
		case string(prefix) == "xml":
			if uri != nsXML {
				return "", d.fail(d.start+int(a.nOff), NotWellFormed, "prefix xml bound to another namespace")
			}
			continue // always bound
		case string(prefix) == "xmlns":
			return "", d.fail(d.start+int(a.nOff), NotWellFormed, "prefix xmlns declared")
		case uri == nsXML || uri == nsXMLNS:
			return "", d.fail(d.start+int(a.nOff), NotWellFormed, "reserved namespace bound")
		case pLen > 0 && uri == "":
			return "", d.fail(d.start+int(a.nOff), NotWellFormed, "prefix bound to the empty namespace")
		}
		d.binds = append(d.binds, binding{depth: depth, pOff: pOff, pLen: pLen, uri: uri})
	}
	var prefix []byte
	if d.colon >= 0 {
		prefix = d.bytes(d.nameOff, d.colon)
		if string(prefix) == "xmlns" {
			return "", d.fail(d.start+int(d.nameOff), NotWellFormed, "element prefixed with xmlns")
		}
	}
	space, ok := d.lookup(prefix, depth == 1)
	if !ok {
		return "", d.fail(d.start+int(d.nameOff), unbound, "unbound prefix")
	}
	if d.nprefixed > 0 {
		d.aspace = d.aspace[:0]
		for k := range d.attrs {
			a := &d.attrs[k]
			var s string
			if !a.decl && a.colon >= 0 {
				if s, ok = d.lookup(d.bytes(a.nOff, a.colon), false); !ok {
					return "", d.fail(d.start+int(a.nOff), unbound, "unbound prefix")
				}
			}
			d.aspace = append(d.aspace, s)
		}
	}
	// Quadratic, but MaxAttrs bounds it and tags rarely have more than a few
	// attributes; the length test rejects most pairs.
	buf := d.buf[d.start:]
	for x := 1; x < len(d.attrs); x++ {
		ax := &d.attrs[x]
		nx := buf[ax.nOff : ax.nOff+ax.nLen]
		for y := 0; y < x; y++ {
			ay := &d.attrs[y]
			if ay.nLen == ax.nLen && buf[ay.nOff] == nx[0] && string(buf[ay.nOff:ay.nOff+ay.nLen]) == string(nx) {
				return "", d.fail(d.start+int(ax.nOff), NotWellFormed, "duplicate attribute")
			}
			if d.nprefixed > 1 && d.aspace[x] != "" && d.aspace[x] == d.aspace[y] && ax.nLen-ax.colon == ay.nLen-ay.colon &&
				string(nx[ax.colon:]) == string(d.bytes(ay.nOff+ay.colon, ay.nLen-ay.colon)) {
				return "", d.fail(d.start+int(ax.nOff), NotWellFormed, "duplicate attribute after namespace resolution")
			}
		}
	}
	return space, scanMore
}

// attrValue returns the unescaped value of a, interned.
func (d *Decoder) attrValue(a *attrRec) string {
	v := d.bytes(a.vOff, a.vLen)
	if !a.amp {
		for _, c := range v {
			if c == '\t' || c == '\n' || c == '\r' {
				a.amp = true
				break
			}
		}
	}
	if !a.amp {
		return d.intern(v)
	}
	d.nsbuf, _ = UnescapeAttr(d.nsbuf[:0], v) // the scanner has checked the references
	return d.intern(d.nsbuf)
}

// lookup resolves prefix in the scope of the current element; the empty
// prefix gives the default namespace.
func (d *Decoder) lookup(prefix []byte, byName bool) (string, bool) {
	for j := len(d.binds) - 1; j >= 0; j-- {
		b := &d.binds[j]
		if int(b.pLen) == len(prefix) && string(d.bytes(b.pOff, b.pLen)) == string(prefix) {
			return b.uri, true
		}
	}
	if len(prefix) == 0 {
		if d.hdrHasDef {
			return d.hdrDef, true
		}
		return d.defSpace, true
	}
	if string(prefix) == "xml" {
		return nsXML, true
	}
	for j := range d.hdrBinds {
		h := &d.hdrBinds[j]
		if h.prefix == string(prefix) {
			if byName {
				h.byName = d.epoch
			} else {
				h.used = d.epoch
			}
			return h.uri, true
		}
	}
	return "", false
}

// topAttrs records the attributes of the top-level element for its frame;
// the values are sliced when the frame is complete, since the buffer may
// move meanwhile.
func (d *Decoder) topAttrs() {
	d.fattrs, d.fvals = d.fattrs[:0], d.fvals[:0]
	for k := range d.attrs {
		a := &d.attrs[k]
		if a.decl {
			continue
		}
		d.fattrs = append(d.fattrs, RawAttr{Name: Name{Space: d.attrSpace(k), Local: d.intern(d.bytes(a.nOff+a.colon+1, a.nLen-a.colon-1))}})
		d.fvals = append(d.fvals, a.vOff, a.vLen)
	}
}

// attrSpace returns the namespace of attribute k of the current tag.
func (d *Decoder) attrSpace(k int) string {
	if d.nprefixed == 0 || d.attrs[k].decl {
		return ""
	}
	return d.aspace[k]
}

func (d *Decoder) endTag(i int) int {
	for len(d.binds) > 0 && d.binds[len(d.binds)-1].depth == int32(d.depth) {
		d.binds = d.binds[:len(d.binds)-1]
	}
	d.open = d.open[:len(d.open)-1]
	d.depth--
	if d.tb != nil {
		d.tb.end()
	}
	if d.depth == 0 {
		return d.finish(i)
	}
	d.tok = d.rel(i)
	d.st = stText
	return scanMore
}

// finish completes the frame of the top-level element ending before i.
func (d *Decoder) finish(i int) int {
	raw := d.buf[d.start:i]
	for k := range d.fattrs {
		off, n := d.fvals[2*k], d.fvals[2*k+1]
		d.fattrs[k].Value = raw[off : off+n : off+n]
	}
	d.frame.Kind = TopElement
	d.frame.Raw = raw
	d.frame.Attrs = d.fattrs
	if len(d.hdrBinds) > 0 {
		d.frame.Raw = d.selfContained(raw)
		if len(d.frame.Raw) > d.lim.MaxElement {
			return d.fail(d.start, PolicyViolation, "element larger than the limit")
		}
	}
	d.advance(i)
	return scanFrame
}

// advance moves past a frame ending before i and the white space buffered
// after it.
func (d *Decoder) advance(i int) {
	for i < d.end && isSpace(d.buf[i]) {
		i++
	}
	d.start, d.pos = i, i
	d.st = stTop
}

// selfContained inserts into the start tag of raw the declarations of the
// prefixes it uses that only the stream header binds. The exception is the
// header's own prefix when only the element's name uses it (stream:features,
// stream:error), which the broker writes into streams that bind it.
func (d *Decoder) selfContained(raw []byte) []byte {
	need := false
	for j := range d.hdrBinds {
		h := &d.hdrBinds[j]
		if h.used == d.epoch || h.byName == d.epoch && h.prefix != d.hdrPrefix {
			need = true
		}
	}
	if !need {
		return raw
	}
	out := append(d.raw[:0], raw[:d.topNameEnd]...)
	for j := range d.hdrBinds {
		h := &d.hdrBinds[j]
		if h.used == d.epoch || h.byName == d.epoch && h.prefix != d.hdrPrefix {
			out = append(out, " xmlns:"...)
			out = append(out, h.prefix...)
			out = append(out, "='"...)
			out = EscapeAttr(out, h.uri)
			out = append(out, '\'')
		}
	}
	out = append(out, raw[d.topNameEnd:]...)
	d.raw = out
	return out
}

// header completes the stream header's start tag ending before i.
func (d *Decoder) header(i int, empty bool, space string, local, qname []byte) int {
	if space != nsStream || string(local) != "stream" {
		return d.fail(d.start+int(d.nameOff), InvalidNamespace, "stream header is not <stream> in "+nsStream)
	}
	if empty {
		return d.fail(i-2, NotWellFormed, "empty stream header")
	}
	d.hdrQName = string(qname)
	d.hdrPrefix = ""
	if d.colon >= 0 {
		d.hdrPrefix = string(qname[:d.colon])
	}
	d.hdrBinds = d.hdrBinds[:0]
	for _, b := range d.binds {
		if b.pLen == 0 {
			d.hdrDef, d.hdrHasDef = b.uri, true
			continue
		}
		d.hdrBinds = append(d.hdrBinds, hdrBinding{prefix: string(d.bytes(b.pOff, b.pLen)), uri: b.uri})
	}
	d.binds = d.binds[:0]
	d.topAttrs()
	raw := d.buf[d.start:i]
	for k := range d.fattrs {
		off, n := d.fvals[2*k], d.fvals[2*k+1]
		d.fattrs[k].Value = raw[off : off+n : off+n]
	}
	d.frame = Frame{Kind: StreamOpen, Raw: raw, Name: Name{Space: nsStream, Local: "stream"}, Attrs: d.fattrs}
	d.inHeader = false
	d.hdrSeen = true
	d.advance(i)
	return scanFrame
}

// parseDecl parses the XML declaration at the start of b ("<?xml" and a
// space). It returns its length, 0 if b does not hold all of it yet, or -1
// and why it is refused.
func parseDecl(b []byte) (n int, cond Condition, msg string) {
	end := -1
	for k := 5; k+1 < len(b); k++ {
		if b[k] == '?' && b[k+1] == '>' {
			end = k
			break
		}
	}
	if end < 0 {
		return 0, "", ""
	}
	s := b[5:end]
	names := [...]string{"version", "encoding", "standalone"}
	next := 0
	for first := true; ; first = false {
		k := 0
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k == len(s) {
			if first {
				return -1, NotWellFormed, "XML declaration without version"
			}
			return end + 2, "", ""
		}
		if k == 0 {
			return -1, NotWellFormed, "malformed XML declaration"
		}
		s = s[k:]
		k = 0
		for k < len(s) && s[k] >= 'a' && s[k] <= 'z' {
			k++
		}
		name := string(s[:k])
		idx := -1
		for j := next; j < len(names); j++ {
			if names[j] == name {
				idx = j
				break
			}
		}
		if idx < 0 || first && idx != 0 {
			return -1, NotWellFormed, "malformed XML declaration"
		}
		next = idx + 1
		s = s[k:]
		k = 0
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k == len(s) || s[k] != '=' {
			return -1, NotWellFormed, "malformed XML declaration"
		}
		k++
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k == len(s) || s[k] != '\'' && s[k] != '"' {
			return -1, NotWellFormed, "malformed XML declaration"
		}
		q := s[k]
		s = s[k+1:]
		k = 0
		for k < len(s) && s[k] != q {
			k++
		}
		if k == len(s) {
			return -1, NotWellFormed, "malformed XML declaration"
		}
		v := string(s[:k])
		s = s[k+1:]
		switch name {
		case "version":
			if v != "1.0" {
				return -1, NotWellFormed, "XML version other than 1.0"
			}
		case "encoding":
			if !equalFoldASCII(v, "UTF-8") {
				return -1, UnsupportedEncoding, "encoding other than UTF-8"
			}
		case "standalone":
			if v != "yes" && v != "no" {
				return -1, NotWellFormed, "malformed XML declaration"
			}
		}
	}
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Character data and attribute values are mostly plain ASCII: these test
// eight bytes at once for any byte the per-byte loops must look at (a
// control character, a byte >= 0x80, or markup), returning a mask whose
// lowest set bit is in the first such byte. Subtraction borrows only move
// upwards from a byte that matched, so that lowest bit is exact.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func textSpecial(w uint64) uint64 {
	lt, amp, rb := w^(lsb*'<'), w^(lsb*'&'), w^(lsb*']')
	return ((w-lsb*0x20)&^w | w | (lt-lsb)&^lt | (amp-lsb)&^amp | (rb-lsb)&^rb) & msb
}

func attrSpecial(w uint64) uint64 {
	lt, amp, q, qq := w^(lsb*'<'), w^(lsb*'&'), w^(lsb*'\''), w^(lsb*'"')
	return ((w-lsb*0x20)&^w | w | (lt-lsb)&^lt | (amp-lsb)&^amp | (q-lsb)&^q | (qq-lsb)&^qq) & msb
}
