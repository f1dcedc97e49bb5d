package host

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
	"github.com/extasis/extasis/sdk/plugin"
)

// managed is one catalog entry over its lifetime: it stays registered with
// the router across restarts and forwards to the current instance.
type managed struct {
	h       *Host
	name    string
	bin     string
	sum     string
	limit   int64
	dataDir string
	storage string
	config  []byte
	log     *slog.Logger
	m       *pluginMetrics

	addr       string // fixed at the first start
	started    bool   // set after the first start; only supervise reads it then
	unregister func()
	cur        atomic.Pointer[instance] // nil while down

	mu       sync.Mutex // guards the status fields
	state    string
	restarts int
	lastErr  string
	info     plugin.Info
	pid      int

	waitMu  sync.Mutex // guards waiters
	waiters map[iqKey]chan *stanza.Stanza
}

// iqKey identifies an iq exchange from the side of the one who asked: the
// peer asked (or was asked) and the id.
type iqKey struct {
	peer jid.JID
	id   string
}

func (p *managed) setState(state, lastErr string, pid int) {
	p.mu.Lock()
	p.state = state
	if lastErr != "" {
		p.lastErr = lastErr
	}
	p.pid = pid
	p.mu.Unlock()
}

func (p *managed) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state
	if st == "" {
		st = "stopped"
	}
	return Status{
		Name: p.name, Address: p.addr, Binary: p.bin, SHA256: p.sum, State: st, PID: p.pid,
		Restarts: p.restarts, LastError: p.lastErr, Info: p.info,
	}
}

// start launches the first instance and registers the address.
func (p *managed) start(ctx context.Context) error {
	p.setState("starting", "", 0)
	if err := ensureDir(p.dataDir); err != nil {
		return pluginErr(p.name, fmt.Errorf("%w: data directory: %w", ErrStart, err))
	}
	inst, err := p.launch(ctx)
	if err != nil {
		p.setState("stopped", err.Error(), 0)
		return err
	}
	if p.addr != "" {
		unreg, err := p.h.deps.Router.RegisterComponent(p.addr, p)
		if err != nil {
			p.retire(inst, "address refused")
			inst.shutdown(ctx)
			p.setState("stopped", err.Error(), 0)
			return pluginErr(p.name, fmt.Errorf("%w: %s: %w", ErrAddressTaken, p.addr, err))
		}
		p.unregister = unreg
	}
	p.started = true
	p.cur.Store(inst)
	p.m.up.Set(1)
	p.setState("running", "", inst.pid)
	p.log.Info("plugin started", "address", p.addr, "pid", inst.pid, "version", inst.info.Version)
	return nil
}

// supervise restarts the plugin whenever its instance dies, with
// exponential backoff, until ctx ends.
func (p *managed) supervise(ctx context.Context) {
	t := p.h.tuning
	backoff := t.BackoffMin
	inst := p.cur.Load()
	for {
		select {
		case <-inst.dead:
		case <-ctx.Done():
			return
		}
		if time.Since(inst.started) >= t.StableAfter {
			backoff = t.BackoffMin
		}
		reason := inst.deadReason()
		p.log.Error("plugin stopped; restarting", "error", reason, "in", backoff)
		p.retire(inst, "plugin "+p.name+" stopped")
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		inst.shutdown(sctx)
		cancel()
		p.setState("restarting", reason, 0)
		for {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, t.BackoffMax)
			n, err := p.launch(ctx)
			if err != nil {
				p.log.Error("plugin restart failed", "error", err, "next in", backoff)
				p.setState("restarting", err.Error(), 0)
				continue
			}
			inst = n
			break
		}
		p.cur.Store(inst)
		p.m.restarts.Inc()
		p.m.up.Set(1)
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
		p.setState("running", "", inst.pid)
		p.log.Info("plugin restarted", "pid", inst.pid)
	}
}

// stop unregisters the address and stops the current instance.
func (p *managed) stop(ctx context.Context) {
	if p.unregister != nil {
		p.unregister()
		p.unregister = nil
	}
	if inst := p.cur.Load(); inst != nil {
		p.retire(inst, "plugin "+p.name+" is stopping")
		inst.shutdown(ctx)
	}
	p.setState("stopped", "", 0)
}

