package xml

import "io"

// Limits bound what one peer may make the Decoder hold. A zero field takes
// its value from DefaultLimits.
type Limits struct {
	MaxElement int // bytes of one top-level element, start to end tag
	MaxDepth   int // nesting of elements, the top-level element being depth 1
	MaxAttrs   int // attributes in one start tag, namespace declarations included
}

// DefaultLimits are the limits used for zero fields and by Parse.
var DefaultLimits = Limits{MaxElement: 256 << 10, MaxDepth: 64, MaxAttrs: 64}

const (
	// initialBuf is the read buffer of an idle connection, and the size of
	// one read when an element grows the buffer.
	initialBuf = 2 << 10
	// maxHeader bounds the stream header's start tag.
	maxHeader = 8 << 10
	// maxDecl bounds the XML declaration before the stream header.
	maxDecl = 256
)

func (l Limits) withDefaults() Limits {
	if l.MaxElement <= 0 {
		l.MaxElement = DefaultLimits.MaxElement
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultLimits.MaxAttrs
	}
	return l
}

// Kind tells what a Frame is.
type Kind uint8

// Kinds of Frame. The constant for an element is TopElement rather than
// Element because Element names the tree type.
const (
	StreamOpen  Kind = iota + 1 // the stream header's start tag
	TopElement                  // a complete top-level element
	StreamClose                 // the stream's end tag
)

// Name is a namespace-resolved XML name.
type Name struct {
	Space, Local string
}

// RawAttr is an attribute of a frame's top element. Namespace declarations
// are not included.
type RawAttr struct {
	Name  Name
	Value []byte // as written, still escaped: see UnescapeString
}

// Frame is one unit of the stream. Its slices are valid until the next call
// to Next, Restart or Reset of the Decoder that returned it.
type Frame struct {
	Kind Kind
	// Raw is the complete element for TopElement, the start tag for
	// StreamOpen and the end tag for StreamClose. A top-level element that
	// uses prefixes bound only on the stream header gets the declarations
	// inserted in its start tag, so that Raw stands alone; the stream's
	// default namespace is never inserted.
	Raw   []byte
	Name  Name      // resolved name of the top element
	Attrs []RawAttr // attributes of the top element, prefixed ones resolved
	Child Name      // resolved name of the first child element, zero if none
}

// Attr returns the value of the unnamespaced attribute local.
func (f *Frame) Attr(local string) ([]byte, bool) {
	for i := range f.Attrs {
		if f.Attrs[i].Name.Local == local && f.Attrs[i].Name.Space == "" {
			return f.Attrs[i].Value, true
		}
	}
	return nil, false
}

// A Decoder frames the top-level elements of an XMPP stream or of a sequence
// of fragments, checking every byte. It is not safe for concurrent use.
type Decoder struct {
	r        io.Reader
	lim      Limits
	fragment bool
	defSpace string

	// buf[start:end] is unread input; pos is where scanning resumes. start
	// is also the first byte of the element being scanned, and every offset
	// kept while scanning it is relative to start, so that moving the
	// element to the front of the buffer invalidates nothing.
	buf               []byte
	start, pos, end   int
	base              int64 // input offset of buf[0]
	rerr              error // read error held back until buffered bytes are scanned
	err               error // sticky *SyntaxError
	closed            bool
	st                state
	inHeader, hdrSeen bool
	declSeen          bool
	spaced            bool // white space since the last attribute
	complex           bool // the current name has a colon or non-ASCII bytes
	ndecl, nprefixed  int  // namespace declarations and prefixed attributes in the current tag
	amp               bool // the attribute value has a reference
	quote             byte
	depth             int
	tok               int32 // start of the current name, attribute value or text
	nameOff, nameEnd  int32 // qualified name of the current start tag
	colon             int32 // in that name, or -1

	open   []openRec
	attrs  []attrRec
	aspace []string // resolved namespace of each attribute, when nprefixed > 0
	binds  []binding
	nsbuf  []byte

	hdrQName  string // for matching </stream:stream>
	hdrPrefix string // the prefix the header uses for its own name
	hdrDef    string
	hdrHasDef bool
	hdrBinds  []hdrBinding
	epoch     uint64 // counts top-level elements, to mark header bindings used

	frame      Frame
	hasChild   bool
	topNameEnd int32
	fattrs     []RawAttr
	fvals      []int32 // offset, length of each fattrs value
	raw        []byte  // scratch for a Raw made self-contained

	names nameCache

	tb *treeBuilder // set by Parse only
}

