package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// benchThings is how many public things the search benchmarks hold:
// EXTASIS_BENCH_THINGS (the figure is 1000000), default 20000 so
// that `go test -bench .` stays quick.
func benchThings(b *testing.B) int {
	n := 20000
	if v := os.Getenv("EXTASIS_BENCH_THINGS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("EXTASIS_BENCH_THINGS=%q: want a number ≥ 1000", v)
		}
	}
	return n
}

// generate fills an empty store with n claimed public things directly in
// SQL: MAN (50 values), MODEL (500), SN (unique, SN-00000001…), CLASS (20),
// numeric LAT and LON spread over the globe, V (10 values); then loads
// the search index.
func generate(b testing.TB, s *Store, n int) {
	ctx := context.Background()
	start := time.Now()
	series := "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < " + strconv.Itoa(n) + ") "
	from := "c"
	sn := "printf('SN-%08d', id)"
	if s.backend == "postgres" {
		series = ""
		from = "generate_series(1, " + strconv.Itoa(n) + ") AS c(i)"
		sn = "'SN-' || lpad(id::text, 8, '0')"
	}
	stmts := []string{
		series + `INSERT INTO registry_things (id, jid, state, owner, public, vis, digest, ns, created, updated)
			SELECT i, 't' || i || '@bench.example', 1, 'owner' || (i % 1000) || '@bench.example', 1, 1, 'd' || i, 'urn:nf:iot:disco:1.0', 0, 0 FROM ` + from,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'MAN', 'MAN', 'man' || (id % 50) || '.example', NULL FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'MODEL', 'MODEL', 'M-' || (id % 500), NULL FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'SN', 'SN', ` + sn + `, NULL FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'CLASS', 'CLASS', 'Class' || ((id * 7) % 20), NULL FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'LAT', 'LAT', NULL, ((id * 7919) % 180000) / 1000.0 - 90 FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'LON', 'LON', NULL, ((id * 104729) % 360000) / 1000.0 - 180 FROM registry_things`,
		`INSERT INTO registry_tags (thing_id, name, label, s, n) SELECT id, 'V', 'V', NULL, (id % 10) / 2.0 FROM registry_things`,
	}
	if s.backend == "postgres" {
		stmts = append(stmts, "SELECT setval(pg_get_serial_sequence('registry_things', 'id'), "+strconv.Itoa(n)+")")
	}
	for _, q := range stmts {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			b.Fatalf("generate: %v\n%s", err, q)
		}
	}
	// PostgreSQL: VACUUM sets the visibility map, without which index-only
	// scans still read the table (autovacuum does it in production).
	analyze := "ANALYZE"
	if s.backend == "postgres" {
		analyze = "VACUUM ANALYZE"
	}
	if _, err := s.w.ExecContext(ctx, analyze); err != nil {
		b.Fatal(err)
	}
	if err := s.reindex(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: generated %d things (%d tags) in %s", s.backend, n, 7*n, time.Since(start).Round(time.Second))
}

// benchStore opens a store with n generated things. The SQLite file is
// kept in the temp directory and reused by later runs with the same n.
func benchStore(b *testing.B, backend string, n int) *Store {
	ctx := context.Background()
	if backend == "postgres" {
		s, err := Open(ctx, pgtest.Database(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		generate(b, s, n)
		return s
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("extasis-registry-bench-v%d.1-%d.db", schemaVersion, n))
	s, err := Open(ctx, path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var have int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM registry_things WHERE vis = 1").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have != n {
		s.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if s, err = Open(ctx, path, Options{}); err != nil {
			b.Fatal(err)
		}
		generate(b, s, n)
	}
	b.Cleanup(func() { s.Close() })
	// Opening a kept file loads the index in the background.
	if _, err := s.WaitIndex(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// latency runs f b.N times and reports p50 and p99 in milliseconds.
func latency(b *testing.B, f func(i int)) {
	var d []time.Duration
	for i := 0; b.Loop(); i++ {
		t := time.Now()
		f(i)
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkSearch(b *testing.B) {
	n := benchThings(b)
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			s := benchStore(b, backend, n)
			ctx := context.Background()
			search := func(b *testing.B, ops []Operator, max int) int {
				f, err := s.Search(ctx, ops, 0, max)
				if err != nil {
					b.Fatal(err)
				}
				return len(f.Things)
			}
			// The indexed two-operator search: one class (5% of things)
			// in a band of latitude: half a degree (0.28% of things, so
			// ~2800 candidates to check per million), or a tenth (~560).
			for _, band := range []struct {
				name  string
				width float64
			}{{"strEq+numRange", 0.5}, {"strEq+numRange-narrow", 0.1}} {
				b.Run(band.name, func(b *testing.B) {
					found := 0
					latency(b, func(i int) {
						lat := float64(i%340)/2 - 85
						found += search(b, []Operator{
							{Kind: OpEq, Name: "CLASS", Str: "Class" + strconv.Itoa(i%20)},
							{Kind: OpRange, Numeric: true, Name: "LAT", NumMin: lat, NumMax: lat + band.width, MinIncluded: true, MaxIncluded: true},
						}, 100)
					})
					b.ReportMetric(float64(found)/float64(b.N), "things/op")
				})
			}
			// A serial-number prefix mask: 10000 matches per million, a
			// page of 100.
			b.Run("strMask-prefix", func(b *testing.B) {
				found := 0
				latency(b, func(i int) {
					p := fmt.Sprintf("SN-%04d*", i%(max(1, n/10000)))
					found += search(b, []Operator{{Kind: OpMask, Name: "SN", Str: p, Wildcard: '*'}}, 100)
				})
				b.ReportMetric(float64(found)/float64(b.N), "things/op")
			})
			// A suffix mask cannot use the index: the page is filled by
			// walking the serial numbers in record order (1% match).
			b.Run("strMask-suffix", func(b *testing.B) {
				found := 0
				latency(b, func(i int) {
					p := fmt.Sprintf("SN-*%02d", i%100)
					found += search(b, []Operator{{Kind: OpMask, Name: "SN", Str: p, Wildcard: '*'}}, 100)
				})
				b.ReportMetric(float64(found)/float64(b.N), "things/op")
			})
			// Registrations: a new thing with seven tags and a KEY, one
			// transaction each; unclaimed (the index is not involved), or
			// self-owned, so public at once: read back and indexed.
			for _, self := range []bool{false, true} {
				name := "register"
				if self {
					name = "register-public"
				}
				b.Run(name, func(b *testing.B) {
					base := time.Now().UnixNano()
					for i := 0; b.Loop(); i++ {
						tags := []iotdisco.Tag{
							{Name: "MAN", Value: "acme.example"}, {Name: "MODEL", Value: "EM-200"},
							{Name: "SN", Value: fmt.Sprintf("R-%d-%d", base, i)}, {Name: "CLASS", Value: "Meter"},
							{Name: "LAT", Value: "59.3293", Numeric: true}, {Name: "LON", Value: "18.0686", Numeric: true},
							{Name: "V", Value: "3.1", Numeric: true}, {Name: "KEY", Value: fmt.Sprintf("%d-%d", base, i)},
						}
						if _, _, err := s.Register(ctx, Ref{JID: fmt.Sprintf("r%d-%d@bench.example", base, i)}, tags, self, "urn:nf:iot:disco:1.0"); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
				})
			}
		})
	}
}

// BenchmarkIndexLoad measures loading the search index from SQL, as at
// every start (run it with -benchtime 3x), and the memory the index
// holds: the live heap it adds.
func BenchmarkIndexLoad(b *testing.B) {
	n := benchThings(b)
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			s := benchStore(b, backend, n)
			ctx := context.Background()
			var m0, m1 runtime.MemStats
			var d *ixdata
			for b.Loop() {
				d = nil
				runtime.GC()
				runtime.ReadMemStats(&m0)
				var err error
				if d, err = s.build(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/1000, "load-s")
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/(1<<20), "index-MiB")
			b.ReportMetric(float64(d.all.GetCardinality()), "things")
			b.ReportMetric(float64(d.values()), "values")
			runtime.KeepAlive(d)
		})
	}
}
