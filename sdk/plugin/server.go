package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// Broker is the plugin's view of the broker, given to every handler.
type Broker interface {
	// Address is the domain the plugin serves.
	Address() string
	// Send routes a stanza; its from must be Address or a JID at it. It
	// blocks only while the outgoing queue is full.
	Send(ctx context.Context, s *Stanza) error
	// SendIQ sends an iq get or set and returns the result or error stanza.
	// Without a deadline on ctx it waits at most 30 seconds.
	SendIQ(ctx context.Context, iq *Stanza) (*Stanza, error)
	// Online reports whether a bare or full JID has a bound session, and
	// whether such a session is available.
	Online(ctx context.Context, jid string) (online, available bool, err error)
	// Publish publishes an event with the plugin as its source.
	Publish(ctx context.Context, name string, attrs map[string]string) error
	// Decide evaluates a policy query with a JSON input document and returns
	// the JSON decision.
	Decide(ctx context.Context, query string, input []byte) ([]byte, error)
	// Log is the plugin's logger.
	Log() *slog.Logger
}

const (
	outQueue     = 1024
	workerQueue  = 64
	eventQueue   = 256
	maxBatch     = 256
	maxBatchSize = 1 << 20
	iqWait       = 30 * time.Second
)

// server is the plugin side of the Plugin service.
type server struct {
	pluginv1.UnimplementedPluginServer
	p       *Plugin
	schema  *Schema
	log     *slog.Logger
	workers int
	broker  *goplugin.GRPCBroker

	mu         sync.Mutex
	cfg        Config
	configured bool
	exchanging bool
	host       pluginv1.HostClient
}

var _ pluginv1.PluginServer = (*server)(nil)

func (s *server) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	i := s.p.Info
	r := &pluginv1.InfoResponse{
		Name: i.Name, Version: i.Version, Description: i.Description,
		Addresses: i.Addresses, Features: i.Features, Events: i.Events, ConfigSchema: i.ConfigSchema,
	}
	for _, id := range i.Identities {
		r.Identities = append(r.Identities, &pluginv1.Identity{Category: id.Category, Type: id.Type, Name: id.Name})
	}
	return r, nil
}

func (s *server) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.configured {
		return nil, status.Error(codes.FailedPrecondition, "plugin: already configured")
	}
	// The broker validated the block already; checking again here keeps a
	// plugin safe from a broker that did not (and is what plugintest runs).
	if err := s.schema.Validate(req.GetConfigJson()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if req.GetHostApi() != 0 && s.broker != nil {
		conn, err := s.broker.DialWithOptions(req.GetHostApi(), DialOptions()...)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "plugin: dial host api: %v", err)
		}
		s.host = pluginv1.NewHostClient(conn)
	}
	cfg := Config{Address: req.GetAddress(), DataDir: req.GetDataDir(), Storage: req.GetStorage(), JSON: req.GetConfigJson()}
	if s.p.Configure != nil {
		if err := s.p.Configure(ctx, cfg); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	s.cfg = cfg
	s.configured = true
	return &pluginv1.ConfigureResponse{}, nil
}

func (s *server) Exchange(stream pluginv1.Plugin_ExchangeServer) error {
	s.mu.Lock()
	if !s.configured || s.exchanging {
		s.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "plugin: exchange needs one Configure and no other exchange")
	}
	s.exchanging = true
	c := &conn{srv: s, host: s.host, addr: s.cfg.Address, out: make(chan []byte, outQueue)}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.exchanging = false
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	c.done = ctx.Done()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel() // a broken send side ends the exchange
		c.writeLoop(ctx, stream)
	}()
	workers := make([]chan *Stanza, s.workers)
	for i := range workers {
		ch := make(chan *Stanza, workerQueue)
		workers[i] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			for st := range ch {
				s.handle(ctx, c, st)
			}
		}()
	}
	events := make(chan Event, eventQueue)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := range events {
			s.event(ctx, c, e)
		}
	}()

	if s.p.Started != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.started(ctx, c)
		}()
	}

	seed := maphash.MakeSeed()
	var err error
recv:
	for {
		var b *pluginv1.BrokerBatch
		b, err = stream.Recv()
		if err != nil {
			break
		}
		for _, ps := range b.GetStanzas() {
			st := StanzaFromProto(ps)
			// Hashing on the sender keeps each sender's stanzas in order
			// while senders proceed in parallel. A full worker blocks
			// Recv, which is the back-pressure the broker sees.
			w := workers[maphash.String(seed, st.From)%uint64(len(workers))]
			select {
			case w <- st:
			case <-ctx.Done():
				break recv
			}
		}
		for _, pe := range b.GetEvents() {
			if e := EventFromProto(pe); e != nil && s.p.Events != nil {
				select {
				case events <- e:
				case <-ctx.Done():
					break recv
				}
			}
		}
		for _, r := range b.GetRejections() {
			s.rejected(ctx, c, Rejection{ID: r.GetId(), To: r.GetTo(), Reason: r.GetReason()})
		}
	}
	cancel()
	for _, w := range workers {
		close(w)
	}
	close(events)
	wg.Wait()
	return nil
}

