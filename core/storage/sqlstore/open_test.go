package sqlstore

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/pgtest"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenPostgresErrors(t *testing.T) {
	server := pgtest.ServerDSN(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	with := func(f func(u *url.URL)) string {
		c := *u
		f(&c)
		return c.String()
	}
	tests := []struct {
		name        string
		dsn         string
		want        string
		unavailable bool
	}{
		{"wrong password", with(func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "not-the-password") }),
			`refused the password for user "extasis"`, false},
		{"unknown user", with(func(u *url.URL) { u.User = url.UserPassword("nosuchuser", "x") }),
			`refused the password for user "nosuchuser"`, false},
		{"unknown database", with(func(u *url.URL) { u.Path = "/no_such_db" }),
			`has no database "no_such_db"`, false},
		{"nothing listens", with(func(u *url.URL) { u.Host = closedPort(t) }),
			"refused the connection: nothing listens there", true},
		{"bad dsn", "postgres://extasis:" + password + "@127.0.0.1:notaport/x", "is not a valid PostgreSQL DSN", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(context.Background(), tt.dsn, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Logf("%v (after %v)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("Open error %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, password) || strings.Contains(msg, "not-the-password") {
				t.Fatalf("Open error is not one line without the password: %q", msg)
			}
			if errors.Is(err, storage.ErrUnavailable) != tt.unavailable {
				t.Fatalf("errors.Is(ErrUnavailable) = %v, want %v", !tt.unavailable, tt.unavailable)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("Open took %v to fail", d)
			}
		})
	}
}

func TestOpenSQLiteDSNs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, dsn, file string
		fails           bool
	}{
		{"sqlite prefix", "sqlite:" + filepath.Join(dir, "a", "x.db"), filepath.Join(dir, "a", "x.db"), false},
		{"file prefix", "file:" + filepath.Join(dir, "b", "x.db"), filepath.Join(dir, "b", "x.db"), false},
		{"plain path", filepath.Join(dir, "c", "d", "x.db"), filepath.Join(dir, "c", "d", "x.db"), false},
		{"memory", ":memory:", "", false},
		{"other scheme", "mysql://u:p@h/db", "", true},
		{"query in path", "sqlite:" + filepath.Join(dir, "x.db?mode=ro"), "", true},
		{"not a database", "sqlite:" + writeFile(t, filepath.Join(dir, "junk.db"), "this is not sqlite, just text that is long enough to fill a header"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.dsn, Options{})
			if tt.fails {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("multi-line error %q", err)
				}
				t.Logf("%v", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if err := s.CreateAccount(context.Background(), storage.Account{JID: jid.MustParse("a@b.test")}); err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
			if tt.file == "" {
				return
			}
			for p, want := range map[string]os.FileMode{tt.file: 0o600, tt.file + "-wal": 0o600, filepath.Dir(tt.file): 0o700 | os.ModeDir} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Fatalf("%s has mode %v, want %v", p, fi.Mode(), want)
				}
			}
		})
	}
}

func writeFile(t *testing.T, p, content string) string {
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSQLitePragmas(t *testing.T) {
	s := openSQLiteTemp(t)
	ctx := context.Background()
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"}, {"foreign_keys", "1"}, {"synchronous", "1"}, {"busy_timeout", "10000"},
	} {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := s.r.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("reader PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
			}
			if err := s.w.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("writer PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
			}
		})
	}
	if _, err := s.r.ExecContext(ctx, "DELETE FROM accounts"); err == nil {
		t.Fatal("a read connection accepted a write")
	}
}

// TestMigrate checks migrations on both backends: applied once, idempotent,
// reported by Status, and safe when several nodes open a fresh database at
// the same moment.
func TestMigrate(t *testing.T) {
	backends := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "m.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Database(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.dsn(t)
			s, err := Open(ctx, dsn, Options{NoMigrate: true})
			if err != nil {
				t.Fatalf("Open(NoMigrate): %v", err)
			}
			defer s.Close()
			st, err := s.Status(ctx)
			if err != nil || len(st) == 0 || !st[0].Applied.IsZero() {
				t.Fatalf("Status before Migrate = %+v, %v; want all pending", st, err)
			}

			// Nodes starting together: every Open succeeds, each migration
			// is applied exactly once.
			const nodes = 4
			var wg sync.WaitGroup
			errs := make(chan error, nodes)
			for range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := Open(ctx, dsn, Options{})
					if err == nil {
						n.Close()
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent Open: %v", err)
				}
			}
			st, err = s.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range st {
				if m.Applied.IsZero() || m.Name == "" {
					t.Fatalf("Status after Open = %+v; want all applied", st)
				}
			}
			applied, err := s.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second Migrate = %+v, %v; want nothing to do", applied, err)
			}
			// A database migrated by a newer build is refused.
			if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (9999, 'future', 0)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer than this extasis") {
				t.Fatalf("Migrate on a newer schema: %v", err)
			}
		})
	}
}
