package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// The one-off measurement of startup with a million accounts:
//
//	EXTASIS_BENCH_MILLION=1 go test -run '^$' -bench StartupMillion -benchtime 1x ./core/storage/sqlstore/
//
// It seeds 1,000,000 accounts in each backend, then starts a fresh process
// (this test binary, see TestMain) that opens the store and looks one
// account up, and reports the child's wall time and peak RSS.

const startupChildEnv = "EXTASIS_STARTUP_CHILD_DSN"

func TestMain(m *testing.M) {
	if dsn := os.Getenv(startupChildEnv); dsn != "" {
		os.Exit(startupChild(dsn))
	}
	os.Exit(m.Run())
}

// startupChild opens the store, looks one account up and prints the
// elapsed time and the process's peak RSS.
func startupChild(dsn string) int {
	start := time.Now()
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opened := time.Since(start)
	if _, err := s.Credential(ctx, jid.MustParse("u765432@bench.test"), storage.SHA256); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	total := time.Since(start)
	s.Close()
	fmt.Printf("open_ns %d\nfirst_lookup_ns %d\nrss_kb %d\n", opened.Nanoseconds(), total.Nanoseconds(), peakRSSKiB())
	return 0
}

func peakRSSKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return -1
}

func BenchmarkStartupMillion(b *testing.B) {
	if os.Getenv("EXTASIS_BENCH_MILLION") == "" {
		b.Skip("set EXTASIS_BENCH_MILLION=1 to seed 1,000,000 accounts and measure startup")
	}
	const n = 1000000
	for _, be := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "million.db") }},
		{"postgres", func(tb testing.TB) string { return pgtestDatabase(tb) }},
	} {
		b.Run(be.name, func(b *testing.B) {
			dsn := be.dsn(b)
			s, err := Open(context.Background(), dsn, Options{})
			if err != nil {
				b.Fatal(err)
			}
			seedStart := time.Now()
			seedAccounts(b, s, n)
			b.Logf("seeded %d accounts in %v", n, time.Since(seedStart).Round(time.Millisecond))
			s.Close()
			b.ResetTimer()
			var open, first, rss float64
			for range b.N {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), startupChildEnv+"="+dsn)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v: %s", err, out)
				}
				var o, f, r float64
				fmt.Sscanf(string(out), "open_ns %g\nfirst_lookup_ns %g\nrss_kb %g", &o, &f, &r)
				open, first, rss = open+o, first+f, max(rss, r)
			}
			b.ReportMetric(open/float64(b.N)/1e6, "open-ms")
			b.ReportMetric(first/float64(b.N)/1e6, "open+lookup-ms")
			b.ReportMetric(rss/1024, "peak-RSS-MiB")
		})
	}
}
