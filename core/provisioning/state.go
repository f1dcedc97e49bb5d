package provisioning

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// thing is what the service knows about one thing: its owner, the owners
// of nodes claimed separately, and its rules. A thing is immutable once
// published (replaced whole on every change), except for its decision
// cache and what is derived from its rules on first use (OPA terms, lookup
// maps), which a change of rules discards with the thing.
type thing struct {
	jid     jid.JID
	owner   jid.JID // zero: only nodes are claimed, or nothing
	enforce bool
	nodes   map[Node]jid.JID // owners of separately claimed nodes
	rules   []storage.ProvisioningRule
	gen     uint64

	jidTerm, ownerTerm *ast.Term                              // for the policy input
	terms              []atomic.Pointer[ast.Term]             // ruleTerm of each rule, built when a decision needs it
	solos              []solo                                 // input.applicable when one rule applies
	rmap               atomic.Pointer[ruleMap]                // things with many rules
	index              atomic.Pointer[map[jid.JID]*ruleIndex] // things with many rules and an owner's module

	mu    sync.Mutex
	cache map[string]Decision
}

// maxCachePerThing bounds the decisions kept per thing; the cache is
// emptied when it is full (things ask about few distinct situations).
const maxCachePerThing = 256

// ownerOf returns the owner deciding for node n of t (zero n: the thing).
func (t *thing) ownerOf(n Node) jid.JID {
	if !n.IsZero() {
		if o, ok := t.nodes[n]; ok {
			return o
		}
	}
	return t.owner
}

// indexFor returns the full index of owner's rules on t about a, for an
// owner's module (nil: no rules): kept for things with many rules, built
// per decision for the others.
func (t *thing) indexFor(owner jid.JID, a Action) *ast.Term {
	if len(t.rules) == 0 {
		return nil
	}
	if len(t.rules) < keptIndex {
		return t.indexAction(owner, a)
	}
	idx := t.index.Load()
	if idx == nil {
		byOwner := map[jid.JID]*ruleIndex{}
		for _, r := range t.rules {
			if byOwner[r.Owner] == nil {
				var ri ruleIndex
				for a := Friend; a <= Control; a++ {
					ri[a] = t.indexAction(r.Owner, a)
				}
				byOwner[r.Owner] = &ri
			}
		}
		idx = &byOwner
		t.index.Store(idx)
	}
	if ri := (*idx)[owner]; ri != nil {
		return ri[a]
	}
	return nil
}

// keptIndex is the number of rules from which a thing finds its rules
// through a map rather than by looking at each.
const keptIndex = 16

// ruleMap is t's rules by key, for things with many rules (nil: few).
func (t *thing) ruleMap() ruleMap {
	if len(t.rules) < keptIndex {
		return nil
	}
	m := t.rmap.Load()
	if m == nil {
		built := newRuleMap(t.rules)
		m = &built
		t.rmap.Store(m)
	}
	return *m
}

// ruleTerm returns rule i of t as the policy reads it, built on first use:
// terms are kept only for rules that decided something, as pointer-dense
// terms for every rule would make each garbage collection cycle scan
// hundreds of MB with 100k rules.
func (t *thing) ruleTerm(i int32) *ast.Term {
	if rt := t.terms[i].Load(); rt != nil {
		return rt
	}
	rt := ruleTerm(&t.rules[i])
	t.terms[i].Store(rt)
	return rt
}

func (t *thing) cached(key string) (Decision, bool) {
	t.mu.Lock()
	d, ok := t.cache[key]
	t.mu.Unlock()
	return d, ok
}

func (t *thing) remember(key string, d Decision) {
	t.mu.Lock()
	if t.cache == nil || len(t.cache) >= maxCachePerThing {
		t.cache = make(map[string]Decision, 16)
	}
	t.cache[key] = d
	t.mu.Unlock()
}

// build finishes a thing after its fields are set.
func (t *thing) build() {
	t.jidTerm, t.ownerTerm = ast.StringTerm(t.jid.String()), ast.StringTerm(t.owner.String())
	t.terms = make([]atomic.Pointer[ast.Term], len(t.rules))
	t.solos = make([]solo, len(t.rules))
}

// solo is input.applicable when one rule alone applies, for the thing or
// for the one node asked about.
type solo struct{ thing, node atomic.Pointer[ast.Term] }

// clone copies t without its cache, for a change.
func (t *thing) clone() *thing {
	c := &thing{jid: t.jid, owner: t.owner, enforce: t.enforce, rules: t.rules, gen: t.gen + 1}
	if len(t.nodes) > 0 {
		c.nodes = make(map[Node]jid.JID, len(t.nodes))
		for k, v := range t.nodes {
			c.nodes[k] = v
		}
	}
	return c
}

