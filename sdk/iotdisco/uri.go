package iotdisco

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Scheme is the URI scheme, matched case-insensitively.
const Scheme = "iotdisco"

// ErrURI is wrapped by every URI syntax error.
var ErrURI = errors.New("invalid iotdisco URI")

// Op is a condition's operator.
type Op uint8

const (
	OpEq     Op = iota + 1 // =
	OpNEq                  // <>
	OpLt                   // <
	OpLtEq                 // <=
	OpGt                   // >
	OpGtEq                 // >=
	OpMask                 // ~ followed by the wildcard character
	OpRange                // a lower and an upper bound on one name, lower below upper
	OpNRange               // a lower and an upper bound on one name, lower above upper: outside
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "="
	case OpNEq:
		return "<>"
	case OpLt:
		return "<"
	case OpLtEq:
		return "<="
	case OpGt:
		return ">"
	case OpGtEq:
		return ">="
	case OpMask:
		return "~"
	case OpRange:
		return "range"
	case OpNRange:
		return "nrange"
	}
	return "?"
}

// Condition is one tag of a URI: an equality in claim and direct URIs, any
// operator in search URIs. Two bounds on one name are folded into one
// OpRange or OpNRange condition.
type Condition struct {
	Name    string
	Numeric bool
	Op      Op
	// Value is the operand of the single-value operators and the pattern
	// of OpMask.
	Value string
	// Wildcard is OpMask's wildcard character: it stands for any, possibly
	// empty, sequence of characters.
	Wildcard rune
	// Min and Max bound OpRange (Min <(=) v <(=) Max) and OpNRange
	// (v <(=) Min or v >(=) Max). An included endpoint belongs to the
	// range, so OpNRange excludes it from its result.
	Min, Max                 string
	MinIncluded, MaxIncluded bool
}

// Kind is what a URI is for (the reference client library's classifier).
type Kind uint8

const (
	// KindSearch: no equality on KEY, JID, NID, SID or PT.
	KindSearch Kind = iota + 1
	// KindClaim: equalities only, with KEY and R; an owner sends its tags
	// in a mine request to R.
	KindClaim
	// KindDirect: equalities only, with JID (and NID, SID, PT for a node):
	// points at one known thing.
	KindDirect
	// KindOther: equalities that fit none of the above (a claim URI
	// without R, a legacy QR string without KEY).
	KindOther
)

func (k Kind) String() string {
	switch k {
	case KindSearch:
		return "search"
	case KindClaim:
		return "claim"
	case KindDirect:
		return "direct"
	}
	return "other"
}

// URI is a parsed iotdisco URI.
type URI struct {
	// Conditions in URI order, without R. A folded range sits where its
	// first bound was.
	Conditions []Condition
	// Registry is the R tag: the registry's address ("" if absent).
	Registry string
	// Legacy is set for the XEP-0347 "IoTDisco;NAME:VALUE" form.
	Legacy bool
}

