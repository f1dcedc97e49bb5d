package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/extasis/extasis/core/jid"
)

// Config is the whole broker configuration. Every field has a documented
// default (Default); extasis.example.yaml documents each key.
type Config struct {
	// DataDir holds the SQLite database, generated certificates and plugin
	// data. Relative paths are relative to the working directory.
	DataDir string `yaml:"data_dir"`
	// Storage is a DSN: empty for SQLite in DataDir, or postgres://...
	// The EXTASIS_STORAGE environment variable overrides it.
	Storage string `yaml:"storage"`
	// StorageFrom says where Storage came from, for error messages.
	StorageFrom string `yaml:"-"`
	// StoragePool sizes and bounds the connections to Storage.
	StoragePool StoragePool `yaml:"storage_pool"`
	// Domains are the virtual hosts served, each with its own certificate.
	Domains  []Domain  `yaml:"domains"`
	Log      Log       `yaml:"log"`
	C2S      C2S       `yaml:"c2s"`
	HTTP     HTTP      `yaml:"http"`
	Limits   Limits    `yaml:"limits"`
	Plugins  Plugins   `yaml:"plugins"`
	IM       IM        `yaml:"im"`
	Auth     Auth      `yaml:"auth"`
	Register Register  `yaml:"register"`
	Admins   []string  `yaml:"admins"`
	Version  VersionIQ `yaml:"version"`

	// Provisioning is the decision-support service (core/provisioning).
	Provisioning Provisioning `yaml:"provisioning"`
}

// StoragePool sizes and bounds the storage connections. A database that
// stops answering costs a request at most Timeout before it gets
// resource-constraint, so Timeout is also how long a client waits then.
type StoragePool struct {
	// MaxConns is the PostgreSQL pool size, or the number of SQLite read
	// connections (SQLite always has one writer). 0: 16 on PostgreSQL, 4 on
	// SQLite.
	MaxConns int `yaml:"max_conns"`
	// Timeout bounds every storage call.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds one PostgreSQL connection attempt, at start and
	// when the pool reconnects, unless the DSN sets connect_timeout.
	ConnectTimeout Duration `yaml:"connect_timeout"`
}