// isEmpty reports whether nothing is known: the thing can be forgotten.
func (t *thing) isEmpty() bool { return t.owner.IsZero() && len(t.nodes) == 0 && len(t.rules) == 0 }

const thingShards = 64

// things is the sharded table of things, by bare JID.
type things struct {
	seed   maphash.Seed
	shards [thingShards]struct {
		mu sync.RWMutex
		m  map[jid.JID]*thing
	}
}

func newThings() *things {
	ts := &things{seed: maphash.MakeSeed()}
	for i := range ts.shards {
		ts.shards[i].m = map[jid.JID]*thing{}
	}
	return ts
}

func (ts *things) shard(j jid.JID) int {
	return int(maphash.String(ts.seed, j.String()) % thingShards)
}

func (ts *things) get(j jid.JID) *thing {
	sh := &ts.shards[ts.shard(j)]
	sh.mu.RLock()
	t := sh.m[j]
	sh.mu.RUnlock()
	return t
}

// update replaces the thing j with what fn returns from a copy of the
// current one (a new empty one if unknown); fn returning nil forgets it.
func (ts *things) update(j jid.JID, fn func(t *thing) *thing) *thing {
	sh := &ts.shards[ts.shard(j)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.m[j]
	var c *thing
	if old != nil {
		c = old.clone()
	} else {
		c = &thing{jid: j}
	}
	n := fn(c)
	if n == nil || n.isEmpty() {
		delete(sh.m, j)
		return nil
	}
	n.build()
	sh.m[j] = n
	return n
}

// replaceAll swaps in a whole new table (after a reload).
func (ts *things) replaceAll(all map[jid.JID]*thing) {
	var parts [thingShards]map[jid.JID]*thing
	for i := range parts {
		parts[i] = map[jid.JID]*thing{}
	}
	for j, t := range all {
		t.build()
		parts[ts.shard(j)][j] = t
	}
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		sh.m = parts[i]
		sh.mu.Unlock()
	}
}

// each calls fn for every thing (under the shard's read lock: fn must not
// block or call back).
func (ts *things) each(fn func(*thing)) {
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.RLock()
		for _, t := range sh.m {
			fn(t)
		}
		sh.mu.RUnlock()
	}
}

// load reads things and rules from storage into a new table.
func loadThings(ctx context.Context, st storage.Provisioning) (map[jid.JID]*thing, error) {
	owned, err := st.OwnedThings(ctx, jid.JID{})
	if err != nil {
		return nil, fmt.Errorf("provisioning: load things: %w", err)
	}
	rules, err := st.Rules(ctx, storage.RuleFilter{})
	if err != nil {
		return nil, fmt.Errorf("provisioning: load rules: %w", err)
	}
	all := map[jid.JID]*thing{}
	get := func(j jid.JID) *thing {
		t := all[j]
		if t == nil {
			t = &thing{jid: j}
			all[j] = t
		}
		return t
	}
	for _, o := range owned {
		t := get(o.Thing.JID)
		if o.Thing.IsNode() {
			if t.nodes == nil {
				t.nodes = map[Node]jid.JID{}
			}
			t.nodes[nodeOf(o.Thing)] = o.Owner
			continue
		}
		t.owner, t.enforce = o.Owner, o.Enforce
	}
	for _, r := range rules {
		t := get(r.Thing.JID)
		t.rules = append(t.rules, r)
	}
	return all, nil
}

// situation identifies a question to an owner: one pending per situation.
func situation(ref storage.ThingRef, a Action, remote jid.JID) string {
	return strings.Join([]string{ref.JID.String(), ref.Node, ref.Source, ref.Partition, a.String(), remote.String()}, "\x00")
}

// cacheKey identifies a request for the decision cache.
func cacheKey(req *Request) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteByte(byte(req.Action))
	b.WriteByte(byte(req.Categories))
	b.WriteString(req.Requester.String())
	w := func(tag byte, ss []string) {
		for _, s := range ss {
			b.WriteByte(0)
			b.WriteByte(tag)
			b.WriteString(s)
		}
	}
	w('s', req.Tokens.Service)
	w('d', req.Tokens.Device)
	w('u', req.Tokens.User)
	for _, n := range req.Nodes {
		w('n', []string{n.ID, n.Source, n.Partition})
	}
	w('f', req.Fields)
	w('p', req.Params)
	return b.String()
}
