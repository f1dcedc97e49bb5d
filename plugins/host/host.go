package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/sdk/plugin"
)

// Router is what the host needs from the router; *router.Router has it.
type Router interface {
	RegisterComponent(domain string, h router.Handler) (unregister func(), err error)
	Route(ctx context.Context, s *stanza.Stanza)
	ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error)
	Sessions() *session.Table
}

var _ Router = (*router.Router)(nil)

// Bus is what the host needs from the event bus; *event.Bus has it.
type Bus interface {
	Subscribe(name string, h event.Handler) (cancel func())
	Publish(ctx context.Context, e event.Event)
}

var _ Bus = (*event.Bus)(nil)

// PolicyFunc evaluates a policy query for a plugin: input and result are
// JSON documents. The policy engine provides it once it exists.
type PolicyFunc func(ctx context.Context, plugin, query string, input []byte) ([]byte, error)

// Deps are the host's collaborators.
type Deps struct {
	Log    *slog.Logger // nil: discard
	Router Router       // required by Start
	Events Bus          // nil: plugins get no events and cannot publish
	// DataDir is the broker's data_dir; plugin data goes to
	// DataDir/plugins/<name>.
	DataDir string
	// Domain is the first hosted domain: a plugin with no configured
	// address serves <its Info label>.<Domain>.
	Domain string
	// Metrics is where the collectors register (namespace extasis,
	// subsystem plugin); nil: a private registry.
	Metrics prometheus.Registerer
	// Policy answers plugins' Decide calls; nil until the policy engine
	// exists (Decide then answers UNIMPLEMENTED).
	Policy PolicyFunc
	// Version is the broker's release, told to plugins in Info.
	Version string
	Tuning  Tuning
}

// Tuning holds the host's limits. Zero fields take the defaults shown.
type Tuning struct {
	QueueLen       int           // stanzas queued per plugin: 4096
	EnqueueWait    time.Duration // a sender waits this long on a full queue before resource-constraint: 200ms
	CallTimeout    time.Duration // Info, Configure, health check: 10s
	IQTimeout      time.Duration // an iq request unanswered this long gets remote-server-timeout: 30s
	HealthInterval time.Duration // 5s
	StartTimeout   time.Duration // process start and go-plugin handshake: 15s
	BackoffMin     time.Duration // first restart delay: 200ms
	BackoffMax     time.Duration // restart delay cap: 30s
	StableAfter    time.Duration // a plugin up this long restarts from BackoffMin again: 1m
	MemoryLimit    int64         // data limit (RLIMIT_DATA) when the catalog sets none: 1 GiB
	MaxStanza      int           // largest stanza a plugin may send (pass limits.max_stanza): 256 KiB
}

func (t Tuning) withDefaults() Tuning {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if t.QueueLen <= 0 {
		t.QueueLen = 4096
	}
	def(&t.EnqueueWait, 200*time.Millisecond)
	def(&t.CallTimeout, 10*time.Second)
	def(&t.IQTimeout, 30*time.Second)
	def(&t.HealthInterval, 5*time.Second)
	def(&t.StartTimeout, 15*time.Second)
	def(&t.BackoffMin, 200*time.Millisecond)
	def(&t.BackoffMax, 30*time.Second)
	def(&t.StableAfter, time.Minute)
	if t.MemoryLimit <= 0 {
		t.MemoryLimit = 1 << 30
	}
	if t.MaxStanza <= 0 {
		t.MaxStanza = 256 << 10
	}
	return t
}

// Host runs the catalog's plugins.
type Host struct {
	log     *slog.Logger
	deps    Deps
	tuning  Tuning
	metrics *metrics
	plugins []*managed

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	fork    *forker
}

