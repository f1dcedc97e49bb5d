package session

import (
	"sync"
	"sync/atomic"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
)

// Conn is the stream a session writes to, implemented by c2s (TCP and
// WebSocket). Send must not block: it queues and reports false when the
// stream is closed or its queue is full (the stream then closes itself: a
// slow reader is disconnected, not allowed to grow memory).
type Conn interface {
	Send(s *stanza.Stanza) bool
	// Close ends the stream with a stream error condition (RFC 6120 §4.9.3),
	// e.g. "conflict" when another session takes over the full JID.
	Close(condition, text string)
}

// Session is one bound resource. Identity is fixed at bind; the presence
// state is guarded by mu and read by the router and the IM layer.
type Session struct {
	jid  jid.JID
	conn Conn

	mu              sync.Mutex
	available       bool // sent initial presence and not yet unavailable
	priority        int
	presence        *stanza.Stanza // last broadcast presence (available), nil if none
	rosterRequested bool
	blockRequested  bool
	carbons         bool
	directed        map[jid.JID]struct{} // where directed presence went (RFC 6121 §4.6)

	// InitialPresenceDone is used by the IM layer to run offline delivery
	// and probes only once.
	initialDone atomic.Bool
}

// New returns a session for the bound full JID j writing to c.
func New(j jid.JID, c Conn) *Session { return &Session{jid: j, conn: c} }

// JID is the session's full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Send queues a stanza for the client.
func (s *Session) Send(st *stanza.Stanza) bool { return s.conn.Send(st) }

// Close ends the session's stream with a stream error.
func (s *Session) Close(cond, text string) { s.conn.Close(cond, text) }

// Conn returns the stream the session writes to.
func (s *Session) Conn() Conn { return s.conn }

// Presence returns availability, priority and the last broadcast presence.
func (s *Session) Presence() (available bool, priority int, last *stanza.Stanza) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available, s.priority, s.presence
}

// Available reports whether the session has sent available presence.
func (s *Session) Available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available
}

// Priority returns the priority of the last available presence.
func (s *Session) Priority() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.priority
}

// SetPresence records a broadcast presence. It returns whether this was the
// session's initial presence (first available since bind or since it became
// unavailable).
func (s *Session) SetPresence(p *stanza.Stanza, available bool, priority int) (initial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	initial = available && !s.available
	s.available = available
	s.priority = priority
	if available {
		s.presence = p
	} else {
		s.presence = nil
	}
	return initial
}

// SetUnavailable records unavailable presence and reports whether the
// session was available until now (so that unavailable is broadcast once).
func (s *Session) SetUnavailable() (wasAvailable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wasAvailable = s.available
	s.available, s.priority, s.presence = false, 0, nil
	return wasAvailable
}

// MarkInitialDone reports true the first time it is called.
func (s *Session) MarkInitialDone() bool { return s.initialDone.CompareAndSwap(false, true) }

// RosterRequested reports whether the client fetched its roster (RFC 6121
// §2.1.6: such a session is "interested" and gets roster pushes).
func (s *Session) RosterRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rosterRequested
}

// SetRosterRequested marks the session interested.
func (s *Session) SetRosterRequested() {
	s.mu.Lock()
	s.rosterRequested = true
	s.mu.Unlock()
}

// BlockListRequested reports whether the client fetched its block list
// (XEP-0191 §3.2: such a session gets block and unblock pushes).
func (s *Session) BlockListRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blockRequested
}

// SetBlockListRequested marks the session as interested in block pushes.
func (s *Session) SetBlockListRequested() {
	s.mu.Lock()
	s.blockRequested = true
	s.mu.Unlock()
}

// Carbons reports whether the session enabled XEP-0280 carbons.
func (s *Session) Carbons() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.carbons
}

// SetCarbons enables or disables carbons.
func (s *Session) SetCarbons(on bool) {
	s.mu.Lock()
	s.carbons = on
	s.mu.Unlock()
}

// AddDirected records that directed presence went to j.
func (s *Session) AddDirected(j jid.JID) {
	s.mu.Lock()
	if s.directed == nil {
		s.directed = make(map[jid.JID]struct{})
	}
	s.directed[j] = struct{}{}
	s.mu.Unlock()
}

// RemoveDirected forgets j (after directed unavailable).
func (s *Session) RemoveDirected(j jid.JID) {
	s.mu.Lock()
	delete(s.directed, j)
	s.mu.Unlock()
}

// TakeDirected returns and clears the directed-presence set.
func (s *Session) TakeDirected() []jid.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jid.JID, 0, len(s.directed))
	for j := range s.directed {
		out = append(out, j)
	}
	s.directed = nil
	return out
}

// HasDirected reports whether directed presence went to j.
func (s *Session) HasDirected(j jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.directed[j]
	return ok
}
