package xml

import "bytes"

// The edits below work on the raw bytes of one self-contained element, as
// the Decoder returns or Append writes them, and copy everything but the
// part they change. They re-scan only the top start tag (and find the end
// tag as the last '<'), so they trust the element to be well-formed: for
// input whose start tag they cannot read they append raw unchanged.

type tagAttr struct {
	start         int // the white space before the attribute
	name, nameEnd int
	val, valEnd   int // the value, inside the quotes
	end           int // after the closing quote
}

type topTag struct {
	nameEnd  int // after the qualified name
	attrsEnd int // after the last attribute
	close    int // the '/' of "/>" or the '>'
	end      int // after the start tag
	empty    bool
}

// nextAttr reads the attribute after i. ok is false when there is none;
// next is -1 when the tag is malformed.
func nextAttr(raw []byte, i int) (a tagAttr, next int, ok bool) {
	j := i
	for j < len(raw) && isSpace(raw[j]) {
		j++
	}
	if j == i || j == len(raw) || charClass[raw[j]]&cName == 0 {
		return a, i, false
	}
	a.start, a.name = i, j
	for j < len(raw) && charClass[raw[j]]&cName != 0 {
		j++
	}
	a.nameEnd = j
	for j < len(raw) && isSpace(raw[j]) {
		j++
	}
	if j == len(raw) || raw[j] != '=' {
		return a, -1, true
	}
	j++
	for j < len(raw) && isSpace(raw[j]) {
		j++
	}
	if j == len(raw) || raw[j] != '\'' && raw[j] != '"' {
		return a, -1, true
	}
	a.val = j + 1
	k := bytes.IndexByte(raw[a.val:], raw[j])
	if k < 0 {
		return a, -1, true
	}
	a.valEnd = a.val + k
	a.end = a.valEnd + 1
	return a, a.end, true
}

func parseTop(raw []byte) (t topTag, ok bool) {
	if len(raw) < 3 || raw[0] != '<' {
		return t, false
	}
	i := 1
	for i < len(raw) && charClass[raw[i]]&cName != 0 {
		i++
	}
	if i == 1 {
		return t, false
	}
	t.nameEnd = i
	for {
		_, next, more := nextAttr(raw, i)
		if !more {
			break
		}
		if next < 0 {
			return t, false
		}
		i = next
	}
	t.attrsEnd = i
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	switch {
	case i < len(raw) && raw[i] == '>':
		t.close, t.end = i, i+1
	case i+1 < len(raw) && raw[i] == '/' && raw[i+1] == '>':
		t.close, t.end, t.empty = i, i+2, true
	default:
		return t, false
	}
	return t, true
}

// lastKey returns the index in kv of the last pair for attribute name,
// whether set ("name") or removed ("-name"), or -1.
func lastKey(kv []string, name []byte) int {
	for k := len(kv) - 2; k >= 0; k -= 2 {
		key := kv[k]
		if len(key) > 0 && key[0] == '-' {
			key = key[1:]
		}
		if key == string(name) {
			return k
		}
	}
	return -1
}

// SetAttrs appends to dst the element raw with attributes of its top element
// set or removed. kv holds key, value pairs: a key sets the attribute of that
// qualified name (so "xml:lang" works too), replacing its value in place or
// adding it at the end of the start tag; a key prefixed with '-' ("-from")
// removes the attribute and its value is ignored. For a key given twice, the
// last pair wins. Keys must be attribute names, not namespace declarations;
// values are escaped. raw is appended unchanged if its start tag cannot be
// read or kv has an odd length.
func SetAttrs(dst, raw []byte, kv ...string) []byte {
	t, ok := parseTop(raw)
	if !ok || len(kv)%2 != 0 {
		return append(dst, raw...)
	}
	dst = append(dst, raw[:t.nameEnd]...)
	for i := t.nameEnd; ; {
		a, next, more := nextAttr(raw, i)
		if !more {
			break
		}
		i = next
		k := lastKey(kv, raw[a.name:a.nameEnd])
		switch {
		case k < 0:
			dst = append(dst, raw[a.start:a.end]...)
		case kv[k][0] == '-':
		default:
			dst = append(dst, raw[a.start:a.val]...)
			dst = EscapeAttr(dst, kv[k+1])
			dst = append(dst, raw[a.valEnd:a.end]...)
		}
	}
	for k := 0; k < len(kv); k += 2 {
		key := kv[k]
		if key == "" || key[0] == '-' || lastKey(kv, []byte(key)) != k || hasAttr(raw, t, key) {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, key...)
		dst = append(dst, "='"...)
		dst = EscapeAttr(dst, kv[k+1])
		dst = append(dst, '\'')
	}
	return append(dst, raw[t.attrsEnd:]...)
}

func hasAttr(raw []byte, t topTag, name string) bool {
	for i := t.nameEnd; ; {
		a, next, more := nextAttr(raw, i)
		if !more {
			return false
		}
		if string(raw[a.name:a.nameEnd]) == name {
			return true
		}
		i = next
	}
}

// InsertChild appends to dst the element raw with child (the bytes of a
// self-contained element) added as its last child; <a .../> becomes
// <a ...>child</a>.
func InsertChild(dst, raw, child []byte) []byte {
	t, ok := parseTop(raw)
	if !ok {
		return append(dst, raw...)
	}
	if t.empty {
		dst = append(dst, raw[:t.close]...)
		dst = append(dst, '>')
		dst = append(dst, child...)
		dst = append(dst, "</"...)
		dst = append(dst, raw[1:t.nameEnd]...)
		dst = append(dst, '>')
		return append(dst, raw[t.end:]...)
	}
	e := endTag(raw, t)
	if e < 0 {
		return append(dst, raw...)
	}
	dst = append(dst, raw[:e]...)
	dst = append(dst, child...)
	return append(dst, raw[e:]...)
}

// endTag returns the index of the top element's end tag: the last '<', since
// an end tag holds none.
func endTag(raw []byte, t topTag) int {
	e := bytes.LastIndexByte(raw, '<')
	if e < t.end || e+1 >= len(raw) || raw[e+1] != '/' {
		return -1
	}
	return e
}

// EnsureNamespace appends to dst the element raw with xmlns='space' added to
// its top element if that declares no default namespace, so that the element
// keeps its namespace when written into a stream of another default.
func EnsureNamespace(dst, raw []byte, space string) []byte {
	t, ok := parseTop(raw)
	if !ok || hasAttr(raw, t, "xmlns") {
		return append(dst, raw...)
	}
	dst = append(dst, raw[:t.nameEnd]...)
	dst = append(dst, " xmlns='"...)
	dst = EscapeAttr(dst, space)
	dst = append(dst, '\'')
	return append(dst, raw[t.nameEnd:]...)
}

// InnerXML returns the bytes between the top element's start and end tags,
// a sub-slice of raw; nil for an empty-element tag or unreadable input.
func InnerXML(raw []byte) []byte {
	t, ok := parseTop(raw)
	if !ok || t.empty {
		return nil
	}
	e := endTag(raw, t)
	if e < 0 {
		return nil
	}
	return raw[t.end:e:e]
}
