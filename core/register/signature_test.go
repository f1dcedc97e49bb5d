package register

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"testing"
)

// The vectors below were derived by hand from XEP-0348 §3 (and, for the
// Waher variant, from the wire facts of the protocol digest §4.4), then
// checked with Python's hmac and urllib.parse.quote(safe='-._~'): the
// base strings are literals, not outputs of this package.

var vectorForm = []Field{
	{"FORM_TYPE", "urn:xmpp:xdata:signature:oauth1"},
	{"username", "sensor-42"},
	{"password", "p@ss word!"},
	{"oauth_version", "1.0"},
	{"oauth_signature_method", "HMAC-SHA1"},
	{"oauth_token", "t-8c1f0e"},
	{"oauth_token_secret", "ts-51aa9d"},
	{"oauth_nonce", "0123456789abcdef0123456789abcdef"},
	{"oauth_timestamp", "1700000000"},
	{"oauth_consumer_key", "key1"},
}

const vectorPStr = "FORM_TYPE%3Durn%253Axmpp%253Axdata%253Asignature%253Aoauth1%26oauth_consumer_key%3Dkey1%26" +
	"oauth_nonce%3D0123456789abcdef0123456789abcdef%26oauth_signature_method%3DHMAC-SHA1%26" +
	"oauth_timestamp%3D1700000000%26oauth_token%3Dt-8c1f0e%26oauth_version%3D1.0%26" +
	"password%3Dp%2540ss%2520word%2521%26username%3Dsensor-42"

// nonASCII has a password with a combining mark, Latin-1, a BMP symbol and
// an astral character, where the variants' Escape differ.
var nonASCII = []Field{
	{"FORM_TYPE", "urn:xmpp:xdata:signature:oauth1"},
	{"username", "thermo"},
	{"password", "pa\u0308sswörd€😀"},
	{"oauth_version", "1.0"},
	{"oauth_signature_method", "HMAC-SHA1"},
	{"oauth_token", "t-1"},
	{"oauth_nonce", "n1"},
	{"oauth_timestamp", "1700000000"},
	{"oauth_consumer_key", "key2"},
}

const nonASCIIHead = "FORM_TYPE%3Durn%253Axmpp%253Axdata%253Asignature%253Aoauth1%26oauth_consumer_key%3Dkey2%26" +
	"oauth_nonce%3Dn1%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26oauth_token%3Dt-1%26" +
	"oauth_version%3D1.0%26password%3D"

