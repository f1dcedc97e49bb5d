package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/extasis/extasis/sdk/plugin"
	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// Options configure a Harness. Every field is optional.
type Options struct {
	// Address the plugin serves; default: its first Info.Addresses label
	// under "localhost", or "plugin.localhost".
	Address string
	// Config is the config block as the operator would write it (a map, or
	// any value that marshals to a JSON object); nil is an empty block.
	Config  any
	DataDir string // default: t.TempDir()
	Storage string
	// IQ answers the plugin's SendIQ; nil answers service-unavailable.
	IQ func(iq *plugin.Stanza) *plugin.Stanza
	// Online answers the plugin's Online; nil: nobody is online.
	Online func(jid string) (online, available bool)
	// Decide answers the plugin's Decide; nil: UNIMPLEMENTED, as a broker
	// without a policy engine.
	Decide func(query string, input []byte) ([]byte, error)
	// ExpectRejections lets the plugin send stanzas the broker would
	// refuse; they are reported to the plugin and listed by Rejections.
	ExpectRejections bool
	// Timeout bounds each wait in Next (default 5s).
	Timeout time.Duration
}

// Harness is a plugin running in-process with a fake broker.
type Harness struct {
	t      testing.TB
	o      Options
	info   plugin.Info
	remote *plugin.Remote
	stream pluginv1.Plugin_ExchangeClient
	cancel context.CancelFunc
	sent   chan *plugin.Stanza

	sendMu sync.Mutex // one writer on the stream
	mu     sync.Mutex
	pub    []plugin.Custom
	rej    []plugin.Rejection
}

// New starts p and configures it; it fails the test on any error.
func New(t testing.TB, p *plugin.Plugin, o Options) *Harness {
	t.Helper()
	h, err := Start(t, p, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Start is New returning the error instead, for tests of config
// validation. The plugin stops when the test ends.
func Start(t testing.TB, p *plugin.Plugin, o Options) (*Harness, error) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	h := &Harness{t: t, o: o, sent: make(chan *plugin.Stanza, 4096)}
	ps, err := plugin.InProcess(p, hostAPI{h: h})
	if err != nil {
		return nil, err
	}
	// go-plugin's test mode serves the plugin in this process and hands
	// the client a reattach config: the real gRPC protocol and GRPCBroker,
	// no child process, and loggers we choose.
	sets := map[int]goplugin.PluginSet{plugin.ProtocolVersion: ps}
	quiet := hclog.NewNullLogger()
	sctx, stop := context.WithCancel(context.Background())
	reattach := make(chan *goplugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  plugin.Handshake(),
		VersionedPlugins: sets,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, plugin.ServerOptions()...)...)
		},
		Logger: quiet,
		Test:   &goplugin.ServeTestConfig{Context: sctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	var rc *goplugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(o.Timeout):
		stop()
		return nil, fmt.Errorf("plugintest: the plugin did not start within %s", o.Timeout)
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake(),
		VersionedPlugins: sets,
		Plugins:          ps, // reattaching skips version negotiation, so no VersionedPlugins lookup
		Reattach:         rc,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  plugin.DialOptions(),
		Logger:           quiet,
	})
	t.Cleanup(func() {
		client.Kill()
		stop()
		<-closed
	})
	rpc, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("plugintest: connect: %w", err)
	}
	raw, err := rpc.Dispense(plugin.DispenseName)
	if err != nil {
		return nil, fmt.Errorf("plugintest: dispense: %w", err)
	}
	h.remote = raw.(*plugin.Remote)

	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	info, err := h.remote.Info(ctx, &pluginv1.InfoRequest{BrokerVersion: "plugintest"})
	if err != nil {
		return nil, fmt.Errorf("plugintest: info: %w", err)
	}
	h.info = plugin.InfoFromProto(info)
	if h.o.Address == "" {
		h.o.Address = "plugin.localhost"
		if len(h.info.Addresses) > 0 {
			h.o.Address = h.info.Addresses[0] + ".localhost"
		}
	}
	cfg, err := json.Marshal(o.Config)
	if err != nil {
		return nil, fmt.Errorf("plugintest: config: %w", err)
	}
	if string(cfg) == "null" {
		cfg = []byte("{}")
	}
	sch, err := plugin.CompileSchema(info.GetConfigSchema())
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(cfg); err != nil {
		return nil, err
	}
	if _, err := h.remote.Configure(ctx, &pluginv1.ConfigureRequest{
		Address: h.o.Address, DataDir: o.DataDir, Storage: o.Storage, ConfigJson: cfg, HostApi: h.remote.HostAPI,
	}); err != nil {
		return nil, fmt.Errorf("plugintest: configure: %s", status.Convert(err).Message())
	}
	xctx, xcancel := context.WithCancel(context.Background())
	h.cancel = xcancel
	h.stream, err = h.remote.Exchange(xctx)
	if err != nil {
		xcancel()
		return nil, fmt.Errorf("plugintest: exchange: %w", err)
	}
	t.Cleanup(h.Close)
	go h.recv()
	return h, nil
}

// Info is what the plugin reported.
func (h *Harness) Info() plugin.Info { return h.info }

// Address is the address the plugin serves.
func (h *Harness) Address() string { return h.o.Address }

// Close ends the exchange; the test's cleanup calls it.
func (h *Harness) Close() { h.cancel() }

