package session

import (
	"hash/maphash"
	"sync"

	"github.com/extasis/extasis/core/jid"
)

const shards = 64

type shard struct {
	mu    sync.RWMutex
	users map[jid.JID][]*Session // bare JID -> bound resources
}

// Table maps JIDs to bound sessions.
type Table struct {
	seed   maphash.Seed
	shards [shards]shard
}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].users = make(map[jid.JID][]*Session)
	}
	return t
}

func (t *Table) shard(bare jid.JID) *shard {
	return &t.shards[maphash.String(t.seed, bare.String())%shards]
}

// Add binds s. If a session with the same full JID exists it is removed and
// returned: the caller closes it with a conflict stream error (RFC 6120
// §7.7.2.2, the newer session wins). max > 0 limits sessions per account:
// when reached, Add refuses with ok=false.
func (t *Table) Add(s *Session, max int) (replaced *Session, ok bool) {
	bare := s.jid.Bare()
	sh := t.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	for i, o := range list {
		if o.jid == s.jid {
			nl := make([]*Session, len(list))
			copy(nl, list)
			nl[i] = s
			sh.users[bare] = nl
			return o, true
		}
	}
	if max > 0 && len(list) >= max {
		return nil, false
	}
	nl := make([]*Session, len(list), len(list)+1)
	copy(nl, list)
	sh.users[bare] = append(nl, s)
	return nil, true
}

// Remove unbinds s if it is still the session bound to its JID, and reports
// whether it was.
func (t *Table) Remove(s *Session) bool {
	bare := s.jid.Bare()
	sh := t.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	for i, o := range list {
		if o == s {
			if len(list) == 1 {
				delete(sh.users, bare)
				return true
			}
			nl := make([]*Session, 0, len(list)-1)
			nl = append(nl, list[:i]...)
			sh.users[bare] = append(nl, list[i+1:]...)
			return true
		}
	}
	return false
}

// Get returns the session bound to a full JID, or nil.
func (t *Table) Get(full jid.JID) *Session {
	sh := t.shard(full.Bare())
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, s := range sh.users[full.Bare()] {
		if s.jid == full {
			return s
		}
	}
	return nil
}

// Resources returns the sessions of an account. The slice is shared and
// must not be modified (copy-on-write: Add and Remove replace it).
func (t *Table) Resources(bare jid.JID) []*Session {
	sh := t.shard(bare)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.users[bare]
}

// Count returns the number of bound sessions.
func (t *Table) Count() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, l := range sh.users {
			n += len(l)
		}
		sh.mu.RUnlock()
	}
	return n
}

// Each calls fn for every session (used at shutdown). fn must not call back
// into the table.
func (t *Table) Each(fn func(*Session)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		all := make([]*Session, 0, len(sh.users))
		for _, l := range sh.users {
			all = append(all, l...)
		}
		sh.mu.RUnlock()
		for _, s := range all {
			fn(s)
		}
	}
}
