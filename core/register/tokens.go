package register

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// tokens holds the oauth_token and token secret handed out with each
// registration form (XEP-0348 §5: the verifier looks the token secret up
// by oauth_token and never trusts the value echoed by the client). A token
// is bound to the connection it was issued on (its remote address, which
// includes the port) and to the domain, and lives ttl. Each connection
// holds at most one: asking for a new form replaces it, so the table never
// grows beyond the number of open streams plus those expiring.
type tokens struct {
	ttl time.Duration
	max int

	mu     sync.Mutex
	byTok  map[string]*token
	byConn map[string]string // connection -> its token
	sweep  time.Time
}

type token struct {
	secret, conn, domain string
	expires              time.Time
}

func newTokens(ttl time.Duration, max int) *tokens {
	return &tokens{ttl: ttl, max: max, byTok: map[string]*token{}, byConn: map[string]string{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// issue returns a new token and its secret for conn, or ok=false when the
// table is full of live tokens (a flood of form requests).
func (t *tokens) issue(conn, domain string, now time.Time) (tok, secret string, ok bool) {
	tok, secret = "t-"+randomHex(12), randomHex(16)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.byConn[conn]; ok {
		delete(t.byTok, old)
	}
	if len(t.byTok) >= t.max || now.Sub(t.sweep) > t.ttl {
		t.sweepLocked(now)
	}
	if len(t.byTok) >= t.max {
		delete(t.byConn, conn)
		return "", "", false
	}
	t.byTok[tok] = &token{secret: secret, conn: conn, domain: domain, expires: now.Add(t.ttl)}
	t.byConn[conn] = tok
	return tok, secret, true
}

func (t *tokens) sweepLocked(now time.Time) {
	for k, v := range t.byTok {
		if !now.Before(v.expires) {
			delete(t.byTok, k)
			if t.byConn[v.conn] == k {
				delete(t.byConn, v.conn)
			}
		}
	}
	t.sweep = now
}

// secret returns the secret of tok if it was issued to conn for domain and
// has not expired.
func (t *tokens) secret(tok, conn, domain string, now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.byTok[tok]
	if v == nil || v.conn != conn || v.domain != domain || !now.Before(v.expires) {
		return "", false
	}
	return v.secret, true
}

// drop forgets tok after a successful registration: a token creates one
// account.
func (t *tokens) drop(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v := t.byTok[tok]; v != nil {
		delete(t.byTok, tok)
		if t.byConn[v.conn] == tok {
			delete(t.byConn, v.conn)
		}
	}
}

// limiter is a token bucket per IP address: perHour registrations, with a
// burst of as many.
type limiter struct {
	perHour float64

	mu    sync.Mutex
	b     map[string]*bucket
	sweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perHour int) *limiter {
	return &limiter{perHour: float64(perHour), b: map[string]*bucket{}}
}

// allow takes one token for ip; when there is none it returns how long
// until there is.
func (l *limiter) allow(ip string, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Hour {
		for k, b := range l.b {
			if now.Sub(b.last) > time.Hour {
				delete(l.b, k) // refilled by now: same as absent
			}
		}
		l.sweep = now
	}
	b := l.b[ip]
	if b == nil {
		b = &bucket{tokens: l.perHour, last: now}
		l.b[ip] = b
	}
	b.tokens = min(l.perHour, b.tokens+now.Sub(b.last).Hours()*l.perHour)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.perHour * float64(time.Hour)), false
	}
	b.tokens--
	return 0, true
}