func (h *Harness) recv() {
	for {
		b, err := h.stream.Recv()
		if err != nil {
			close(h.sent)
			return
		}
		for _, ps := range b.GetStanzas() {
			s, err := plugin.ParseStanza(ps.GetRaw())
			if err != nil {
				h.t.Errorf("plugintest: the plugin sent something that is not a stanza: %v", err)
				continue
			}
			if !Owns(h.o.Address, s.From) {
				r := plugin.Rejection{ID: s.ID, To: s.To, Reason: fmt.Sprintf(
					"plugintest: stanza from %q is not from an address the plugin owns (%s)", s.From, h.o.Address)}
				h.mu.Lock()
				h.rej = append(h.rej, r)
				h.mu.Unlock()
				if !h.o.ExpectRejections {
					h.t.Errorf("%s", r.Reason)
				}
				h.send(&pluginv1.BrokerBatch{Rejections: []*pluginv1.Rejection{{Id: r.ID, To: r.To, Reason: r.Reason}}})
				continue
			}
			h.sent <- s
		}
	}
}

// Owns reports whether from is address or a JID at it: the broker's rule
// for what a plugin may send.
func Owns(address, from string) bool {
	if i := strings.IndexByte(from, '/'); i >= 0 {
		from = from[:i]
	}
	if i := strings.IndexByte(from, '@'); i >= 0 {
		from = from[i+1:]
	}
	return from != "" && strings.EqualFold(from, address)
}

func (h *Harness) send(b *pluginv1.BrokerBatch) {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	if err := h.stream.Send(b); err != nil {
		h.t.Errorf("plugintest: deliver: %v", err)
	}
}

// Deliver hands the plugin a stanza, as the broker does for stanzas to its
// address. raw is the stanza's XML.
func (h *Harness) Deliver(raw string) {
	h.t.Helper()
	s, err := plugin.ParseStanza([]byte(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	h.send(&pluginv1.BrokerBatch{Stanzas: []*pluginv1.Stanza{plugin.StanzaToProto(s)}})
}

// Event hands the plugin an event.
func (h *Harness) Event(e plugin.Event) {
	h.t.Helper()
	pe := plugin.EventToProto(e)
	if pe == nil {
		h.t.Fatalf("plugintest: %T is not a plugin.Event type", e)
	}
	h.send(&pluginv1.BrokerBatch{Events: []*pluginv1.Event{pe}})
}

// Next returns the next stanza the plugin sent, failing the test if none
// comes within Options.Timeout.
func (h *Harness) Next() *plugin.Stanza {
	h.t.Helper()
	select {
	case s, ok := <-h.sent:
		if !ok {
			h.t.Fatal("plugintest: the exchange closed")
		}
		return s
	case <-time.After(h.o.Timeout):
		h.t.Fatalf("plugintest: the plugin sent nothing within %s", h.o.Timeout)
	}
	return nil
}

// Published returns the events the plugin published so far.
func (h *Harness) Published() []plugin.Custom {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]plugin.Custom(nil), h.pub...)
}

// Rejections returns the stanzas refused so far.
func (h *Harness) Rejections() []plugin.Rejection {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]plugin.Rejection(nil), h.rej...)
}

// hostAPI answers the plugin's Host API calls from Options.
type hostAPI struct {
	pluginv1.UnimplementedHostServer
	h *Harness
}

var _ pluginv1.HostServer = hostAPI{}

func (a hostAPI) SendIQ(_ context.Context, r *pluginv1.SendIQRequest) (*pluginv1.SendIQResponse, error) {
	iq, err := plugin.ParseStanza(r.GetRaw())
	if err != nil || !iq.IsIQRequest() {
		return nil, status.Error(codes.InvalidArgument, "plugintest: send iq: not an iq get or set")
	}
	if !Owns(a.h.o.Address, iq.From) {
		return nil, status.Errorf(codes.PermissionDenied, "plugintest: stanza from %q is not from an address the plugin owns (%s)", iq.From, a.h.o.Address)
	}
	var reply *plugin.Stanza
	if a.h.o.IQ != nil {
		reply = a.h.o.IQ(iq)
	}
	if reply == nil {
		reply = iq.Error("service-unavailable", "")
	}
	return &pluginv1.SendIQResponse{Reply: plugin.StanzaToProto(reply)}, nil
}

func (a hostAPI) Online(_ context.Context, r *pluginv1.OnlineRequest) (*pluginv1.OnlineResponse, error) {
	if a.h.o.Online == nil {
		return &pluginv1.OnlineResponse{}, nil
	}
	on, av := a.h.o.Online(r.GetJid())
	return &pluginv1.OnlineResponse{Online: on, Available: av}, nil
}

func (a hostAPI) Publish(_ context.Context, r *pluginv1.PublishRequest) (*pluginv1.PublishResponse, error) {
	if plugin.ReservedEvent(r.GetName()) {
		return nil, status.Errorf(codes.PermissionDenied, "plugintest: event %q is the broker's own", r.GetName())
	}
	a.h.mu.Lock()
	a.h.pub = append(a.h.pub, plugin.Custom{Name: r.GetName(), Source: a.h.info.Name, Attrs: r.GetAttrs()})
	a.h.mu.Unlock()
	return &pluginv1.PublishResponse{}, nil
}

func (a hostAPI) Decide(_ context.Context, r *pluginv1.DecideRequest) (*pluginv1.DecideResponse, error) {
	if a.h.o.Decide == nil {
		return nil, status.Error(codes.Unimplemented, "plugintest: no policy engine")
	}
	out, err := a.h.o.Decide(r.GetQuery(), r.GetInputJson())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pluginv1.DecideResponse{ResultJson: out}, nil
}
