package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Benchmarks run on both backends; PostgreSQL ones need
// EXTASIS_TEST_POSTGRES (see .ci/pg.sh) and skip without it.
//
//	go test -run '^$' -bench . ./core/storage/sqlstore/

var benchBackends = []struct {
	name string
	open func(testing.TB) *Store
}{
	{"sqlite", func(tb testing.TB) *Store { return openSQLiteTemp(tb) }},
	{"postgres", func(tb testing.TB) *Store { return openPostgresTemp(tb) }},
}

// seedAccounts inserts n accounts u0..u{n-1}@bench.test with a SHA-256
// verifier in one statement per table, which the API would take minutes
// for at a million.
func seedAccounts(tb testing.TB, s *Store, n int) {
	tb.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	const gen = `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < $1 - 1) `
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, gen+`INSERT INTO accounts (jid, domain, created, roster_version, roster_floor)
		SELECT 'u' || i || '@bench.test', 'bench.test', 0, 0, 0 FROM g`, n); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, gen+`INSERT INTO credentials (jid, hash, salt, iterations, stored_key, server_key)
		SELECT 'u' || i || '@bench.test', 'SHA-256', $2, 4096, $3, $3 FROM g`, n, key[:16], key); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if s.d.name == "postgres" {
		if _, err := s.w.ExecContext(ctx, `ANALYZE`); err != nil {
			tb.Fatal(err)
		}
	}
}

func opsPerSecond(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// cpuClock returns the CPU time this process has used. Benchmarks report
// it per op beside wall time because the shared test machines are loaded:
// wall time swings with other work, CPU per op much less. For PostgreSQL
// it counts only the client side.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuPerOp(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuClock()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkCredential is a login storm: parallel verifier lookups of
// random accounts among 10,000.
func BenchmarkCredential(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			const accounts = 10000
			seedAccounts(b, s, accounts)
			jids := make([]jid.JID, accounts)
			for i := range jids {
				jids[i] = jid.MustParse(fmt.Sprintf("u%d@bench.test", i))
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuClock()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					if _, err := s.Credential(ctx, jids[r.IntN(accounts)], storage.SHA256); err != nil {
						b.Error(err)
						return
					}
				}
			})
			opsPerSecond(b, start)
			cpuPerOp(b, cpu0)
		})
	}
}

// BenchmarkOfflineStoreFlush stores 100 messages for one account, then
// fetches and deletes them, as a reconnecting client would see them.
// One op is the whole cycle of 100.
func BenchmarkOfflineStoreFlush(b *testing.B) {
	msg := []byte(`<message from='bob@bench.test/phone' to='alice@bench.test' type='chat' id='x1'><body>hello, this is a typical short chat message</body></message>`)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			alice := jid.MustParse("alice@bench.test")
			if err := s.CreateAccount(ctx, storage.Account{JID: alice}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuClock()
			for range b.N {
				for range 100 {
					if _, err := s.StoreOffline(ctx, alice, msg, 1000); err != nil {
						b.Fatal(err)
					}
				}
				msgs, err := s.OfflineMessages(ctx, alice, 0)
				if err != nil || len(msgs) != 100 {
					b.Fatalf("OfflineMessages: %d, %v", len(msgs), err)
				}
				if err := s.DeleteOffline(ctx, alice, msgs[len(msgs)-1].ID); err != nil {
					b.Fatal(err)
				}
			}
			opsPerSecond(b, start)
			cpuPerOp(b, cpu0)
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*100), "ns/msg")
		})
	}
}

// BenchmarkRosterFetch reads a roster of 500 items, as at every login of a
// client without roster versioning.
func BenchmarkRosterFetch(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			alice := jid.MustParse("alice@bench.test")
			if err := s.CreateAccount(ctx, storage.Account{JID: alice}); err != nil {
				b.Fatal(err)
			}
			for i := range 500 {
				it := storage.RosterItem{
					Contact: jid.MustParse(fmt.Sprintf("contact%03d@example.org", i)), Name: fmt.Sprintf("Contact %d", i),
					Groups: []string{"Friends", "Sensors"}, Subscription: storage.Both,
				}
				if _, err := s.PutRosterItem(ctx, alice, it, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuClock()
			for range b.N {
				items, _, err := s.RosterItems(ctx, alice)
				if err != nil || len(items) != 500 {
					b.Fatalf("RosterItems: %d, %v", len(items), err)
				}
			}
			opsPerSecond(b, start)
			cpuPerOp(b, cpu0)
		})
	}
}
