package provisioning

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// applicableIDs flattens input.applicable to "scope.origin" -> rule ids.
func applicableIDs(t *testing.T, term *ast.Term) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	if term == nil {
		return out
	}
	id := func(r *ast.Term) int64 {
		n, _ := r.Get(kID).Value.(ast.Number).Int64()
		return n
	}
	scope := func(name string, s *ast.Term) {
		s.Value.(ast.Object).Foreach(func(k, v *ast.Term) {
			key := name + "." + string(k.Value.(ast.String))
			switch x := v.Value.(type) {
			case *ast.Array:
				x.Foreach(func(r *ast.Term) { out[key] = append(out[key], id(r)) })
			default:
				out[key] = []int64{id(v)}
			}
		})
	}
	obj := term.Value.(ast.Object)
	if th := obj.Get(kThing); th != nil {
		scope("thing", th)
	}
	if ns := obj.Get(kNodes); ns != nil {
		for i := range ns.Value.(*ast.Array).Len() {
			scope(fmt.Sprintf("nodes[%d]", i), ns.Value.(*ast.Array).Elem(i))
		}
	}
	return out
}

func TestApplicable(t *testing.T) {
	th := jid.MustParse("meter@" + domain)
	alice := jid.MustParse("alice@" + domain)
	carol := jid.MustParse("carol@" + domain)
	bob := jid.MustParse("bob@other.example")
	lamp := Node{ID: "lamp"}
	rule := func(id int64, owner jid.JID, action, origin, remote string, node string) storage.ProvisioningRule {
		return storage.ProvisioningRule{ID: id, Owner: owner, Thing: storage.ThingRef{JID: th, Node: node}, Action: action, Origin: origin, Remote: remote, Allow: true}
	}
	rules := []storage.ProvisioningRule{
		rule(1, alice, "read", "jid", "bob@other.example", ""),
		rule(2, alice, "read", "jid", "eve@other.example", ""),
		rule(3, alice, "read", "domain", "other.example", ""),
		rule(4, alice, "read", "all", "", ""),
		rule(5, alice, "read", "user", "p:u1", ""),
		rule(6, alice, "read", "user", "p:u2", ""),
		rule(7, alice, "read", "user", "p:u1", ""), // a later answer for p:u1
		rule(8, alice, "read", "device", "p:d1", ""),
		rule(9, alice, "read", "service", "p:s1", ""),
		rule(10, alice, "control", "jid", "bob@other.example", ""),
		rule(11, carol, "read", "jid", "bob@other.example", ""), // another owner
		rule(12, alice, "read", "jid", "bob@other.example", "lamp"),
		rule(13, alice, "read", "jid", "bob@other.example", "door"), // a node not asked about
		rule(14, alice, "read", "domain", "other.example", ""),      // a later answer for the domain
		rule(15, alice, "control", "jid", "eve@other.example", "lamp"),
	}
	tests := []struct {
		name string
		req  Request
		want map[string][]int64
	}{
		{"stranger", Request{Action: Read, Requester: jid.MustParse("x@nowhere.example")}, map[string][]int64{"thing.all": {4}}},
		{"jid, domain, everyone", Request{Action: Read, Requester: bob}, map[string][]int64{"thing.jid": {1}, "thing.domain": {14}, "thing.all": {4}}},
		{"tokens, the latest per token", Request{Action: Read, Requester: jid.MustParse("x@nowhere.example"), Tokens: Tokens{User: []string{"p:u2", "p:u1"}, Device: []string{"p:d1"}, Service: []string{"p:s2"}}},
			map[string][]int64{"thing.user": {6, 7}, "thing.device": {8}, "thing.all": {4}}},
		{"another action", Request{Action: Control, Requester: bob}, map[string][]int64{"thing.jid": {10}}},
		{"nodes asked about", Request{Action: Read, Requester: bob, Nodes: []Node{{ID: "other"}, lamp}},
			map[string][]int64{"thing.jid": {1}, "thing.domain": {14}, "thing.all": {4}, "nodes[1].jid": {12}}},
		{"one node's rule alone", Request{Action: Control, Requester: jid.MustParse("eve@other.example"), Nodes: []Node{lamp}}, map[string][]int64{"nodes[0].jid": {15}}},
		{"nothing", Request{Action: Friend, Requester: bob}, map[string][]int64{}},
	}
	// Things with many rules find theirs through a map: the same answer.
	padded := slices.Clone(rules)
	for i := range keptIndex {
		padded = append(padded, rule(int64(100+i), carol, "friend", "jid", fmt.Sprintf("p%d@x", i), ""))
	}
	for _, size := range []struct {
		name  string
		rules []storage.ProvisioningRule
	}{{"few rules", rules}, {"many rules", padded}} {
		for _, tt := range tests {
			t.Run(size.name+"/"+tt.name, func(t *testing.T) {
				tg := &thing{jid: th, owner: alice, rules: size.rules}
				tg.build()
				req := tt.req
				req.Thing = th
				for range 2 { // built, then kept with the rule when one applies
					got := applicableIDs(t, tg.applicable(alice, &req))
					if !maps.EqualFunc(got, tt.want, slices.Equal) {
						t.Fatalf("got %v, want %v", got, tt.want)
					}
				}
			})
		}
	}
}

