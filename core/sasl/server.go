package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// The mechanism names, as offered in <mechanisms/> and requested in <auth/>.
const (
	ScramSHA256Plus = "SCRAM-SHA-256-PLUS"
	ScramSHA1Plus   = "SCRAM-SHA-1-PLUS"
	ScramSHA256     = "SCRAM-SHA-256"
	ScramSHA1       = "SCRAM-SHA-1"
	Plain           = "PLAIN"
)

// MaxMessageLen bounds every client message (after base64 decoding). Real
// SCRAM and PLAIN messages are a few hundred bytes; RFC 4616 asks servers to
// accept 255-byte fields, well inside it.
const MaxMessageLen = 4096

// maxUsernameLen is RFC 7622's bound on a localpart, which the SASL
// username becomes.
const maxUsernameLen = 1023

// Lookup returns the stored credentials of a username (the SASL authcid,
// already prepared: the localpart of the account's JID) for one hash.
// It returns ErrUnknownUser when there is no such account or the account has
// no credentials for h. The c2s layer binds it to a domain.
//
// Any other error fails the exchange with temporary-auth-failure, unless it
// wraps a *Failure, whose condition is sent instead. A Lookup may return
// valid credentials together with a *Failure (account-disabled,
// credentials-expired): the Server then checks the proof first and reports
// that failure only to a client that knew the password, so that guessing
// learns nothing about the account's state.
type Lookup func(ctx context.Context, username string, h Hash) (Credentials, error)

// Server is the server side of one SASL exchange. It is a state machine
// used by one goroutine; a new exchange needs a new Server.
type Server interface {
	// Step consumes the client's next message (already base64-decoded; nil
	// or empty for "no initial response", answered by an empty challenge) and
	// returns the next challenge, or done=true with the additional data to
	// put in <success/> (SCRAM's server-final; nil for PLAIN). An error ends
	// the exchange: ConditionOf names the RFC 6120 §6.5 condition, and every
	// later Step fails.
	Step(ctx context.Context, in []byte) (out []byte, done bool, err error)
	// Username is the prepared authcid, set only after success.
	Username() string
	// Authzid is the authorisation identity the client asked for ("" for
	// none), set only after success. The c2s layer checks that it equals the
	// account's bare JID and otherwise fails with invalid-authzid.
	Authzid() string
}

// Option configures NewServer.
type Option func(*config)

type config struct {
	secret         []byte
	fakeIterations int
	serverNonce    string // tests only: replaces the random server nonce
}

// WithSecret sets the key from which the fake salts of unknown users are
// derived. Give every node of a cluster the same persistent secret (32
// random bytes): a salt that changes between attempts or nodes betrays an
// unknown user. Without it the process uses a random secret of its own,
// which hides accounts only until the next restart.
func WithSecret(secret []byte) Option {
	return func(c *config) { c.secret = append([]byte(nil), secret...) }
}

// WithFakeIterations sets the iteration count shown for unknown users; it
// should be the count most real accounts have (default DefaultIterations).
// Values outside [MinIterations, MaxIterations] are ignored.
func WithFakeIterations(n int) Option {
	return func(c *config) {
		if n >= MinIterations && n <= MaxIterations {
			c.fakeIterations = n
		}
	}
}

// withServerNonce fixes the server nonce so that tests can replay the RFC
// examples. It is unexported so production code cannot weaken the nonce.
func withServerNonce(n string) Option {
	return func(c *config) { c.serverNonce = n }
}

// processSecret is the fallback fake-salt key. It is written once, on first
// use, and read-only after: the one piece of package state, kept because an
// unknown user's salt must be stable across the connections of a process
// even when the caller forgot WithSecret.
var processSecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	rand.Read(b)
	return b
})

// Mechanisms returns the mechanisms to offer, strongest first: the -PLUS
// variants only on TLS with channel binding data, PLAIN only on TLS and when
// allowPlain.
func Mechanisms(tls bool, cb ChannelBinding, allowPlain bool) []string {
	m := make([]string, 0, 5)
	if tls && cb.has() {
		m = append(m, ScramSHA256Plus, ScramSHA1Plus)
	}
	m = append(m, ScramSHA256, ScramSHA1)
	if tls && allowPlain {
		m = append(m, Plain)
	}
	return m
}

