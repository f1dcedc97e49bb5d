package iotdisco

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on tags. Names: the Neuro-Foundation limit (64; XEP-0347 said 32)
// so that harmonized-interface names such as urn_nfi_iot_hi_sensor fit.
// Values: 128 characters, as every generation of the spec says.
const (
	MaxNameLen  = 64
	MaxValueLen = 128
)

// Predefined tag names with a special meaning.
const (
	// KeyTag is the secret shared by a thing and its owner: never searched,
	// never returned, deleted by the registry on claim.
	KeyTag = "KEY"
	// RegistryTag (R) exists only in URIs: the registry to claim at.
	RegistryTag = "R"
)

// ErrTag is wrapped by every tag rule violation.
var ErrTag = errors.New("invalid tag")

// Tag is one meta-data tag of a thing. Value is the lexical form: for a
// numeric tag an xs:double such as "3.1" or "31E-1".
type Tag struct {
	Name    string
	Value   string
	Numeric bool
}

// Fold returns the form of a tag name used for comparisons: names are
// case-insensitive.
func Fold(name string) string { return strings.ToUpper(name) }

// CheckName enforces the tag name rules: 1 to MaxNameLen characters, each
// a letter, a digit, '_', '-' or '.'. That excludes everything the URI and
// XEP syntaxes use as delimiters (: # = < > ; ~ and white space).
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("iotdisco: %w: empty tag name", ErrTag)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("iotdisco: %w: tag name is not UTF-8", ErrTag)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return fmt.Errorf("iotdisco: %w: tag name %.16q… has %d characters (at most %d)", ErrTag, name, n, MaxNameLen)
	}
	for _, r := range name {
		if !validNameRune(r) {
			return fmt.Errorf("iotdisco: %w: tag name %q contains %q (allowed: letters, digits, '_', '-', '.')", ErrTag, name, r)
		}
	}
	return nil
}

func validNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.'
}

// CheckValue enforces the value rules: at most MaxValueLen characters of
// UTF-8 without control characters; a numeric value must be a finite
// xs:double.
func CheckValue(t Tag) error {
	if t.Numeric {
		if _, err := ParseNumber(t.Value); err != nil {
			return fmt.Errorf("iotdisco: %w: tag %s: %w", ErrTag, t.Name, err)
		}
		return nil
	}
	if !utf8.ValidString(t.Value) {
		return fmt.Errorf("iotdisco: %w: tag %s: value is not UTF-8", ErrTag, t.Name)
	}
	if n := utf8.RuneCountInString(t.Value); n > MaxValueLen {
		return fmt.Errorf("iotdisco: %w: tag %s: value has %d characters (at most %d)", ErrTag, t.Name, n, MaxValueLen)
	}
	for _, r := range t.Value {
		if unicode.IsControl(r) {
			return fmt.Errorf("iotdisco: %w: tag %s: value contains a control character", ErrTag, t.Name)
		}
	}
	return nil
}

// CheckTag is CheckName and CheckValue.
func CheckTag(t Tag) error {
	if err := CheckName(t.Name); err != nil {
		return err
	}
	return CheckValue(t)
}

// CheckTags checks each tag and that no name occurs twice (names compared
// case-insensitively).
func CheckTags(tags []Tag) error {
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := CheckTag(t); err != nil {
			return err
		}
		f := Fold(t.Name)
		if seen[f] {
			return fmt.Errorf("iotdisco: %w: tag %s given twice", ErrTag, t.Name)
		}
		seen[f] = true
	}
	return nil
}

// ParseNumber reads an xs:double in its decimal or exponent form ("3.1",
// "-.5", "31E-1", "1e3"). INF, NaN and Go-only forms (hex, underscores,
// "Inf") are refused: a registry cannot order them.
func ParseNumber(s string) (float64, error) {
	if !isDecimal(s) {
		return 0, fmt.Errorf("%q is not a number (xs:double such as 3.1 or 31E-1)", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is out of range for a double", s)
	}
	if f == 0 {
		f = 0 // -0 and 0 are one value
	}
	return f, nil
}

// isDecimal reports whether s is [+-]? (d+ (. d*)? | . d+) ([eE] [+-]? d+)?
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// FormatNumber writes f minimally ("2", "3.1", "1e+21"), as deployed
// things do; ParseNumber reads it back exactly.
func FormatNumber(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
