package im

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// account is the in-memory state of an account with at least one bound
// session: its roster and block list, loaded once at bind and kept in step
// with storage by every change (made under the owner's lock).
type account struct {
	bare jid.JID
	refs int // bound sessions; guarded by the shard's mutex

	mu      sync.RWMutex
	loaded  bool
	items   map[jid.JID]storage.RosterItem
	ver     int64
	blocked []jid.JID        // as the user sent them
	bset    map[jid.JID]bool // the same, for exact lookups
	// blockWide is set when an item blocks more than one exact JID (a
	// domain or a bare JID), so a lookup has to try those forms too.
	blockWide bool
	// fanout is the contacts that receive broadcast presence (subscription
	// from or both, not blocked), rebuilt when nil.
	fanout []jid.JID
	// probes is the contacts whose presence the user receives (to or
	// both), rebuilt when nil.
	probes []jid.JID

	// flushMu serialises offline delivery, so that two flushes never send
	// the same stored message twice.
	flushMu sync.Mutex
}

type accountShard struct {
	mu sync.RWMutex
	m  map[jid.JID]*account
}

func (s *Service) shard(bare jid.JID) *accountShard {
	return &s.shards[maphash.String(s.seed, bare.String())%accountShards]
}

// acquire returns the account of bare, creating it, and counts one more
// session on it.
func (s *Service) acquire(bare jid.JID) *account {
	sh := s.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a := sh.m[bare]
	if a == nil {
		a = &account{bare: bare}
		sh.m[bare] = a
	}
	a.refs++
	return a
}

// release counts one session less and forgets the account after its last.
func (s *Service) release(bare jid.JID) {
	sh := s.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a := sh.m[bare]
	if a == nil {
		return
	}
	if a.refs--; a.refs <= 0 {
		delete(sh.m, bare)
	}
}

// cached returns the in-memory account of bare, or nil when it has no
// session.
func (s *Service) cached(bare jid.JID) *account {
	sh := s.shard(bare)
	sh.mu.RLock()
	a := sh.m[bare]
	sh.mu.RUnlock()
	return a
}

// load reads the roster and block list of a, unless already loaded.
func (s *Service) load(ctx context.Context, a *account) error {
	a.mu.RLock()
	done := a.loaded
	a.mu.RUnlock()
	if done {
		return nil
	}
	l := s.lock(a.bare)
	defer l.Unlock()
	a.mu.RLock()
	done = a.loaded
	a.mu.RUnlock()
	if done {
		return nil
	}
	items, ver, err := s.store.RosterItems(ctx, a.bare)
	if err != nil {
		return fmt.Errorf("im: roster of %s: %w", a.bare, err)
	}
	blocked, err := s.store.BlockList(ctx, a.bare)
	if err != nil {
		return fmt.Errorf("im: block list of %s: %w", a.bare, err)
	}
	m := make(map[jid.JID]storage.RosterItem, len(items))
	for _, it := range items {
		m[it.Contact] = it
	}
	a.mu.Lock()
	a.items, a.ver, a.loaded = m, ver, true
	a.setBlocked(blocked)
	a.fanout, a.probes = nil, nil
	a.mu.Unlock()
	return nil
}

// ready returns the loaded account of bare, or nil if it has no session.
// A failed load is retried here; its error is returned.
func (s *Service) ready(ctx context.Context, bare jid.JID) (*account, error) {
	a := s.cached(bare)
	if a == nil {
		return nil, nil
	}
	if err := s.load(ctx, a); err != nil {
		return a, err
	}
	return a, nil
}

// setBlocked replaces the block list; a.mu held.
func (a *account) setBlocked(list []jid.JID) {
	a.blocked = list
	a.bset = make(map[jid.JID]bool, len(list))
	a.blockWide = false
	for _, j := range list {
		a.bset[j] = true
		if j.IsBare() {
			a.blockWide = true
		}
	}
	a.fanout = nil
}

// blocks reports whether the account blocks j (XEP-0191 §3.1: a domain
// item matches the domain and every JID at it, a bare JID item every
// resource of it, a full JID item only itself).
func (a *account) blocks(j jid.JID) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.blocksLocked(j)
}

