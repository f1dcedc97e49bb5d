package pgtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvVar holds the DSN of a server where tests may create and drop
// databases.
const EnvVar = "EXTASIS_TEST_POSTGRES"

// ServerDSN returns the DSN in EnvVar, or skips the test (fails it under
// CI=true) when it is unset.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		msg := EnvVar + " is not set: PostgreSQL tests need a server; run: eval \"$(.ci/pg.sh start)\""
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (no test may skip under CI=true)")
		}
		t.Skip(msg)
	}
	return dsn
}

// Database creates a fresh database on the server of ServerDSN, drops it
// when the test ends, and returns its DSN.
func Database(t testing.TB) string {
	t.Helper()
	return DatabaseOn(t, ServerDSN(t))
}

// DatabaseOn is Database on the server that serverDSN names.
func DatabaseOn(t testing.TB, serverDSN string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "extasis_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverDSN)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends the test's own sessions, but a non-superuser cannot
		// end an autovacuum worker that happens to be in the database
		// (42501); it is gone in a moment, so try again.
		for attempt := 0; ; attempt++ {
			_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			if err == nil {
				return
			}
			var pe *pgconn.PgError
			if attempt < 20 && errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "55006") {
				time.Sleep(250 * time.Millisecond)
				continue
			}
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
	})
	u, err := url.Parse(serverDSN)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL DSN", EnvVar)
	}
	u.Path = "/" + name
	return u.String()
}

// Cluster is a private PostgreSQL server started with .ci/pg.sh in its own
// state folder, for tests that stop and restart the server without
// disturbing other tests.
type Cluster struct {
	DSN    string // of its "postgres" database; use DatabaseOn for a fresh one
	script string
	dir    string
}

// StartCluster starts a private cluster, stopped and removed when the test
// ends. It needs the same as ServerDSN (so it skips or fails the same way)
// and PostgreSQL installed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	ServerDSN(t)
	script, err := findScript()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Not t.TempDir: the server runs as the postgres user, which must be
	// able to enter every folder on the way.
	dir, err := os.MkdirTemp("", "extasis-pgfault-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c := &Cluster{script: script, dir: filepath.Join(dir, "pg")}
	t.Cleanup(func() {
		if out, err := c.run("stop"); err != nil {
			t.Errorf("pgtest: pg.sh stop: %v: %s", err, out)
		}
		os.RemoveAll(dir)
	})
	out, err := c.run("start")
	if err != nil {
		t.Fatalf("pgtest: pg.sh start: %v: %s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "export "+EnvVar+"="); ok {
			c.DSN = strings.Trim(v, "'")
		}
	}
	if c.DSN == "" {
		t.Fatalf("pgtest: pg.sh start printed no DSN: %s", out)
	}
	return c
}

// Down stops the server (pg_ctl stop -m fast), keeping its data and port.
func (c *Cluster) Down(t testing.TB) {
	t.Helper()
	if out, err := c.run("down"); err != nil {
		t.Fatalf("pgtest: pg.sh down: %v: %s", err, out)
	}
}

// Up starts the server again after Down.
func (c *Cluster) Up(t testing.TB) {
	t.Helper()
	if out, err := c.run("up"); err != nil {
		t.Fatalf("pgtest: pg.sh up: %v: %s", err, out)
	}
}

// Freeze stops every process of the cluster with SIGSTOP: the server then
// accepts TCP connections (the kernel does) but never answers, which is how
// an overloaded or wedged database looks to a client. Thaw undoes it; the
// test's cleanup thaws too, so that stop can work.
func (c *Cluster) Freeze(t testing.TB) {
	t.Helper()
	pids, err := c.pids()
	if err != nil {
		t.Fatalf("pgtest: freeze: %v", err)
	}
	t.Cleanup(func() { c.signal(pids, syscall.SIGCONT) })
	c.signal(pids, syscall.SIGSTOP)
}

// Thaw resumes the processes Freeze stopped.
func (c *Cluster) Thaw(t testing.TB) {
	t.Helper()
	pids, err := c.pids()
	if err != nil {
		t.Fatalf("pgtest: thaw: %v", err)
	}
	c.signal(pids, syscall.SIGCONT)
}

func (c *Cluster) signal(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		syscall.Kill(p, sig)
	}
}

// pids returns the postmaster of this cluster (from its postmaster.pid)
// and its children: only processes this test started.
func (c *Cluster) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{pm}
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pm, pm))
	if err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(string(kids)) {
		if k, err := strconv.Atoi(f); err == nil {
			pids = append(pids, k)
		}
	}
	return pids, nil
}

func (c *Cluster) run(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, "bash", c.script, cmd)
	x.Env = append(os.Environ(), "PGTEST_DIR="+c.dir)
	out, err := x.CombinedOutput()
	return string(out), err
}

// findScript walks up from the test's folder to the repository's
// .ci/pg.sh.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".ci", "pg.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no .ci/pg.sh above the test folder")
		}
		dir = parent
	}
}
