package provisioning

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

// The decision benchmark of issue 7: 10k owners, 2 things each, 100k
// learned rules (5 per thing on average, all origins and actions), and
// questions from parties that match a rule (by JID, domain or token) or
// none. Decisions never touch storage; the audit writer runs, writing to
// an in-memory SQLite as it would to the real store.

const (
	benchOwners = 10_000
	benchThings = 2 * benchOwners
	benchRules  = 100_000
)

type benchWorld struct {
	svc    *Service
	things []jid.JID
	reqs   []Request
}

var (
	benchOnce sync.Once
	benchW    *benchWorld
)

func world(b *testing.B) *benchWorld {
	benchOnce.Do(func() { benchW = buildWorld(b) })
	return benchW
}

func buildWorld(tb testing.TB) *benchWorld {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, ":memory:", sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	r := router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{domain}})
	svc, err := New(Config{Store: st, Router: r, Domains: []string{domain}, ReloadInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	if os.Getenv("EXTASIS_BENCH_AUDIT") != "" {
		if err := svc.Start(ctx); err != nil {
			tb.Fatal(err)
		}
	} else {
		go func() { // drain: measure the decision path alone
			for range svc.audit {
			}
		}()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	w := &benchWorld{svc: svc}
	all := make(map[jid.JID]*thing, benchThings)
	for i := 0; i < benchThings; i++ {
		th := jid.MustParse(fmt.Sprintf("thing%d@%s", i, domain))
		owner := jid.MustParse(fmt.Sprintf("owner%d@%s", i/2, domain))
		all[th] = &thing{jid: th, owner: owner}
		w.things = append(w.things, th)
	}
	origins := []string{"jid", "jid", "jid", "domain", "user", "all"}
	for id := 1; id <= benchRules; id++ {
		th := w.things[rng.IntN(benchThings)]
		t := all[th]
		a := Action(1 + rng.IntN(3))
		o := origins[rng.IntN(len(origins))]
		rule := storage.ProvisioningRule{ID: int64(id), Owner: t.owner, Thing: storage.ThingRef{JID: th}, Action: a.String(), Origin: o, Allow: rng.IntN(4) != 0}
		switch o {
		case "jid":
			rule.Remote = fmt.Sprintf("party%d@other%d.example", rng.IntN(1000), rng.IntN(50))
		case "domain":
			rule.Remote = fmt.Sprintf("other%d.example", rng.IntN(50))
		case "user":
			rule.Remote = fmt.Sprintf("prov.example:u%d", rng.IntN(1000))
		}
		if rng.IntN(2) == 0 {
			rule.Thing.Node = fmt.Sprintf("n%d", rng.IntN(4))
		}
		switch a {
		case Read:
			if rng.IntN(2) == 0 {
				rule.Categories = []string{"m", "i"}
				rule.Fields = []string{"Power", "Energy"}
			}
		case Control:
			if rng.IntN(2) == 0 {
				rule.Params = []string{"On"}
			}
		}
		t.rules = append(t.rules, rule)
	}
	svc.things.replaceAll(all)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	tb.Logf("world: %d owners, %d things, %d rules, heap %d MiB", benchOwners, benchThings, benchRules, ms.HeapAlloc>>20)
	// A request mix: half from a party some rule of the thing names, the
	// rest from parties no rule covers (denied, would be asked).
	for i := 0; i < 100_000; i++ {
		th := w.things[rng.IntN(benchThings)]
		t := all[th]
		req := Request{Action: Action(1 + rng.IntN(3)), Thing: th, Requester: jid.MustParse(fmt.Sprintf("stranger%d@nowhere%d.example", rng.IntN(1e6), rng.IntN(50)))}
		if len(t.rules) > 0 && rng.IntN(2) == 0 {
			rule := t.rules[rng.IntN(len(t.rules))]
			req.Action, _ = ParseAction(rule.Action)
			switch rule.Origin {
			case "jid":
				req.Requester = jid.MustParse(rule.Remote)
			case "domain":
				req.Requester = jid.MustParse("someone@" + rule.Remote)
			case "user":
				req.Tokens.User = []string{rule.Remote}
			}
			if rule.Thing.IsNode() {
				req.Nodes = []Node{nodeOf(rule.Thing)}
			}
		}
		switch req.Action {
		case Read:
			req.Categories = Momentary | Identity
			req.Fields = []string{"Power", "Serial"}
		case Control:
			req.Params = []string{"On", "Brightness"}
		}
		w.reqs = append(w.reqs, req)
	}
	return w
}

// BenchmarkDecide measures one decision through OPA (the per-thing
// decision cache off: every decision is evaluated), reporting latency
// percentiles and throughput on all CPUs.
func BenchmarkDecide(b *testing.B) {
	w := world(b)
	for _, cached := range []bool{false, true} {
		name := "opa"
		if cached {
			name = "cached"
		}
		// The cached runs ask the same 5000 questions again and again, as
		// things do after a clearCache or in enforcement mode.
		pool := w.reqs
		if cached {
			pool = w.reqs[:5000]
		}
		b.Run(name+"/latency", func(b *testing.B) {
			w.svc.noCache = !cached
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			cpu := make([]time.Duration, 0, b.N)
			// Wall time includes waiting for a CPU on a shared machine;
			// the thread's CPU time is what one decision costs.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := pool[i%len(pool)]
				t0, c0 := time.Now(), threadCPU()
				w.svc.Decide(ctx, &req, "question")
				cpu = append(cpu, threadCPU()-c0)
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportPercentiles(b, "", lat)
			reportPercentiles(b, "cpu-", cpu)
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			w.svc.noCache = !cached
			ctx := context.Background()
			var next atomic.Int64
			t0, c0 := time.Now(), processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := pool[int(next.Add(1))%len(pool)]
					w.svc.Decide(ctx, &req, "question")
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "decisions/s")
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
	w.svc.noCache = false
}

// BenchmarkDecideByAnswer splits the OPA path of BenchmarkDecide by the
// answer the policy gave, since the policy does more for some answers
// than others: the mean thread CPU of each kind, and its share.
func BenchmarkDecideByAnswer(b *testing.B) {
	w := world(b)
	w.svc.noCache = true
	defer func() { w.svc.noCache = false }()
	ctx := context.Background()
	kinds := []string{"no-rule", "rule", "rule-node", "denied", "denied-node"}
	var n [5]int
	var cpu [5]time.Duration
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := w.reqs[i%len(w.reqs)]
		c0 := threadCPU()
		d, _ := w.svc.Decide(ctx, &req, "question")
		c := threadCPU() - c0
		k := 0 // "no rule"
		switch d.Reason {
		case "rule":
			k = 1
		case "denied by rule":
			k = 3
		}
		if k > 0 && len(req.Nodes) > 0 {
			k++
		}
		n[k]++
		cpu[k] += c
	}
	b.StopTimer()
	for k, name := range kinds {
		if n[k] > 0 {
			b.ReportMetric(float64(cpu[k].Nanoseconds())/float64(n[k])/1e3, name+"-cpu-µs")
			b.ReportMetric(100*float64(n[k])/float64(b.N), name+"-%")
		}
	}
}

func reportPercentiles(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(p(0.50), prefix+"p50-µs")
	b.ReportMetric(p(0.99), prefix+"p99-µs")
}

// processCPU is the CPU time of the whole process (all threads, GC too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
