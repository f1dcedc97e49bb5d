package jid

import (
	"errors"
	"strings"
	"unicode/utf8"

	mjid "mellium.im/xmpp/jid"
)

// JID is an address in canonical form (RFC 7622 after PRECIS preparation).
// The zero value is the empty JID. JIDs are comparable with == and usable as
// map keys: two JIDs are equal exactly when their canonical strings are.
type JID struct {
	s      string
	local  uint16 // length of the localpart (0 if none)
	domain uint16 // length of the domainpart
}

// Errors returned by Parse. They are wrapped with detail; match with errors.Is.
var (
	ErrEmpty     = errors.New("jid: empty address")
	ErrInvalid   = errors.New("jid: invalid address")
	ErrTooLong   = errors.New("jid: part longer than 1023 bytes")
	errDomainLen = errors.New("jid: domainpart empty")
)

const maxPart = 1023

// Parse parses and canonicalises s. A fast path handles the common ASCII
// addresses without allocation beyond the result; anything else is prepared
// by mellium's PRECIS implementation.
func Parse(s string) (JID, error) {
	if s == "" {
		return JID{}, ErrEmpty
	}
	if j, ok := parseFast(s); ok {
		return j, nil
	}
	return parseSlow(s)
}

// MustParse is Parse for constants in tests and defaults; it panics on error.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// ParseBytes is Parse for a byte slice; the common canonical case costs one
// string allocation.
func ParseBytes(b []byte) (JID, error) {
	return Parse(string(b))
}

// New builds a JID from parts, preparing each.
func New(local, domain, resource string) (JID, error) {
	var sb strings.Builder
	if local != "" {
		sb.WriteString(local)
		sb.WriteByte('@')
	}
	sb.WriteString(domain)
	if resource != "" {
		sb.WriteByte('/')
		sb.WriteString(resource)
	}
	j, err := Parse(sb.String())
	if err != nil {
		return JID{}, err
	}
	// Parse splits at the first '@' and '/', so a localpart containing them is
	// refused rather than silently re-split.
	if j.Resource() != resource && resource != "" && strings.ContainsAny(local+domain, "/@") {
		return JID{}, ErrInvalid
	}
	return j, nil
}

// Domain-only JID from a domain string.
func Domain(domain string) (JID, error) {
	if strings.ContainsAny(domain, "@/") {
		return JID{}, ErrInvalid
	}
	return Parse(domain)
}

// parseFast accepts strings that are already canonical and plain ASCII:
// localpart of [a-z0-9] and a few safe symbols, domain of lower-case LDH
// labels, resource of printable ASCII. It returns ok=false to defer anything
// else (upper case, non-ASCII, IP literals, odd punctuation) to parseSlow.
func parseFast(s string) (JID, bool) {
	at, slash := -1, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' {
			slash = i
			break
		}
		if c == '@' {
			if at >= 0 {
				return JID{}, false
			}
			at = i
		}
	}
	end := len(s)
	if slash >= 0 {
		end = slash
	}
	if at >= 0 {
		if at == 0 || at > maxPart {
			return JID{}, false
		}
		for i := 0; i < at; i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '+' || c == '=' || c == '!' || c == '#' || c == '$' || c == '%' || c == '*' || c == '~' || c == '^' || c == '{' || c == '}' || c == '|' || c == '?' || c == '`') {
				return JID{}, false
			}
		}
	}
	ds := at + 1
	if ds >= end || end-ds > maxPart {
		return JID{}, false
	}
	// Domain: lower-case LDH labels separated by single dots, no trailing dot.
	labelStart := ds
	for i := ds; i <= end; i++ {
		if i == end || s[i] == '.' {
			n := i - labelStart
			if n == 0 || n > 63 || s[labelStart] == '-' || s[i-1] == '-' {
				return JID{}, false
			}
			labelStart = i + 1
			continue
		}
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return JID{}, false
		}
	}
	if slash >= 0 {
		r := s[slash+1:]
		if r == "" || len(r) > maxPart {
			return JID{}, false
		}
		for i := 0; i < len(r); i++ {
			c := r[i]
			if c < 0x21 || c > 0x7e {
				return JID{}, false
			}
		}
	}
	local := 0
	if at >= 0 {
		local = at
	}
	return JID{s: s, local: uint16(local), domain: uint16(end - ds)}, true
}

func parseSlow(s string) (JID, error) {
	if !utf8.ValidString(s) {
		return JID{}, ErrInvalid
	}
	m, err := mjid.Parse(s)
	if err != nil {
		return JID{}, errors.Join(ErrInvalid, err)
	}
	l, d, r := m.Localpart(), m.Domainpart(), m.Resourcepart()
	// mellium lower-cases ASCII in the domain but keeps IP literals in
	// brackets; refuse parts it lets through that we cannot route.
	if d == "" {
		return JID{}, errDomainLen
	}
	if len(l) > maxPart || len(d) > maxPart || len(r) > maxPart {
		return JID{}, ErrTooLong
	}
	var sb strings.Builder
	sb.Grow(len(l) + len(d) + len(r) + 2)
	if l != "" {
		sb.WriteString(l)
		sb.WriteByte('@')
	}
	sb.WriteString(d)
	if r != "" {
		sb.WriteByte('/')
		sb.WriteString(r)
	}
	return JID{s: sb.String(), local: uint16(len(l)), domain: uint16(len(d))}, nil
}

func (j JID) domainStart() int {
	if j.local == 0 {
		return 0
	}
	return int(j.local) + 1
}

// String returns the canonical form.
func (j JID) String() string { return j.s }

// IsZero reports whether j is the empty JID.
func (j JID) IsZero() bool { return j.s == "" }

// Local returns the localpart ("" if none).
func (j JID) Local() string { return j.s[:j.local] }

// Domain returns the domainpart.
func (j JID) Domain() string {
	ds := j.domainStart()
	return j.s[ds : ds+int(j.domain)]
}

// Resource returns the resourcepart ("" if none).
func (j JID) Resource() string {
	e := j.domainStart() + int(j.domain)
	if e >= len(j.s) {
		return ""
	}
	return j.s[e+1:]
}

// IsBare reports whether j has no resourcepart.
func (j JID) IsBare() bool { return j.domainStart()+int(j.domain) == len(j.s) }

// IsDomain reports whether j is a domain-only JID.
func (j JID) IsDomain() bool { return j.local == 0 && j.IsBare() && j.s != "" }

// Bare returns j without its resourcepart. It does not allocate.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.domainStart()+int(j.domain)], local: j.local, domain: j.domain}
}

// DomainJID returns the domain-only JID of j. It does not allocate.
func (j JID) DomainJID() JID {
	ds := j.domainStart()
	return JID{s: j.s[ds : ds+int(j.domain)], domain: j.domain}
}

// WithResource returns the bare JID of j with resource r (prepared).
func (j JID) WithResource(r string) (JID, error) {
	if r == "" {
		return j.Bare(), nil
	}
	return Parse(j.Bare().s + "/" + r)
}
