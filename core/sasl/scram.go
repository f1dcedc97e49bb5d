package sasl

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// serverNonceLen is the entropy of the server's part of the nonce; RFC 5802
// asks only for "sufficiently random", 24 bytes matches common clients.
const serverNonceLen = 24

// RFC 5802 §7 server-error values used here.
const (
	errInvalidEncoding       = "invalid-encoding"
	errExtensionsUnsupported = "extensions-not-supported"
	errInvalidProof          = "invalid-proof"
	errCBMismatch            = "channel-bindings-dont-match"
	errServerSupportsCB      = "server-does-support-channel-binding"
	errCBNotSupported        = "channel-binding-not-supported"
	errUnsupportedCBType     = "unsupported-channel-binding-type"
	errInvalidUsername       = "invalid-username-encoding"
	errOther                 = "other-error"
)

type scramState uint8

const (
	scramStart     scramState = iota // nothing received
	scramWaitFirst                   // empty initial response answered, client-first due
	scramWaitFinal                   // server-first sent, client-final due
	scramDone                        // succeeded
	scramFailed                      // failed; every further Step fails
)

// scramServer is RFC 5802 §5 from the server's side, working from the
// stored verifier only.
type scramServer struct {
	hash   Hash
	plus   bool
	lookup Lookup
	cb     ChannelBinding
	cfg    *config
	state  scramState

	// Set by client-first, used by client-final. They are copies: the
	// caller may reuse its buffers between steps.
	gs2Header       []byte
	cbData          []byte // nil for the "n" and "y" flags
	clientFirstBare []byte
	serverFirst     []byte
	nonce           []byte // client nonce + server nonce
	creds           Credentials
	fake            bool  // unknown user: fail at the proof whatever it is
	deferred        error // lookup failure to report after a valid proof

	username, authzid string
	ok                bool
}

func newSCRAM(mechanism string, lookup Lookup, cb ChannelBinding, cfg *config) *scramServer {
	s := &scramServer{lookup: lookup, cb: cb, cfg: cfg, hash: SHA1}
	if strings.HasPrefix(mechanism, "SCRAM-SHA-256") {
		s.hash = SHA256
	}
	s.plus = strings.HasSuffix(mechanism, "-PLUS")
	return s
}

func (s *scramServer) Username() string {
	if !s.ok {
		return ""
	}
	return s.username
}

func (s *scramServer) Authzid() string {
	if !s.ok {
		return ""
	}
	return s.authzid
}

func (s *scramServer) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	defer func() {
		if err != nil {
			s.state = scramFailed
		}
	}()
	switch s.state {
	case scramStart:
		if len(in) == 0 {
			s.state = scramWaitFirst
			return []byte{}, false, nil
		}
		return s.clientFirst(ctx, in)
	case scramWaitFirst:
		if len(in) == 0 {
			return nil, false, malformed("empty client-first message")
		}
		return s.clientFirst(ctx, in)
	case scramWaitFinal:
		return s.clientFinal(in)
	}
	return nil, false, malformed("step after the end of the exchange")
}

// gs2Parsed is the GS2 header of a client-first message (RFC 5802 §7).
type gs2Parsed struct {
	flag    byte // 'n', 'y' or 'p'
	cbName  string
	authzid string
	header  []byte // verbatim, with its trailing comma
}

// parseGS2 splits a client-first message into its GS2 header and the
// client-first-message-bare.
func parseGS2(in []byte) (g gs2Parsed, bare []byte, f *Failure) {
	flag, rest, found := bytes.Cut(in, []byte{','})
	if !found {
		return g, nil, malformed("no GS2 header")
	}
	switch {
	case len(flag) == 1 && (flag[0] == 'n' || flag[0] == 'y'):
		g.flag = flag[0]
	case len(flag) > 2 && flag[0] == 'p' && flag[1] == '=':
		name := flag[2:]
		for _, c := range name {
			if !isAlnum(c) && c != '.' && c != '-' {
				return g, nil, malformed("bad channel binding type name")
			}
		}
		g.flag, g.cbName = 'p', string(name)
	default:
		return g, nil, malformed("bad channel binding flag in GS2 header")
	}
	authz, bare, found := bytes.Cut(rest, []byte{','})
	if !found {
		return g, nil, malformed("unterminated GS2 header")
	}
	if len(authz) > 0 {
		if !bytes.HasPrefix(authz, []byte("a=")) {
			return g, nil, malformed("bad authzid in GS2 header")
		}
		a, ok := decodeSaslname(authz[2:])
		if !ok {
			return g, nil, scramFail(MalformedRequest, "bad authzid encoding", errInvalidEncoding)
		}
		g.authzid = a
	}
	g.header = in[:len(in)-len(bare)]
	return g, bare, nil
}

