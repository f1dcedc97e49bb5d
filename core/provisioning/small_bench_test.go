package provisioning

import (
	"context"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// BenchmarkDecideSmall is one thing with a handful of rules: the cost of
// a decision without the big world's memory traffic.
func BenchmarkDecideSmall(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.ReloadInterval = time.Hour })
	th := jid.MustParse("meter@" + domain)
	owner := jid.MustParse("alice@" + domain)
	if err := e.svc.Claim(e.ctx, storage.ThingRef{JID: th}, owner); err != nil {
		b.Fatal(err)
	}
	for i, r := range []storage.ProvisioningRule{
		{Action: "read", Origin: "jid", Remote: "bob@other.example", Allow: true, Categories: []string{"m"}, Fields: []string{"Power"}},
		{Action: "read", Origin: "domain", Remote: "x.example", Allow: true},
		{Action: "friend", Origin: "all", Allow: true},
		{Action: "control", Origin: "jid", Remote: "bob@other.example", Allow: true, Params: []string{"On"}},
	} {
		r.Owner, r.Thing = owner, storage.ThingRef{JID: th}
		if _, err := e.svc.learn(e.ctx, r, "", jid.JID{}); err != nil {
			b.Fatal(i, err)
		}
	}
	go func() {
		for range e.svc.audit {
		}
	}()
	req := Request{Action: Read, Thing: th, Requester: jid.MustParse("bob@other.example"), Categories: Momentary | Identity, Fields: []string{"Power", "Serial"}}
	for _, cached := range []bool{false, true} {
		name := "opa"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			e.svc.noCache = !cached
			c0 := processCPU()
			for i := 0; i < b.N; i++ {
				r := req
				if d, _ := e.svc.Decide(context.Background(), &r, "question"); !d.Allow {
					b.Fatal(d)
				}
			}
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
	e.svc.noCache = false
}
