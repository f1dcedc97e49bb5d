package provisioning

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Input building. Everything the policy reads is built as OPA terms
// directly: no JSON round trip on the hot path. What does not change from
// one decision to the next (a rule, a category set) is built once.

var (
	kAction     = ast.StringTerm("action")
	kThing      = ast.StringTerm("thing")
	kOwner      = ast.StringTerm("owner")
	kRequester  = ast.StringTerm("requester")
	kDomain     = ast.StringTerm("domain")
	kTokens     = ast.StringTerm("tokens")
	kService    = ast.StringTerm("service")
	kDevice     = ast.StringTerm("device")
	kUser       = ast.StringTerm("user")
	kJID        = ast.StringTerm("jid")
	kAll        = ast.StringTerm("all")
	kRemote     = ast.StringTerm("remote")
	kApplicable = ast.StringTerm("applicable")
	actionTerm  = [...]*ast.Term{Friend: ast.StringTerm("friend"), Read: ast.StringTerm("read"), Control: ast.StringTerm("control")}
	emptyArray  = ast.ArrayTerm()
	emptyObject = ast.ObjectTerm()
	nullTerm    = ast.NullTerm()
	emptyTokens = ast.ObjectTerm(ast.Item(kService, emptyArray), ast.Item(kDevice, emptyArray), ast.Item(kUser, emptyArray))
	emptyScopes = ast.ObjectTerm(ast.Item(kThing, emptyObject), ast.Item(kNodes, emptyObject))
)

