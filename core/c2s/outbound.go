package c2s

import (
	"strconv"
	"sync"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// item is one queued write: a stanza (counted by stream management) or raw
// stream-level bytes (a nonza, not counted).
type item struct {
	st     *stanza.Stanza
	raw    []byte
	resend bool // retransmission after resumption: already counted
	// uncounted: queued before stream management was enabled, so the
	// client does not count it (XEP-0198 §4: counting starts at <enabled/>).
	uncounted bool
}

func (it item) bytes() []byte {
	if it.st != nil {
		return it.st.Raw
	}
	return it.raw
}

// outbound is a session's write side (session.Conn). It outlives the
// transport while a stream-management session waits to be resumed; then
// Send keeps queueing and nothing is written until a new transport attaches.
type outbound struct {
	srv  *Server
	sess *session.Session

	mu       sync.Mutex
	c        *conn // attached transport, nil while detached
	queue    []item
	spare    []item
	queued   int   // bytes in queue
	flushFor *conn // transport a flusher goroutine is running for
	ended    bool  // the session is over: Send refuses
	final    bool  // the stream was closed on purpose: no resumption
	closing  []byte
	closeFor *conn
	// closeDone is closed when the final bytes for closeFor were written
	// or can no longer be, so that the read loop waits for them before it
	// closes the transport.
	closeDone chan struct{}

	// XEP-0198
	sm        bool
	resumable bool
	smID      string
	hIn       uint32 // stanzas received from the client
	outCount  uint32 // stanzas written to the client
	acked     uint32 // last h acknowledged by the client
	unacked   []*stanza.Stanza
	askedAck  bool
	detach    *time.Timer
}

var _ session.Conn = (*outbound)(nil)

func newOutbound(s *Server, c *conn) *outbound { return &outbound{srv: s, c: c} }

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// Send queues a stanza. It never blocks; false means the session is gone
// or its queue overflowed (the transport is then cut: a slow reader must
// not make the server buffer without bound).
func (o *outbound) Send(st *stanza.Stanza) bool {
	o.mu.Lock()
	if o.ended {
		o.mu.Unlock()
		return false
	}
	limit := o.srv.cfg.OutQueue
	if o.queued+len(st.Raw) > limit || (o.c == nil && len(o.queue) >= o.srv.cfg.SMMaxUnacked) {
		c, queued := o.c, o.queued
		o.mu.Unlock()
		if c != nil {
			o.srv.log.Info("disconnecting slow reader", "jid", o.sess.JID(), "queued_bytes", queued)
			c.kill()
		} else {
			o.expire()
		}
		return false
	}
	o.queue = append(o.queue, item{st: st})
	o.queued += len(st.Raw)
	o.kick()
	o.mu.Unlock()
	return true
}

// SendRaw queues stream-level bytes (not counted by stream management).
func (o *outbound) SendRaw(b []byte) {
	o.mu.Lock()
	if !o.ended {
		o.queue = append(o.queue, item{raw: b})
		o.queued += len(b)
		o.kick()
	}
	o.mu.Unlock()
}

// kick starts the flusher if needed; o.mu held. A flusher goroutine exists
// only while there is something to write, so idle sessions cost no stack.
func (o *outbound) kick() {
	if o.c != nil && o.flushFor != o.c {
		o.flushFor = o.c
		go o.flush(o.c)
	}
}

func (o *outbound) flush(c *conn) {
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	for {
		o.mu.Lock()
		if o.c != c {
			// Resumed on another transport, which has its own flusher.
			o.mu.Unlock()
			return
		}
		if len(o.queue) == 0 {
			o.flushFor = nil
			if o.closing != nil && o.closeFor == c {
				final := o.closing
				o.closing = nil
				done := o.closeDone
				o.mu.Unlock()
				c.writeSync(final)
				c.kill()
				close(done)
				return
			}
			o.mu.Unlock()
			return
		}
		batch := o.queue
		o.queue = o.spare[:0]
		o.spare = nil
		o.queued = 0
		// With stream management the batch counts as sent before it is
		// written: the client may acknowledge it before this goroutine runs
		// again, and an <a/> for stanzas not yet counted would look like a
		// protocol violation. If the write fails they stay unacknowledged,
		// to be re-sent on resumption or handed back when the session ends.
		sm := o.sm
		if sm {
			for _, it := range batch {
				if it.st != nil && !it.resend && !it.uncounted {
					o.outCount++
					o.unacked = append(o.unacked, it.st)
				}
			}
		}
		askAck := false
		if sm && !o.askedAck && len(o.unacked) >= 5 {
			o.askedAck, askAck = true, true
		}
		o.mu.Unlock()

		err := o.write(c, batch, bp, askAck)

		o.mu.Lock()
		if err != nil {
			// Keep what stream management does not track: re-routed when
			// the session ends.
			rest := make([]item, 0, len(batch)+len(o.queue))
			for _, it := range batch {
				if it.st != nil && !it.resend && (!sm || it.uncounted) {
					rest = append(rest, it)
				}
			}
			o.queue = append(rest, o.queue...)
			o.queued = 0
			for _, it := range o.queue {
				o.queued += len(it.bytes())
			}
			if o.flushFor == c {
				o.flushFor = nil
			}
			if o.closing != nil && o.closeFor == c {
				o.closing = nil
				close(o.closeDone)
			}
			o.mu.Unlock()
			c.kill()
			return
		}
		clear(batch)
		o.spare = batch[:0]
		o.mu.Unlock()
	}
}

func (o *outbound) write(c *conn, batch []item, bp *[]byte, askAck bool) error {
	c.wl.Lock()
	defer c.wl.Unlock()
	if c.closed.Load() {
		return errClosed
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if c.ws {
		// RFC 7395: one element per WebSocket message, each stanza with
		// its namespace declared.
		for _, it := range batch {
			b := it.bytes()
			if it.st != nil {
				b = xml.EnsureNamespace((*bp)[:0], b, stanza.NSClient)
				*bp = b
			}
			if _, err := c.nc.Write(b); err != nil {
				return err
			}
		}
		if askAck {
			_, err := c.nc.Write([]byte(smR))
			return err
		}
		return nil
	}
	buf := (*bp)[:0]
	for _, it := range batch {
		buf = append(buf, it.bytes()...)
	}
	if askAck {
		buf = append(buf, smR...)
	}
	*bp = buf
	_, err := c.nc.Write(buf)
	if cap(buf) > 256<<10 {
		*bp = make([]byte, 0, 8192)
	}
	return err
}

type errString string

func (e errString) Error() string { return string(e) }

const errClosed = errString("c2s: connection closed")

const smR = "<r xmlns='" + stanza.NSSM + "'/>"

// Close implements session.Conn: another session took over, or the server
// is closing the stream.
func (o *outbound) Close(cond, text string) {
	o.mu.Lock()
	o.final = true
	c := o.c
	o.mu.Unlock()
	if c != nil {
		c.closeStream(cond, text)
		return
	}
	o.expire()
}

func (o *outbound) attachedTo(c *conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.c == c
}

// closeWith queues the final bytes of a stream: written after everything
// already queued, then the transport closes. A peer that does not read gets
// cut after a grace period.
func (o *outbound) closeWith(c *conn, final []byte) {
	o.mu.Lock()
	o.final = true
	if o.c != c || o.closing != nil {
		o.mu.Unlock()
		c.kill()
		return
	}
	o.closing, o.closeFor, o.closeDone = final, c, make(chan struct{})
	if o.flushFor != c {
		o.flushFor = c
		go o.flush(c)
	}
	o.mu.Unlock()
	time.AfterFunc(closeGrace, c.kill)
}

// closeGrace is how long a peer that does not read gets to take the final
// bytes of its stream.
const closeGrace = 5 * time.Second

// awaitClose waits until the final bytes queued by closeWith for c are
// written (or the grace period is over): the read loop ends right after
// it asks for a stream error, and closing the transport then would lose it.
func (o *outbound) awaitClose(c *conn) {
	o.mu.Lock()
	done := o.closeDone
	pending := o.closeFor == c && done != nil
	o.mu.Unlock()
	if !pending {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// transportGone runs when c's read loop ends: resume later, or end now.
func (o *outbound) transportGone(c *conn) {
	o.mu.Lock()
	if o.c != c {
		o.mu.Unlock()
		return
	}
	o.c = nil
	if o.resumable && !o.final && !o.srv.closing.Load() && o.srv.cfg.ResumeTimeout > 0 {
		o.detach = time.AfterFunc(o.srv.cfg.ResumeTimeout, o.expire)
		o.mu.Unlock()
		o.srv.log.Debug("session detached, waiting for resumption", "jid", o.sess.JID())
		return
	}
	o.mu.Unlock()
	o.expire()
}

// expire ends the session: it leaves the table and everything not
// acknowledged is handed back for re-routing.
func (o *outbound) expire() {
	o.mu.Lock()
	if o.ended || o.c != nil {
		// Already over, or resumed in the meantime.
		o.mu.Unlock()
		return
	}
	o.ended = true
	if o.detach != nil {
		o.detach.Stop()
	}
	left := make([]*stanza.Stanza, 0, len(o.unacked)+len(o.queue))
	left = append(left, o.unacked...)
	for _, it := range o.queue {
		if it.st != nil && !it.resend {
			left = append(left, it.st)
		}
	}
	o.unacked, o.queue = nil, nil
	id := o.smID
	o.mu.Unlock()
	if id != "" {
		o.srv.sm.remove(id)
	}
	o.srv.endSession(o.sess, left)
}

// ack processes <a h='n'/>.
func (o *outbound) ack(h uint32) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := h - o.acked // wraps correctly at 2^32 (XEP-0198 §5)
	if n > uint32(len(o.unacked)) {
		return false
	}
	clear(o.unacked[:n])
	o.unacked = o.unacked[n:]
	o.acked = h
	o.askedAck = false
	return true
}

func (o *outbound) countIn() {
	o.mu.Lock()
	if o.sm {
		o.hIn++
	}
	o.mu.Unlock()
}

func (o *outbound) ackElem() []byte {
	o.mu.Lock()
	h := o.hIn
	o.mu.Unlock()
	return []byte("<a xmlns='" + stanza.NSSM + "' h='" + strconv.FormatUint(uint64(h), 10) + "'/>")
}

// endSession removes a session and hands what it never delivered to the
// IM layer (or, without one, routes messages again).
func (s *Server) endSession(sess *session.Session, left []*stanza.Stanza) {
	s.cfg.Router.Sessions().Remove(sess)
	ctx := contextBackground()
	if ev := s.cfg.Events; ev != nil {
		ev.Publish(ctx, event.SessionOffline{JID: sess.JID()})
	}
	if lc := s.cfg.Lifecycle; lc != nil {
		lc.SessionEnded(ctx, sess, left)
		return
	}
	for _, st := range left {
		if st.Kind == stanza.Message {
			s.cfg.Router.Route(ctx, st)
		}
	}
}