// retire takes an instance out of service: new stanzas get
// service-unavailable, the in-flight ones get errors, subscriptions go.
func (p *managed) retire(inst *instance, why string) {
	p.cur.CompareAndSwap(inst, nil)
	p.m.up.Set(0)
	inst.close(why)
}

// HandleStanza receives every stanza the router sends to the plugin's
// address.
func (p *managed) HandleStanza(ctx context.Context, s *stanza.Stanza) {
	p.m.in.Inc()
	if s.Kind == stanza.IQ && (s.Type == "result" || s.Type == "error") && p.answerWaiter(s) {
		return
	}
	if s.Kind == stanza.IQ && s.Type == "get" && s.To.IsDomain() &&
		s.Payload.Space == stanza.NSDiscoInfo && s.Payload.Local == "query" && p.discoInfo(ctx, s) {
		return
	}
	inst := p.cur.Load()
	if inst == nil {
		p.unavailable(ctx, s, "plugin "+p.name+" is restarting")
		return
	}
	inst.deliver(ctx, s)
}

// unavailable answers a stanza that cannot reach the plugin: iq and message
// get service-unavailable; presence is counted and dropped, as RFC 6121
// does for unavailable recipients.
func (p *managed) unavailable(ctx context.Context, s *stanza.Stanza, text string) {
	p.m.errUnavailable.Inc()
	if s.Kind == stanza.Presence {
		return
	}
	p.h.deps.Router.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable, Text: text})
}

// discoInfo answers disco#info on the plugin's own address from its Info
// (XEP-0030), so that disco works even while the plugin restarts. Queries
// with a node go to the plugin.
func (p *managed) discoInfo(ctx context.Context, s *stanza.Stanza) bool {
	el, err := s.Element()
	if err != nil {
		return false
	}
	q := el.Child(stanza.NSDiscoInfo, "query")
	if q == nil || q.Attr("node") != "" {
		return false
	}
	p.mu.Lock()
	info := p.info
	p.mu.Unlock()
	b := []byte("<query xmlns='" + stanza.NSDiscoInfo + "'>")
	ids := info.Identities
	if len(ids) == 0 {
		ids = []plugin.Identity{{Category: "component", Type: "generic", Name: info.Name}}
	}
	for _, id := range ids {
		b = append(b, "<identity category='"...)
		b = xml.EscapeAttr(b, id.Category)
		b = append(b, "' type='"...)
		b = xml.EscapeAttr(b, id.Type)
		if id.Name != "" {
			b = append(b, "' name='"...)
			b = xml.EscapeAttr(b, id.Name)
		}
		b = append(b, "'/>"...)
	}
	seen := map[string]bool{}
	for _, f := range append([]string{stanza.NSDiscoInfo}, info.Features...) {
		if seen[f] {
			continue
		}
		seen[f] = true
		b = append(b, "<feature var='"...)
		b = xml.EscapeAttr(b, f)
		b = append(b, "'/>"...)
	}
	b = append(b, "</query>"...)
	p.m.out.Inc()
	p.h.deps.Router.Route(ctx, s.Result(b))
	return true
}

// owns reports whether the plugin may send from j.
func (p *managed) owns(j jid.JID) bool {
	return p.addr != "" && !j.IsZero() && j.Domain() == p.addr
}

// addWaiter registers a Host API SendIQ waiting for its response.
func (p *managed) addWaiter(k iqKey) (chan *stanza.Stanza, bool) {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if p.waiters == nil {
		p.waiters = map[iqKey]chan *stanza.Stanza{}
	}
	if _, dup := p.waiters[k]; dup {
		return nil, false
	}
	ch := make(chan *stanza.Stanza, 1)
	p.waiters[k] = ch
	return ch, true
}

func (p *managed) dropWaiter(k iqKey) {
	p.waitMu.Lock()
	delete(p.waiters, k)
	p.waitMu.Unlock()
}

func (p *managed) answerWaiter(s *stanza.Stanza) bool {
	k := iqKey{s.From, s.ID}
	p.waitMu.Lock()
	ch, ok := p.waiters[k]
	delete(p.waiters, k)
	p.waitMu.Unlock()
	if ok {
		ch <- s
	}
	return ok
}