func stringsTerm(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyArray
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

// setOrNull is a set of names, or null for a nil list (unrestricted).
func setOrNull(ss []string) *ast.Term {
	if ss == nil {
		return nullTerm
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.SetTerm(ts...)
}

// categorySets are the 64 possible category sets, built once.
var categorySets = func() (out [64]*ast.Term) {
	for c := range out {
		var ts []*ast.Term
		for _, n := range Categories(c).Names() {
			ts = append(ts, ast.StringTerm(n))
		}
		out[c] = ast.SetTerm(ts...)
	}
	return out
}()

func categoriesTerm(c Categories) *ast.Term { return categorySets[c&AllCategories] }

func nodeTerm(n Node) *ast.Term {
	return ast.ObjectTerm(
		ast.Item(kID, ast.StringTerm(n.ID)),
		ast.Item(kSrc, ast.StringTerm(n.Source)),
		ast.Item(kPt, ast.StringTerm(n.Partition)),
	)
}

// ruleTerm is a rule as the policy reads it.
func ruleTerm(r *storage.ProvisioningRule) *ast.Term {
	cats := AllCategories
	if r.Categories != nil {
		cats = ParseCategories(r.Categories)
	}
	return ast.ObjectTerm(
		ast.Item(kID, ast.IntNumberTerm(int(r.ID))),
		ast.Item(kAllow, ast.BooleanTerm(r.Allow)),
		ast.Item(kRemote, ast.StringTerm(r.Remote)),
		ast.Item(kCategories, categoriesTerm(cats)),
		ast.Item(kFields, setOrNull(r.Fields)),
		ast.Item(kParams, setOrNull(r.Params)),
	)
}

// buildInput is the policy input for req about thing t (nil: unknown) owned
// by owner (zero: unclaimed), with the owner's rules that apply to the
// requester (input.applicable; nil: none) and, for an owner's module only,
// all the owner's rules about the action (input.rules; nil: left out).
func buildInput(req *Request, t *thing, owner jid.JID, applicable, rules *ast.Term) ast.Value {
	nodes := emptyArray
	if len(req.Nodes) > 0 {
		ts := make([]*ast.Term, len(req.Nodes))
		for i, n := range req.Nodes {
			ts[i] = nodeTerm(n)
		}
		nodes = ast.ArrayTerm(ts...)
	}
	var c Categories
	if req.Action == Read {
		c = req.Categories
		if c == 0 {
			c = AllCategories
		}
	}
	fields, params := nullTerm, nullTerm
	if len(req.Fields) > 0 {
		fields = setOrNull(req.Fields)
	}
	if len(req.Params) > 0 {
		params = setOrNull(req.Params)
	}
	if applicable == nil {
		applicable = emptyObject
	}
	action := nullTerm
	if int(req.Action) < len(actionTerm) && req.Action > 0 {
		action = actionTerm[req.Action]
	}
	tokens := emptyTokens
	if len(req.Tokens.Service)+len(req.Tokens.Device)+len(req.Tokens.User) > 0 {
		tokens = ast.ObjectTerm(
			ast.Item(kService, stringsTerm(req.Tokens.Service)),
			ast.Item(kDevice, stringsTerm(req.Tokens.Device)),
			ast.Item(kUser, stringsTerm(req.Tokens.User)),
		)
	}
	var thingTerm, ownerTerm *ast.Term
	if t != nil {
		thingTerm = t.jidTerm
		if owner == t.owner {
			ownerTerm = t.ownerTerm
		}
	}
	if thingTerm == nil {
		thingTerm = ast.StringTerm(req.Thing.String())
	}
	if ownerTerm == nil {
		ownerTerm = ast.StringTerm(owner.String())
	}
	items := make([][2]*ast.Term, 0, 12)
	items = append(items,
		ast.Item(kAction, action),
		ast.Item(kThing, thingTerm),
		ast.Item(kOwner, ownerTerm),
		ast.Item(kRequester, ast.StringTerm(req.Requester.String())),
		ast.Item(kDomain, ast.StringTerm(req.Requester.Domain())),
		ast.Item(kTokens, tokens),
		ast.Item(kNodes, nodes),
		ast.Item(kCategories, categoriesTerm(c)),
		ast.Item(kFields, fields),
		ast.Item(kParams, params),
		ast.Item(kApplicable, applicable),
	)
	if rules != nil {
		items = append(items, ast.Item(kRules, rules))
	}
	return ast.NewObject(items...)
}

// Choosing the rules that apply. A decision looks at the few rules that
// name the requester, found without building anything for the others: a
// walk over a thing's rules when it has few, a map lookup per origin when
// it has many.

// picked is what one scope (the thing itself, or one node) has for the
// requester: rules as positions in thing.rules plus one (0: none), the
// latest per origin and key.
type picked struct {
	jid, domain, all      int32
	user, device, service []int32
}

func (p *picked) empty() bool {
	return p.jid == 0 && p.domain == 0 && p.all == 0 && len(p.user) == 0 && len(p.device) == 0 && len(p.service) == 0
}

// only returns the one rule p has (position plus one), or 0.
func (p *picked) only() int32 {
	if len(p.user)+len(p.device)+len(p.service) > 1 {
		return 0
	}
	n, i := 0, int32(0)
	for _, j := range [...]int32{p.jid, p.domain, p.all} {
		if j > 0 {
			n, i = n+1, j
		}
	}
	for _, l := range [...][]int32{p.user, p.device, p.service} {
		if len(l) == 1 {
			n, i = n+1, l[0]
		}
	}
	if n != 1 {
		return 0
	}
	return i
}

// latest keeps position i (plus one) in slot unless a later rule is there.
func latest(slot *int32, i int32) {
	if i > *slot {
		*slot = i
	}
}

// latestFor keeps position i (plus one) among the tokens' rules, replacing
// an older rule for the same token.
func latestFor(rules []storage.ProvisioningRule, list []int32, i int32) []int32 {
	for k, j := range list {
		if rules[j-1].Remote == rules[i-1].Remote {
			if i > j {
				list[k] = i
			}
			return list
		}
	}
	return append(list, i)
}

// selection gathers the rules that apply to one request.
type selection struct {
	t     *thing
	asked []Node // req.Nodes
	thing picked
	nodes []picked // parallel to asked, allocated on the first node rule
}

// add files rule position i (plus one), which names the requester, under
// its scope; a rule for a node nobody asked about is left out.
func (s *selection) add(i int32) {
	r := &s.t.rules[i-1]
	if !r.Thing.IsNode() {
		s.thing.add(s.t.rules, r.Origin, i)
		return
	}
	n := nodeOf(r.Thing)
	for k, asked := range s.asked {
		if asked != n {
			continue
		}
		if s.nodes == nil {
			s.nodes = make([]picked, len(s.asked))
		}
		s.nodes[k].add(s.t.rules, r.Origin, i)
	}
}

func (p *picked) add(rules []storage.ProvisioningRule, origin string, i int32) {
	switch origin {
	case "jid":
		latest(&p.jid, i)
	case "domain":
		latest(&p.domain, i)
	case "all":
		latest(&p.all, i)
	case "user":
		p.user = latestFor(rules, p.user, i)
	case "device":
		p.device = latestFor(rules, p.device, i)
	case "service":
		p.service = latestFor(rules, p.service, i)
	}
}

// forRequester reports whether r names the requester of req.
func forRequester(r *storage.ProvisioningRule, req *Request, requester, domain string) bool {
	switch r.Origin {
	case "jid":
		return r.Remote == requester
	case "domain":
		return r.Remote == domain
	case "all":
		return true
	case "user":
		return slices.Contains(req.Tokens.User, r.Remote)
	case "device":
		return slices.Contains(req.Tokens.Device, r.Remote)
	case "service":
		return slices.Contains(req.Tokens.Service, r.Remote)
	}
	return false
}

// ruleKey is what one answer of an owner is about: the latest rule per key
// counts.
type ruleKey struct {
	owner          jid.JID
	action         string
	origin, remote string
}

// ruleMap finds a thing's rules by key: positions in thing.rules plus one,
// oldest first.
type ruleMap map[ruleKey][]int32

func newRuleMap(rules []storage.ProvisioningRule) ruleMap {
	m := make(ruleMap, len(rules))
	for i := range rules {
		r := &rules[i]
		k := ruleKey{r.Owner, r.Action, r.Origin, r.Remote}
		m[k] = append(m[k], int32(i+1))
	}
	return m
}

// applicable is input.applicable: the rules of owner about req.Action that
// name the requester, by scope and origin (nil: none).
func (t *thing) applicable(owner jid.JID, req *Request) *ast.Term {
	if len(t.rules) == 0 || owner.IsZero() {
		return nil
	}
	s := selection{t: t, asked: req.Nodes}
	requester, domain, action := req.Requester.String(), req.Requester.Domain(), req.Action.String()
	if m := t.ruleMap(); m != nil {
		look := func(origin, remote string) {
			for _, i := range m[ruleKey{owner, action, origin, remote}] {
				s.add(i)
			}
		}
		look("jid", requester)
		look("domain", domain)
		look("all", "")
		for _, tok := range req.Tokens.User {
			look("user", tok)
		}
		for _, tok := range req.Tokens.Device {
			look("device", tok)
		}
		for _, tok := range req.Tokens.Service {
			look("service", tok)
		}
	} else {
		for i := range t.rules {
			r := &t.rules[i]
			if r.Action == action && r.Owner == owner && forRequester(r, req, requester, domain) {
				s.add(int32(i + 1))
			}
		}
	}
	return s.term()
}

func (s *selection) term() *ast.Term {
	// One rule for the thing, or for the one node asked about, is most
	// questions: that input.applicable is kept with the rule.
	if s.nodes == nil {
		if i := s.thing.only(); i > 0 {
			return s.t.solo(i-1, false, &s.thing)
		}
	} else if len(s.nodes) == 1 && s.thing.empty() {
		if i := s.nodes[0].only(); i > 0 {
			return s.t.solo(i-1, true, &s.nodes[0])
		}
	}
	items := make([][2]*ast.Term, 0, 2)
	if !s.thing.empty() {
		items = append(items, ast.Item(kThing, s.t.scopeTerm(&s.thing)))
	}
	if s.nodes != nil {
		ts := make([]*ast.Term, len(s.nodes))
		for k := range s.nodes {
			ts[k] = emptyObject
			if !s.nodes[k].empty() {
				ts[k] = s.t.scopeTerm(&s.nodes[k])
			}
		}
		items = append(items, ast.Item(kNodes, ast.ArrayTerm(ts...)))
	}
	if len(items) == 0 {
		return nil
	}
	return ast.ObjectTerm(items...)
}

// solo returns input.applicable when rule i alone applies, for the thing or
// for the one node asked about: p, built on first use.
func (t *thing) solo(i int32, node bool, p *picked) *ast.Term {
	slot := &t.solos[i].thing
	if node {
		slot = &t.solos[i].node
	}
	if a := slot.Load(); a != nil {
		return a
	}
	a := ast.ObjectTerm(ast.Item(kThing, t.scopeTerm(p)))
	if node {
		a = ast.ObjectTerm(ast.Item(kNodes, ast.ArrayTerm(t.scopeTerm(p))))
	}
	slot.Store(a)
	return a
}

// scopeTerm is one scope of input.applicable.
func (t *thing) scopeTerm(p *picked) *ast.Term {
	items := make([][2]*ast.Term, 0, 6)
	one := func(k *ast.Term, i int32) {
		if i > 0 {
			items = append(items, ast.Item(k, t.ruleTerm(i-1)))
		}
	}
	many := func(k *ast.Term, list []int32) {
		if len(list) > 0 {
			slices.Sort(list) // oldest first, however they were found
			ts := make([]*ast.Term, len(list))
			for n, i := range list {
				ts[n] = t.ruleTerm(i - 1)
			}
			items = append(items, ast.Item(k, ast.ArrayTerm(ts...)))
		}
	}
	one(kJID, p.jid)
	many(kUser, p.user)
	many(kDevice, p.device)
	many(kService, p.service)
	one(kDomain, p.domain)
	one(kAll, p.all)
	return ast.ObjectTerm(items...)
}

// The full index of an owner's rules, for owners' modules (input.rules).

// ruleIndex is a thing's rules as an owner's module reads them, one term
// per action.
type ruleIndex [4]*ast.Term

// scopeBuilder collects the latest rule per origin and remote of one scope
// (the thing, or one node).
type scopeBuilder struct {
	byOrigin map[string]map[string]*ast.Term
	all      *ast.Term
}

func (b *scopeBuilder) add(r *storage.ProvisioningRule, t *ast.Term) {
	if r.Origin == "all" {
		b.all = t
		return
	}
	if b.byOrigin == nil {
		b.byOrigin = map[string]map[string]*ast.Term{}
	}
	m := b.byOrigin[r.Origin]
	if m == nil {
		m = map[string]*ast.Term{}
		b.byOrigin[r.Origin] = m
	}
	m[r.Remote] = t // rules come oldest first: the latest answer stays
}

func (b *scopeBuilder) term() *ast.Term {
	items := make([][2]*ast.Term, 0, len(b.byOrigin)+1)
	for o, m := range b.byOrigin {
		kv := make([][2]*ast.Term, 0, len(m))
		for k, v := range m {
			kv = append(kv, ast.Item(ast.StringTerm(k), v))
		}
		items = append(items, ast.Item(ast.StringTerm(o), ast.ObjectTerm(kv...)))
	}
	if b.all != nil {
		items = append(items, ast.Item(kAll, b.all))
	}
	return ast.ObjectTerm(items...)
}

// indexAction builds the full view of owner's rules on t about action a.
func (t *thing) indexAction(owner jid.JID, a Action) *ast.Term {
	var thing scopeBuilder
	var nodes map[Node]*scopeBuilder
	var order []Node
	name := a.String()
	for i := range t.rules {
		r := &t.rules[i]
		if r.Action != name || r.Owner != owner {
			continue
		}
		rt := t.ruleTerm(int32(i))
		if !r.Thing.IsNode() {
			thing.add(r, rt)
			continue
		}
		n := nodeOf(r.Thing)
		if nodes == nil {
			nodes = map[Node]*scopeBuilder{}
		}
		b := nodes[n]
		if b == nil {
			b = &scopeBuilder{}
			nodes[n] = b
			order = append(order, n)
		}
		b.add(r, rt)
	}
	if thing.byOrigin == nil && thing.all == nil && nodes == nil {
		return emptyScopes
	}
	nkv := make([][2]*ast.Term, 0, len(order))
	for _, n := range order {
		key := ast.ArrayTerm(ast.StringTerm(n.ID), ast.StringTerm(n.Source), ast.StringTerm(n.Partition))
		nkv = append(nkv, ast.Item(key, nodes[n].term()))
	}
	return ast.ObjectTerm(ast.Item(kThing, thing.term()), ast.Item(kNodes, ast.ObjectTerm(nkv...)))
}
