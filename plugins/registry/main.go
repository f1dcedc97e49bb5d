package main

import (
	"context"
	_ "embed"
	"fmt"
	"path/filepath"
	"time"

	"github.com/extasis/extasis/plugins/registry/store"
	"github.com/extasis/extasis/sdk/plugin"
)

// schema constrains the config block; the broker checks it before
// Configure.
//
//go:embed schema.json
var schema []byte

// config is the plugin's config block (README, Config).
type config struct {
	MaxTags           int    `json:"max_tags"`
	MaxCount          int    `json:"max_count"`
	MaxScan           int    `json:"max_scan"`
	ClaimsPerMinute   int    `json:"claims_per_minute"`
	SearchesPerMinute int    `json:"searches_per_minute"`
	NotifyAttempts    int    `json:"notify_attempts"`
	DisownTimeout     string `json:"disown_timeout"`
	LegacyOwner       *bool  `json:"legacy_owner"`
	// CrashAfterClaim is for the broker's tests only: the plugin exits
	// right after committing a claim, before answering or notifying.
	CrashAfterClaim bool `json:"crash_after_claim"`

	disownTimeout time.Duration
	legacyOwner   bool
}

func (c *config) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxTags, 32)
	def(&c.MaxCount, 100)
	def(&c.MaxScan, 100000)
	def(&c.ClaimsPerMinute, 10)
	def(&c.SearchesPerMinute, 120)
	def(&c.NotifyAttempts, 10)
	c.disownTimeout = 10 * time.Second
	if c.DisownTimeout != "" {
		d, err := time.ParseDuration(c.DisownTimeout)
		if err != nil || d <= 0 || d > 5*time.Minute {
			return fmt.Errorf("registry: config: disown_timeout %q is not a duration between 0 and 5m (e.g. 10s)", c.DisownTimeout)
		}
		c.disownTimeout = d
	}
	c.legacyOwner = c.LegacyOwner == nil || *c.LegacyOwner
	return nil
}

// configure opens the store: the DSN the broker gives (PostgreSQL when the
// operator set one), else registry.db in the plugin's data directory.
func (r *registry) configure(ctx context.Context, c plugin.Config) error {
	if err := c.Decode(&r.cfg); err != nil {
		return err
	}
	if err := r.cfg.defaults(); err != nil {
		return err
	}
	dsn := c.Storage
	if dsn == "" {
		dsn = filepath.Join(c.DataDir, "registry.db")
	}
	st, err := store.Open(ctx, dsn, store.Options{MaxTags: r.cfg.MaxTags, MaxScan: r.cfg.MaxScan})
	if err != nil {
		return err
	}
	pending, err := st.PendingJIDs(ctx)
	if err != nil {
		st.Close()
		return err
	}
	r.st = st
	r.address = c.Address
	for _, j := range pending {
		r.markPending(j)
	}
	r.claims = newLimiter(r.cfg.ClaimsPerMinute, time.Minute)
	r.searches = newLimiter(r.cfg.SearchesPerMinute, time.Minute)
	return nil
}

func newPlugin() *plugin.Plugin {
	r := newRegistry()
	return &plugin.Plugin{
		Info: plugin.Info{
			Name: "registry", Version: "1.0.0",
			Description: "Thing Registry: registration, claims, search (XEP-0347 and the IEEE/NF discovery interface).",
			Addresses:   []string{"registry"},
			Identities:  []plugin.Identity{{Category: "component", Type: "generic", Name: "Thing Registry"}},
			Features:    []string{nsNF, nsIEEE, nsNFI, nsLegacy},
			Events: []string{plugin.EventSessionOnline, plugin.EventSessionOffline,
				plugin.EventPresenceChanged, plugin.EventAccountDeleted},
			ConfigSchema: schema,
		},
		Configure: r.configure,
		Stanzas:   r,
		Events:    r,
		// Deliver what a previous run queued as soon as the broker
		// connects, not at the first stanza or event.
		Started: func(_ context.Context, b plugin.Broker) { r.startup(b) },
	}
}

func main() { plugin.Serve(newPlugin()) }
