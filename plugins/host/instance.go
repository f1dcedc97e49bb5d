package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/sdk/plugin"
	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

const (
	maxBatch     = 256     // stanzas per stream message
	maxBatchSize = 1 << 20 // bytes per stream message, well under MaxMessageSize
	eventQueue   = 1024
)

// instance is one running plugin process and its exchange.
type instance struct {
	p       *managed
	proc    *process
	info    plugin.Info
	pid     int
	started time.Time
	stream  pluginv1.Plugin_ExchangeClient
	ctx     context.Context
	cancel  context.CancelFunc

	queue   chan *stanza.Stanza
	events  chan *pluginv1.Event
	rejects chan *pluginv1.Rejection

	// mu orders deliver against close: deliver holds it shared while it
	// enqueues, close takes it exclusively to mark the instance closed, so
	// nothing is enqueued after the queue was drained.
	mu        sync.RWMutex
	closed    bool
	done      chan struct{} // closed by close: wakes senders blocked on a full queue
	closeOnce sync.Once

	dead     chan struct{} // closed when the process or exchange failed
	deadOnce sync.Once
	deadErr  error

	pendMu  sync.Mutex
	pending map[iqKey]pendingIQ

	unsub []func()
	wg    sync.WaitGroup
}

// pendingIQ is an iq request delivered to the plugin and not yet answered.
type pendingIQ struct {
	s  *stanza.Stanza
	at time.Time
}

func newInstance(p *managed, pr *process) (*instance, error) {
	t := p.h.tuning
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := pr.remote.Exchange(ctx)
	if err != nil {
		cancel()
		return nil, pluginErr(p.name, fmt.Errorf("%w: exchange: %w", ErrStart, err))
	}
	i := &instance{
		p: p, proc: pr, info: pr.info, pid: pr.pid, started: time.Now(), stream: stream, ctx: ctx, cancel: cancel,
		queue:   make(chan *stanza.Stanza, t.QueueLen),
		events:  make(chan *pluginv1.Event, eventQueue),
		rejects: make(chan *pluginv1.Rejection, 64),
		done:    make(chan struct{}),
		dead:    make(chan struct{}),
		pending: map[iqKey]pendingIQ{},
	}
	if bus := p.h.deps.Events; bus != nil {
		for _, name := range pr.info.Events {
			i.unsub = append(i.unsub, bus.Subscribe(name, i.onEvent))
		}
	}
	i.wg.Add(4)
	go i.sendLoop()
	go i.recvLoop()
	go i.sweepLoop()
	go i.healthLoop()
	return i, nil
}

// fail marks the instance dead; the supervisor restarts the plugin.
func (i *instance) fail(err error) {
	i.deadOnce.Do(func() {
		i.deadErr = err
		close(i.dead)
	})
}

func (i *instance) deadReason() string {
	select {
	case <-i.dead:
		if i.deadErr != nil {
			return i.deadErr.Error()
		}
	default:
	}
	return "stopped"
}

// deliver queues a stanza for the plugin. On a full queue the sender waits
// up to EnqueueWait (back-pressure on this address only), then gets
// resource-constraint.
func (i *instance) deliver(ctx context.Context, s *stanza.Stanza) {
	iq := s.IsIQRequest()
	k := iqKey{s.From, s.ID}
	i.mu.RLock()
	if i.closed {
		i.mu.RUnlock()
		i.p.unavailable(ctx, s, "plugin "+i.p.name+" is restarting")
		return
	}
	if iq {
		i.pendMu.Lock()
		i.pending[k] = pendingIQ{s: s, at: time.Now()}
		i.pendMu.Unlock()
	}
	queued := false
	select {
	case i.queue <- s:
		queued = true
	default:
		t := time.NewTimer(i.p.h.tuning.EnqueueWait)
		select {
		case i.queue <- s:
			queued = true
		case <-t.C:
		case <-i.done:
		}
		t.Stop()
	}
	i.mu.RUnlock()
	if queued {
		return
	}
	if iq {
		if !i.takePending(k) {
			return // close answered it already
		}
	}
	i.p.m.errBusy.Inc()
	i.p.h.deps.Router.ReplyError(ctx, s, stanza.Error{Condition: stanza.ResourceConstraint, Text: "plugin " + i.p.name + " is busy"})
}