// Parse reads an iotdisco URI, or a legacy XEP-0347 QR string.
func Parse(s string) (*URI, error) {
	if len(s) > 64<<10 {
		return nil, fmt.Errorf("iotdisco: %w: longer than 64 KiB", ErrURI)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("iotdisco: %w: not UTF-8", ErrURI)
	}
	if len(s) >= 9 && strings.EqualFold(s[:9], "IoTDisco;") {
		return parseLegacy(s[9:])
	}
	if len(s) < len(Scheme)+1 || !strings.EqualFold(s[:len(Scheme)], Scheme) || s[len(Scheme)] != ':' {
		return nil, fmt.Errorf("iotdisco: %w: does not start with iotdisco:", ErrURI)
	}
	parts, err := split(s[len(Scheme)+1:], ';')
	if err != nil {
		return nil, err
	}
	u := &URI{}
	bounds := map[string]int{} // folded name -> index of its single bound in u.Conditions
	seen := map[string]bool{}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("iotdisco: %w: empty tag", ErrURI)
		}
		c, err := parseCondition(p)
		if err != nil {
			return nil, err
		}
		f := Fold(c.Name)
		if f == RegistryTag && !c.Numeric {
			if c.Op != OpEq || u.Registry != "" || seen[f] {
				return nil, fmt.Errorf("iotdisco: %w: R must be given once, with =", ErrURI)
			}
			if c.Value == "" {
				return nil, fmt.Errorf("iotdisco: %w: R is empty", ErrURI)
			}
			u.Registry = c.Value
			seen[f] = true
			continue
		}
		if i, ok := bounds[f]; ok && isBound(c.Op) && u.Conditions[i].Numeric == c.Numeric &&
			lower(c.Op) != lower(u.Conditions[i].Op) {
			r, err := fold(u.Conditions[i], c)
			if err != nil {
				return nil, err
			}
			u.Conditions[i] = r
			delete(bounds, f)
			continue
		}
		if seen[f] {
			return nil, fmt.Errorf("iotdisco: %w: tag %s given twice", ErrURI, c.Name)
		}
		seen[f] = true
		if isBound(c.Op) {
			bounds[f] = len(u.Conditions)
		}
		u.Conditions = append(u.Conditions, c)
	}
	if len(u.Conditions) == 0 && u.Registry == "" {
		return nil, fmt.Errorf("iotdisco: %w: no tags", ErrURI)
	}
	return u, nil
}

// parseLegacy reads XEP-0347's "IoTDisco;SN:…;#V:1.2;KEY:…" (after the
// prefix): equalities only, values introduced by ':'.
func parseLegacy(s string) (*URI, error) {
	parts, err := split(s, ';')
	if err != nil {
		return nil, err
	}
	u := &URI{Legacy: true}
	seen := map[string]bool{}
	for _, p := range parts {
		if p == "" {
			continue // a trailing ';' is common in hand-made strings
		}
		c := Condition{Op: OpEq}
		if strings.HasPrefix(p, "#") {
			c.Numeric, p = true, p[1:]
		}
		name, value, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("iotdisco: %w: legacy tag %q has no ':'", ErrURI, name)
		}
		c.Name, c.Value = name, value
		if err := CheckTag(Tag{Name: c.Name, Value: c.Value, Numeric: c.Numeric}); err != nil {
			return nil, fmt.Errorf("iotdisco: %w: %w", ErrURI, err)
		}
		if seen[Fold(c.Name)] {
			return nil, fmt.Errorf("iotdisco: %w: tag %s given twice", ErrURI, c.Name)
		}
		seen[Fold(c.Name)] = true
		u.Conditions = append(u.Conditions, c)
	}
	if len(u.Conditions) == 0 {
		return nil, fmt.Errorf("iotdisco: %w: no tags", ErrURI)
	}
	return u, nil
}

// split cuts s at unescaped sep and removes the backslash escapes.
func split(s string, sep byte) ([]string, error) {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("iotdisco: %w: ends with a lone backslash", ErrURI)
			}
			i++
			b.WriteByte(s[i])
		case c == sep:
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String()), nil
}

