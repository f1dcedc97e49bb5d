package main

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/extasis/extasis/plugins/registry/store"
	"github.com/extasis/extasis/sdk/plugin"
)

// notifyWait bounds how long a thing has to acknowledge a notification.
const notifyWait = 15 * time.Second

func (r *registry) lock(jid string) *sync.Mutex {
	return &r.locks[maphash.String(r.seed, jid)%uint64(len(r.locks))]
}

func (r *registry) markPending(jid string) {
	r.mu.Lock()
	r.pending[jid] = true
	r.mu.Unlock()
}

func (r *registry) isPending(jid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[jid]
}

// startup delivers what a previous run left in the outbox, once, as soon
// as there is a connection to the broker to deliver it through: from
// Plugin.Started, or from the first handler if that runs first.
func (r *registry) startup(b plugin.Broker) {
	r.flushed.Do(func() {
		go r.logIndex(b)
		go func() {
			ctx := context.Background()
			r.publish(ctx, b)
			jids, err := r.st.PendingJIDs(ctx)
			if err != nil {
				b.Log().Warn("registry: outbox not read", "error", err.Error())
				return
			}
			for _, j := range jids {
				r.flush(ctx, b, j)
			}
		}()
	})
}

// logIndex reports when the search index has been loaded (searches
// wait for it), and every minute until then.
func (r *registry) logIndex(b plugin.Broker) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st, err := r.st.WaitIndex(ctx)
		cancel()
		if err == nil {
			b.Log().Info("registry: search index loaded", "things", st.Things, "tags", st.Tags, "values", st.Values, "took", st.Load.Round(time.Millisecond).String())
			return
		}
		b.Log().Warn("registry: search index still loading", "error", err.Error())
	}
}

// afterChange publishes queued events and, for thing jid (if any),
// delivers its notifications, in the background: the request's answer
// does not wait for the thing.
func (r *registry) afterChange(b plugin.Broker, jid string) {
	go func() {
		ctx := context.Background()
		r.publish(ctx, b)
		if jid != "" {
			r.flush(ctx, b, jid)
		}
	}()
}

// publish emits queued events in order; a failure leaves the rest queued
// for the next change or restart.
func (r *registry) publish(ctx context.Context, b plugin.Broker) {
	// One publisher at a time, or two changes would both publish the
	// events queued before either marked them.
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	evs, err := r.st.Events(ctx)
	if err != nil {
		b.Log().Warn("registry: events not read", "error", err.Error())
		return
	}
	for _, e := range evs {
		if err := b.Publish(ctx, e.Name, e.Attrs); err != nil {
			b.Log().Warn("registry: event not published", "event", e.Name, "error", err.Error())
			return
		}
		if err := r.st.Published(ctx, e.ID); err != nil {
			b.Log().Warn("registry: event not marked published", "error", err.Error())
			return
		}
	}
}

// seen records a thing's full JID so that notifications and disown can
// reach it later.
func (r *registry) seen(ctx context.Context, b plugin.Broker, full string) {
	if bare(full) == full {
		return
	}
	if err := r.st.Seen(ctx, full, bare(full)); err != nil {
		b.Log().Warn("registry: session not recorded", "error", err.Error())
	}
}

// online returns the full JIDs of jid that have a session now, most
// recently seen first, forgetting the stale ones.
func (r *registry) online(ctx context.Context, b plugin.Broker, jid string) []string {
	res, err := r.st.Resources(ctx, jid)
	if err != nil {
		b.Log().Warn("registry: sessions not read", "error", err.Error())
		return nil
	}
	var out []string
	for _, full := range res {
		on, _, err := b.Online(ctx, full)
		if err != nil {
			return out
		}
		if on {
			out = append(out, full)
		} else if err := r.st.Gone(ctx, full); err != nil {
			b.Log().Warn("registry: session not forgotten", "error", err.Error())
		}
	}
	return out
}

