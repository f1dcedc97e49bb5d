package provisioning

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// OPA's own caches for one evaluation are tries of hash maps, allocated
// anew for every evaluation: about a third of the allocations of a
// decision. A decision visits a dozen rules, so a flat list searched
// linearly does the same job, and it is reused from one evaluation to the
// next.

// ruleCache is a topdown.VirtualCache: the values of the rules (and
// function calls) evaluated so far, in frames (OPA pushes one for each
// `with`). Only the top frame is visible, as in OPA's.
type ruleCache struct {
	entries []ruleCacheEntry
	frames  []int // where each frame starts in entries
}

type ruleCacheEntry struct {
	ref   ast.Ref
	value *ast.Term // nil: the rule is undefined
}

var _ topdown.VirtualCache = (*ruleCache)(nil)

// ruleCaches keeps the caches of finished evaluations, so that concurrent
// decisions each get their own.
type ruleCaches struct{ pool sync.Pool }

func (p *ruleCaches) get() *ruleCache {
	if c, ok := p.pool.Get().(*ruleCache); ok {
		return c
	}
	return &ruleCache{frames: []int{0}}
}

// put empties c and keeps it for another evaluation.
func (p *ruleCaches) put(c *ruleCache) {
	if cap(c.entries) > 256 {
		return // an unusual policy: let it go rather than keep it
	}
	clear(c.entries)
	c.entries = c.entries[:0]
	c.frames = append(c.frames[:0], 0)
	p.pool.Put(c)
}

func (c *ruleCache) Push() { c.frames = append(c.frames, len(c.entries)) }

func (c *ruleCache) Pop() {
	top := c.frames[len(c.frames)-1]
	clear(c.entries[top:])
	c.entries = c.entries[:top]
	if len(c.frames) > 1 {
		c.frames = c.frames[:len(c.frames)-1]
	}
}

func (c *ruleCache) find(ref ast.Ref) int {
	for i := len(c.entries) - 1; i >= c.frames[len(c.frames)-1]; i-- {
		if c.entries[i].ref.Equal(ref) {
			return i
		}
	}
	return -1
}

func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) {
	i := c.find(ref)
	if i < 0 {
		return nil, false
	}
	v := c.entries[i].value
	return v, v == nil
}

func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	if i := c.find(ref); i >= 0 {
		c.entries[i].value = value
		return
	}
	// OPA reuses the slice it passes (function call keys).
	c.entries = append(c.entries, ruleCacheEntry{ref: append(ast.Ref(nil), ref...), value: value})
}

func (c *ruleCache) Keys() []ast.Ref {
	var out []ast.Ref
	for _, e := range c.entries[c.frames[len(c.frames)-1]:] {
		if e.value != nil {
			out = append(out, e.ref)
		}
	}
	return out
}

// noDataCache is a topdown.BaseCache that keeps nothing: the policies read
// no data documents (rules and requests come in the input), so OPA's cache
// of them would only cost its allocation.
type noDataCache struct{}

var _ topdown.BaseCache = noDataCache{}

func (noDataCache) Get(ast.Ref) ast.Value  { return nil }
func (noDataCache) Put(ast.Ref, ast.Value) {}