// Domain is one virtual host.
type Domain struct {
	Name string `yaml:"name"`
	// Cert and Key are PEM files. Both empty: a self-signed ECDSA P-256
	// certificate is generated into DataDir/certs on first start.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// C2S configures client listeners.
type C2S struct {
	// Listen are STARTTLS listeners (TLS required before authentication).
	Listen []string `yaml:"listen"`
	// DirectTLS are XEP-0368 direct TLS listeners.
	DirectTLS []string `yaml:"direct_tls"`
	// AllowPlain offers SASL PLAIN (always only inside TLS).
	AllowPlain bool `yaml:"allow_plain"`
	// PingInterval: an idle client is pinged after this; PingTimeout later
	// without any data the connection is closed.
	PingInterval Duration `yaml:"ping_interval"`
	PingTimeout  Duration `yaml:"ping_timeout"`
	// AuthTimeout bounds the time from connect to a bound resource.
	AuthTimeout Duration `yaml:"auth_timeout"`
}

// HTTP configures the HTTP listener: /healthz, /metrics, WebSocket and
// XEP-0156 host-meta.
type HTTP struct {
	Listen string `yaml:"listen"` // empty disables HTTP
	// Cert/Key serve HTTPS (and wss) when set. Without them the listener
	// must be on loopback (behind a TLS-terminating proxy) for WebSocket
	// logins to be accepted.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// PublicURL is the WebSocket URL announced in host-meta, e.g.
	// wss://xmpp.example.com/xmpp-websocket. Empty: derived from the request.
	PublicURL string `yaml:"public_url"`
	// Pprof serves Go's /debug/pprof/ profiles (only allowed on loopback).
	Pprof bool `yaml:"pprof"`
}

// Limits protect the server.
type Limits struct {
	MaxStanza          Size     `yaml:"max_stanza"`           // bytes per stanza
	MaxDepth           int      `yaml:"max_depth"`            // XML nesting depth
	MaxAttrs           int      `yaml:"max_attrs"`            // attributes per element
	ConnRatePerIP      int      `yaml:"conn_rate_per_ip"`     // new connections per IP per minute
	SessionsPerAccount int      `yaml:"sessions_per_account"` // bound resources per account
	OutQueue           Size     `yaml:"out_queue"`            // bytes queued per session before it is cut off
	AuthFailures       int      `yaml:"auth_failures"`        // failed logins per account or IP before backoff
	AuthBackoff        Duration `yaml:"auth_backoff"`         // first backoff; doubles per further failure
}

// IM configures instant messaging (RFC 6121).
type IM struct {
	MaxRoster     int      `yaml:"max_roster"`     // roster items per account
	MaxOffline    int      `yaml:"max_offline"`    // offline messages per account
	ResumeTimeout Duration `yaml:"resume_timeout"` // XEP-0198 resumption window
	SMMaxUnacked  int      `yaml:"sm_max_unacked"` // unacknowledged stanzas kept per session
}

// Auth configures credentials.
type Auth struct {
	Iterations int `yaml:"iterations"` // PBKDF2 iterations for new credentials
}

// Provisioning configures the decision-support service at
// <subdomain>.<domain> for every hosted domain: owners' rules and Rego
// policies decide who may befriend, read and control their things.
type Provisioning struct {
	// Enabled runs the service; false leaves things without decision
	// support (they then deny everything by themselves).
	Enabled bool `yaml:"enabled"`
	// Subdomain is the service's address below each hosted domain.
	Subdomain string `yaml:"subdomain"`
	// PolicyTimeout bounds one policy evaluation; an owner's module that
	// takes longer denies.
	PolicyTimeout Duration `yaml:"policy_timeout"`
	// QuestionTTL: an unanswered question to an owner is asked again after
	// this long.
	QuestionTTL Duration `yaml:"question_ttl"`
	// AuditRetention: decisions are kept this long (0: for ever).
	AuditRetention Duration `yaml:"audit_retention"`
	// AuditQueue bounds the decisions waiting to be written.
	AuditQueue int `yaml:"audit_queue"`
	// ReloadInterval: how often changes made by the CLI or another node
	// are looked for.
	ReloadInterval Duration `yaml:"reload_interval"`
	// MaxRulesPerOwner bounds the learned rules of one owner.
	MaxRulesPerOwner int `yaml:"max_rules_per_owner"`
}

// Register configures in-band registration (XEP-0077). Accounts are
// created only by forms signed with an API key (XEP-0348; extasis apikey
// create) unless Open is set.
type Register struct {
	// Enabled offers registration at all; false answers every request with
	// not-allowed. Password change and removal by logged-in users stay.
	Enabled bool `yaml:"enabled"`
	// Open also accepts unsigned registrations, limited per IP address.
	Open bool `yaml:"open"`
	// OpenRatePerIP is how many unsigned registrations one IP address may
	// make per hour.
	OpenRatePerIP int `yaml:"open_rate_per_ip"`
	// TimestampWindow: a signature's oauth_timestamp may differ from the
	// server's clock by at most this much.
	TimestampWindow Duration `yaml:"timestamp_window"`
	// NonceTTL is how long used nonces are remembered; at least twice
	// TimestampWindow, so a nonce is kept as long as its timestamp is valid.
	NonceTTL Duration `yaml:"nonce_ttl"`
	// TokenTTL is how long the oauth_token of a registration form is valid.
	TokenTTL Duration `yaml:"token_ttl"`
	// MinPasswordLength is the shortest password accepted, in characters.
	MinPasswordLength int `yaml:"min_password_length"`
	// AllowRemove lets logged-in users delete their own account.
	AllowRemove bool `yaml:"allow_remove"`
}

// VersionIQ configures XEP-0092 answers.
type VersionIQ struct {
	HideOS bool `yaml:"hide_os"`
}

// Plugins configures out-of-process plugins.
type Plugins struct {
	// Dir is the only directory plugin binaries are run from. Empty: the
	// plugins/ directory next to the extasis binary (bin/plugins after
	// make build).
	Dir string `yaml:"dir"`
	// Builtin names the plugins shipped with extasis that run without a
	// catalog entry: their binaries sit in Dir and their sha256 pins are
	// compiled into the broker by make build. Known: registry.
	Builtin []string `yaml:"builtin"`
	List    []Plugin `yaml:"list"`
}

// BuiltinPlugins are the plugins make build ships with extasis.
var BuiltinPlugins = []string{"registry"}

// Plugin is one plugin in the catalog.
type Plugin struct {
	Name   string `yaml:"name"`
	Path   string `yaml:"path"`   // binary, relative to Plugins.Dir
	SHA256 string `yaml:"sha256"` // hex pin of the binary
	// Address is the component domain it serves, e.g. registry.localhost;
	// empty: <the plugin's own name>.<first domain>.
	Address string `yaml:"address"`
	// MemoryLimit caps the plugin process's writable memory (RLIMIT_DATA;
	// default 1GiB). A Go plugin needs about 256MiB to start.
	MemoryLimit Size `yaml:"memory_limit"`
	// Storage is the DSN handed to the plugin; empty: SQLite in its data dir.
	Storage string `yaml:"storage"`
	// StorageFrom says where Storage came from, for error messages.
	StorageFrom string `yaml:"-"`
	// Config is the plugin's own block, validated against its schema.
	Config map[string]any `yaml:"config"`
}

// Default returns the embedded defaults `make run` uses.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Domains: []Domain{{Name: "localhost"}},
		Log:     Log{Level: "info", Format: "text"},
		C2S: C2S{
			Listen:       []string{":5222"},
			DirectTLS:    []string{":5223"},
			AllowPlain:   true,
			PingInterval: Duration(2 * time.Minute),
			PingTimeout:  Duration(60 * time.Second),
			AuthTimeout:  Duration(30 * time.Second),
		},
		HTTP: HTTP{Listen: "127.0.0.1:5280"},
		Limits: Limits{
			MaxStanza:          256 << 10,
			MaxDepth:           64,
			MaxAttrs:           64,
			ConnRatePerIP:      600,
			SessionsPerAccount: 100,
			OutQueue:           4 << 20,
			AuthFailures:       5,
			AuthBackoff:        Duration(time.Second),
		},
		IM: IM{
			MaxRoster:     5000,
			MaxOffline:    1000,
			ResumeTimeout: Duration(5 * time.Minute),
			SMMaxUnacked:  5000,
		},
		Auth: Auth{Iterations: 10000},
		Register: Register{
			Enabled:           true,
			OpenRatePerIP:     3,
			TimestampWindow:   Duration(5 * time.Minute),
			NonceTTL:          Duration(10 * time.Minute),
			TokenTTL:          Duration(5 * time.Minute),
			MinPasswordLength: 8,
			AllowRemove:       true,
		},
		Provisioning: Provisioning{
			Enabled:          true,
			Subdomain:        "provisioning",
			PolicyTimeout:    Duration(50 * time.Millisecond),
			QuestionTTL:      Duration(7 * 24 * time.Hour),
			AuditRetention:   Duration(30 * 24 * time.Hour),
			AuditQueue:       65536,
			ReloadInterval:   Duration(5 * time.Second),
			MaxRulesPerOwner: 10000,
		},
		Plugins:     Plugins{Builtin: []string{"registry"}},
		StoragePool: StoragePool{Timeout: Duration(5 * time.Second), ConnectTimeout: Duration(5 * time.Second)},
	}
}

