package event

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/extasis/extasis/core/jid"
)

// Event names published by the core.
const (
	NameSessionOnline   = "session.online"
	NameSessionOffline  = "session.offline"
	NameAccountCreated  = "account.created"
	NameAccountDeleted  = "account.deleted"
	NamePresenceChanged = "presence.changed"
	// NameThingClaimed is published by the registry plugin when an owner
	// claims a thing; Custom.Attrs holds "thing", "owner" and, for a node
	// behind a concentrator, "node", "source", "partition".
	NameThingClaimed = "thing.claimed"
	// NameThingDisowned is published by the registry when an owner
	// disowns a thing; Attrs as for NameThingClaimed.
	NameThingDisowned = "thing.disowned"
)

// Event is anything published on the bus.
type Event interface{ EventName() string }

// SessionOnline: a resource bound (JID is the full JID).
type SessionOnline struct{ JID jid.JID }

// SessionOffline: a session ended for any reason (JID is the full JID).
type SessionOffline struct{ JID jid.JID }

// AccountCreated: an account was created (JID is bare).
type AccountCreated struct{ JID jid.JID }

// AccountDeleted: an account was deleted (JID is bare).
type AccountDeleted struct{ JID jid.JID }

// PresenceChanged: a resource sent broadcast presence. It carries no status
// text: presence text is user content and stays out of events.
type PresenceChanged struct {
	JID       jid.JID
	Available bool
	Show      string
	Priority  int
}

// Custom is an event published by a plugin or a component. Source is the
// publisher (a plugin name); Attrs are string key/values, documented with
// the event's name.
type Custom struct {
	Name   string
	Source string
	Attrs  map[string]string
}

func (SessionOnline) EventName() string   { return NameSessionOnline }
func (SessionOffline) EventName() string  { return NameSessionOffline }
func (AccountCreated) EventName() string  { return NameAccountCreated }
func (AccountDeleted) EventName() string  { return NameAccountDeleted }
func (PresenceChanged) EventName() string { return NamePresenceChanged }
func (c Custom) EventName() string        { return c.Name }

// Handler receives events it subscribed to.
type Handler func(ctx context.Context, e Event)

type sub struct{ h Handler }

// Bus dispatches events to subscribers. The zero value is not usable; use New.
type Bus struct {
	mu   sync.Mutex
	subs atomic.Pointer[map[string][]*sub] // copy-on-write: Publish never locks
}

// New returns an empty bus.
func New() *Bus {
	b := &Bus{}
	m := map[string][]*sub{}
	b.subs.Store(&m)
	return b
}

// Subscribe registers h for events named name and returns the function that
// removes it. Calling cancel twice is harmless.
func (b *Bus) Subscribe(name string, h Handler) (cancel func()) {
	s := &sub{h: h}
	b.mu.Lock()
	old := *b.subs.Load()
	m := make(map[string][]*sub, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = append(append([]*sub(nil), old[name]...), s)
	b.subs.Store(&m)
	b.mu.Unlock()
	return func() { b.remove(name, s) }
}

func (b *Bus) remove(name string, s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.subs.Load()
	list := old[name]
	i := 0
	for i < len(list) && list[i] != s {
		i++
	}
	if i == len(list) {
		return
	}
	m := make(map[string][]*sub, len(old))
	for k, v := range old {
		m[k] = v
	}
	nl := append(append([]*sub(nil), list[:i]...), list[i+1:]...)
	if len(nl) == 0 {
		delete(m, name)
	} else {
		m[name] = nl
	}
	b.subs.Store(&m)
}

// Publish calls every handler subscribed to e's name, in subscription order.
func (b *Bus) Publish(ctx context.Context, e Event) {
	list := (*b.subs.Load())[e.EventName()]
	for _, s := range list {
		s.h(ctx, e)
	}
}

// HasSubscribers reports whether anyone listens to name, so publishers can
// skip building costly events.
func (b *Bus) HasSubscribers(name string) bool {
	return len((*b.subs.Load())[name]) > 0
}
