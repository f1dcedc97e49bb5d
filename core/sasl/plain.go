package sasl

import (
	"bytes"
	"context"
)

type plainState uint8

const (
	plainStart    plainState = iota // nothing received
	plainWaitResp                   // empty challenge sent, response due
	plainDone                       // succeeded
	plainFailed                     // failed; every further Step fails
)

// plainServer is RFC 4616 checked against the stored SCRAM verifier, so the
// broker needs no other form of the password. NewServer only builds it on
// TLS.
type plainServer struct {
	lookup Lookup
	cfg    *config
	state  plainState

	username, authzid string
}

func (p *plainServer) Username() string {
	if p.state != plainDone {
		return ""
	}
	return p.username
}

func (p *plainServer) Authzid() string {
	if p.state != plainDone {
		return ""
	}
	return p.authzid
}

func (p *plainServer) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	defer func() {
		if err != nil {
			p.state = plainFailed
		}
	}()
	switch p.state {
	case plainStart:
		if len(in) == 0 {
			p.state = plainWaitResp
			return []byte{}, false, nil
		}
		return p.response(ctx, in)
	case plainWaitResp:
		if len(in) == 0 {
			return nil, false, malformed("empty PLAIN response")
		}
		return p.response(ctx, in)
	}
	return nil, false, malformed("step after the end of the exchange")
}

// response checks "authzid NUL authcid NUL passwd" (RFC 4616 §2).
func (p *plainServer) response(ctx context.Context, in []byte) ([]byte, bool, error) {
	if f := checkMessage(in, true); f != nil {
		return nil, false, f
	}
	authzid, rest, ok1 := bytes.Cut(in, []byte{0})
	authcid, passwd, ok2 := bytes.Cut(rest, []byte{0})
	if !ok1 || !ok2 || bytes.IndexByte(passwd, 0) >= 0 {
		return nil, false, malformed("PLAIN message is not authzid NUL authcid NUL passwd")
	}
	if len(authcid) == 0 || len(passwd) == 0 {
		return nil, false, malformed("empty authcid or password")
	}

	name, prepared := prepareUsername(string(authcid))
	if !prepared {
		name = string(authcid)
	}
	creds, fake, deferred, err := lookupCredentials(ctx, p.lookup, p.cfg, SHA256, name, prepared)
	if err != nil {
		return nil, false, err
	}
	if fake && prepared {
		// Accounts created before SHA-256 was offered may have SHA-1 only.
		creds, fake, deferred, err = lookupCredentials(ctx, p.lookup, p.cfg, SHA1, name, prepared)
		if err != nil {
			return nil, false, err
		}
	}
	// An unknown user costs the same PBKDF2 as a known one, so timing does
	// not tell them apart.
	if !creds.VerifyPassword(string(passwd)) || fake {
		return nil, false, fail(NotAuthorized, "invalid credentials")
	}
	if deferred != nil {
		return nil, false, deferred
	}
	p.username, p.authzid = name, string(authzid)
	p.state = plainDone
	return nil, true, nil
}
