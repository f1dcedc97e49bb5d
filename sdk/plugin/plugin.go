package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Info describes a plugin to the broker (and to operators through
// `extasis plugin check`).
type Info struct {
	// Name is the plugin's own name, e.g. "echo"; operators may run one
	// binary twice under two catalog names.
	Name        string
	Version     string // the plugin's release, semantic versioning
	Description string
	// Addresses are the sub-domain labels served when the operator sets no
	// address: "echo" serves echo.<first domain>.
	Addresses []string
	// Identities and Features are answered by the broker to disco#info on
	// the plugin's address.
	Identities []Identity
	Features   []string
	// Events are the broker events to deliver, e.g. EventSessionOnline or
	// "thing.claimed".
	Events []string
	// ConfigSchema is a JSON Schema for the plugin's config block; the
	// broker validates the block against it before Configure. Empty: the
	// plugin takes no configuration.
	ConfigSchema []byte
}

// Identity is a XEP-0030 identity, e.g. {"component", "generic", "Echo"}.
type Identity struct{ Category, Type, Name string }

// Config is what Configure receives.
type Config struct {
	// Address is the domain the plugin serves; the broker routes only
	// stanzas from it or from JIDs at it.
	Address string
	// DataDir is the plugin's own directory and working directory.
	DataDir string
	// Storage is the database DSN the operator configured, or a SQLite file
	// path in DataDir.
	Storage string
	// JSON is the config block, already validated against ConfigSchema.
	JSON []byte
}

// Decode unmarshals the config block into v, refusing keys v lacks.
func (c Config) Decode(v any) error {
	if len(c.JSON) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(c.JSON))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("plugin: config: %w", err)
	}
	return nil
}

// Handler handles the stanzas sent to the plugin's address. Stanzas from
// one sender arrive in order; different senders are handled concurrently.
// An iq get or set must be answered (b.Send(ctx, s.Result(...)) or
// s.Error(...)); the broker answers it with an error if the plugin does
// not within its deadline.
type Handler interface {
	HandleStanza(ctx context.Context, b Broker, s *Stanza)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, b Broker, s *Stanza)

// HandleStanza calls f.
func (f HandlerFunc) HandleStanza(ctx context.Context, b Broker, s *Stanza) { f(ctx, b, s) }

// EventHandler receives the events listed in Info.Events, one at a time in
// publication order.
type EventHandler interface {
	HandleEvent(ctx context.Context, b Broker, e Event)
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(ctx context.Context, b Broker, e Event)

// HandleEvent calls f.
func (f EventHandlerFunc) HandleEvent(ctx context.Context, b Broker, e Event) { f(ctx, b, e) }

// Rejection reports a stanza the plugin sent that the broker refused, e.g.
// because its from was not the plugin's address.
type Rejection struct {
	ID, To string // the refused stanza's attributes
	Reason string // one line from the broker
}

// Plugin is everything Serve needs.
type Plugin struct {
	Info Info
	// Configure receives the configuration; an error refuses the plugin.
	// Nil: the plugin needs none.
	Configure func(ctx context.Context, c Config) error
	Stanzas   Handler      // nil: stanzas are answered with service-unavailable
	Events    EventHandler // nil: events are ignored
	// Rejected is told about refused stanzas; nil logs them.
	Rejected func(ctx context.Context, b Broker, r Rejection)
	// Started runs once per exchange, as soon as the broker connects the
	// plugin (at start and after every restart), in its own goroutine: the
	// place to deliver what a previous run queued. ctx ends with the
	// exchange. Nil: nothing to do.
	Started func(ctx context.Context, b Broker)
	// Workers bounds concurrent stanza handlers (default 16).
	Workers int
	// Logger is where the plugin logs; nil: NewLogger on stderr at the
	// broker's level. Never log stanza bodies.
	Logger *slog.Logger
}

// Serve runs the plugin until the broker stops it. Call it from main; it
// does not return. Run by hand, outside a broker, it explains that it is a
// plugin and exits with status 1.
func Serve(p *Plugin) {
	s, err := newServer(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: pluginSets(s),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, ServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Output: os.Stderr, JSONFormat: true, Level: hclog.Warn,
		}),
	})
	os.Exit(0)
}

// ErrClosed is returned by Broker calls after the broker closed the
// exchange (it is stopping or restarting the plugin).
var ErrClosed = errors.New("plugin: exchange with the broker closed")

func newServer(p *Plugin) (*server, error) {
	if p == nil || p.Info.Name == "" {
		return nil, errors.New("plugin: Info.Name must be set")
	}
	sch, err := CompileSchema(p.Info.ConfigSchema)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Info.Name, err)
	}
	log := p.Logger
	if log == nil {
		log = NewLogger(os.Stderr, levelFromEnv(os.Getenv("EXTASIS_PLUGIN_LOG_LEVEL")))
	}
	workers := p.Workers
	if workers <= 0 {
		workers = 16
	}
	return &server{p: p, schema: sch, log: log, workers: workers}, nil
}
