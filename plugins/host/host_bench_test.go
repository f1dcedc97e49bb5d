package host

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/stanza"
)

const benchClients = 100

// benchEnv starts the real echo binary behind a real router with 100 bound
// clients.
func benchEnv(b *testing.B) (*env, []*client) {
	tu := Tuning{QueueLen: 8192}
	e := newEnv(b, tu, echoPlugin(nil))
	cs := make([]*client, benchClients)
	for i := range cs {
		cs[i] = e.client(fmt.Sprintf("bench%d", i))
	}
	return e, cs
}

// roundTrip sends one message from c to the echo plugin and waits for the
// echo: client -> router -> host -> plugin process -> host -> router ->
// client session queue.
func roundTrip(b *testing.B, e *env, c *client, raw []byte) time.Duration {
	s, err := stanza.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	e.r.Route(context.Background(), s)
	select {
	case <-c.ch:
	case <-time.After(10 * time.Second):
		b.Fatal("no echo within 10s")
	}
	return time.Since(start)
}

func message(c *client) []byte {
	return []byte("<message from='" + c.jid.String() + "' to='echo.localhost' type='chat' id='b'><body>hello, echo</body></message>")
}

// cpuTime is the user+system CPU a process used so far (/proc, in clock
// ticks of 10ms).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// cpuMeter measures the CPU both processes (broker and plugin) spend.
type cpuMeter struct {
	pids  []int
	start time.Duration
}

func newCPUMeter(e *env) *cpuMeter {
	m := &cpuMeter{pids: []int{os.Getpid(), e.h.Plugins()[0].PID}}
	m.start = m.now()
	return m
}

func (m *cpuMeter) now() time.Duration {
	var t time.Duration
	for _, p := range m.pids {
		t += cpuTime(p)
	}
	return t
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration, cpu *cpuMeter) {
	used := cpu.now() - cpu.start
	b.ReportMetric(float64(used.Microseconds())/float64(len(lat)), "cpu-us/roundtrip")
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "roundtrips/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEchoRoundTrip is the closed-loop throughput: 100 clients, each
// sending its next message as soon as the previous echo arrives.
func BenchmarkEchoRoundTrip(b *testing.B) {
	e, cs := benchEnv(b)
	lat := make([]time.Duration, b.N)
	var next sync.Mutex
	i := 0
	b.ResetTimer()
	cpu := newCPUMeter(e)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := message(c)
			for {
				next.Lock()
				n := i
				i++
				next.Unlock()
				if n >= b.N {
					return
				}
				lat[n] = roundTrip(b, e, c, raw)
			}
		}()
	}
	wg.Wait()
	report(b, lat, time.Since(start), cpu)
}

// BenchmarkEchoRoundTripPaced is the open-loop latency at a fixed offered
// load (10,000 round trips/s over 100 clients, half the 20k/s floor).
func BenchmarkEchoRoundTripPaced(b *testing.B) {
	rate := 10_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_RATE")); err == nil {
		rate = v
	}
	e, cs := benchEnv(b)
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	per := b.N / len(cs)
	if per == 0 {
		per = 1
	}
	interval := time.Duration(len(cs)) * time.Second / time.Duration(rate)
	b.ResetTimer()
	cpu := newCPUMeter(e)
	start := time.Now()
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := message(c)
			// Spread the clients' ticks over one interval.
			time.Sleep(interval * time.Duration(k) / time.Duration(len(cs)))
			t := time.NewTicker(interval)
			defer t.Stop()
			mine := make([]time.Duration, 0, per)
			for range per {
				<-t.C
				mine = append(mine, roundTrip(b, e, c, raw))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	report(b, lat, time.Since(start), cpu)
}
