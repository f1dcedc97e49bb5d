package xml

import "unicode/utf8"

// maxRef bounds a character or entity reference, '&' and ';' included. XML
// allows any number of leading zeros; a bound keeps the scanner's look-ahead
// small, and no sender needs more.
const maxRef = 32

// parseRef reads the reference at the start of b (b[0] == '&'). It returns
// the character it stands for and its length, n == 0 if b ends before the
// reference does, or a condition and message if it is not allowed.
func parseRef(b []byte) (r rune, n int, cond Condition, msg string) {
	if len(b) < 2 {
		return 0, 0, "", ""
	}
	if b[1] == '#' {
		i, hex := 2, false
		if i < len(b) && b[i] == 'x' {
			hex = true
			i++
		}
		first := i
		for ; i < len(b) && i < maxRef; i++ {
			c := b[i]
			var d rune
			switch {
			case c == ';':
				if i == first {
					return 0, -1, NotWellFormed, "empty character reference"
				}
				if !isChar(r) {
					return 0, -1, NotWellFormed, "character reference to an illegal character"
				}
				return r, i + 1, "", ""
			case c >= '0' && c <= '9':
				d = rune(c - '0')
			case hex && c >= 'a' && c <= 'f':
				d = rune(c-'a') + 10
			case hex && c >= 'A' && c <= 'F':
				d = rune(c-'A') + 10
			default:
				return 0, -1, NotWellFormed, "malformed character reference"
			}
			if hex {
				r = r*16 + d
			} else {
				r = r*10 + d
			}
			if r > utf8.MaxRune {
				r = utf8.MaxRune + 1 // stay out of range without overflowing
			}
		}
		if i >= maxRef {
			return 0, -1, NotWellFormed, "character reference too long"
		}
		return 0, 0, "", ""
	}
	for i := 1; i < len(b) && i < maxRef; i++ {
		c := b[i]
		if c == ';' {
			switch string(b[1:i]) {
			case "lt":
				return '<', i + 1, "", ""
			case "gt":
				return '>', i + 1, "", ""
			case "amp":
				return '&', i + 1, "", ""
			case "apos":
				return '\'', i + 1, "", ""
			case "quot":
				return '"', i + 1, "", ""
			}
			if _, ok := checkQName(b[1:i]); !ok {
				return 0, -1, NotWellFormed, "malformed entity reference"
			}
			return 0, -1, RestrictedXML, "entity reference other than the predefined ones"
		}
		if charClass[c]&cName == 0 {
			return 0, -1, NotWellFormed, "malformed entity reference"
		}
	}
	if len(b) >= maxRef {
		return 0, -1, RestrictedXML, "entity reference other than the predefined ones"
	}
	return 0, 0, "", ""
}

// Unescape appends to dst the character data that raw, as found between
// tags, stands for: references are replaced and line ends normalised (CR LF
// and CR become LF), as XML 1.0 §2.11 requires. For attribute values use
// UnescapeAttr. The error is a *SyntaxError for a reference that is neither
// one of the five predefined entities nor a character reference to a legal
// character.
func Unescape(dst, raw []byte) ([]byte, error) { return unescape(dst, raw, false) }

// UnescapeAttr is Unescape for an attribute value: it also applies the
// attribute-value normalisation of XML 1.0 §3.3.3, turning each literal tab,
// line feed, carriage return or CR LF into one space (characters written as
// references are kept).
func UnescapeAttr(dst, raw []byte) ([]byte, error) { return unescape(dst, raw, true) }

// UnescapeString returns the value of an attribute as UnescapeAttr does. It
// is meant for values the Decoder has already checked (Frame.Attrs): it
// allocates only the string, and returns raw unchanged if it is invalid.
func UnescapeString(raw []byte) string {
	for _, c := range raw {
		if c == '&' || c == '\r' || c == '\n' || c == '\t' {
			b, err := unescape(make([]byte, 0, len(raw)), raw, true)
			if err != nil {
				return string(raw)
			}
			return string(b)
		}
	}
	return string(raw)
}

func unescape(dst, raw []byte, attr bool) ([]byte, error) {
	last := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '&':
			r, n, cond, msg := parseRef(raw[i:])
			if n <= 0 {
				if cond == "" {
					cond, msg = NotWellFormed, "unterminated reference"
				}
				return dst, &SyntaxError{Cond: cond, Msg: msg, Offset: int64(i)}
			}
			dst = append(dst, raw[last:i]...)
			dst = utf8.AppendRune(dst, r)
			i += n
			last = i
		case '\r':
			dst = append(dst, raw[last:i]...)
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
			last = i
		case '\t', '\n':
			if attr {
				dst = append(dst, raw[last:i]...)
				dst = append(dst, ' ')
				last = i + 1
			}
			i++
		default:
			i++
		}
	}
	return append(dst, raw[last:]...), nil
}

// EscapeText appends s to dst escaped as character data: & < > and CR (as
// &#xD;, so that it survives line-end normalisation). Bytes that are not
// UTF-8 and characters XML cannot carry are replaced by U+FFFD, so the
// output is always well-formed.
func EscapeText(dst []byte, s string) []byte { return escape(dst, s, false) }

// EscapeAttr appends s to dst escaped as an attribute value quoted with ':
// & < > ' " and tab, LF and CR as character references, so that attribute
// normalisation leaves the value unchanged. Invalid characters are replaced as
// in EscapeText.
func EscapeAttr(dst []byte, s string) []byte { return escape(dst, s, true) }

func escape(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var rep string
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				rep = "&amp;"
			case '<':
				rep = "&lt;"
			case '>':
				rep = "&gt;"
			case '\r':
				rep = "&#xD;"
			case '\'':
				rep = "&apos;"
			case '"':
				rep = "&quot;"
			case '\t':
				rep = "&#x9;"
			case '\n':
				rep = "&#xA;"
			default:
				if c < 0x20 {
					rep = "\uFFFD"
				}
			}
			if rep == "" || !attr && (c == '\'' || c == '"' || c == '\t' || c == '\n') {
				i++
				continue
			}
			dst = append(dst, s[last:i]...)
			dst = append(dst, rep...)
			i++
			last = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if n == 1 || !isChar(r) {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			i += n
			last = i
			continue
		}
		i += n
	}
	return append(dst, s[last:]...)
}
