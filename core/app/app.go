package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/extasis/extasis/core/c2s"
	"github.com/extasis/extasis/core/certs"
	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/disco"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/im"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/provisioning"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/services"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
	"github.com/extasis/extasis/core/websocket"
	"github.com/extasis/extasis/core/xml"
	"github.com/extasis/extasis/plugins/host"
)

// Version is the broker's version, set by the linker.
var Version = "dev"

// App is the running broker: every component built from one Config, started
// in order and stopped in reverse.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	level    *slog.LevelVar
	reg      *prometheus.Registry
	store    *sqlstore.Store
	certs    *certs.Set
	events   *event.Bus
	sessions *session.Table
	router   *router.Router
	disco    *disco.Disco
	c2s      *c2s.Server
	im       *im.Service
	plugins  *host.Host
	prov     *provisioning.Service

	mu      sync.Mutex
	lns     []net.Listener
	httpSrv *http.Server
	httpLn  net.Listener
	stopped bool
	errc    chan error
	bgStop  context.CancelFunc
}

// Options are process-level settings that are not configuration.
type Options struct {
	Log   *slog.Logger
	Level *slog.LevelVar
}

// New builds the broker from cfg: it opens storage and loads certificates
// but listens on nothing yet.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("app: invalid config: %w", err)
	}
	a := &App{cfg: cfg, log: opts.Log, level: opts.Level, errc: make(chan error, 8)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.level == nil {
		a.level = new(slog.LevelVar)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	cs, err := certs.Load(certDomains(cfg), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.certs = cs
	secret, err := loadSecret(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, cfg.StorageDSN(), StorageOptions(cfg))
	if err != nil {
		return nil, err
	}
	a.store = st

	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.events = event.New()
	a.sessions = session.NewTable()
	a.router = router.New(router.Config{
		Log:      a.log.With("component", "router"),
		Sessions: a.sessions,
		Hosts:    cfg.DomainNames(),
		Metrics:  router.NewMetrics(a.reg),
	})
	a.disco = disco.New(a.router)
	a.disco.Register(a.router.ServerMux(), a.router.AccountMux())
	services.Register(a.router, a.router.ServerMux(), a.router.AccountMux(), services.Config{Version: Version, HideOS: cfg.Version.HideOS})
	for _, f := range services.Features {
		a.disco.AddFeature(f)
	}
	if err := a.wireIM(); err != nil {
		_ = st.Close()
		return nil, err
	}

	reg, err := a.wireRegister(secret)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := a.wireProvisioning(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := a.wirePlugins(); err != nil {
		_ = st.Close()
		return nil, err
	}
	a.c2s = c2s.New(c2s.Config{
		Log:                a.log,
		Router:             a.router,
		Credentials:        a.credentials,
		Registrar:          reg,
		Lifecycle:          a.im,
		SASLSecret:         secret,
		Events:             a.events,
		Metrics:            c2s.NewMetrics(a.reg),
		Limits:             xmlLimits(cfg),
		AllowPlain:         cfg.C2S.AllowPlain,
		PingInterval:       cfg.C2S.PingInterval.D(),
		PingTimeout:        cfg.C2S.PingTimeout.D(),
		AuthTimeout:        cfg.C2S.AuthTimeout.D(),
		OutQueue:           int(cfg.Limits.OutQueue),
		SessionsPerAccount: cfg.Limits.SessionsPerAccount,
		ConnRatePerIP:      cfg.Limits.ConnRatePerIP,
		AuthFailures:       cfg.Limits.AuthFailures,
		AuthBackoff:        cfg.Limits.AuthBackoff.D(),
		ResumeTimeout:      cfg.IM.ResumeTimeout.D(),
		SMMaxUnacked:       cfg.IM.SMMaxUnacked,
	}, cs.ServerConfig())
	return a, nil
}

// loadSecret reads the node's 32-byte secret (data_dir/secret), creating
// it on first start. It keys values that must not change across restarts,
// such as the fake SCRAM salts shown for unknown users.
func loadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "secret")
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("app: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return b, nil
}

func certDomains(cfg *config.Config) []certs.Domain {
	out := make([]certs.Domain, len(cfg.Domains))
	for i, d := range cfg.Domains {
		out[i] = certs.Domain{Name: d.Name, Cert: d.Cert, Key: d.Key}
	}
	return out
}

func xmlLimits(cfg *config.Config) xml.Limits {
	return xml.Limits{MaxElement: int(cfg.Limits.MaxStanza), MaxDepth: cfg.Limits.MaxDepth, MaxAttrs: cfg.Limits.MaxAttrs}
}

// credentials adapts storage to the SASL lookup.
func (a *App) credentials(ctx context.Context, bare jid.JID, h sasl.Hash) (sasl.Credentials, error) {
	c, err := a.store.Credential(ctx, bare, storage.Hash(h))
	if errors.Is(err, storage.ErrNotFound) {
		return sasl.Credentials{}, sasl.ErrUnknownUser
	}
	if err != nil {
		a.log.Warn("credential lookup failed", "component", "storage", "err", err)
		return sasl.Credentials{}, err
	}
	return sasl.Credentials{Hash: sasl.Hash(c.Hash), Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
}

// Store returns the storage backend.
func (a *App) Store() storage.Store { return a.store }

// Router returns the router.
func (a *App) Router() *router.Router { return a.router }

// Start opens the listeners and serves.
func (a *App) Start(ctx context.Context) error {
	if err := a.startPlugins(ctx); err != nil {
		return err
	}
	for _, addr := range a.cfg.C2S.Listen {
		if err := a.listen(addr, false); err != nil {
			a.closeListeners()
			return err
		}
	}
	for _, addr := range a.cfg.C2S.DirectTLS {
		if err := a.listen(addr, true); err != nil {
			a.closeListeners()
			return err
		}
	}
	if a.cfg.HTTP.Listen != "" {
		if err := a.startHTTP(); err != nil {
			a.closeListeners()
			return err
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	a.bgStop = cancel
	go trimMemory(bg, 2*time.Second, 8<<20, 16<<20)
	for _, d := range a.certs.Generated {
		a.log.Info("using a self-signed certificate; clients must be told to accept it", "domain", d)
	}
	a.log.Info("add a user with: extasis account add user@"+a.cfg.Domains[0].Name, "domains", strings.Join(a.cfg.DomainNames(), ","))
	return nil
}

func (a *App) listen(addr string, direct bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("app: listen %s: %w", addr, err)
	}
	a.mu.Lock()
	a.lns = append(a.lns, ln)
	a.mu.Unlock()
	kind := "c2s starttls"
	if direct {
		kind = "c2s direct tls"
	}
	a.log.Info("listening", "kind", kind, "addr", ln.Addr().String())
	go func() {
		if err := a.c2s.Serve(ln, direct); err != nil {
			a.errc <- err
		}
	}()
	return nil
}

// Addrs returns the bound addresses: c2s STARTTLS, direct TLS, HTTP (tests
// listen on port 0).
func (a *App) Addrs() (starttls, direct []string, httpAddr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.cfg.C2S.Listen)
	for i, ln := range a.lns {
		if i < n {
			starttls = append(starttls, ln.Addr().String())
		} else {
			direct = append(direct, ln.Addr().String())
		}
	}
	if a.httpLn != nil {
		httpAddr = a.httpLn.Addr().String()
	}
	return
}

func (a *App) startHTTP() error {
	ln, err := net.Listen("tcp", a.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("app: listen %s: %w", a.cfg.HTTP.Listen, err)
	}
	tlsOn := a.cfg.HTTP.Cert != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(a.cfg.HTTP.Cert, a.cfg.HTTP.Key)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("app: http certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	}
	loopback := isLoopback(ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.Handle("/xmpp-websocket", &websocket.Handler{
		Server:     a.c2s,
		Log:        a.log,
		MaxMessage: int64(a.cfg.Limits.MaxStanza) + 1024,
		Secure:     func(r *http.Request) bool { return r.TLS != nil || loopback },
	})
	if a.cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /.well-known/host-meta", a.hostMeta(false))
	mux.HandleFunc("GET /.well-known/host-meta.json", a.hostMeta(true))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	a.mu.Lock()
	a.httpSrv, a.httpLn = srv, ln
	a.mu.Unlock()
	a.log.Info("listening", "kind", "http", "addr", ln.Addr().String(), "paths", "/healthz /metrics /xmpp-websocket /.well-known/host-meta")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
		}
	}()
	return nil
}

func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "ok sessions=%d\n", a.sessions.Count())
}

// hostMeta answers XEP-0156 discovery of the WebSocket endpoint.
func (a *App) hostMeta(jsonForm bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		url := a.cfg.HTTP.PublicURL
		if url == "" {
			scheme := "ws"
			if r.TLS != nil {
				scheme = "wss"
			}
			url = scheme + "://" + r.Host + "/xmpp-websocket"
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if jsonForm {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"links":[{"rel":"urn:xmpp:alt-connections:websocket","href":%q}]}`+"\n", url)
			return
		}
		w.Header().Set("Content-Type", "application/xrd+xml")
		fmt.Fprintf(w, "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"+
			"  <Link rel='urn:xmpp:alt-connections:websocket' href='%s'/>\n</XRD>\n", xml.EscapeAttr(nil, url))
	}
}

// Err reports a fatal serving error (a listener died).
func (a *App) Err() <-chan error { return a.errc }

func (a *App) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ln := range a.lns {
		_ = ln.Close()
	}
}

// Stop closes every stream with <system-shutdown/>, then stops the rest in
// reverse order of start.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	srv := a.httpSrv
	a.mu.Unlock()
	if a.bgStop != nil {
		a.bgStop()
	}
	var errs []error
	if srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	if err := a.c2s.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("app: c2s shutdown: %w", err))
	}
	if err := a.plugins.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("app: plugins stop: %w", err))
	}
	if a.prov != nil {
		// Flushes the queued audit entries while storage is still open.
		if err := a.prov.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("app: provisioning stop: %w", err))
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Reload applies a new configuration without dropping connections:
// certificates, log level and limits. Everything else needs a restart, and
// the caller is told which keys changed that way.
func (a *App) Reload(cfg *config.Config) (needsRestart []string, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cs, err := certs.Load(certDomains(cfg), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.c2s.SetTLSConfig(cs.ServerConfig())
	a.certs = cs
	a.level.Set(ParseLevel(cfg.Log.Level))
	a.c2s.SetLimits(xmlLimits(cfg), int(cfg.Limits.OutQueue))
	old := a.cfg
	if strings.Join(old.DomainNames(), ",") != strings.Join(cfg.DomainNames(), ",") {
		a.router.SetHosts(cfg.DomainNames())
	}
	if strings.Join(old.C2S.Listen, ",") != strings.Join(cfg.C2S.Listen, ",") || strings.Join(old.C2S.DirectTLS, ",") != strings.Join(cfg.C2S.DirectTLS, ",") {
		needsRestart = append(needsRestart, "c2s.listen", "c2s.direct_tls")
	}
	if old.HTTP != cfg.HTTP {
		needsRestart = append(needsRestart, "http")
	}
	if old.StorageDSN() != cfg.StorageDSN() {
		needsRestart = append(needsRestart, "storage")
	}
	if old.StoragePool != cfg.StoragePool {
		needsRestart = append(needsRestart, "storage_pool")
	}
	for _, sec := range []struct {
		key      string
		old, new any
	}{
		{"register", old.Register, cfg.Register},
		{"provisioning", old.Provisioning, cfg.Provisioning},
		{"plugins", old.Plugins, cfg.Plugins},
		{"im", old.IM, cfg.IM},
		{"c2s (except limits)", []any{old.C2S.AllowPlain, old.C2S.PingInterval, old.C2S.PingTimeout, old.C2S.AuthTimeout},
			[]any{cfg.C2S.AllowPlain, cfg.C2S.PingInterval, cfg.C2S.PingTimeout, cfg.C2S.AuthTimeout}},
	} {
		if !reflect.DeepEqual(sec.old, sec.new) {
			needsRestart = append(needsRestart, sec.key)
		}
	}
	if strings.Join(old.DomainNames(), ",") != strings.Join(cfg.DomainNames(), ",") {
		// Routing and certificates follow at once; per-domain services
		// (provisioning.D, plugins' default addresses) only at restart.
		needsRestart = append(needsRestart, "domains (services of new domains)")
	}
	a.cfg = cfg
	return needsRestart, nil
}

// ParseLevel maps a config level to slog.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