// NewServer starts the server side of an exchange for the mechanism the
// client chose. It fails with ErrInvalidMechanism for a mechanism that is
// unknown or that Mechanisms(tls, cb, true) does not offer, and with
// ErrEncryptionRequired for PLAIN without TLS. Whether PLAIN is allowed at
// all is the caller's policy: it must not call NewServer for a mechanism it
// did not offer.
func NewServer(mechanism string, lookup Lookup, cb ChannelBinding, tls bool, opts ...Option) (Server, error) {
	if lookup == nil {
		return nil, errors.New("sasl: nil lookup")
	}
	cfg := &config{fakeIterations: DefaultIterations}
	for _, o := range opts {
		o(cfg)
	}
	if len(cfg.secret) == 0 {
		cfg.secret = processSecret()
	}
	if !tls {
		// Binding data without TLS cannot bind anything; ignoring it also
		// keeps the downgrade check in line with what Mechanisms offered.
		cb = ChannelBinding{}
	}
	switch mechanism {
	case ScramSHA256Plus, ScramSHA1Plus:
		if !cb.has() {
			return nil, &Failure{Condition: InvalidMechanism, Text: mechanism + " needs channel binding on TLS"}
		}
		return newSCRAM(mechanism, lookup, cb, cfg), nil
	case ScramSHA256, ScramSHA1:
		return newSCRAM(mechanism, lookup, cb, cfg), nil
	case Plain:
		if !tls {
			return nil, ErrEncryptionRequired
		}
		return &plainServer{lookup: lookup, cfg: cfg}, nil
	}
	// The name is not echoed: Text goes back to the client.
	return nil, &Failure{Condition: InvalidMechanism, Text: "mechanism not offered"}
}

// checkMessage applies the bounds every client message must meet. nulOK is
// for PLAIN, whose separators are NUL.
func checkMessage(in []byte, nulOK bool) *Failure {
	if len(in) > MaxMessageLen {
		return malformed(fmt.Sprintf("message longer than %d bytes", MaxMessageLen))
	}
	if !utf8.Valid(in) {
		return malformed("message is not UTF-8")
	}
	if !nulOK {
		for _, c := range in {
			if c == 0 {
				return malformed("NUL in message")
			}
		}
	}
	return nil
}

// prepareUsername applies PRECIS UsernameCaseMapped (RFC 8265), the profile
// of a JID localpart. ok is false for a name no account can have.
func prepareUsername(raw string) (string, bool) {
	p, err := precis.UsernameCaseMapped.String(raw)
	if err != nil || p == "" || len(p) > maxUsernameLen {
		return "", false
	}
	return p, true
}

// lookupCredentials runs the lookup for a prepared username and sorts the
// outcome: creds to check against (fake when the user is unknown), a failure
// to report only after a valid proof, or an error that ends the exchange.
func lookupCredentials(ctx context.Context, lookup Lookup, cfg *config, h Hash, name string, prepared bool) (creds Credentials, fake bool, deferred, err error) {
	if !prepared {
		return fakeCredentials(cfg, h, name), true, nil, nil
	}
	creds, err = lookup(ctx, name, h)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownUser):
		return fakeCredentials(cfg, h, name), true, nil, nil
	default:
		var f *Failure
		if errors.As(err, &f) && creds.Hash == h && creds.Valid() == nil {
			return creds, false, fmt.Errorf("sasl: lookup: %w", err), nil
		}
		return Credentials{}, false, nil, fmt.Errorf("sasl: lookup: %w", err)
	}
	if creds.Hash != h {
		return Credentials{}, false, nil, fmt.Errorf("sasl: lookup of %q returned %q credentials, want %q", name, creds.Hash, h)
	}
	if err := creds.Valid(); err != nil {
		return Credentials{}, false, nil, fmt.Errorf("sasl: stored credentials of %q: %w", name, err)
	}
	return creds, false, nil, nil
}

// fakeCredentials stands in for an unknown user. The salt is an HMAC of the
// name under the server secret, so that it is stable across attempts like a
// real one and cannot be predicted by the client. The keys are zero: the
// proof is checked against them at the same cost as against real keys, and
// the caller fails it whatever it is.
func fakeCredentials(cfg *config, h Hash, name string) Credentials {
	m := hmac.New(sha256.New, cfg.secret)
	m.Write([]byte("extasis sasl fake salt\x00"))
	m.Write([]byte(h))
	m.Write([]byte{0})
	m.Write([]byte(name))
	return Credentials{
		Hash:       h,
		Salt:       m.Sum(nil)[:SaltLen],
		Iterations: cfg.fakeIterations,
		StoredKey:  make([]byte, h.size()),
		ServerKey:  make([]byte, h.size()),
	}
}
