package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// CredentialStore looks up SCRAM verifiers of a local account.
// sasl.ErrUnknownUser when the account does not exist.
type CredentialStore func(ctx context.Context, bare jid.JID, h sasl.Hash) (sasl.Credentials, error)

// Registrar handles XEP-0077 in-band registration on a stream that is not
// yet authenticated (its iq comes without a session). It returns the reply
// payload or an error. Nil: registration is not offered.
type Registrar interface {
	// Offer reports whether the registration stream feature is advertised
	// on a stream to domain.
	Offer(domain string) bool
	// HandleUnauthenticated answers an iq in jabber:iq:register from an
	// unauthenticated stream. remote is the client's address.
	HandleUnauthenticated(ctx context.Context, domain string, remote net.Addr, s *stanza.Stanza) *stanza.Stanza
}

// Lifecycle is told when sessions start and end, so the IM layer can run
// presence and re-route what a dead stream never delivered.
type Lifecycle interface {
	SessionStarted(ctx context.Context, s *session.Session)
	// SessionEnded runs after the session left the table. unacked are the
	// stanzas sent but not acknowledged (XEP-0198), or queued and never
	// written; the IM layer re-routes them.
	SessionEnded(ctx context.Context, s *session.Session, unacked []*stanza.Stanza)
}

// Config holds the server's settings and dependencies.
type Config struct {
	Log         *slog.Logger
	Router      *router.Router
	Credentials CredentialStore
	Registrar   Registrar // optional
	// SASLSecret keys the fake salts shown for unknown users; persistent
	// and shared by every node, so that they never change (sasl.WithSecret).
	SASLSecret []byte
	Lifecycle  Lifecycle // optional
	Events     *event.Bus
	Metrics    *Metrics

	Limits             xml.Limits
	AllowPlain         bool
	PingInterval       time.Duration
	PingTimeout        time.Duration
	AuthTimeout        time.Duration
	OutQueue           int // bytes
	SessionsPerAccount int
	ConnRatePerIP      int // per minute; 0 unlimited
	AuthFailures       int
	AuthBackoff        time.Duration
	ResumeTimeout      time.Duration
	SMMaxUnacked       int
}

// Server accepts client streams.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tls     atomic.Pointer[tls.Config]
	conns   sync.Map // *conn -> struct{}
	closing atomic.Bool
	wg      sync.WaitGroup
	lnMu    sync.Mutex
	lns     []net.Listener
	rate    *rateLimiter
	auth    *authLimiter
	sm      *smRegistry
	metrics *metrics
}

// New returns a server. tlsCfg selects certificates by SNI.
func New(cfg Config, tlsCfg *tls.Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OutQueue <= 0 {
		cfg.OutQueue = 4 << 20
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 2 * time.Minute
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = time.Minute
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 30 * time.Second
	}
	if cfg.AuthFailures <= 0 {
		cfg.AuthFailures = 5
	}
	if cfg.SMMaxUnacked <= 0 {
		cfg.SMMaxUnacked = 5000
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Log.With("component", "c2s"),
		rate:    newRateLimiter(cfg.ConnRatePerIP),
		auth:    newAuthLimiter(cfg.AuthFailures, cfg.AuthBackoff),
		metrics: cfg.Metrics.forServer(),
	}
	s.sm = newSMRegistry(s)
	s.tls.Store(tlsCfg)
	return s
}

// SetTLSConfig swaps certificates (SIGHUP); existing streams keep theirs.
func (s *Server) SetTLSConfig(c *tls.Config) { s.tls.Store(c) }

// SetLimits applies reloadable limits to new streams.
func (s *Server) SetLimits(lim xml.Limits, outQueue int) {
	// Streams read cfg at start; a reload affects new connections only.
	s.cfg.Limits = lim
	if outQueue > 0 {
		s.cfg.OutQueue = outQueue
	}
}

// Serve accepts connections on ln until it is closed. directTLS selects
// XEP-0368 (TLS from the first byte) instead of STARTTLS.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	s.lnMu.Lock()
	s.lns = append(s.lns, ln)
	s.lnMu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Temporary (EMFILE and the like): back off, as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.rate.allow(nc.RemoteAddr()) {
			s.metrics.refused.Inc()
			go s.refuse(nc)
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			_ = tc.SetKeepAlive(true)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c := newConn(s, nc, directTLS)
			c.serve()
		}()
	}
}

// refuse answers a rate-limited connection with a stream error.
func (s *Server) refuse(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = nc.Write([]byte(headerPrefix + " id='refused' version='1.0'>" +
		"<stream:error><policy-violation xmlns='" + stanza.NSStreams + "'/><text xmlns='" + stanza.NSStreams +
		"'>too many connections from your address; retry later</text></stream:error></stream:stream>"))
	_ = nc.Close()
}

// Shutdown stops accepting, closes every stream with <system-shutdown/>
// and waits for connection goroutines until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.lnMu.Lock()
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	s.lnMu.Unlock()
	s.conns.Range(func(k, _ any) bool {
		k.(*conn).closeStream("system-shutdown", "the server is shutting down")
		return true
	})
	s.sm.closeAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Metrics are the c2s collectors (namespace extasis, subsystem c2s).
type Metrics struct {
	Connections prometheus.Gauge
	Logins      *prometheus.CounterVec
	Refused     prometheus.Counter
	StreamErrs  *prometheus.CounterVec
}

// NewMetrics creates and registers the c2s collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "extasis", Subsystem: "c2s", Name: "connections", Help: "Open client connections."}),
		Logins:      prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "c2s", Name: "auth_total", Help: "SASL authentications by mechanism and result."}, []string{"mechanism", "result"}),
		Refused:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "c2s", Name: "refused_total", Help: "Connections refused by the per-IP rate limit."}),
		StreamErrs:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "c2s", Name: "stream_errors_total", Help: "Stream errors sent, by condition."}, []string{"condition"}),
	}
	reg.MustRegister(m.Connections, m.Logins, m.Refused, m.StreamErrs)
	return m
}

type metrics struct {
	conns      prometheus.Gauge
	logins     *prometheus.CounterVec
	refused    prometheus.Counter
	streamErrs *prometheus.CounterVec
}

func (m *Metrics) forServer() *metrics {
	if m == nil {
		reg := prometheus.NewRegistry()
		m = NewMetrics(reg)
	}
	return &metrics{conns: m.Connections, logins: m.Logins, refused: m.Refused, streamErrs: m.StreamErrs}
}

// Count returns the number of open streams.
func (s *Server) Count() int {
	n := 0
	s.conns.Range(func(_, _ any) bool { n++; return true })
	return n
}

// ServeFramed serves an RFC 7395 stream on nc, a WebSocket adapted to a
// net.Conn whose every Write is one message. secure says whether the
// transport is encrypted (wss) or trusted (loopback behind a TLS proxy);
// an insecure one is refused, since there is no STARTTLS on WebSocket.
func (s *Server) ServeFramed(nc net.Conn, remote net.Addr, secure bool) {
	if !s.rate.allow(remote) {
		s.metrics.refused.Inc()
		_ = nc.Close()
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	c := &conn{srv: s, nc: nc, remote: remote, ws: true, secure: secure}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.work = context.WithoutCancel(c.ctx)
	if !secure {
		c.streamID = newID()
		c.domain = ""
		c.writeHeader("")
		c.closeStream("policy-violation", "WebSocket logins need TLS (wss://)")
		return
	}
	c.serve()
}
