package provisioning

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// Tokens (digest §8, urn:nf|ieee|nfi:iot:prov:t:1.0). A party sends its
// X.509 certificate (getToken); the service answers with a random value
// encrypted to the certificate's RSA key with OAEP over SHA-1, what Waher's
// libraries decrypt with (getTokenChallenge); the party sends it back
// decrypted (getTokenChallengeResponse) and gets a token
// "<service address>:<random>" (getTokenResponse), kept in storage without a
// fixed lifetime. Anyone may ask the certificate behind a token
// (getCertificate), e.g. to challenge its holder (tokenChallenge, which
// travels between the parties). Owners' rules may then name the token
// (fromService, fromDevice, fromUser).
const (
	// challengeTTL is how long a challenge may be answered.
	challengeTTL = time.Minute
	// maxChallenges bounds the open challenges per party (bare JID, all
	// its resources) and in all.
	maxChallengesPerParty = 8
	maxChallenges         = 10000
	// maxCertText bounds the Base64 certificate of getToken.
	maxCertText = 16 << 10
	// challengeBytes is the size of the random value and of a token's
	// random part.
	challengeBytes = 32
)

// tokenState holds the open challenges.
type tokenState struct {
	mu      sync.Mutex
	seq     int64
	pending map[int64]*challenge
	byParty map[jid.JID]int // open challenges per bare JID
}

type challenge struct {
	party   jid.JID // full JID that asked
	cert    []byte
	secret  []byte
	expires time.Time
}

// tokenRequest serves the prov:t namespace of family fam.
func (s *Service) tokenRequest(ctx context.Context, st *stanza.Stanza, p *xml.Element, fam family) {
	if st.Type != "get" {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "token requests are iq get"})
		return
	}
	ns := fam.ns("prov:t")
	switch p.Name.Local {
	case "getToken":
		s.getToken(ctx, st, p, ns)
	case "getTokenChallengeResponse":
		s.tokenChallengeResponse(ctx, st, p, ns)
	case "getCertificate":
		s.getCertificate(ctx, st, p, ns)
	default:
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.FeatureNotImplemented, Text: p.Name.Local + " is not a request the provisioning service answers"})
	}
}

// parseCert reads getToken's text: the Base64 DER of an X.509 certificate
// with an RSA key, valid at now.
func parseCert(text string, now time.Time) ([]byte, *rsa.PublicKey, error) {
	text = strings.Join(strings.Fields(text), "")
	if text == "" {
		return nil, nil, errors.New("no certificate: send the Base64 DER of your X.509 certificate")
	}
	if len(text) > maxCertText {
		return nil, nil, fmt.Errorf("certificate over %d bytes of Base64", maxCertText)
	}
	der, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, nil, errors.New("certificate is not Base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("not an X.509 certificate: %v", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("the certificate's key is %s; the challenge needs RSA (RSA-OAEP)", cert.PublicKeyAlgorithm)
	}
	if pub.N.BitLen() < 1024 {
		return nil, nil, fmt.Errorf("RSA key of %d bits; at least 1024 are needed", pub.N.BitLen())
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("certificate valid from %s to %s only", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return der, pub, nil
}

func (s *Service) getToken(ctx context.Context, st *stanza.Stanza, p *xml.Element, ns string) {
	now := s.cfg.Now()
	der, pub, err := parseCert(p.Text, now)
	if err != nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: err.Error()})
		return
	}
	secret := make([]byte, challengeBytes)
	rand.Read(secret)
	enc, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "cannot encrypt to this key: " + err.Error()})
		return
	}
	t := &s.tokens
	t.mu.Lock()
	t.expire(now)
	if t.pending == nil {
		t.pending, t.byParty = map[int64]*challenge{}, map[jid.JID]int{}
	}
	if len(t.pending) >= maxChallenges || t.byParty[st.From.Bare()] >= maxChallengesPerParty {
		t.mu.Unlock()
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ResourceConstraint, Text: "too many open token challenges; answer them or wait a minute"})
		return
	}
	t.seq++
	seq := t.seq
	t.pending[seq] = &challenge{party: st.From, cert: der, secret: secret, expires: now.Add(challengeTTL)}
	t.byParty[st.From.Bare()]++
	t.mu.Unlock()
	res := xml.New(ns, "getTokenChallenge", "seqnr", strconv.FormatInt(seq, 10)).SetText(base64.StdEncoding.EncodeToString(enc))
	s.r.Route(ctx, st.Result(res.Append(nil, "")))
}

// expire drops the challenges past their time; t.mu is held.
func (t *tokenState) expire(now time.Time) {
	for k, c := range t.pending {
		if now.After(c.expires) {
			t.drop(k, c)
		}
	}
}

func (t *tokenState) drop(k int64, c *challenge) {
	delete(t.pending, k)
	bare := c.party.Bare()
	if t.byParty[bare]--; t.byParty[bare] <= 0 {
		delete(t.byParty, bare)
	}
}

func (s *Service) tokenChallengeResponse(ctx context.Context, st *stanza.Stanza, p *xml.Element, ns string) {
	seq, err := strconv.ParseInt(p.Attr("seqnr"), 10, 64)
	if err != nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "seqnr must be the number of the challenge"})
		return
	}
	now := s.cfg.Now()
	t := &s.tokens
	t.mu.Lock()
	t.expire(now)
	c := t.pending[seq]
	if c == nil || c.party != st.From {
		t.mu.Unlock()
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound, Text: "no open challenge " + p.Attr("seqnr") + " for you (challenges last a minute)"})
		return
	}
	t.drop(seq, c) // one answer per challenge, right or wrong
	t.mu.Unlock()
	got, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(p.Text), ""))
	if err != nil || subtle.ConstantTimeCompare(got, c.secret) != 1 {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "wrong answer to the challenge"})
		return
	}
	random := make([]byte, challengeBytes)
	rand.Read(random)
	tok := storage.ProvisioningToken{Token: st.To.Bare().String() + ":" + hex.EncodeToString(random), Holder: st.From.Bare(), Cert: c.cert, Created: now}
	if err := s.store.PutToken(ctx, tok); err != nil {
		s.log.Error("provisioning: token not stored", "holder", tok.Holder, "err", err)
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.InternalServerError, Text: "the token could not be stored; ask again"})
		return
	}
	res := xml.New(ns, "getTokenResponse", "token", tok.Token)
	s.r.Route(ctx, st.Result(res.Append(nil, "")))
}

// getCertificate answers with the certificate behind a token. The schema
// puts the token in an attribute; Waher's libraries send it as text,
// without the "<address>:" prefix that chose the destination.
func (s *Service) getCertificate(ctx context.Context, st *stanza.Stanza, p *xml.Element, ns string) {
	token := p.Attr("token")
	if token == "" {
		token = strings.TrimSpace(p.Text)
	}
	if token == "" || len(token) > 1024 {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "which token? (token attribute)"})
		return
	}
	candidates := []string{token}
	if prefix := st.To.Bare().String() + ":"; !strings.HasPrefix(token, prefix) {
		candidates = append(candidates, prefix+token)
	}
	for _, c := range candidates {
		t, err := s.store.Token(ctx, c)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.InternalServerError, Text: "tokens cannot be read now"})
			return
		}
		res := xml.New(ns, "certificate").SetText(base64.StdEncoding.EncodeToString(t.Cert))
		s.r.Route(ctx, st.Result(res.Append(nil, "")))
		return
	}
	s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound, Text: "no such token"})
}