// nameCache remembers the strings of the names and namespaces a connection
// uses, so that resolving them costs one comparison and, for names not in
// the known list, allocates once rather than per frame.
type nameCache [32]string

// maxCachedName keeps a hostile peer from pinning long strings.
const maxCachedName = 64

func (d *Decoder) intern(b []byte) string {
	// The names on nearly every stanza first: a small switch is cheaper
	// than the cache's hash and comparison.
	switch string(b) {
	case "to":
		return "to"
	case "from":
		return "from"
	case "type":
		return "type"
	case "id":
		return "id"
	case "lang":
		return "lang"
	case "message":
		return "message"
	case "presence":
		return "presence"
	case "iq":
		return "iq"
	case "body":
		return "body"
	case "":
		return ""
	}
	h := (uint(len(b))*31 + uint(b[0])*7 + uint(b[len(b)-1])) % uint(len(d.names))
	if s := d.names[h]; s == string(b) {
		return s
	}
	s := intern(b)
	if len(b) <= maxCachedName {
		d.names[h] = s
	}
	return s
}

type openRec struct{ off, n int32 }

// attrRec holds no pointers, so that recording an attribute costs no write
// barrier; the namespaces of prefixed attributes are in Decoder.aspace.
type attrRec struct {
	nOff, nLen int32
	colon      int32
	vOff, vLen int32
	amp        bool
	decl       bool // a namespace declaration
}

type binding struct {
	depth      int32
	pOff, pLen int32 // prefix; pLen == 0 for the default namespace
	uri        string
}

type hdrBinding struct {
	prefix, uri  string
	used, byName uint64 // epoch of the last element using it, elsewhere / for its own name
}

// NewDecoder returns a Decoder for an XMPP stream: an optional XML
// declaration, the stream header, then top-level elements.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.withDefaults(), st: stProlog}
}

// NewFragmentDecoder returns a Decoder for a sequence of self-standing
// top-level elements without a stream header, such as RFC 7395 WebSocket
// frames or stored stanzas.
func NewFragmentDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.withDefaults(), fragment: true, st: stTop}
}

// SetDefaultSpace sets the namespace of unqualified top-level elements when
// no stream header declares one (fragment mode; "" by default).
func (d *Decoder) SetDefaultSpace(ns string) { d.defSpace = ns }