// flush delivers jid's queued notifications, oldest first, to one of its
// online resources. A result deletes a notification; an error reply counts
// an attempt (dropped after notify_attempts); no answer or no session
// leaves the rest for the thing's next session.
func (r *registry) flush(ctx context.Context, b plugin.Broker, jid string) {
	l := r.lock(jid)
	l.Lock()
	defer l.Unlock()
	pend, err := r.st.Pending(ctx, jid)
	if err != nil {
		b.Log().Warn("registry: outbox not read", "error", err.Error())
		return
	}
	if len(pend) == 0 {
		r.mu.Lock()
		delete(r.pending, jid)
		r.mu.Unlock()
		return
	}
	targets := r.online(ctx, b, jid)
	if len(targets) == 0 {
		return
	}
	to := targets[0]
	for _, n := range pend {
		wctx, cancel := context.WithTimeout(ctx, notifyWait)
		reply, err := b.SendIQ(wctx, plugin.NewStanza(plugin.KindIQ, r.address, to, "set", newID(), notification(n)))
		cancel()
		if err != nil {
			return // no answer: try again on its next session
		}
		if reply.Type == "result" {
			if err := r.st.Delivered(ctx, n.ID); err != nil {
				b.Log().Warn("registry: delivery not recorded", "error", err.Error())
				return
			}
			continue
		}
		dropped, err := r.st.Failed(ctx, n.ID, r.cfg.NotifyAttempts)
		if err != nil {
			return
		}
		if dropped {
			b.Log().Warn("registry: notification dropped after repeated errors", "thing", jid, "kind", n.Kind)
		}
	}
	if rest, err := r.st.Pending(ctx, jid); err == nil && len(rest) == 0 {
		r.mu.Lock()
		delete(r.pending, jid)
		r.mu.Unlock()
	}
}

// notification is the iq payload for a queued notification, in the
// namespace the thing last used: claimed always carries public.
func notification(n store.Notification) []byte {
	ns := n.NS
	if ns == "" {
		ns = nsNF
	}
	if n.Kind == store.NotifyClaimed {
		return claimedElem(ns, n.Owner, n.Node, n.Public, true)
	}
	var o out
	o.empty(n.Kind, ns, nodeAttrs(n.Node, ns)...)
	return o.Bytes()
}

// HandleEvent tracks things' sessions, delivers their queued
// notifications when they come online, and releases an owner's things
// when the owner's account is deleted.
func (r *registry) HandleEvent(ctx context.Context, b plugin.Broker, e plugin.Event) {
	r.startup(b)
	switch e := e.(type) {
	case plugin.SessionOnline:
		r.seen(ctx, b, e.JID)
		if r.isPending(bare(e.JID)) {
			go r.flush(context.Background(), b, bare(e.JID))
		}
	case plugin.PresenceChanged:
		// A thing that answered an early notification with an error
		// (handlers not ready right after binding) is served again once
		// it announces itself.
		// It also covers a session the registry did not see start (the
		// broker accepted it before the plugin was up).
		if e.Available && r.isPending(bare(e.JID)) {
			r.seen(ctx, b, e.JID)
			go r.flush(context.Background(), b, bare(e.JID))
		}
	case plugin.SessionOffline:
		if err := r.st.Gone(ctx, e.JID); err != nil {
			b.Log().Warn("registry: session not forgotten", "error", err.Error())
		}
	case plugin.AccountDeleted:
		released, err := r.st.ReleaseOwner(ctx, e.JID)
		if err != nil {
			b.Log().Warn("registry: owner's things not released", "error", err.Error())
		}
		n, err := r.st.DeleteJID(ctx, e.JID)
		if err != nil {
			b.Log().Warn("registry: deleted account's records kept", "error", err.Error())
		}
		for _, t := range released {
			r.markPending(t.JID)
			r.afterChange(b, t.JID)
		}
		if n > 0 && len(released) == 0 {
			r.afterChange(b, "")
		}
	}
}

// limiter is a token bucket per key: rate events per period, refilled
// continuously. Its map is bounded: when full, buckets that are full
// again (idle keys) are dropped.
type limiter struct {
	rate   float64
	per    time.Duration
	mu     sync.Mutex
	bucket map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxBuckets = 100000

func newLimiter(rate int, per time.Duration) *limiter {
	return &limiter{rate: float64(rate), per: per, bucket: map[string]*bucket{}}
}

func (l *limiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket[key]
	if b == nil {
		if len(l.bucket) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.rate, at: now}
		l.bucket[key] = b
	}
	b.tokens = min(l.rate, b.tokens+l.rate*now.Sub(b.at).Seconds()/l.per.Seconds())
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) prune(now time.Time) {
	for k, b := range l.bucket {
		if b.tokens+l.rate*now.Sub(b.at).Seconds()/l.per.Seconds() >= l.rate {
			delete(l.bucket, k)
		}
	}
}