// Load reads a YAML file over the defaults, strictly: unknown keys are
// errors naming the key path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse is Load for bytes; name is used in error messages.
func Parse(name string, b []byte) (*Config, error) {
	c := Default()
	// A list in the file replaces the default list rather than merging.
	c.Domains = nil
	var generic any
	if err := yaml.Unmarshal(b, &generic); err != nil {
		return nil, fmt.Errorf("config: %s: %s", name, explain(b, err))
	}
	if err := checkKeys(generic, reflect.TypeFor[Config](), ""); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	// An empty file (or only comments) means the defaults; the decoder
	// would zero the struct instead.
	if generic != nil {
		if err := yaml.UnmarshalWithOptions(b, c, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			return nil, fmt.Errorf("config: %s: %s", name, explain(b, err))
		}
	}
	if len(c.Domains) == 0 {
		c.Domains = Default().Domains
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	if c.Storage != "" {
		c.StorageFrom = "'storage:' in " + name
	}
	return c, nil
}

// ApplyEnv applies environment overrides (EXTASIS_STORAGE).
func (c *Config) ApplyEnv() {
	if v := os.Getenv("EXTASIS_STORAGE"); v != "" {
		c.Storage = v
		c.StorageFrom = "the EXTASIS_STORAGE environment variable"
	}
}

// Validate checks ranges and references; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	seen := map[string]bool{}
	for i, d := range c.Domains {
		key := fmt.Sprintf("domains[%d].name", i)
		j, err := jid.Domain(d.Name)
		if err != nil || j.String() != d.Name {
			bad(key, "%q is not a canonical domain name (lower case, no '@' or '/')", d.Name)
			continue
		}
		if seen[d.Name] {
			bad(key, "%q listed twice", d.Name)
		}
		seen[d.Name] = true
		if (d.Cert == "") != (d.Key == "") {
			bad(fmt.Sprintf("domains[%d]", i), "cert and key must be given together")
		}
	}
	for i, a := range c.C2S.Listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad(fmt.Sprintf("c2s.listen[%d]", i), "%q is not host:port", a)
		}
	}
	for i, a := range c.C2S.DirectTLS {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad(fmt.Sprintf("c2s.direct_tls[%d]", i), "%q is not host:port", a)
		}
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "%q is not host:port", c.HTTP.Listen)
		}
	}
	if c.HTTP.Pprof {
		if h, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil || (h != "127.0.0.1" && h != "::1" && h != "localhost") {
			bad("http.pprof", "profiles may only be served on a loopback http.listen")
		}
	}
	if (c.HTTP.Cert == "") != (c.HTTP.Key == "") {
		bad("http", "cert and key must be given together")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: allowed values are debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: allowed values are text, json", c.Log.Format)
	}
	rng := func(key string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad(key, "%d out of range [%d, %d]", v, lo, hi)
		}
	}
	rng("limits.max_stanza", int64(c.Limits.MaxStanza), 10<<10, 64<<20)
	rng("limits.max_depth", int64(c.Limits.MaxDepth), 8, 1024)
	rng("limits.max_attrs", int64(c.Limits.MaxAttrs), 8, 1024)
	rng("limits.conn_rate_per_ip", int64(c.Limits.ConnRatePerIP), 0, 1_000_000)
	rng("limits.sessions_per_account", int64(c.Limits.SessionsPerAccount), 1, 100_000)
	rng("limits.out_queue", int64(c.Limits.OutQueue), 64<<10, 1<<30)
	rng("limits.auth_failures", int64(c.Limits.AuthFailures), 1, 1000)
	rng("im.max_roster", int64(c.IM.MaxRoster), 1, 1_000_000)
	rng("im.max_offline", int64(c.IM.MaxOffline), 0, 1_000_000)
	rng("im.sm_max_unacked", int64(c.IM.SMMaxUnacked), 10, 1_000_000)
	rng("auth.iterations", int64(c.Auth.Iterations), 4096, 10_000_000)
	rng("storage_pool.max_conns", int64(c.StoragePool.MaxConns), 0, 1000)
	durRng := func(key string, d Duration, lo, hi time.Duration) {
		if time.Duration(d) < lo || time.Duration(d) > hi {
			bad(key, "%s out of range [%s, %s]", time.Duration(d), lo, hi)
		}
	}
	durRng("storage_pool.timeout", c.StoragePool.Timeout, 100*time.Millisecond, 10*time.Minute)
	durRng("storage_pool.connect_timeout", c.StoragePool.ConnectTimeout, 100*time.Millisecond, 10*time.Minute)
	durRng("c2s.ping_interval", c.C2S.PingInterval, time.Second, 24*time.Hour)
	durRng("c2s.ping_timeout", c.C2S.PingTimeout, time.Second, time.Hour)
	durRng("c2s.auth_timeout", c.C2S.AuthTimeout, time.Second, time.Hour)
	durRng("limits.auth_backoff", c.Limits.AuthBackoff, 0, time.Hour)
	durRng("im.resume_timeout", c.IM.ResumeTimeout, 0, 24*time.Hour)
	if d, err := jid.Domain(c.Provisioning.Subdomain + ".x"); c.Provisioning.Subdomain == "" || err != nil || d.String() != c.Provisioning.Subdomain+".x" || strings.Contains(c.Provisioning.Subdomain, ".") {
		bad("provisioning.subdomain", "%q must be one lower-case DNS label", c.Provisioning.Subdomain)
	}
	durRng("provisioning.policy_timeout", c.Provisioning.PolicyTimeout, time.Millisecond, 10*time.Second)
	durRng("provisioning.question_ttl", c.Provisioning.QuestionTTL, time.Minute, 365*24*time.Hour)
	durRng("provisioning.audit_retention", c.Provisioning.AuditRetention, 0, 10*365*24*time.Hour)
	durRng("provisioning.reload_interval", c.Provisioning.ReloadInterval, 100*time.Millisecond, time.Hour)
	rng("provisioning.audit_queue", int64(c.Provisioning.AuditQueue), 16, 10_000_000)
	rng("provisioning.max_rules_per_owner", int64(c.Provisioning.MaxRulesPerOwner), 1, 10_000_000)
	rng("register.open_rate_per_ip", int64(c.Register.OpenRatePerIP), 1, 100_000)
	rng("register.min_password_length", int64(c.Register.MinPasswordLength), 1, 1024)
	durRng("register.timestamp_window", c.Register.TimestampWindow, 10*time.Second, 24*time.Hour)
	durRng("register.nonce_ttl", c.Register.NonceTTL, 20*time.Second, 7*24*time.Hour)
	durRng("register.token_ttl", c.Register.TokenTTL, 10*time.Second, time.Hour)
	if c.Register.NonceTTL < 2*c.Register.TimestampWindow {
		bad("register.nonce_ttl", "%s must be at least twice register.timestamp_window (%s), or a replay inside the window would pass", time.Duration(c.Register.NonceTTL), time.Duration(c.Register.TimestampWindow))
	}
	for i, a := range c.Admins {
		if j, err := jid.Parse(a); err != nil || !j.IsBare() || j.Local() == "" {
			bad(fmt.Sprintf("admins[%d]", i), "%q is not a bare user JID", a)
		}
	}
	builtin := map[string]bool{}
	for i, b := range c.Plugins.Builtin {
		if !slices.Contains(BuiltinPlugins, b) {
			bad(fmt.Sprintf("plugins.builtin[%d]", i), "%q is not a built-in plugin (known: %s)", b, strings.Join(BuiltinPlugins, ", "))
		}
		if builtin[b] {
			bad(fmt.Sprintf("plugins.builtin[%d]", i), "%q listed twice", b)
		}
		builtin[b] = true
	}
	// A catalog entry with a built-in's name replaces the built-in.
	names := map[string]bool{}
	addrs := map[string]string{}
	for i, p := range c.Plugins.List {
		key := fmt.Sprintf("plugins.list[%d]", i)
		if p.Name == "" {
			bad(key+".name", "must not be empty")
		}
		if names[p.Name] {
			bad(key+".name", "plugin %q listed twice", p.Name)
		}
		names[p.Name] = true
		if p.Path == "" {
			bad(key+".path", "must not be empty")
		}
		if filepath.IsAbs(p.Path) || strings.Contains(filepath.ToSlash(p.Path), "..") {
			bad(key+".path", "%q must be relative to plugins.dir, without '..'", p.Path)
		}
		if len(p.SHA256) != 64 {
			bad(key+".sha256", "must be the 64 hex digits of the binary's SHA-256 (extasis plugin hash FILE)")
		}
		if p.Address != "" {
			if other, ok := addrs[p.Address]; ok {
				bad(key+".address", "%q is already served by plugin %q", p.Address, other)
			}
			addrs[p.Address] = p.Name
			if seen[p.Address] {
				bad(key+".address", "%q is a hosted domain", p.Address)
			}
		}
	}
	return errors.Join(errs...)
}

// DomainNames returns the hosted domains.
func (c *Config) DomainNames() []string {
	out := make([]string, len(c.Domains))
	for i, d := range c.Domains {
		out[i] = d.Name
	}
	return out
}

// StorageDSN returns the DSN to open: Storage, or the SQLite file in DataDir.
func (c *Config) StorageDSN() string {
	if c.Storage != "" {
		return c.Storage
	}
	return filepath.Join(c.DataDir, "extasis.db")
}

// Duration is a time.Duration written as "30s", "5m" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 5m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as 262144, "256KiB" or "4MiB" in YAML.
type Size int64

// UnmarshalText parses a size with an optional KiB/MiB/GiB suffix.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(str, u.suf) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size like 262144, 256KiB or 4MiB", b)
	}
	*s = Size(n * mult)
	return nil
}

// MarshalText writes the size in bytes.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }
