package register_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/sdk/thing"
)

// BenchmarkE2ESignedRegistration is a device's first boot against the
// real binary over loopback, as thing.Register does it: TCP, STARTTLS, the
// form, the signed submission (signature, nonce, PBKDF2 for two SCRAM
// verifiers at 4096 iterations, one SQLite transaction), then SCRAM-SHA-256-PLUS
// and bind. Sequential: one device after the other.
func BenchmarkE2ESignedRegistration(b *testing.B) {
	br := apptest.Start(b, apptest.Options{Extra: extra})
	k := createKey(b, br, "--accounts", "100000000")
	var n atomic.Int64
	for b.Loop() {
		registerOne(b, br, k, n.Add(1))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// BenchmarkE2ESignedRegistrationParallel is many devices onboarding at
// once (GOMAXPROCS × 4 at a time).
func BenchmarkE2ESignedRegistrationParallel(b *testing.B) {
	br := apptest.Start(b, apptest.Options{Extra: extra})
	k := createKey(b, br, "--accounts", "100000000")
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			registerOne(b, br, k, n.Add(1))
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
}

func registerOne(b *testing.B, br *apptest.Broker, k key, i int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := thing.Register(ctx, thingConfig(br, fmt.Sprintf("bench-%d", i), "bench password", k))
	if err != nil {
		b.Error(err)
		return
	}
	s.Close()
}