func (i *instance) takePending(k iqKey) bool {
	i.pendMu.Lock()
	_, ok := i.pending[k]
	delete(i.pending, k)
	i.pendMu.Unlock()
	return ok
}

func (i *instance) takePendingAt(k iqKey) (time.Time, bool) {
	i.pendMu.Lock()
	p, ok := i.pending[k]
	delete(i.pending, k)
	i.pendMu.Unlock()
	return p.at, ok
}

// onEvent is the bus subscription: never block the publisher.
func (i *instance) onEvent(_ context.Context, e event.Event) {
	pe := eventToProto(e)
	if pe == nil {
		return
	}
	select {
	case i.events <- pe:
	default:
		i.p.m.errEventDropped.Inc()
	}
}

func eventToProto(e event.Event) *pluginv1.Event {
	switch v := e.(type) {
	case event.SessionOnline:
		return plugin.EventToProto(plugin.SessionOnline{JID: v.JID.String()})
	case event.SessionOffline:
		return plugin.EventToProto(plugin.SessionOffline{JID: v.JID.String()})
	case event.AccountCreated:
		return plugin.EventToProto(plugin.AccountCreated{JID: v.JID.String()})
	case event.AccountDeleted:
		return plugin.EventToProto(plugin.AccountDeleted{JID: v.JID.String()})
	case event.PresenceChanged:
		return plugin.EventToProto(plugin.PresenceChanged{JID: v.JID.String(), Available: v.Available, Show: v.Show, Priority: v.Priority})
	case event.Custom:
		return plugin.EventToProto(plugin.Custom{Name: v.Name, Source: v.Source, Attrs: v.Attrs})
	}
	return nil
}

func toProto(s *stanza.Stanza) *pluginv1.Stanza {
	return &pluginv1.Stanza{
		Kind: pluginv1.Kind(s.Kind), To: s.To.String(), From: s.From.String(), Type: s.Type, Id: s.ID,
		PayloadSpace: s.Payload.Space, PayloadLocal: s.Payload.Local, Raw: s.Raw,
	}
}

// sendLoop writes queued stanzas, events and rejections to the plugin,
// batching whatever is waiting into one stream message.
func (i *instance) sendLoop() {
	defer i.wg.Done()
	for {
		b := &pluginv1.BrokerBatch{}
		select {
		case s := <-i.queue:
			b.Stanzas = append(b.Stanzas, toProto(s))
		case e := <-i.events:
			b.Events = append(b.Events, e)
		case r := <-i.rejects:
			b.Rejections = append(b.Rejections, r)
		case <-i.ctx.Done():
			return
		}
		size := 0
	more:
		for n := 1; n < maxBatch && size < maxBatchSize; n++ {
			select {
			case s := <-i.queue:
				b.Stanzas = append(b.Stanzas, toProto(s))
				size += len(s.Raw)
			case e := <-i.events:
				b.Events = append(b.Events, e)
			case r := <-i.rejects:
				b.Rejections = append(b.Rejections, r)
			default:
				break more
			}
		}
		if err := i.stream.Send(b); err != nil {
			i.fail(fmt.Errorf("exchange send: %w", err))
			return
		}
	}
}

// recvLoop routes what the plugin sends, after checking its from.
func (i *instance) recvLoop() {
	defer i.wg.Done()
	for {
		b, err := i.stream.Recv()
		if err != nil {
			i.fail(fmt.Errorf("exchange closed: %w", err))
			return
		}
		for _, ps := range b.GetStanzas() {
			i.fromPlugin(ps.GetRaw())
		}
	}
}

func (i *instance) fromPlugin(raw []byte) {
	p := i.p
	if len(raw) > p.h.tuning.MaxStanza {
		i.reject("", "", pluginErr(p.name, fmt.Errorf("sent a stanza of %d bytes, over the limit of %d", len(raw), p.h.tuning.MaxStanza)))
		return
	}
	s, err := stanza.Parse(raw)
	if err != nil {
		i.reject("", "", pluginErr(p.name, fmt.Errorf("sent something that is not a stanza: %w", err)))
		return
	}
	if !p.owns(s.From) {
		i.reject(s.ID, s.To.String(), pluginErr(p.name, fmt.Errorf("%w: from %q, the plugin serves %q", ErrForgedFrom, s.From.String(), p.addr)))
		return
	}
	p.m.out.Inc()
	if s.Kind == stanza.IQ && (s.Type == "result" || s.Type == "error") {
		at, ok := i.takePendingAt(iqKey{s.To, s.ID})
		if !ok {
			// Nobody waits for it: it answers an iq the broker already
			// answered with a timeout or error.
			p.m.errUnsolicited.Inc()
			return
		}
		p.m.iqLatency.Observe(time.Since(at).Seconds())
	}
	p.h.deps.Router.Route(i.ctx, s)
}

