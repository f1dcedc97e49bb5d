package storage

import (
	"fmt"
	"unicode/utf8"
)

// CheckText reports whether s can be stored and later sent in an XML
// stream: valid UTF-8 made of XML 1.0 characters only. Backends call it on
// every text field so that hostile input (a NUL, a lone surrogate, a
// control character) is refused with ErrInvalid on every backend alike,
// rather than truncated by one and stored by the other.
func CheckText(field, s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isXMLChar(r) || r == utf8.RuneError && n == 1 {
			return fmt.Errorf("storage: %s: character %U at byte %d: %w", field, r, i, ErrInvalid)
		}
		i += n
	}
	return nil
}

// isXMLChar is the Char production of XML 1.0 §2.2.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
