package app_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// brokerCPU returns the CPU time the broker process has used (user and
// system, from /proc; 10 ms resolution). The machines these run on are
// shared, so CPU per message is steadier than wall time.
func brokerCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command name, which may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkOfflineStoreFlush: offline messages through the real broker on
// the backend EXTASIS_TEST_BACKEND names. alice sends b.N chat messages to
// carol, who is offline, so that each is stored; then carol logs in and
// receives them all, which reads and deletes them. Compare the backends
// with:
//
//	go test -run '^$' -bench OfflineStoreFlush -benchtime 5000x ./core/app/
//	EXTASIS_TEST_BACKEND=postgres go test -run '^$' -bench OfflineStoreFlush -benchtime 5000x ./core/app/
//
// For PostgreSQL the CPU figures are the broker's only, not the server's.
func BenchmarkOfflineStoreFlush(b *testing.B) {
	br := apptest.Start(b, apptest.Options{Extra: "im:\n  max_offline: 1000000\nlimits:\n  out_queue: 256MiB\nlog:\n  level: warn\n"})
	br.AddUser("alice@localhost", "alice-password")
	br.AddUser("carol@localhost", "carol-password")
	alice := pgLogin(b, br, "alice", "a")
	pid := br.PID()

	b.ResetTimer()
	cpu0, start := brokerCPU(b, pid), time.Now()
	for i := range b.N {
		alice.send("<message type='chat' to='carol@localhost'><body>offline " + strconv.Itoa(i) + "</body></message>")
	}
	alice.sync()
	storeWall, storeCPU := time.Since(start), brokerCPU(b, pid)-cpu0

	cpu0, start = brokerCPU(b, pid), time.Now()
	carol := pgLogin(b, br, "carol", "c")
	flushWall, flushCPU := time.Since(start), brokerCPU(b, pid)-cpu0
	b.StopTimer()

	got := 0
	for _, el := range carol.skipped {
		if el.Name.Local == "message" {
			got++
		}
	}
	if got != b.N {
		b.Fatalf("carol received %d offline messages, want %d", got, b.N)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(storeWall), "store-µs/msg")
	b.ReportMetric(per(storeCPU), "store-cpu-µs/msg")
	b.ReportMetric(per(flushWall), "flush-µs/msg")
	b.ReportMetric(per(flushCPU), "flush-cpu-µs/msg")
}
