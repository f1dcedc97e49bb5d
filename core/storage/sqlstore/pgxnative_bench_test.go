package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/extasis/extasis/core/storage/pgtest"
)

// BenchmarkCredentialPgxpool is the login lookup through pgxpool directly,
// without database/sql, on the same data as BenchmarkCredential/postgres:
// the price of keeping one database/sql code path for both backends.
func BenchmarkCredentialPgxpool(b *testing.B) {
	dsn := pgtest.Database(b)
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const accounts = 10000
	seedAccounts(b, s, accounts)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	jids := make([]string, accounts)
	for i := range jids {
		jids[i] = fmt.Sprintf("u%d@bench.test", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuClock()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var (
				salt, stored, server []byte
				iter                 int
			)
			err := pool.QueryRow(ctx, `SELECT salt, iterations, stored_key, server_key FROM credentials WHERE jid = $1 AND hash = $2`,
				jids[r.IntN(accounts)], "SHA-256").Scan(&salt, &iter, &stored, &server)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	opsPerSecond(b, start)
	cpuPerOp(b, cpu0)
}