// Next returns the next frame. Errors are a *SyntaxError (then every later
// call returns it too), an error of the reader as it was returned, or
// ErrClosed after the StreamClose frame. At the end of input Next returns
// io.EOF if it ended cleanly: before any stream header, or between elements
// in fragment mode; it returns io.ErrUnexpectedEOF if it ended inside an
// element, or after a stream header without the stream's close tag.
// A read error other than io.EOF (a deadline, say) leaves the Decoder able to
// continue with another call.
func (d *Decoder) Next() (Frame, error) {
	if d.err != nil {
		return Frame{}, d.err
	}
	if d.closed {
		return Frame{}, ErrClosed
	}
	d.idle()
	for {
		switch d.scan() {
		case scanFrame:
			return d.frame, nil
		case scanError:
			return Frame{}, d.err
		}
		if err := d.fill(); err != nil {
			if err == io.EOF && (d.start != d.end || d.st != stTop && d.st != stProlog || d.hdrSeen && !d.fragment) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
}

// Restart prepares for a new stream header on the same input, as after SASL
// success (RFC 6120 §6.4.6): the old header and its namespace bindings are
// forgotten, buffered bytes are kept since a client may pipeline the new
// header. A SyntaxError stays.
func (d *Decoder) Restart() {
	d.closed = false
	d.inHeader, d.hdrSeen, d.declSeen = false, false, false
	d.hdrQName, d.hdrPrefix, d.hdrDef, d.hdrHasDef = "", "", "", false
	d.hdrBinds = d.hdrBinds[:0]
	d.depth = 0
	d.open, d.attrs, d.binds = d.open[:0], d.attrs[:0], d.binds[:0]
	d.frame = Frame{}
	d.pos = d.start
	if d.fragment {
		d.st = stTop
	} else {
		d.st = stProlog
	}
}

// Reset makes the Decoder read a new stream from r, as after STARTTLS:
// buffered bytes and all state, errors included, are dropped.
func (d *Decoder) Reset(r io.Reader) {
	d.r = r
	if cap(d.buf) > initialBuf {
		d.buf = nil
	}
	d.start, d.pos, d.end, d.base = 0, 0, 0, 0
	d.rerr, d.err = nil, nil
	d.Restart()
}

// Buffered returns the number of bytes read from the input but not yet
// returned in a frame. White space after a frame is consumed with it, so
// that a client's trailing newline after <starttls/> does not count.
func (d *Decoder) Buffered() int { return d.end - d.start }

// InputOffset returns the input offset of the first byte not yet returned in
// a frame.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.start) }

// idle runs between frames: when nothing is buffered it releases a buffer
// grown for a large element, so that an idle connection holds little memory.
func (d *Decoder) idle() {
	if d.r == nil || d.start != d.end {
		return
	}
	d.base += int64(d.start)
	d.start, d.pos, d.end = 0, 0, 0
	if cap(d.buf) > initialBuf {
		d.buf = nil
	}
	if cap(d.raw) > initialBuf {
		d.raw = nil
	}
	if cap(d.nsbuf) > initialBuf {
		d.nsbuf = nil
	}
}

// fill reads more input, first making room by moving the unread bytes to the
// front of the buffer, then by growing it up to the limit plus one read.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		err := d.rerr
		d.rerr = nil
		return err
	}
	if d.r == nil {
		return io.EOF
	}
	if d.buf == nil {
		d.buf = make([]byte, initialBuf)
	}
	if d.end == len(d.buf) {
		if d.start > 0 {
			n := copy(d.buf, d.buf[d.start:d.end])
			d.base += int64(d.start)
			d.pos -= d.start
			d.end = n
			d.start = 0
		}
		if d.end == len(d.buf) {
			size := 2 * len(d.buf)
			if m := d.maxBuf(); size > m {
				size = m
			}
			if size <= len(d.buf) { // unreachable: scan reports the element first
				d.fail(d.end, PolicyViolation, "element larger than the limit")
				return d.err
			}
			b := make([]byte, size)
			copy(b, d.buf[:d.end])
			d.buf = b
		}
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		if n < 0 || n > len(d.buf)-d.end {
			return io.ErrShortBuffer // a broken Reader must not make us index out of range
		}
		d.end += n
		if n > 0 {
			d.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func (d *Decoder) maxBuf() int {
	m := max(d.lim.MaxElement, maxHeader)
	return m + initialBuf
}

func (d *Decoder) fail(i int, cond Condition, msg string) int {
	d.err = &SyntaxError{Cond: cond, Msg: msg, Offset: d.base + int64(i)}
	return scanError
}

// StreamDefaultSpace returns the default namespace the stream header
// declared (the stream's content namespace, e.g. jabber:client) and whether
// it declared one. Valid after a StreamOpen frame.
func (d *Decoder) StreamDefaultSpace() (string, bool) { return d.hdrDef, d.hdrHasDef }
