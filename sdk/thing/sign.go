package thing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Field is one field of a data form: its var and its value.
type Field struct {
	Var, Value string
}

// APIKey is a key and its secret, issued by the broker's operator
// (extasis apikey create). Devices of one batch usually share one.
type APIKey struct {
	Key, Secret string
}

// oauthFields are the eight fields a form must have for a client to sign
// it (what deployed IoT clients check).
var oauthFields = []string{"oauth_version", "oauth_signature_method", "oauth_token", "oauth_token_secret",
	"oauth_nonce", "oauth_timestamp", "oauth_consumer_key", "oauth_signature"}

// signable reports whether fields has every OAuth field.
func signable(fields []Field) bool {
	for _, v := range oauthFields {
		if indexOf(fields, v) < 0 {
			return false
		}
	}
	return true
}

func indexOf(fields []Field, v string) int {
	for i, f := range fields {
		if f.Var == v {
			return i
		}
	}
	return -1
}

func set(fields []Field, v, value string) []Field {
	if i := indexOf(fields, v); i >= 0 {
		fields[i].Value = value
		return fields
	}
	return append(fields, Field{v, value})
}

// escape is XEP-0348's Escape as deployed clients compute it: every UTF-16
// code unit other than A-Z a-z 0-9 - . _ ~ becomes '%' and its value in
// upper-case hex of at least two digits. For ASCII it is RFC 3986.
func escape(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		if u < 0x80 && (u >= 'a' && u <= 'z' || u >= 'A' && u <= 'Z' || u >= '0' && u <= '9' || strings.IndexByte("-._~", byte(u)) >= 0) {
			b.WriteByte(byte(u))
			continue
		}
		h := strings.ToUpper(strconv.FormatUint(uint64(u), 16))
		if len(h) < 2 {
			h = "0" + h
		}
		b.WriteString("%" + h)
	}
	return b.String()
}

// SignForm fills the OAuth fields of a registration form and signs it
// (XEP-0348 HMAC-SHA1) the way deployed IoT clients do, which every
// Extasis broker accepts: the parameter string of all fields but
// oauth_token_secret and oauth_signature, sorted by var; the base string
// "submit&&" + Escape(parameters); the key Escape(secret) + "&" +
// Escape(oauth_token_secret as the server sent it). nonce "" draws 16
// random bytes. fields is changed in place and returned.
func SignForm(fields []Field, key APIKey, now time.Time, nonce string) []Field {
	if nonce == "" {
		b := make([]byte, 16)
		rand.Read(b)
		nonce = hex.EncodeToString(b)
	}
	fields = set(fields, "oauth_version", "1.0")
	fields = set(fields, "oauth_signature_method", "HMAC-SHA1")
	fields = set(fields, "oauth_consumer_key", key.Key)
	fields = set(fields, "oauth_timestamp", strconv.FormatInt(now.Unix(), 10))
	fields = set(fields, "oauth_nonce", nonce)
	tokenSecret := ""
	if i := indexOf(fields, "oauth_token_secret"); i >= 0 {
		tokenSecret = fields[i].Value
	}
	var params []Field
	for _, f := range fields {
		if f.Var != "oauth_token_secret" && f.Var != "oauth_signature" {
			params = append(params, f)
		}
	}
	sort.Slice(params, func(i, j int) bool { return params[i].Var < params[j].Var })
	parts := make([]string, len(params))
	for i, f := range params {
		parts[i] = escape(f.Var) + "=" + escape(f.Value)
	}
	base := "submit&&" + escape(strings.Join(parts, "&"))
	m := hmac.New(sha1.New, []byte(escape(key.Secret)+"&"+escape(tokenSecret)))
	m.Write([]byte(base))
	return set(fields, "oauth_signature", escape(base64.StdEncoding.EncodeToString(m.Sum(nil))))
}