func (a *account) blocksLocked(j jid.JID) bool {
	if len(a.bset) == 0 || j.IsZero() {
		return false
	}
	if a.bset[j] {
		return true
	}
	if !a.blockWide {
		return false
	}
	if !j.IsBare() && a.bset[j.Bare()] {
		return true
	}
	if j.Local() != "" || !j.IsBare() {
		d := j.DomainJID()
		if a.bset[d] {
			return true
		}
		if !j.IsBare() && j.Local() != "" {
			// user@domain/res also matches a domain/res item.
			if dr, err := d.WithResource(j.Resource()); err == nil && a.bset[dr] {
				return true
			}
		}
	}
	return false
}

// item returns the roster item of contact.
func (a *account) item(contact jid.JID) (storage.RosterItem, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	it, ok := a.items[contact]
	return it, ok
}

// fanoutList returns the contacts that get broadcast presence. The slice
// is shared: do not modify it.
func (a *account) fanoutList() []jid.JID {
	a.mu.RLock()
	f := a.fanout
	a.mu.RUnlock()
	if f != nil {
		return f
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fanout == nil {
		f := make([]jid.JID, 0, len(a.items))
		for c, it := range a.items {
			if (it.Subscription == storage.From || it.Subscription == storage.Both) && !a.blocksLocked(c) {
				f = append(f, c)
			}
		}
		a.fanout = f
	}
	return a.fanout
}

// probeList returns the contacts whose presence the user is subscribed to.
func (a *account) probeList() []jid.JID {
	a.mu.RLock()
	p := a.probes
	a.mu.RUnlock()
	if p != nil {
		return p
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.probes == nil {
		p := make([]jid.JID, 0, len(a.items))
		for c, it := range a.items {
			if (it.Subscription == storage.To || it.Subscription == storage.Both) && !a.blocksLocked(c) {
				p = append(p, c)
			}
		}
		a.probes = p
	}
	return a.probes
}

// applyItem records a stored change; a.mu not held. removed deletes it.
func (a *account) applyItem(it storage.RosterItem, removed bool, ver int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded {
		return
	}
	if removed {
		delete(a.items, it.Contact)
	} else {
		a.items[it.Contact] = it
	}
	if ver > a.ver {
		a.ver = ver
	}
	a.fanout, a.probes = nil, nil
}

// getItem returns the roster item of contact in owner's roster, from memory
// when the owner is online, else from storage. Call with the owner's lock.
func (s *Service) getItem(ctx context.Context, owner, contact jid.JID) (storage.RosterItem, bool, error) {
	// Memory only if already loaded: loading takes the owner's lock, which
	// the caller holds.
	if a := s.cached(owner); a != nil {
		a.mu.RLock()
		loaded := a.loaded
		it, ok := a.items[contact]
		a.mu.RUnlock()
		if loaded {
			return it, ok, nil
		}
	}
	it, err := s.store.RosterItem(ctx, owner, contact)
	if err != nil {
		if isNotFound(err) {
			return storage.RosterItem{Contact: contact}, false, nil
		}
		return it, false, err
	}
	return it, true, nil
}

// putItem stores it and updates memory. Call with the owner's lock.
func (s *Service) putItem(ctx context.Context, owner jid.JID, it storage.RosterItem, quota int) (int64, error) {
	ver, err := s.store.PutRosterItem(ctx, owner, it, quota)
	if err != nil {
		return 0, err
	}
	if a := s.cached(owner); a != nil {
		a.applyItem(it, false, ver)
	}
	return ver, nil
}

// deleteItem removes contact and updates memory. Call with the owner's
// lock.
func (s *Service) deleteItem(ctx context.Context, owner, contact jid.JID) (int64, error) {
	ver, err := s.store.DeleteRosterItem(ctx, owner, contact)
	if err != nil {
		return 0, err
	}
	if a := s.cached(owner); a != nil {
		a.applyItem(storage.RosterItem{Contact: contact}, true, ver)
	}
	return ver, nil
}