func TestRuleCache(t *testing.T) {
	var p ruleCaches
	c := p.get()
	a, b := ast.MustParseRef("data.a"), ast.MustParseRef("data.b")
	one, two := ast.IntNumberTerm(1), ast.IntNumberTerm(2)
	c.Put(a, one)
	c.Put(b, nil)
	if v, undefined := c.Get(a); v != one || undefined {
		t.Fatalf("a: %v %v", v, undefined)
	}
	if v, undefined := c.Get(b); v != nil || !undefined {
		t.Fatalf("b: %v %v", v, undefined)
	}
	c.Push() // a `with`: nothing known inside
	if v, undefined := c.Get(a); v != nil || undefined {
		t.Fatalf("a in a new frame: %v %v", v, undefined)
	}
	c.Put(a, two)
	if v, _ := c.Get(a); v != two {
		t.Fatalf("a in the frame: %v", v)
	}
	if keys := c.Keys(); len(keys) != 1 || !keys[0].Equal(a) {
		t.Fatalf("keys: %v", keys)
	}
	c.Pop()
	if v, _ := c.Get(a); v != one {
		t.Fatalf("a after the frame: %v", v)
	}
	key := ast.Ref{ast.VarTerm("f"), one}
	c.Put(key, two)
	key[1] = two // OPA reuses the slice of a function call's key
	if v, _ := c.Get(ast.Ref{ast.VarTerm("f"), one}); v != two {
		t.Fatalf("f(1): %v", v)
	}
	p.put(c)
	if c = p.get(); len(c.entries) != 0 || len(c.frames) != 1 {
		t.Fatalf("reused cache not empty: %d entries, %d frames", len(c.entries), len(c.frames))
	}
}

// An owner's module sees all the owner's rules (input.rules), not only
// those that name the requester, and may fall back to the default policy's
// rules.
func TestOwnerModuleInput(t *testing.T) {
	e, err := NewEngine(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const module = `package extasis.provisioning.owner

import rego.v1

# Anyone the owner already answered about, by JID, may read.
decision := {"allow": true, "reason": "known", "ask": false, "rules": [], "nodes": input.nodes,
	"categories": input.categories, "fields": input.fields, "params": input.params} if {
	input.action == "read"
	some remote, _ in input.rules.thing.jid
	remote == input.requester
} else := data.extasis.provisioning.thing_decision if {
	input.requester == "dave@other.example"
}
`
	p, err := e.Prepare("alice.rego", module)
	if err != nil {
		t.Fatal(err)
	}
	th := jid.MustParse("meter@" + domain)
	alice := jid.MustParse("alice@" + domain)
	tg := &thing{jid: th, owner: alice, rules: []storage.ProvisioningRule{
		{ID: 1, Owner: alice, Thing: storage.ThingRef{JID: th}, Action: "read", Origin: "jid", Remote: "carol@other.example", Allow: false},
		{ID: 2, Owner: alice, Thing: storage.ThingRef{JID: th}, Action: "read", Origin: "domain", Remote: "other.example", Allow: true},
	}}
	tg.build()
	tests := []struct {
		requester string
		policy    *Policy
		allow     bool
		reason    string
	}{
		{"carol@other.example", p, true, "known"},
		{"carol@other.example", nil, false, "denied by rule"}, // the default policy
		{"dave@other.example", p, true, "rule"},               // thing_decision: the domain rule
		{"eve@x.example", p, false, "no rule"},
	}
	for _, tt := range tests {
		name := tt.requester
		if tt.policy == nil {
			name += "/default"
		}
		t.Run(name, func(t *testing.T) {
			req := Request{Action: Read, Thing: th, Requester: jid.MustParse(tt.requester), Categories: Momentary}
			var rules *ast.Term
			if tt.policy != nil {
				rules = tg.indexFor(alice, Read)
			}
			d, err := e.Decide(context.Background(), tt.policy, buildInput(&req, tg, alice, tg.applicable(alice, &req), rules))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || d.Reason != tt.reason {
				t.Fatalf("got %+v", d)
			}
		})
	}
}
