package app_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/core/storage/pgtest"
)

// silentPeer accepts TCP connections on loopback and never answers, as a
// wedged database host or a firewall that lets SYNs through does.
func silentPeer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(time.Minute))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}

// TestServeStorageErrors: `extasis serve` with storage it cannot use exits
// non-zero within seconds, printing one line that names the problem, its
// fix and where the DSN came from, and never the password.
func TestServeStorageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	server, err := url.Parse(pgtest.ServerDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := server.User.Password()
	dsn := func(f func(u *url.URL)) string {
		u := *server
		f(&u)
		return u.String()
	}
	closed := apptest.FreePort(t)
	tests := []struct {
		name string
		dsn  string
		env  bool   // in EXTASIS_STORAGE instead of the config file
		want string // the problem and the fix
	}{
		{name: "wrong password", dsn: dsn(func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "not-the-password") }),
			want: `refused the password for user "extasis" (check the user and password in`},
		{name: "wrong password from the environment", env: true, dsn: dsn(func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), "not-the-password") }),
			want: `refused the password for user "extasis" (check the user and password in the EXTASIS_STORAGE environment variable`},
		{name: "unknown database", dsn: dsn(func(u *url.URL) { u.Path = "/no_such_db" }),
			want: `has no database "no_such_db" (create it: createdb -O extasis no_such_db, or fix the database name in`},
		{name: "nothing listens", dsn: dsn(func(u *url.URL) { u.Host = closed }),
			want: "refused the connection: nothing listens there (is PostgreSQL running? check the host and port in"},
		{name: "host never answers", dsn: dsn(func(u *url.URL) { u.Host = silentPeer(t) }),
			want: "did not answer within 2s (is the host reachable and the port open? check the host and port in"},
		{name: "malformed DSN", dsn: "postgres://extasis:" + password + "@127.0.0.1:notaport/db",
			want: "is not a valid PostgreSQL DSN (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)"},
		{name: "TLS required, server has none", dsn: dsn(func(u *url.URL) { u.RawQuery = "sslmode=require" }),
			want: "does not accept TLS, which the DSN requires (turn ssl on in postgresql.conf, or set sslmode=disable in"},
		{name: "unknown scheme", dsn: "mysql://extasis:" + password + "@127.0.0.1/db",
			want: `has scheme "mysql" (expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE)`},
	}
	bin := apptest.Binary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "extasis.yaml")
			yaml := "data_dir: " + filepath.Join(dir, "data") + "\n" +
				"c2s:\n  listen: [\"127.0.0.1:0\"]\n  direct_tls: []\nhttp:\n  listen: \"\"\n" +
				"storage_pool:\n  connect_timeout: 2s\n"
			source := "'storage:' in " + cfg
			if tt.env {
				source = "the EXTASIS_STORAGE environment variable"
			} else {
				yaml += "storage: '" + tt.dsn + "'\n"
			}
			if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
			cmd.Dir = dir
			cmd.Env = os.Environ()
			if tt.env {
				cmd.Env = append(cmd.Env, "EXTASIS_STORAGE="+tt.dsn)
			}
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			msg := strings.TrimSpace(string(out))
			t.Logf("exit %v after %v: %s", err, took.Round(time.Millisecond), msg)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
				t.Fatalf("serve: %v, want a non-zero exit", err)
			}
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "extasis: storage: ") {
				t.Fatalf("serve printed %q, want one line starting with 'extasis: storage: '", msg)
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, source) {
				t.Fatalf("serve printed %q, want it to say %q and name %s", msg, tt.want, source)
			}
			if strings.Contains(msg, password) || strings.Contains(msg, "not-the-password") {
				t.Fatalf("serve printed the password: %q", msg)
			}
			// A hang detector, not a benchmark: the bound is the connect
			// timeout with a wide margin for a loaded machine.
			if took > 30*time.Second {
				t.Fatalf("serve took %v to fail", took)
			}
		})
	}
}