// New validates the catalog without starting anything: every binary is
// resolved inside cfg.Dir and checked against its pin, names and addresses
// are unique, config blocks are JSON objects. All problems are returned
// together, one line each.
func New(cfg config.Plugins, deps Deps) (*Host, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	h := &Host{log: deps.Log.With("component", "plugins"), deps: deps, tuning: deps.Tuning.withDefaults()}
	var errs []error
	names := map[string]bool{}
	addrs := map[string]string{}
	for _, p := range cfg.List {
		if p.Name == "" {
			errs = append(errs, errors.New("host: a plugin has no name"))
			continue
		}
		if names[p.Name] {
			errs = append(errs, pluginErr(p.Name, errors.New("listed twice")))
			continue
		}
		names[p.Name] = true
		if p.Address != "" {
			if other, ok := addrs[p.Address]; ok {
				errs = append(errs, pluginErr(p.Name, fmt.Errorf("%w: %s is already served by plugin %q", ErrAddressTaken, p.Address, other)))
			}
			addrs[p.Address] = p.Name
		}
		bin, err := Resolve(cfg.Dir, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		block, err := configJSON(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		limit := int64(p.MemoryLimit)
		if limit <= 0 {
			limit = h.tuning.MemoryLimit
		}
		dataDir := filepath.Join(deps.DataDir, "plugins", p.Name)
		storage := p.Storage
		if storage == "" {
			storage = filepath.Join(dataDir, p.Name+".db")
		}
		h.plugins = append(h.plugins, &managed{
			h: h, name: p.Name, bin: bin, sum: p.SHA256, addr: p.Address, limit: limit,
			dataDir: dataDir, storage: storage, config: block,
			log: h.log.With("plugin", p.Name),
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("host: metrics: %w", err)
	}
	h.metrics = m
	for _, p := range h.plugins {
		p.m = m.forPlugin(p.name)
	}
	return h, nil
}

// configJSON turns a config block from YAML into the JSON the schema and
// the plugin read.
func configJSON(p config.Plugin) ([]byte, error) {
	if len(p.Config) == 0 {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(jsonable(p.Config))
	if err != nil {
		return nil, pluginErr(p.Name, fmt.Errorf("%w: %w", ErrConfig, err))
	}
	return b, nil
}

// jsonable converts what a YAML decoder produces (maps keyed by any) into
// what encoding/json accepts.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = jsonable(x)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	}
	return v
}

// Start starts every plugin, in catalog order, and registers its address.
// A plugin that cannot start (handshake, protocol version, config, address)
// fails Start with an error naming it, and the plugins already started are
// stopped. Once started, plugins are supervised until Stop.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("host: already started")
	}
	if h.deps.Router == nil && len(h.plugins) > 0 {
		return errors.New("host: no router")
	}
	sctx, cancel := context.WithCancel(context.Background())
	h.fork = newForker()
	for i, p := range h.plugins {
		if err := p.start(ctx); err != nil {
			cancel()
			for _, q := range h.plugins[:i] {
				q.stop(context.Background())
			}
			h.fork.stop()
			return err
		}
	}
	for _, p := range h.plugins {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.supervise(sctx)
		}()
	}
	h.cancel = cancel
	h.started = true
	return nil
}

// Stop unregisters every address, ends the supervisors and stops the
// plugin processes (gracefully, then killed when ctx ends), in reverse
// catalog order.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started {
		return nil
	}
	h.started = false
	h.cancel()
	h.wg.Wait()
	for i := len(h.plugins) - 1; i >= 0; i-- {
		h.plugins[i].stop(ctx)
	}
	h.fork.stop()
	return ctx.Err()
}

// Status is one plugin's state, for disco#items and `extasis plugin list`.
type Status struct {
	Name    string // catalog name
	Address string // served domain ("" before the first start)
	Binary  string // resolved path
	SHA256  string
	State   string // starting, running, restarting, stopped
	PID     int    // 0 when not running
	// Restarts counts restarts after crashes since Start.
	Restarts int
	// LastError is the last reason the plugin stopped or failed to start.
	LastError string
	// Info is what the plugin reported (name, version, disco identities and
	// features, events).
	Info plugin.Info
}

// Plugins returns every plugin's status, sorted by name.
func (h *Host) Plugins() []Status {
	out := make([]Status, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ensureDir creates a plugin's data directory, private to the broker's user.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}
