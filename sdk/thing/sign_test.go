package thing

import (
	"encoding/xml"
	"testing"
	"time"
)

// The expected signatures were computed with Python's hmac and
// urllib.parse from XEP-0348's rules and the deployed clients' variant
// (base string "submit&&...", per-UTF-16-unit escaping), not with this
// package.
func TestSignForm(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		key    APIKey
		nonce  string
		want   string
	}{
		{"ascii", []Field{
			{"FORM_TYPE", "urn:xmpp:xdata:signature:oauth1"}, {"username", "sensor-42"}, {"password", "p@ss word!"},
			{"oauth_version", ""}, {"oauth_signature_method", ""}, {"oauth_token", "t-8c1f0e"},
			{"oauth_token_secret", "ts-51aa9d"}, {"oauth_nonce", ""}, {"oauth_timestamp", ""},
			{"oauth_consumer_key", ""}, {"oauth_signature", ""},
		}, APIKey{"key1", "s3cret-value"}, "0123456789abcdef0123456789abcdef", "8C4tdz0FVFwKQGnHA9OmIVIJZcg%3D"},
		{"utf-16 units", []Field{
			{"FORM_TYPE", "urn:xmpp:xdata:signature:oauth1"}, {"username", "thermo"}, {"password", "pa\u0308sswörd€😀"},
			{"oauth_token", "t-1"}, {"oauth_token_secret", "ts-2"},
		}, APIKey{"key2", "sécret"}, "n1", "WvE%2BSA4lMb6lnOvG2BUC1PkgO88%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SignForm(tt.fields, tt.key, time.Unix(1700000000, 0), tt.nonce)
			sig := got[indexOf(got, "oauth_signature")].Value
			if sig != tt.want {
				t.Fatalf("oauth_signature = %s, want %s", sig, tt.want)
			}
			for v, want := range map[string]string{"oauth_version": "1.0", "oauth_signature_method": "HMAC-SHA1",
				"oauth_consumer_key": tt.key.Key, "oauth_timestamp": "1700000000", "oauth_nonce": tt.nonce} {
				if got[indexOf(got, v)].Value != want {
					t.Errorf("%s = %q, want %q", v, got[indexOf(got, v)].Value, want)
				}
			}
		})
	}
}

func TestSignFormNonce(t *testing.T) {
	a := SignForm([]Field{{"oauth_token_secret", "x"}}, APIKey{"k", "s"}, time.Unix(1, 0), "")
	b := SignForm([]Field{{"oauth_token_secret", "x"}}, APIKey{"k", "s"}, time.Unix(1, 0), "")
	na, nb := a[indexOf(a, "oauth_nonce")].Value, b[indexOf(b, "oauth_nonce")].Value
	if len(na) != 32 || na == nb {
		t.Fatalf("nonces %q and %q: want 32 random hex digits each time", na, nb)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{"AZaz09-._~": "AZaz09-._~", "a b/=": "a%20b%2F%3D", "é": "%E9", "e\u0301": "e%301", "😀": "%D83D%DE00", "\x00": "%00"} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignable(t *testing.T) {
	var all []Field
	for _, v := range oauthFields {
		all = append(all, Field{v, ""})
	}
	if !signable(all) || signable(all[1:]) {
		t.Fatal("signable wants exactly the eight OAuth fields present")
	}
}

func TestRegistrationError(t *testing.T) {
	e := registrationError(&stanzaErr{Inner: []anyInside{
		{XMLName: xml.Name{Space: nsStanzas, Local: "conflict"}}, {XMLName: xml.Name{Space: nsStanzas, Local: "text"}, Text: " taken "}}})
	re, ok := e.(*RegistrationError)
	if !ok || re.Condition != "conflict" || re.Text != "taken" || re.Error() != "thing: registration refused: conflict: taken" {
		t.Fatalf("registrationError = %#v", e)
	}
}