// parseCondition reads `[#]NAME op VALUE` (escapes already removed; names
// and values still percent-encoded).
func parseCondition(p string) (Condition, error) {
	var c Condition
	if strings.HasPrefix(p, "#") {
		c.Numeric, p = true, p[1:]
	}
	i := strings.IndexAny(p, "=<>~")
	if i <= 0 {
		return c, fmt.Errorf("iotdisco: %w: tag %q has no name or no operator", ErrURI, p)
	}
	name, rest := p[:i], p[i:]
	switch {
	case strings.HasPrefix(rest, "<>"):
		c.Op, rest = OpNEq, rest[2:]
	case strings.HasPrefix(rest, "<="):
		c.Op, rest = OpLtEq, rest[2:]
	case strings.HasPrefix(rest, ">="):
		c.Op, rest = OpGtEq, rest[2:]
	case rest[0] == '=':
		c.Op, rest = OpEq, rest[1:]
	case rest[0] == '<':
		c.Op, rest = OpLt, rest[1:]
	case rest[0] == '>':
		c.Op, rest = OpGt, rest[1:]
	default: // '~'
		if c.Numeric {
			return c, fmt.Errorf("iotdisco: %w: a mask (~) applies to strings only", ErrURI)
		}
		c.Op, rest = OpMask, rest[1:]
	}
	var err error
	if c.Name, err = unescape(name); err != nil {
		return c, err
	}
	if c.Value, err = unescape(rest); err != nil {
		return c, err
	}
	if c.Op == OpMask {
		w, size := utf8.DecodeRuneInString(c.Value)
		if size == 0 {
			return c, fmt.Errorf("iotdisco: %w: mask on %s has no wildcard character", ErrURI, c.Name)
		}
		c.Wildcard, c.Value = w, c.Value[size:]
	}
	if err := CheckName(c.Name); err != nil {
		return c, fmt.Errorf("iotdisco: %w: %w", ErrURI, err)
	}
	if c.Op != OpMask {
		if err := CheckValue(Tag{Name: c.Name, Value: c.Value, Numeric: c.Numeric}); err != nil {
			return c, fmt.Errorf("iotdisco: %w: %w", ErrURI, err)
		}
	} else if utf8.RuneCountInString(c.Value) > MaxValueLen {
		return c, fmt.Errorf("iotdisco: %w: mask on %s is longer than %d characters", ErrURI, c.Name, MaxValueLen)
	}
	return c, nil
}

func isBound(o Op) bool { return o == OpLt || o == OpLtEq || o == OpGt || o == OpGtEq }
func lower(o Op) bool   { return o == OpGt || o == OpGtEq }

// fold turns a lower and an upper bound on one name into a range: inside
// when the bounds can hold together (lower below upper, or equal and both
// inclusive), otherwise outside (OpNRange), the reference decoder's rule.
func fold(a, b Condition) (Condition, error) {
	lo, hi := a, b
	if !lower(a.Op) {
		lo, hi = b, a
	}
	cmp, err := compare(lo.Value, hi.Value, lo.Numeric)
	if err != nil {
		return Condition{}, err
	}
	loIn, hiIn := lo.Op == OpGtEq, hi.Op == OpLtEq
	r := Condition{Name: a.Name, Numeric: a.Numeric}
	if cmp < 0 || (cmp == 0 && loIn && hiIn) {
		r.Op = OpRange
		r.Min, r.MinIncluded = lo.Value, loIn
		r.Max, r.MaxIncluded = hi.Value, hiIn
		return r, nil
	}
	// v < hi or v > lo: the excluded middle is [hi, lo]; an endpoint the
	// result excludes (strict operator) belongs to the range.
	r.Op = OpNRange
	r.Min, r.MinIncluded = hi.Value, !hiIn
	r.Max, r.MaxIncluded = lo.Value, !loIn
	return r, nil
}

func compare(a, b string, numeric bool) (int, error) {
	if !numeric {
		return strings.Compare(a, b), nil
	}
	x, err := ParseNumber(a)
	if err != nil {
		return 0, fmt.Errorf("iotdisco: %w: %w", ErrURI, err)
	}
	y, err := ParseNumber(b)
	if err != nil {
		return 0, fmt.Errorf("iotdisco: %w: %w", ErrURI, err)
	}
	switch {
	case x < y:
		return -1, nil
	case x > y:
		return 1, nil
	}
	return 0, nil
}

// unescape percent-decodes s. A '%' not followed by two hex digits is an
// error, so that a typo does not silently change a KEY.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return "", fmt.Errorf("iotdisco: %w: bad percent-encoding in %q", ErrURI, s)
		}
		b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
		i += 2
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", fmt.Errorf("iotdisco: %w: percent-encoding in %q is not UTF-8", ErrURI, s)
	}
	return out, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Kind classifies the URI.
func (u *URI) Kind() Kind {
	eqOnly := true
	has := map[string]bool{}
	for _, c := range u.Conditions {
		if c.Op != OpEq {
			eqOnly = false
			continue
		}
		has[Fold(c.Name)] = true
	}
	switch {
	case eqOnly && has[KeyTag] && (u.Registry != "" || u.Legacy):
		return KindClaim
	case eqOnly && has["JID"]:
		return KindDirect
	case !has[KeyTag] && !has["JID"] && !has["NID"] && !has["SID"] && !has["PT"]:
		return KindSearch
	}
	return KindOther
}

// Tags returns the conditions of an equality-only URI as tags, in order.
func (u *URI) Tags() ([]Tag, error) {
	tags := make([]Tag, 0, len(u.Conditions))
	for _, c := range u.Conditions {
		if c.Op != OpEq {
			return nil, fmt.Errorf("iotdisco: %w: tag %s uses %s, not =", ErrURI, c.Name, c.Op)
		}
		tags = append(tags, Tag{Name: c.Name, Value: c.Value, Numeric: c.Numeric})
	}
	return tags, nil
}

// ClaimURI builds the URI an owner scans to claim a thing: the tags in the
// order given, '#' before numeric ones, then R=registry. registry is
// required, and the tags must pass CheckTags and hold no R.
func ClaimURI(tags []Tag, registry string) (string, error) {
	if registry == "" {
		return "", fmt.Errorf("iotdisco: %w: a claim URI needs the registry address (R)", ErrURI)
	}
	if err := CheckValue(Tag{Name: RegistryTag, Value: registry}); err != nil {
		return "", err
	}
	if err := CheckTags(tags); err != nil {
		return "", err
	}
	u := &URI{Registry: registry}
	for _, t := range tags {
		if Fold(t.Name) == RegistryTag {
			return "", fmt.Errorf("iotdisco: %w: R is the registry address, not a tag", ErrTag)
		}
		u.Conditions = append(u.Conditions, Condition{Name: t.Name, Value: t.Value, Numeric: t.Numeric, Op: OpEq})
	}
	return u.String(), nil
}

// String encodes the URI: iotdisco:, the conditions in order, then R.
// Names and values are percent-encoded except for URI-safe characters;
// ranges are written as two bounds.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	b.WriteByte(':')
	first := true
	tag := func(numeric bool, name, op, value string) {
		if !first {
			b.WriteByte(';')
		}
		first = false
		if numeric {
			b.WriteByte('#')
		}
		escape(&b, name)
		b.WriteString(op)
		escape(&b, value)
	}
	for _, c := range u.Conditions {
		switch c.Op {
		case OpRange:
			tag(c.Numeric, c.Name, pick(c.MinIncluded, ">=", ">"), c.Min)
			tag(c.Numeric, c.Name, pick(c.MaxIncluded, "<=", "<"), c.Max)
		case OpNRange:
			tag(c.Numeric, c.Name, pick(c.MinIncluded, "<", "<="), c.Min)
			tag(c.Numeric, c.Name, pick(c.MaxIncluded, ">", ">="), c.Max)
		case OpMask:
			tag(c.Numeric, c.Name, "~"+maskWildcard(c.Wildcard), c.Value)
		default:
			tag(c.Numeric, c.Name, c.Op.String(), c.Value)
		}
	}
	if u.Registry != "" {
		tag(false, RegistryTag, "=", u.Registry)
	}
	return b.String()
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// maskWildcard writes the wildcard character, percent-encoded when it is
// not URI-safe.
func maskWildcard(r rune) string {
	var b strings.Builder
	escape(&b, string(r))
	return b.String()
}

// escape percent-encodes every byte except unreserved characters and the
// sub-delimiters that mean nothing to this syntax. What stays is readable
// and survives both kinds of decoder found in owner apps.
func escape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

func safe(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._@:/+,!$'()*?", c) >= 0
}