// reject refuses a stanza from the plugin: counted, logged (the reason is
// one line and carries no body), and reported back to the plugin.
func (i *instance) reject(id, to string, err error) {
	i.p.m.errRejected.Inc()
	i.p.log.Warn("stanza from plugin refused", "error", err.Error())
	select {
	case i.rejects <- &pluginv1.Rejection{Id: id, To: to, Reason: err.Error()}:
	default:
	}
}

// sweepLoop answers iq requests the plugin left unanswered past IQTimeout.
func (i *instance) sweepLoop() {
	defer i.wg.Done()
	t := i.p.h.tuning.IQTimeout
	tick := time.NewTicker(max(t/8, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-i.ctx.Done():
			return
		}
		var late []*stanza.Stanza
		now := time.Now()
		i.pendMu.Lock()
		for k, pi := range i.pending {
			if now.Sub(pi.at) >= t {
				late = append(late, pi.s)
				delete(i.pending, k)
			}
		}
		i.pendMu.Unlock()
		for _, s := range late {
			i.p.m.errTimeout.Inc()
			i.p.h.deps.Router.ReplyError(i.ctx, s, stanza.Error{Condition: stanza.RemoteServerTimeout, Text: "plugin " + i.p.name + " did not answer in time"})
		}
	}
}

// healthLoop pings the plugin (go-plugin's gRPC health service); two
// failures in a row, or a process that exited, mark it dead.
func (i *instance) healthLoop() {
	defer i.wg.Done()
	t := i.p.h.tuning
	tick := time.NewTicker(t.HealthInterval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-tick.C:
		case <-i.ctx.Done():
			return
		}
		if i.proc.client.Exited() {
			i.fail(errors.New("process exited"))
			return
		}
		start := time.Now()
		res := make(chan error, 1)
		go func() { res <- i.proc.rpc.Ping() }()
		var err error
		select {
		case err = <-res:
		case <-time.After(t.CallTimeout):
			err = errors.New("health check timed out")
		case <-i.ctx.Done():
			return
		}
		i.p.m.latency("health").Observe(time.Since(start).Seconds())
		if err == nil {
			failures = 0
			continue
		}
		failures++
		if failures >= 2 {
			i.fail(fmt.Errorf("health check: %w", err))
			return
		}
	}
}

// close stops the instance's traffic: unsubscribes, answers every pending
// iq and every queued message with service-unavailable, and ends the loops.
// The process is stopped by shutdown.
func (i *instance) close(why string) {
	i.closeOnce.Do(func() {
		close(i.done)
		i.mu.Lock()
		i.closed = true
		i.mu.Unlock()
		for _, u := range i.unsub {
			u()
		}
		i.fail(errors.New(why))
		i.cancel()
		i.wg.Wait()
		r := i.p.h.deps.Router
		e := stanza.Error{Condition: stanza.ServiceUnavailable, Text: why}
	drain:
		for {
			select {
			case s := <-i.queue:
				if !s.IsIQRequest() { // iq requests are in pending
					i.p.m.errLost.Inc()
					r.ReplyError(context.Background(), s, e)
				}
			default:
				break drain
			}
		}
		i.pendMu.Lock()
		pending := i.pending
		i.pending = map[iqKey]pendingIQ{}
		i.pendMu.Unlock()
		for _, pi := range pending {
			i.p.m.errLost.Inc()
			r.ReplyError(context.Background(), pi.s, e)
		}
	})
}

// shutdown stops the process: go-plugin closes the connection and waits
// for a clean exit, then kills; ctx bounds the wait.
func (i *instance) shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		i.proc.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		_ = i.proc.runner.Kill(context.Background())
		<-done
	}
}
