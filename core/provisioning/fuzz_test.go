package provisioning

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

var questionSeeds = []string{
	"<isFriend xmlns='urn:nf:iot:prov:d:1.0' jid='bob@other.example'/>",
	"<canRead xmlns='urn:ieee:iot:prov:d:1.0' jid='bob@o' m='true' i='1' ut='p:u1 p:u2'><nd id='a' src='s' pt='p'/><f n='Power'/></canRead>",
	"<canControl xmlns='urn:nfi:iot:prov:d:1.0' jid='bob@o'><nd id=''/><parameter name='On'/><p n='B'/></canControl>",
	"<canRead xmlns='urn:xmpp:iot:provisioning' jid='bob@o' momentary='true' serviceToken='x'><node nodeId='n' sourceId='s' cacheType='c'/><field name='F'/></canRead>",
	"<canRead xmlns='urn:nf:iot:prov:d:1.0' jid='' all='true'/>",
}

// FuzzQuestion: any device question parses without panicking, and the
// answer to it, granted or not, is well-formed XML.
func FuzzQuestion(f *testing.F) {
	for _, s := range questionSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := xml.Parse(data, stanza.NSClient)
		if err != nil {
			return
		}
		fam, _, ok := familyOf(el.Name.Space)
		if !ok {
			return
		}
		q, ok := parseQuestion(el, fam)
		if !ok {
			return
		}
		for _, d := range []Decision{{}, {Allow: true, Categories: q.req.Categories, Nodes: q.req.Nodes, Fields: q.req.Fields, Params: q.req.Params}} {
			if _, err := xml.Parse(q.answer(d), stanza.NSClient); err != nil {
				t.Fatalf("answer to %q does not parse: %v", data, err)
			}
		}
		owner := jid.MustParse("alice@example.org")
		q.req.Thing, q.req.Requester = owner, owner
		if _, err := xml.Parse(questionPayload(fam, &q.req, Node{}, "k"), stanza.NSClient); err != nil && fam != famLegacy {
			t.Fatalf("owner question for %q does not parse: %v", data, err)
		}
	})
}

// FuzzService: whatever arrives at the component, as an iq or a message,
// and whatever a filtered request to an enforced thing carries, the
// service answers or ignores it without panicking.
func FuzzService(f *testing.F) {
	for _, s := range questionSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"<canReadRule xmlns='urn:nf:iot:prov:o:1.0' jid='meter@example.org' remoteJid='bob@o' result='true'><partial m='true'><f n='P'/></partial><fromUser token='t'/></canReadRule>",
		"<isFriendRule xmlns='urn:nf:iot:prov:o:1.0' jid='meter@example.org' remoteJid='bob@o' result='true' range='Domain'/>",
		"<deleteRules xmlns='urn:nf:iot:prov:o:1.0'/>",
		"<getDevices xmlns='urn:nf:iot:prov:o:1.0' offset='-3' maxCount='x'/>",
		"<policy xmlns='urn:extasis:provisioning:0'>package x</policy>",
		"<rule xmlns='urn:extasis:provisioning:0' id='1' origin='all'/>",
		"<audit xmlns='urn:extasis:provisioning:0' max='99999'/>",
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:extasis:provisioning:question:0</value></field></x>",
		"<req xmlns='urn:nf:iot:sd:1.0' id='1' m='true'><nd id='a'/><f n='x'/></req>",
		"<set xmlns='urn:nf:iot:ctr:1.0'><b n='On' v='true'/><x xmlns='jabber:x:data' type='submit'><field var='A'/></x></set>",
		"<getToken xmlns='urn:nf:iot:prov:t:1.0'>" + base64.StdEncoding.EncodeToString(fuzzCert(f)) + "</getToken>",
		"<getTokenChallengeResponse xmlns='urn:nf:iot:prov:t:1.0' seqnr='1'>AAAA</getTokenChallengeResponse>",
		"<getCertificate xmlns='urn:ieee:iot:prov:t:1.0' token='provisioning.example.org:00'/>",
		"<getCertificate xmlns='urn:nfi:iot:prov:t:1.0'>00</getCertificate>",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, nil)
	owner := e.login("alice")
	thing := e.login("meter")
	e.claim(thing.bare(), owner.bare())
	if err := e.svc.SetEnforce(e.ctx, owner.jid.Bare(), thing.jid.Bare(), true); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := xml.Parse(data, stanza.NSClient); err != nil {
			return
		}
		for _, wrap := range []string{
			"<iq type='get' id='f' to='" + service + "'>%s</iq>",
			"<iq type='set' id='f' to='" + service + "'>%s</iq>",
			"<message to='" + service + "'>%s</message>",
			"<iq type='get' id='f' to='meter@example.org/r1'>%s</iq>",
		} {
			raw := []byte(wrap[:len(wrap)-len("%s</iq>")])
			if wrap[1] == 'm' {
				raw = []byte(wrap[:len(wrap)-len("%s</message>")])
				raw = append(append(raw, data...), "</message>"...)
			} else {
				raw = append(append(raw, data...), "</iq>"...)
			}
			st, err := stanza.Parse(raw)
			if err != nil {
				continue
			}
			for _, from := range []*client{owner, thing} {
				st.From = from.jid
				st.Raw = xml.SetAttrs(nil, st.Raw, "from", from.jid.String())
				e.r.Route(e.ctx, st)
				from.conn.mu.Lock()
				from.conn.got = nil
				from.conn.mu.Unlock()
			}
		}
	})
}

// fuzzCert is a self-signed RSA certificate valid now, for seeds.
func fuzzCert(f *testing.F) []byte {
	f.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	return der
}

// FuzzParseCert: getToken's certificate text either gives a DER
// certificate with its RSA key or an error, never a panic.
func FuzzParseCert(f *testing.F) {
	good := base64.StdEncoding.EncodeToString(fuzzCert(f))
	for _, s := range []string{good, good[:len(good)/2], " " + good[:40] + "\n" + good[40:] + " ", "", "%%%", "AAAA", base64.StdEncoding.EncodeToString([]byte("0\x82\x01"))} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, text string) {
		der, pub, err := parseCert(text, now)
		if err == nil && (len(der) == 0 || pub == nil) {
			t.Fatalf("accepted %q without a certificate or key", text)
		}
		if err != nil && (der != nil || pub != nil) {
			t.Fatalf("refused %q but returned a certificate", text)
		}
	})
}
