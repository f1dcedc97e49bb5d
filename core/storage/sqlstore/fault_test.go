package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/pgtest"
)

// TestPostgresOutage stops the server under a store in use, checks that
// calls fail with ErrUnavailable instead of hanging, starts it again and
// checks that the same store works and kept what it had written.
func TestPostgresOutage(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	dsn := pgtest.DatabaseOn(t, cluster.DSN)
	const timeout = 2 * time.Second
	// A call may wait for its own timeout plus a connection attempt.
	const bound = 3*timeout + 5*time.Second

	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{Timeout: timeout, ConnectTimeout: time.Second, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	alice := jid.MustParse("alice@outage.test")
	if err := s.CreateAccount(ctx, storage.Account{JID: alice, Credentials: []storage.Credential{{
		Hash: storage.SHA256, Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("stored"), ServerKey: []byte("server")}}}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	before := []byte("<message>written before the outage</message>")
	if _, err := s.StoreOffline(ctx, alice, before, 0); err != nil {
		t.Fatalf("StoreOffline: %v", err)
	}

	// A background client keeps logging in during the whole test; each call
	// must come back within the bound, with success or ErrUnavailable.
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		slowest  atomic.Int64
		badErr   atomic.Value
		failures atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			_, err := s.Credential(ctx, alice, storage.SHA256)
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
			if err != nil {
				failures.Add(1)
				if !errors.Is(err, storage.ErrUnavailable) {
					badErr.Store(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()

	cluster.Down(t)
	for i := range 3 {
		start := time.Now()
		_, err := s.Credential(ctx, alice, storage.SHA256)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Credential during outage #%d: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > bound {
			t.Fatalf("Credential during outage took %v", d)
		}
		t.Logf("during outage: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	if _, err := s.StoreOffline(ctx, alice, []byte("<message/>"), 0); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("StoreOffline during outage: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Ping during outage: %v, want ErrUnavailable", err)
	}

	cluster.Up(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Credential(ctx, alice, storage.SHA256)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within 30s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	msgs, err := s.OfflineMessages(ctx, alice, 0)
	if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].Raw, before) {
		t.Fatalf("after recovery OfflineMessages = %v, %v; want the message written before", msgs, err)
	}
	if _, err := s.StoreOffline(ctx, alice, []byte("<message>after</message>"), 0); err != nil {
		t.Fatalf("StoreOffline after recovery: %v", err)
	}

	// A wedged server (accepts connections, never answers) must not hang
	// callers either: the per-call timeout bounds them.
	cluster.Freeze(t)
	for i := range 2 {
		start := time.Now()
		_, err := s.Credential(ctx, alice, storage.SHA256)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Credential on a frozen server #%d: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > bound {
			t.Fatalf("Credential on a frozen server took %v", d)
		}
		t.Logf("frozen server: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	cluster.Thaw(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := s.Credential(ctx, alice, storage.SHA256)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within 30s after the server thawed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	close(stop)
	wg.Wait()
	if v := badErr.Load(); v != nil {
		t.Fatalf("background login got a non-ErrUnavailable error: %v", v)
	}
	if d := time.Duration(slowest.Load()); d > bound {
		t.Fatalf("slowest background call took %v", d)
	}
	t.Logf("background logins: %d failed during the outage, slowest call %v", failures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
}
