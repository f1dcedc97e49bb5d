package register

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"
)

// Variant names the way a client computed an XEP-0348 signature.
type Variant string

// The variants the verifier accepts, tried in this order.
const (
	// Waher is what deployed IoT devices send (the IEEE/Waher libraries):
	// base string "submit&&" + Escape(PStr), with an empty 'to', and
	// Escape applied per UTF-16 code unit without UTF-8 or NFC.
	Waher Variant = "waher"
	// XEP is the text of XEP-0348: Escape is RFC 3986 over the UTF-8 of the
	// NFC form, and the base string carries the destination ('to', the
	// broker's domain for a registration before login).
	XEP Variant = "xep"
)

// Fields excluded from the parameter string (XEP-0348 §3.2): the signature
// itself, and the token secret, which enters through the HMAC key.
const (
	fieldTokenSecret = "oauth_token_secret"
	fieldSignature   = "oauth_signature"
)

// Field is one field of a submitted form: its var and its value. Signed
// forms have single-valued fields only (the parser refuses others).
type Field struct {
	Var, Value string
}

const upperHex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// EscapeRFC3986 is XEP-0348's Escape: the UTF-8 bytes of the NFC form of s,
// percent-encoded except for A-Z a-z 0-9 - . _ ~, with upper-case hex.
func EscapeRFC3986(s string) string {
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// EscapeWaher is the Escape deployed clients compute: each UTF-16 code
// unit that is not unreserved becomes '%' and its value in upper-case hex
// of at least two digits (.NET's "X2"), with no UTF-8 step and no
// normalisation. For ASCII it equals EscapeRFC3986.
func EscapeWaher(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var pair [2]uint16
	for _, r := range s {
		if r < 0x80 && unreserved(byte(r)) {
			b.WriteByte(byte(r))
			continue
		}
		units := pair[:1]
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			pair[0], pair[1] = uint16(r1), uint16(r2)
			units = pair[:2]
		} else {
			pair[0] = uint16(r)
		}
		for _, u := range units {
			b.WriteByte('%')
			h := []byte{upperHex[u>>12], upperHex[u>>8&15], upperHex[u>>4&15], upperHex[u&15]}
			i := 0
			for i < 2 && h[i] == '0' {
				i++
			}
			b.Write(h[i:])
		}
	}
	return b.String()
}

// paramString is PStr: the signed fields sorted by var in byte order
// (which is also the order of the .NET comparer deployed clients use, for
// the lower-case ASCII names of a registration form and FORM_TYPE), each
// as Escape(var)=Escape(value), joined by '&'.
func paramString(fields []Field, escape func(string) string) string {
	signed := make([]Field, 0, len(fields))
	for _, f := range fields {
		if f.Var != fieldTokenSecret && f.Var != fieldSignature {
			signed = append(signed, f)
		}
	}
	slices.SortFunc(signed, func(a, b Field) int { return strings.Compare(a.Var, b.Var) })
	var b strings.Builder
	for i, f := range signed {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(f.Var))
		b.WriteByte('=')
		b.WriteString(escape(f.Value))
	}
	return b.String()
}

// BaseString returns the string a client signs for a submitted form. to is
// used by the XEP variant only.
func BaseString(v Variant, fields []Field, to string) string {
	if v == Waher {
		return "submit&&" + EscapeWaher(paramString(fields, EscapeWaher))
	}
	return EscapeRFC3986("submit") + "&" + EscapeRFC3986(to) + "&" + EscapeRFC3986(paramString(fields, EscapeRFC3986))
}

// Sign returns HMAC-SHA1 over the base string with key
// Escape(consumerSecret)&Escape(tokenSecret): the raw MAC, before the
// base64 and Escape that make the oauth_signature value.
func Sign(v Variant, fields []Field, to, consumerSecret, tokenSecret string) []byte {
	escape := EscapeRFC3986
	if v == Waher {
		escape = EscapeWaher
	}
	m := hmac.New(sha1.New, []byte(escape(consumerSecret)+"&"+escape(tokenSecret)))
	m.Write([]byte(BaseString(v, fields, to)))
	return m.Sum(nil)
}

// SignatureValue is the oauth_signature value for a MAC:
// Escape(Base64(mac)).
func SignatureValue(mac []byte) string {
	return EscapeRFC3986(base64.StdEncoding.EncodeToString(mac))
}

// decodeSignature reads an oauth_signature value: percent-encoded base64
// as XEP-0348 says, or plain base64 as some clients send it.
func decodeSignature(v string) ([]byte, bool) {
	if unescaped, ok := percentDecode(v); ok {
		v = unescaped
	}
	mac, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(mac) != sha1.Size {
		return nil, false
	}
	return mac, true
}

// percentDecode undoes RFC 3986 percent-encoding; '+' stays '+' (it is a
// base64 digit here, not a space).
func percentDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Verify checks a submitted form's oauth_signature against the consumer
// secret and the token secret the server issued (never the one the client
// echoed), trying the Waher variant, then the XEP variant addressed to
// each of tos. It returns the variant that matched.
func Verify(fields []Field, consumerSecret, tokenSecret string, tos ...string) (Variant, bool) {
	var sig string
	for _, f := range fields {
		if f.Var == fieldSignature {
			sig = f.Value
		}
	}
	mac, ok := decodeSignature(sig)
	if !ok {
		return "", false
	}
	if hmac.Equal(mac, Sign(Waher, fields, "", consumerSecret, tokenSecret)) {
		return Waher, true
	}
	for _, to := range tos {
		if hmac.Equal(mac, Sign(XEP, fields, to, consumerSecret, tokenSecret)) {
			return XEP, true
		}
	}
	return "", false
}
