package c2s

import (
	"context"
	"strconv"
	"sync"

	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

func contextBackground() context.Context { return context.Background() }

// smRegistry finds resumable sessions by their XEP-0198 id.
type smRegistry struct {
	srv *Server
	mu  sync.Mutex
	m   map[string]*outbound
}

func newSMRegistry(s *Server) *smRegistry { return &smRegistry{srv: s, m: map[string]*outbound{}} }

func (r *smRegistry) add(id string, o *outbound) {
	r.mu.Lock()
	r.m[id] = o
	r.mu.Unlock()
}

func (r *smRegistry) get(id string) *outbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func (r *smRegistry) remove(id string) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// closeAll ends detached sessions at shutdown, so their stanzas are
// re-routed (to offline storage) instead of lost.
func (r *smRegistry) closeAll() {
	r.mu.Lock()
	all := make([]*outbound, 0, len(r.m))
	for _, o := range r.m {
		all = append(all, o)
	}
	r.mu.Unlock()
	for _, o := range all {
		o.expire()
	}
}

// smFrame handles XEP-0198 elements on a bound stream.
func (c *conn) smFrame(f *xml.Frame) bool {
	o := c.out
	switch f.Name.Local {
	case "enable":
		o.mu.Lock()
		if o.sm {
			o.mu.Unlock()
			o.SendRaw([]byte("<failed xmlns='" + stanza.NSSM + "'><unexpected-request xmlns='" + stanza.NSStanzas + "'/></failed>"))
			return true
		}
		o.sm = true
		for i := range o.queue {
			o.queue[i].uncounted = true
		}
		resume := false
		if v, ok := f.Attr("resume"); ok && (string(v) == "true" || string(v) == "1") && c.srv.cfg.ResumeTimeout > 0 {
			resume = true
			o.resumable = true
			o.smID = newID()
		}
		id := o.smID
		o.mu.Unlock()
		b := "<enabled xmlns='" + stanza.NSSM + "'"
		if resume {
			c.srv.sm.add(id, o)
			b += " id='" + id + "' resume='true' max='" + strconv.Itoa(int(c.srv.cfg.ResumeTimeout.Seconds())) + "'"
		}
		o.SendRaw([]byte(b + "/>"))
	case "r":
		if o.smEnabled() {
			o.SendRaw(o.ackElem())
		}
	case "a":
		v, _ := f.Attr("h")
		h, err := strconv.ParseUint(string(v), 10, 32)
		if err != nil || !o.smEnabled() {
			c.closeStream("undefined-condition", "invalid <a/>")
			return false
		}
		if !o.ack(uint32(h)) {
			// XEP-0198 §4: acknowledging more than was sent is an error.
			c.closeStream("undefined-condition", "<a/> acknowledges stanzas that were never sent")
			return false
		}
	case "resume":
		o.SendRaw([]byte("<failed xmlns='" + stanza.NSSM + "'><unexpected-request xmlns='" + stanza.NSStanzas + "'/></failed>"))
	default:
		c.closeStream("unsupported-stanza-type", "")
		return false
	}
	return true
}

func (o *outbound) smEnabled() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sm
}

// resume takes over a detached (or not yet detected dead) session.
func (c *conn) resume(f *xml.Frame) bool {
	prev, _ := f.Attr("previd")
	hv, _ := f.Attr("h")
	h, herr := strconv.ParseUint(string(hv), 10, 32)
	o := c.srv.sm.get(string(prev))
	fail := func(cond string) bool {
		c.writeSync([]byte("<failed xmlns='" + stanza.NSSM + "'><" + cond + " xmlns='" + stanza.NSStanzas + "'/></failed>"))
		return true
	}
	if herr != nil {
		return fail("bad-request")
	}
	if o == nil || o.sess.JID().Bare() != c.user {
		return fail("item-not-found")
	}
	o.mu.Lock()
	if o.ended {
		o.mu.Unlock()
		return fail("item-not-found")
	}
	n := uint32(h) - o.acked
	if n > uint32(len(o.unacked)) {
		o.mu.Unlock()
		return fail("unexpected-request")
	}
	clear(o.unacked[:n])
	o.unacked = o.unacked[n:]
	o.acked = uint32(h)
	old := o.c
	o.c = c
	o.final = false
	o.askedAck = false
	if o.detach != nil {
		o.detach.Stop()
		o.detach = nil
	}
	// Resumed marker first, then what the client never acknowledged, then
	// whatever queued meanwhile.
	q := make([]item, 0, 1+len(o.unacked)+len(o.queue))
	q = append(q, item{raw: []byte("<resumed xmlns='" + stanza.NSSM + "' previd='" + string(prev) + "' h='" + strconv.FormatUint(uint64(o.hIn), 10) + "'/>")})
	for _, st := range o.unacked {
		q = append(q, item{st: st, resend: true})
	}
	q = append(q, o.queue...)
	o.queue = q
	o.queued = 0
	for _, it := range q {
		o.queued += len(it.bytes())
	}
	o.mu.Unlock()
	if old != nil {
		// The old transport is dead but not yet noticed: drop it quietly.
		old.kill()
	}
	c.stateMu.Lock()
	c.sess, c.out = o.sess, o
	c.stateMu.Unlock()
	c.boundFlag.Store(true)
	c.timer.Reset(c.srv.cfg.PingInterval)
	o.mu.Lock()
	o.kick()
	o.mu.Unlock()
	return true
}