func TestBaseStringVectors(t *testing.T) {
	tests := []struct {
		name    string
		v       Variant
		fields  []Field
		to      string
		want    string
		key     string // the HMAC key, as the rules build it
		wantSig string // base64, from Python
	}{
		{"waher ascii", Waher, vectorForm, "", "submit&&" + vectorPStr, "s3cret-value&ts-51aa9d", "8C4tdz0FVFwKQGnHA9OmIVIJZcg="},
		{"waher ignores to", Waher, vectorForm, "example.org", "submit&&" + vectorPStr, "s3cret-value&ts-51aa9d", "8C4tdz0FVFwKQGnHA9OmIVIJZcg="},
		{"xep ascii", XEP, vectorForm, "example.org", "submit&example.org&" + vectorPStr, "s3cret-value&ts-51aa9d", "+p8ZjCb23l58KmCUuIWNT8xQGH4="},
		{"waher utf-16 units", Waher, nonASCII, "",
			"submit&&" + nonASCIIHead + "pa%25308ssw%25F6rd%2520AC%25D83D%25DE00%26username%3Dthermo",
			"s%E9cret&ts-2", "WvE+SA4lMb6lnOvG2BUC1PkgO88="},
		{"xep utf-8 nfc", XEP, nonASCII, "iot.example",
			"submit&iot.example&" + nonASCIIHead + "p%25C3%25A4ssw%25C3%25B6rd%25E2%2582%25AC%25F0%259F%2598%2580%26username%3Dthermo",
			"s%C3%A9cret&ts-2", "nebpD4CRFdsEdm73ikf7XJaOevI="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BaseString(tt.v, tt.fields, tt.to); got != tt.want {
				t.Fatalf("BaseString\n got %s\nwant %s", got, tt.want)
			}
			m := hmac.New(sha1.New, []byte(tt.key))
			m.Write([]byte(tt.want))
			want := m.Sum(nil)
			if base64.StdEncoding.EncodeToString(want) != tt.wantSig {
				t.Fatalf("the vector itself is inconsistent: %s", base64.StdEncoding.EncodeToString(want))
			}
			secret, tokSecret := "s3cret-value", "ts-51aa9d"
			if tt.key != "s3cret-value&ts-51aa9d" {
				secret, tokSecret = "sécret", "ts-2"
			}
			got := Sign(tt.v, tt.fields, tt.to, secret, tokSecret)
			if !hmac.Equal(got, want) {
				t.Fatalf("Sign = %s, want %s", base64.StdEncoding.EncodeToString(got), tt.wantSig)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, rfc, waher string }{
		{"AZaz09-._~", "AZaz09-._~", "AZaz09-._~"},
		{"a b+c/=&%", "a%20b%2Bc%2F%3D%26%25", "a%20b%2Bc%2F%3D%26%25"},
		{"é", "%C3%A9", "%E9"},
		{"e\u0301", "%C3%A9", "e%301"}, // NFC for the XEP only
		{"€", "%E2%82%AC", "%20AC"},
		{"😀", "%F0%9F%98%80", "%D83D%DE00"},
		{"\x00\x7f", "%00%7F", "%00%7F"},
		{"", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := EscapeRFC3986(tt.in); got != tt.rfc {
				t.Errorf("EscapeRFC3986(%q) = %q, want %q", tt.in, got, tt.rfc)
			}
			if got := EscapeWaher(tt.in); got != tt.waher {
				t.Errorf("EscapeWaher(%q) = %q, want %q", tt.in, got, tt.waher)
			}
		})
	}
}

// withSig returns fields with oauth_signature set to value.
func withSig(fields []Field, value string) []Field {
	out := append([]Field(nil), fields...)
	return append(out, Field{fieldSignature, value})
}

func replace(fields []Field, v, val string) []Field {
	out := append([]Field(nil), fields...)
	for i := range out {
		if out[i].Var == v {
			out[i].Value = val
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	const secret, tokSecret = "s3cret-value", "ts-51aa9d"
	waher := "8C4tdz0FVFwKQGnHA9OmIVIJZcg%3D"
	xep := "%2Bp8ZjCb23l58KmCUuIWNT8xQGH4%3D"
	tests := []struct {
		name           string
		fields         []Field
		secret, tokSec string
		tos            []string
		want           Variant
		ok             bool
	}{
		{"waher", withSig(vectorForm, waher), secret, tokSecret, []string{"example.org"}, Waher, true},
		{"waher unescaped base64", withSig(vectorForm, "8C4tdz0FVFwKQGnHA9OmIVIJZcg="), secret, tokSecret, nil, Waher, true},
		{"xep", withSig(vectorForm, xep), secret, tokSecret, []string{"example.org"}, XEP, true},
		{"xep second to", withSig(vectorForm, xep), secret, tokSecret, []string{"other.org", "example.org"}, XEP, true},
		{"xep wrong to", withSig(vectorForm, xep), secret, tokSecret, []string{"other.org"}, "", false},
		{"wrong secret", withSig(vectorForm, waher), "s3cret-valuE", tokSecret, nil, "", false},
		{"wrong token secret", withSig(vectorForm, waher), secret, "ts-51aa9e", nil, "", false},
		{"echoed token secret is not trusted", withSig(replace(vectorForm, fieldTokenSecret, "forged"), waher), secret, tokSecret, nil, Waher, true},
		{"tampered password", withSig(replace(vectorForm, "password", "p@ss word?"), waher), secret, tokSecret, nil, "", false},
		{"tampered user", withSig(replace(vectorForm, "username", "sensor-43"), waher), secret, tokSecret, nil, "", false},
		{"extra field", withSig(append(append([]Field(nil), vectorForm...), Field{"x", ""}), waher), secret, tokSecret, nil, "", false},
		{"no signature", vectorForm, secret, tokSecret, nil, "", false},
		{"empty signature", withSig(vectorForm, ""), secret, tokSecret, nil, "", false},
		{"not base64", withSig(vectorForm, "%%%"), secret, tokSecret, nil, "", false},
		{"short mac", withSig(vectorForm, "AAAA"), secret, tokSecret, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := Verify(tt.fields, tt.secret, tt.tokSec, tt.tos...)
			if ok != tt.ok || v != tt.want {
				t.Fatalf("Verify = %q, %v; want %q, %v", v, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFieldOrderDoesNotMatter(t *testing.T) {
	rev := make([]Field, len(vectorForm))
	for i, f := range vectorForm {
		rev[len(vectorForm)-1-i] = f
	}
	if BaseString(Waher, rev, "") != BaseString(Waher, vectorForm, "") {
		t.Fatal("the base string depends on the order of the submitted fields")
	}
}

func BenchmarkVerify(b *testing.B) {
	fields := withSig(vectorForm, "8C4tdz0FVFwKQGnHA9OmIVIJZcg%3D")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Verify(fields, "s3cret-value", "ts-51aa9d", "example.org"); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkVerifyFallback is the cost of a signature in the XEP variant:
// the Waher variant is computed first and fails.
func BenchmarkVerifyFallback(b *testing.B) {
	fields := withSig(vectorForm, "%2Bp8ZjCb23l58KmCUuIWNT8xQGH4%3D")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Verify(fields, "s3cret-value", "ts-51aa9d", "example.org"); !ok {
			b.Fatal("no match")
		}
	}
}
