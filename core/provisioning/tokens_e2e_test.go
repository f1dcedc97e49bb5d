package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// selfSigned returns a self-signed certificate (DER) for key, valid from
// notBefore for a day.
func selfSigned(t *testing.T, key any, pub any, notBefore time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "meter-42"},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestTokens: a thing gets a prov:t token by proving it holds its
// certificate's private key, through the real broker, and a third party
// gets the certificate behind the token; wrong answers, replays, keys
// that cannot be challenged and expired certificates are refused.
func TestTokens(t *testing.T) {
	b := apptest.Start(t, apptest.Options{})
	for _, u := range []string{"meter", "bob"} {
		b.AddUser(u+"@localhost", "password-"+u)
	}
	e := &e2e{t: t, b: b}
	thing := b.Dial(t, "meter@localhost", "password-meter", apptest.DialOptions{Resource: "r1"})
	bob := b.Dial(t, "bob@localhost", "password-bob", apptest.DialOptions{Resource: "r1"})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der := selfSigned(t, key, &key.PublicKey, time.Now().Add(-time.Hour))
	b64 := base64.StdEncoding.EncodeToString(der)

	// getToken -> challenge, decrypted with OAEP over SHA-1 as Waher's
	// libraries do.
	challenge := func(ns string) (string, []byte) {
		t.Helper()
		res := e.iq(thing, "get", "<getToken xmlns='"+ns+"'>"+b64+"</getToken>")
		ch := res.Child(ns, "getTokenChallenge")
		if res.AttrValue("type") != "result" || ch == nil || ch.AttrValue("seqnr") == "" {
			t.Fatalf("getToken: %s", res)
		}
		enc, err := base64.StdEncoding.DecodeString(ch.Text)
		if err != nil {
			t.Fatalf("challenge not Base64: %s", res)
		}
		plain, err := rsa.DecryptOAEP(sha1.New(), nil, key, enc, nil)
		if err != nil {
			t.Fatalf("challenge not RSA-OAEP/SHA-1 to our key: %v", err)
		}
		return ch.AttrValue("seqnr"), plain
	}
	answer := func(c *apptest.Client, ns, seq string, plain []byte) *apptest.Element {
		t.Helper()
		return e.iq(c, "get", "<getTokenChallengeResponse xmlns='"+ns+"' seqnr='"+seq+"'>"+base64.StdEncoding.EncodeToString(plain)+"</getTokenChallengeResponse>")
	}
	stanzaError := func(res *apptest.Element, cond string) bool {
		return apptest.MustPattern("<iq type='error'><error><" + cond + " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>").Match(res)
	}

	t.Run("disco", func(t *testing.T) {
		e.t = t
		res := e.iq(thing, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
		for _, f := range []string{"urn:nf:iot:prov:t:1.0", "urn:ieee:iot:prov:t:1.0", "urn:nfi:iot:prov:t:1.0"} {
			if !apptest.MustPattern("<iq><query xmlns='http://jabber.org/protocol/disco#info'><feature var='" + f + "'/></query></iq>").Match(res) {
				t.Errorf("feature %s missing: %s", f, res)
			}
		}
	})

	var token string
	for _, ns := range []string{"urn:nf:iot:prov:t:1.0", "urn:ieee:iot:prov:t:1.0"} {
		t.Run("issue/"+ns, func(t *testing.T) {
			e.t = t
			seq, plain := challenge(ns)
			// Only the party that was challenged may answer.
			if res := answer(bob, ns, seq, plain); !stanzaError(res, "item-not-found") {
				t.Fatalf("someone else answered the challenge: %s", res)
			}
			res := answer(thing, ns, seq, plain)
			tr := res.Child(ns, "getTokenResponse")
			if res.AttrValue("type") != "result" || tr == nil || !strings.HasPrefix(tr.AttrValue("token"), prov+":") || strings.ContainsAny(tr.AttrValue("token"), " \t\n") {
				t.Fatalf("getTokenChallengeResponse: %s", res)
			}
			if token == tr.AttrValue("token") {
				t.Fatal("the same token twice")
			}
			token = tr.AttrValue("token")
			// A challenge is answered once.
			if res := answer(thing, ns, seq, plain); !stanzaError(res, "item-not-found") {
				t.Fatalf("challenge answered twice: %s", res)
			}
		})
	}

	t.Run("certificate", func(t *testing.T) {
		e.t = t
		const ns = "urn:nf:iot:prov:t:1.0"
		for _, body := range []string{
			"<getCertificate xmlns='" + ns + "' token='" + token + "'/>",                                      // schema
			"<getCertificate xmlns='" + ns + "'>" + strings.TrimPrefix(token, prov+":") + "</getCertificate>", // Waher
		} {
			res := e.iq(bob, "get", body)
			c := res.Child(ns, "certificate")
			if res.AttrValue("type") != "result" || c == nil || c.Text != b64 {
				t.Fatalf("getCertificate %s: %s", body, res)
			}
		}
		if res := e.iq(bob, "get", "<getCertificate xmlns='"+ns+"' token='"+prov+":00'/>"); !stanzaError(res, "item-not-found") {
			t.Fatalf("unknown token: %s", res)
		}
	})

	t.Run("refused", func(t *testing.T) {
		e.t = t
		const ns = "urn:nf:iot:prov:t:1.0"
		seq, plain := challenge(ns)
		plain[0] ^= 1
		if res := answer(thing, ns, seq, plain); !stanzaError(res, "bad-request") {
			t.Fatalf("wrong answer: %s", res)
		}
		if res := answer(thing, ns, "999999", plain); !stanzaError(res, "item-not-found") {
			t.Fatalf("unknown seqnr: %s", res)
		}
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		expired := selfSigned(t, key, &key.PublicKey, time.Now().Add(-48*time.Hour))
		for name, body := range map[string]string{
			"ECDSA key":  base64.StdEncoding.EncodeToString(selfSigned(t, ec, &ec.PublicKey, time.Now().Add(-time.Hour))),
			"expired":    base64.StdEncoding.EncodeToString(expired),
			"not base64": "%%%",
			"not X.509":  base64.StdEncoding.EncodeToString([]byte("hello")),
			"empty":      "",
		} {
			if res := e.iq(thing, "get", "<getToken xmlns='"+ns+"'>"+body+"</getToken>"); !stanzaError(res, "bad-request") {
				t.Errorf("%s certificate: %s", name, res)
			}
		}
		// An oversized certificate is refused before it is decoded.
		if res := e.iq(thing, "get", "<getToken xmlns='"+ns+"'>"+strings.Repeat("QUFB", 5000)+"</getToken>"); !stanzaError(res, "bad-request") || !strings.Contains(res.String(), "over 16384 bytes") {
			t.Errorf("oversized certificate: %s", res)
		}
		if res := e.iq(thing, "set", "<getToken xmlns='"+ns+"'>"+b64+"</getToken>"); !stanzaError(res, "bad-request") {
			t.Errorf("iq set: %s", res)
		}
	})

	t.Run("open-challenges-bounded", func(t *testing.T) {
		e.t = t
		const ns = "urn:nfi:iot:prov:t:1.0"
		for range 8 {
			challenge(ns)
		}
		if res := e.iq(thing, "get", "<getToken xmlns='"+ns+"'>"+b64+"</getToken>"); !stanzaError(res, "resource-constraint") {
			t.Fatalf("a ninth open challenge: %s", res)
		}
		// Another party is not held back by this one.
		if res := e.iq(bob, "get", "<getToken xmlns='"+ns+"'>"+b64+"</getToken>"); res.AttrValue("type") != "result" {
			t.Fatalf("bob's challenge: %s", res)
		}
	})
}
