package xml

import "unicode/utf8"

// Character classes of the bytes, one bit mask per byte value. A constant
// string rather than a table variable keeps the package free of mutable state
// while indexing stays a single load; TestCharClass rebuilds it from the XML
// 1.0 productions.
const (
	cText      = 1 << iota // may appear literally in character data (ASCII only; not < & ])
	cAttr                  // may appear literally in an attribute value (ASCII only; not < & ' ")
	cName                  // may continue a name: ASCII NameChar, or any byte >= 0x80 (checked later)
	cNameStart             // ASCII NameStartChar other than ':'
	cSpace                 // XML white space
	cCData                 // may appear literally in a CDATA section (ASCII only; not ])
	cNCName                // ASCII NameChar other than ':', the common case of a name
)

const charClass = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x33\x33\x00\x00\x33\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x33\x23\x21\x23\x23\x23\x20\x21\x23\x23\x23\x23\x23\x67\x67\x23" +
	"\x67\x67\x67\x67\x67\x67\x67\x67\x67\x67\x27\x23\x20\x23\x23\x23" +
	"\x23\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f" +
	"\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x23\x23\x02\x23\x6f" +
	"\x23\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f" +
	"\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x6f\x23\x23\x23\x23\x23" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04" +
	"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04"

func isSpace(c byte) bool { return charClass[c]&cSpace != 0 }

// isChar reports whether r is an XML 1.0 Char (production [2]).
func isChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == 0x09 || r == 0x0A || r == 0x0D
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= 0x10FFFF
	}
}

// decodeChar decodes the non-ASCII character at the start of b. It returns
// n == 0 if b ends inside the character (more input may complete it) and
// n < 0 if the bytes are not UTF-8 or not an XML Char.
func decodeChar(b []byte) (r rune, n int) {
	if !utf8.FullRune(b) {
		return 0, 0
	}
	r, n = utf8.DecodeRune(b)
	if n == 1 || !isChar(r) { // n == 1 for a non-ASCII lead byte means invalid UTF-8
		return r, -1
	}
	return r, n
}

// isNameStartRune and isNameRune are productions [4] and [4a] of XML 1.0
// fifth edition, without ':' (Namespaces in XML 1.0, NCName).
func isNameStartRune(r rune) bool {
	switch {
	case r < 0x80:
		return r < 0x80 && charClass[r]&cNameStart != 0
	case r < 0xC0:
		return false
	case r <= 0x2FF:
		return r != 0xD7 && r != 0xF7
	case r < 0x370:
		return false
	case r <= 0x1FFF:
		return r != 0x37E
	case r == 0x200C || r == 0x200D:
		return true
	case r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

func isNameRune(r rune) bool {
	if r < 0x80 {
		return charClass[r]&cName != 0 && r != ':'
	}
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r == 0x203F || r == 0x2040
}

// checkQName validates b as a QName (Namespaces in XML 1.0, production [7])
// and returns the index of its colon, or -1 if it has no prefix.
func checkQName(b []byte) (colon int, ok bool) {
	colon = -1
	start := true // the next character must be a NameStartChar
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			switch {
			case c == ':':
				if start || colon >= 0 {
					return -1, false
				}
				colon = i
				start = true
				i++
				continue
			case start && charClass[c]&cNameStart == 0, charClass[c]&cName == 0:
				return -1, false
			}
			start = false
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if n == 1 || start && !isNameStartRune(r) || !isNameRune(r) {
			return -1, false
		}
		start = false
		i += n
	}
	return colon, !start
}
