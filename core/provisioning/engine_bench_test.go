package provisioning

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

func benchRules(thing jid.JID, owner jid.JID, n int) []storage.ProvisioningRule {
	var out []storage.ProvisioningRule
	for i := 0; i < n; i++ {
		r := storage.ProvisioningRule{ID: int64(i + 1), Owner: owner, Thing: storage.ThingRef{JID: thing}, Action: "read", Origin: "jid",
			Remote: fmt.Sprintf("user%d@other.example", i), Allow: i%3 != 0, Categories: []string{"m", "i"}, Fields: []string{"Power", "Energy"}}
		switch i % 5 {
		case 1:
			r.Action, r.Fields, r.Categories, r.Params = "control", nil, nil, []string{"On"}
		case 2:
			r.Action, r.Fields, r.Categories = "friend", nil, nil
		case 3:
			r.Origin, r.Remote = "domain", fmt.Sprintf("d%d.example", i)
		}
		out = append(out, r)
	}
	return out
}

func BenchmarkEngineDecide(b *testing.B) {
	e, err := NewEngine(time.Second)
	if err != nil {
		b.Fatal(err)
	}
	owner := jid.MustParse("alice@example.com")
	thing := jid.MustParse("meter@example.com")
	rules := indexRules(benchRules(thing, owner, 10))
	req := &Request{Action: Read, Thing: thing, Requester: jid.MustParse("user4@other.example"), Categories: Momentary | Identity, Fields: []string{"Power", "Serial"}}
	var in ast.Value = buildInput(req, owner, &rules)
	ctx := context.Background()
	d, err := e.Decide(ctx, nil, in)
	if err != nil || !d.Allow {
		b.Fatalf("%+v %v", d, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in = buildInput(req, owner, &rules)
		if _, err := e.Decide(ctx, nil, in); err != nil {
			b.Fatal(err)
		}
	}
}