func (s *scramServer) clientFirst(ctx context.Context, in []byte) ([]byte, bool, error) {
	if f := checkMessage(in, false); f != nil {
		return nil, false, f
	}
	g, bare, f := parseGS2(in)
	if f != nil {
		return nil, false, f
	}
	// RFC 5802 §6: the flag must agree with the mechanism, and "y" on a
	// connection where we offered -PLUS means someone removed it on the way.
	switch {
	case s.plus && g.flag != 'p':
		return nil, false, scramFail(MalformedRequest, "-PLUS mechanism without channel binding", errCBNotSupported)
	case !s.plus && g.flag == 'p':
		return nil, false, malformed("channel binding requested on a mechanism without -PLUS")
	case g.flag == 'y' && s.cb.has():
		return nil, false, scramFail(NotAuthorized, "channel binding downgrade", errServerSupportsCB)
	case g.flag == 'p':
		s.cbData = s.cb.data(g.cbName)
		if s.cbData == nil {
			return nil, false, scramFail(MalformedRequest, "unsupported channel binding type", errUnsupportedCBType)
		}
	}

	if bytes.HasPrefix(bare, []byte("m=")) {
		return nil, false, scramFail(MalformedRequest, "mandatory extension not supported", errExtensionsUnsupported)
	}
	field, rest, _ := bytes.Cut(bare, []byte{','})
	if !bytes.HasPrefix(field, []byte("n=")) {
		return nil, false, malformed("no username")
	}
	rawName, ok := decodeSaslname(field[2:])
	if !ok {
		return nil, false, scramFail(MalformedRequest, "bad username encoding", errInvalidUsername)
	}
	field, rest, _ = bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(field, []byte("r=")) || !validNonce(field[2:]) {
		return nil, false, malformed("bad client nonce")
	}
	clientNonce := field[2:]
	if f := checkExtensions(rest); f != nil {
		return nil, false, f
	}

	name, prepared := prepareUsername(rawName)
	if !prepared {
		// No account can have this name: go on as for an unknown user, keyed
		// by what the client sent.
		name = rawName
	}
	creds, fake, deferred, err := lookupCredentials(ctx, s.lookup, s.cfg, s.hash, name, prepared)
	if err != nil {
		return nil, false, err
	}

	serverNonce := s.cfg.serverNonce
	if serverNonce == "" {
		b := make([]byte, serverNonceLen)
		rand.Read(b)
		serverNonce = base64.RawStdEncoding.EncodeToString(b)
	}
	s.nonce = append(append(make([]byte, 0, len(clientNonce)+len(serverNonce)), clientNonce...), serverNonce...)

	sf := make([]byte, 0, 2+len(s.nonce)+3+base64.StdEncoding.EncodedLen(len(creds.Salt))+3+8)
	sf = append(sf, "r="...)
	sf = append(sf, s.nonce...)
	sf = append(sf, ",s="...)
	sf = base64.StdEncoding.AppendEncode(sf, creds.Salt)
	sf = append(sf, ",i="...)
	sf = strconv.AppendInt(sf, int64(creds.Iterations), 10)

	s.gs2Header = bytes.Clone(g.header)
	s.clientFirstBare = bytes.Clone(bare)
	s.serverFirst = sf
	s.creds, s.fake, s.deferred = creds, fake, deferred
	s.username, s.authzid = name, g.authzid
	s.state = scramWaitFinal
	return bytes.Clone(sf), false, nil
}