func (s *server) handle(ctx context.Context, c *conn, st *Stanza) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("plugin: stanza handler panicked", "panic", fmt.Sprint(r), "kind", st.Kind.String())
			if st.IsIQRequest() {
				_ = c.Send(ctx, st.Error("internal-server-error", ""))
			}
		}
	}()
	if s.p.Stanzas == nil {
		if st.IsIQRequest() {
			_ = c.Send(ctx, st.Error("service-unavailable", ""))
		}
		return
	}
	s.p.Stanzas.HandleStanza(ctx, c, st)
}

func (s *server) event(ctx context.Context, c *conn, e Event) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("plugin: event handler panicked", "panic", fmt.Sprint(r), "event", e.EventName())
		}
	}()
	s.p.Events.HandleEvent(ctx, c, e)
}

func (s *server) started(ctx context.Context, c *conn) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("plugin: Started panicked", "panic", fmt.Sprint(r))
		}
	}()
	s.p.Started(ctx, c)
}

func (s *server) rejected(ctx context.Context, c *conn, r Rejection) {
	if s.p.Rejected != nil {
		s.p.Rejected(ctx, c, r)
		return
	}
	s.log.Warn("plugin: the broker refused a stanza", "id", r.ID, "reason", r.Reason)
}

// conn implements Broker for one exchange.
type conn struct {
	srv  *server
	host pluginv1.HostClient
	addr string
	out  chan []byte
	done <-chan struct{}
}

var _ Broker = (*conn)(nil)

func (c *conn) Address() string   { return c.addr }
func (c *conn) Log() *slog.Logger { return c.srv.log }

func (c *conn) Send(ctx context.Context, s *Stanza) error {
	if s == nil || len(s.Raw) == 0 {
		return fmt.Errorf("plugin: send: stanza has no raw bytes; build it with NewStanza, Reply, Result or Error")
	}
	select {
	case c.out <- s.Raw:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("plugin: send: %w", ctx.Err())
	}
}

// writeLoop sends queued stanzas in batches: one stream message carries as
// many as are waiting, which is what keeps a busy plugin's per-stanza cost
// low.
func (c *conn) writeLoop(ctx context.Context, stream pluginv1.Plugin_ExchangeServer) {
	for {
		var raw []byte
		select {
		case raw = <-c.out:
		case <-ctx.Done():
			return
		}
		batch := make([]*pluginv1.Stanza, 0, 8)
		batch = append(batch, &pluginv1.Stanza{Raw: raw})
		size := len(raw)
	more:
		for len(batch) < maxBatch && size < maxBatchSize {
			select {
			case raw = <-c.out:
				batch = append(batch, &pluginv1.Stanza{Raw: raw})
				size += len(raw)
			default:
				break more
			}
		}
		if err := stream.Send(&pluginv1.PluginBatch{Stanzas: batch}); err != nil {
			c.srv.log.Debug("plugin: exchange send failed", "error", err)
			return
		}
	}
}

func (c *conn) hostAPI() (pluginv1.HostClient, error) {
	if c.host == nil {
		return nil, fmt.Errorf("plugin: no host api (the broker gave none)")
	}
	return c.host, nil
}

func (c *conn) SendIQ(ctx context.Context, iq *Stanza) (*Stanza, error) {
	h, err := c.hostAPI()
	if err != nil {
		return nil, err
	}
	if iq == nil || !iq.IsIQRequest() || iq.ID == "" || len(iq.Raw) == 0 {
		return nil, fmt.Errorf("plugin: send iq: need an iq get or set with an id, built with NewStanza")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, iqWait)
		defer cancel()
	}
	r, err := h.SendIQ(ctx, &pluginv1.SendIQRequest{Raw: iq.Raw})
	if err != nil {
		return nil, fmt.Errorf("plugin: send iq: %w", err)
	}
	return StanzaFromProto(r.GetReply()), nil
}

func (c *conn) Online(ctx context.Context, jid string) (bool, bool, error) {
	h, err := c.hostAPI()
	if err != nil {
		return false, false, err
	}
	r, err := h.Online(ctx, &pluginv1.OnlineRequest{Jid: jid})
	if err != nil {
		return false, false, fmt.Errorf("plugin: online: %w", err)
	}
	return r.GetOnline(), r.GetAvailable(), nil
}

func (c *conn) Publish(ctx context.Context, name string, attrs map[string]string) error {
	h, err := c.hostAPI()
	if err != nil {
		return err
	}
	if _, err := h.Publish(ctx, &pluginv1.PublishRequest{Name: name, Attrs: attrs}); err != nil {
		return fmt.Errorf("plugin: publish %s: %w", name, err)
	}
	return nil
}

func (c *conn) Decide(ctx context.Context, query string, input []byte) ([]byte, error) {
	h, err := c.hostAPI()
	if err != nil {
		return nil, err
	}
	if len(input) > 0 && !json.Valid(input) {
		return nil, fmt.Errorf("plugin: decide %s: input is not JSON", query)
	}
	r, err := h.Decide(ctx, &pluginv1.DecideRequest{Query: query, InputJson: input})
	if err != nil {
		return nil, fmt.Errorf("plugin: decide %s: %w", query, err)
	}
	return r.GetResultJson(), nil
}
