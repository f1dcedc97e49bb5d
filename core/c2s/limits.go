package c2s

import (
	"net"
	"sync"
	"time"

	"github.com/extasis/extasis/core/jid"
)

// rateLimiter is a token bucket per remote IP for new connections.
type rateLimiter struct {
	perMin int
	mu     sync.Mutex
	b      map[string]*bucket
	sweep  time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perMin int) *rateLimiter {
	return &rateLimiter{perMin: perMin, b: map[string]*bucket{}}
}

func ipOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func (r *rateLimiter) allow(a net.Addr) bool {
	if r.perMin <= 0 {
		return true
	}
	ip := ipOf(a)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.sweep) > time.Minute {
		for k, b := range r.b {
			if now.Sub(b.last) > time.Minute {
				delete(r.b, k)
			}
		}
		r.sweep = now
	}
	b := r.b[ip]
	burst := float64(r.perMin)
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		r.b[ip] = b
	}
	b.tokens += now.Sub(b.last).Minutes() * float64(r.perMin)
	if b.tokens > burst {
		b.tokens = burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// authLimiter tracks failed logins per IP and per account. After `max`
// failures the key is blocked for a backoff that doubles with each further
// failure (capped at 15 minutes); a success clears the account.
type authLimiter struct {
	max     int
	backoff time.Duration
	mu      sync.Mutex
	m       map[string]*failures
	sweep   time.Time
}

type failures struct {
	n     int
	until time.Time
	last  time.Time
}

func newAuthLimiter(max int, backoff time.Duration) *authLimiter {
	return &authLimiter{max: max, backoff: backoff, m: map[string]*failures{}}
}

func ipKey(a net.Addr) string  { return "ip:" + ipOf(a) }
func acctKey(j jid.JID) string { return "acct:" + j.String() }

func (l *authLimiter) blocked(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	if f == nil {
		return 0, false
	}
	if d := time.Until(f.until); d > 0 {
		return d, true
	}
	return 0, false
}

func (l *authLimiter) failure(key string) {
	if l.backoff <= 0 {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > 10*time.Minute {
		for k, f := range l.m {
			if now.Sub(f.last) > time.Hour {
				delete(l.m, k)
			}
		}
		l.sweep = now
	}
	f := l.m[key]
	if f == nil {
		f = &failures{}
		l.m[key] = f
	}
	if now.Sub(f.last) > time.Hour {
		f.n = 0
	}
	f.n++
	f.last = now
	if f.n >= l.max {
		d := l.backoff << min(f.n-l.max, 10)
		if d > 15*time.Minute {
			d = 15 * time.Minute
		}
		f.until = now.Add(d)
	}
}

// forgive takes back n failures of key (and its block, if that leaves it
// under the limit).
func (l *authLimiter) forgive(key string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	if f == nil {
		return
	}
	f.n -= n
	if f.n < l.max {
		f.until = time.Time{}
	}
	if f.n <= 0 {
		delete(l.m, key)
	}
}

func (l *authLimiter) success(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}