func (s *scramServer) clientFinal(in []byte) ([]byte, bool, error) {
	if f := checkMessage(in, false); f != nil {
		return nil, false, f
	}
	// The proof is the last attribute; everything before it is signed.
	i := bytes.LastIndex(in, []byte(",p="))
	if i < 0 {
		return nil, false, malformed("no proof in client-final message")
	}
	withoutProof, proof64 := in[:i], in[i+3:]

	field, rest, _ := bytes.Cut(withoutProof, []byte{','})
	if !bytes.HasPrefix(field, []byte("c=")) {
		return nil, false, malformed("no channel binding in client-final message")
	}
	cbind, err := base64.StdEncoding.Strict().DecodeString(string(field[2:]))
	if err != nil {
		return nil, false, scramFail(MalformedRequest, "bad channel binding encoding", errInvalidEncoding)
	}
	field, rest, _ = bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(field, []byte("r=")) {
		return nil, false, malformed("no nonce in client-final message")
	}
	nonce := field[2:]
	if f := checkExtensions(rest); f != nil {
		return nil, false, f
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(string(proof64))
	if err != nil {
		return nil, false, scramFail(MalformedRequest, "bad proof encoding", errInvalidEncoding)
	}

	// c= must repeat the GS2 header followed by this connection's binding
	// data (RFC 5802 §7), which ties the proof to the TLS channel.
	want := append(bytes.Clone(s.gs2Header), s.cbData...)
	if subtle.ConstantTimeCompare(cbind, want) != 1 {
		return nil, false, scramFail(NotAuthorized, "channel binding mismatch", errCBMismatch)
	}
	if subtle.ConstantTimeCompare(nonce, s.nonce) != 1 {
		return nil, false, scramFail(NotAuthorized, "nonce mismatch", errOther)
	}

	newHash := s.hash.newHash()
	authMessage := make([]byte, 0, len(s.clientFirstBare)+1+len(s.serverFirst)+1+len(withoutProof))
	authMessage = append(authMessage, s.clientFirstBare...)
	authMessage = append(authMessage, ',')
	authMessage = append(authMessage, s.serverFirst...)
	authMessage = append(authMessage, ',')
	authMessage = append(authMessage, withoutProof...)

	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the client
	// knew the password iff H(ClientKey) == StoredKey.
	clientKey := hmacSum(newHash, s.creds.StoredKey, authMessage)
	valid := 0
	if len(proof) == len(clientKey) {
		subtle.XORBytes(clientKey, clientKey, proof)
		h := newHash()
		h.Write(clientKey)
		valid = subtle.ConstantTimeCompare(h.Sum(nil), s.creds.StoredKey)
	}
	clear(clientKey)
	if valid != 1 || s.fake {
		return nil, false, scramFail(NotAuthorized, "invalid credentials", errInvalidProof)
	}
	if s.deferred != nil {
		return nil, false, s.deferred
	}

	sig := hmacSum(newHash, s.creds.ServerKey, authMessage)
	out := make([]byte, 0, 2+base64.StdEncoding.EncodedLen(len(sig)))
	out = append(out, "v="...)
	out = base64.StdEncoding.AppendEncode(out, sig)
	s.state, s.ok = scramDone, true
	return out, true, nil
}

// checkExtensions validates the optional attributes after the nonce
// (RFC 5802 §7 "extensions"): each ALPHA "=" 1*value-char. Unknown ones are
// ignored as the RFC says, except "m", whose presence must fail.
func checkExtensions(rest []byte) *Failure {
	if rest == nil {
		return nil
	}
	for {
		var field []byte
		var more bool
		field, rest, more = bytes.Cut(rest, []byte{','})
		if len(field) < 3 || !isAlpha(field[0]) || field[1] != '=' {
			return malformed("bad attribute")
		}
		if field[0] == 'm' {
			return scramFail(MalformedRequest, "mandatory extension not supported", errExtensionsUnsupported)
		}
		if !more {
			return nil
		}
	}
}

// decodeSaslname undoes RFC 5802's escaping of ',' and '=' (=2C, =3D). Any
// other '=' is an encoding error, and so is an empty name.
func decodeSaslname(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	if bytes.IndexByte(b, '=') < 0 {
		return string(b), true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			out = append(out, b[i])
			continue
		}
		if i+2 >= len(b) {
			return "", false
		}
		switch string(b[i+1 : i+3]) {
		case "2C":
			out = append(out, ',')
		case "3D":
			out = append(out, '=')
		default:
			return "", false
		}
		i += 2
	}
	return string(out), true
}

// validNonce: RFC 5802 "printable", ASCII 0x21-0x7E without ','.
func validNonce(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
