package apptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// ModuleRoot returns the directory of the root go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("apptest: go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("apptest: not inside the module")
	}
	return filepath.Dir(mod)
}

// Binary builds cmd/extasis once per test process and returns its path;
// with APPTEST_RACE=1 in the environment it is built with -race.
// The binary goes to the same place for every test process of this
// checkout, so that the go command finds it up to date and does not link
// it again for each package (linking is most of a build); a file lock
// keeps packages tested in parallel from building it at the same time.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root := ModuleRoot(t)
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("extasis-apptest-%d", os.Getuid()), hex.EncodeToString(sum[:8]))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			buildErr = err
			return
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			buildErr = err
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			buildErr = err
			return
		}
		defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
		args := []string{"build", "-o"}
		if os.Getenv("APPTEST_RACE") == "1" {
			// The broker itself under the race detector.
			buildBin = filepath.Join(dir, "extasis-race")
			args = append(args, buildBin, "-race")
		} else {
			buildBin = filepath.Join(dir, "extasis")
			args = append(args, buildBin)
		}
		cmd := exec.Command("go", append(args, "./cmd/extasis")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/extasis: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("apptest: %v", buildErr)
	}
	return buildBin
}

// FreePort returns a loopback address with a port that was free a moment
// ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Options configure a broker.
type Options struct {
	Domains []string // default: localhost
	// Extra is YAML appended to the generated config (top-level keys the
	// generated part does not set: limits, im, plugins, admins, ...).
	Extra string
	// Storage is a DSN; empty: SQLite in the data dir, or a fresh
	// PostgreSQL database when BackendEnv says postgres.
	Storage string
	Env     []string
	// Dir reuses a data directory (restart tests); empty: a new temp dir.
	Dir string
	// Binary runs this extasis instead of the one Binary builds (a build
	// with other link flags).
	Binary string
}

// Broker is a running extasis process.
type Broker struct {
	t         testing.TB
	Bin       string
	Dir       string // data dir, also the working directory
	Config    string // config file path
	Domain    string // first domain
	C2S       string // STARTTLS address
	DirectTLS string
	HTTP      string
	base      map[string]any // generated config, before Options.Extra
	cmd       *exec.Cmd
	log       *syncBuffer
	done      chan struct{}
	exitErr   error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs `extasis serve` and waits until /healthz answers.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = Binary(t)
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	if len(opts.Domains) == 0 {
		opts.Domains = []string{"localhost"}
	}
	b := &Broker{t: t, Bin: bin, Dir: dir, Domain: opts.Domains[0],
		C2S: FreePort(t), DirectTLS: FreePort(t), HTTP: FreePort(t)}
	b.Config = filepath.Join(dir, "extasis.yaml")
	b.base = map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"log":      map[string]any{"level": "debug"},
		"c2s":      map[string]any{"listen": []any{b.C2S}, "direct_tls": []any{b.DirectTLS}},
		"http":     map[string]any{"listen": b.HTTP},
		// Fewer PBKDF2 iterations keep client-side SCRAM fast in tests.
		"auth": map[string]any{"iterations": 4096},
	}
	if opts.Storage == "" {
		opts.Storage = defaultStorage(t, dir)
	}
	if opts.Storage != "" {
		b.base["storage"] = opts.Storage
	}
	var domains []any
	for _, d := range opts.Domains {
		domains = append(domains, map[string]any{"name": d})
	}
	b.base["domains"] = domains
	if err := b.WriteConfig(opts.Extra); err != nil {
		t.Fatal(err)
	}
	b.start(opts.Env)
	t.Cleanup(func() {
		b.Stop()
		if strings.Contains(b.Log(), "WARNING: DATA RACE") {
			t.Error("apptest: the broker reported a data race (APPTEST_RACE=1 builds it with -race)")
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", b.Log())
		}
	})
	return b
}

func (b *Broker) start(env []string) {
	t := b.t
	b.log = &syncBuffer{}
	b.done = make(chan struct{})
	cmd := exec.Command(b.Bin, "serve", "--config", b.Config)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("apptest: start broker: %v", err)
	}
	b.cmd = cmd
	go func() {
		b.exitErr = cmd.Wait()
		close(b.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-b.done:
			t.Fatalf("apptest: broker exited during start: %v\n%s", b.exitErr, b.Log())
		default:
		}
		resp, err := http.Get("http://" + b.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("apptest: broker not healthy after 30s\n%s", b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WriteConfig rewrites the config file: the generated part (data dir,
// ports, domains, log level, fast test iterations) with extra merged over
// it, mapping by mapping, so that extra may set keys inside c2s: or http:
// too. The broker reads it at its next start or SIGHUP.
func (b *Broker) WriteConfig(extra string) error {
	merged := maps.Clone(b.base)
	if strings.TrimSpace(extra) != "" {
		var over map[string]any
		if err := yaml.Unmarshal([]byte(extra), &over); err != nil {
			return fmt.Errorf("apptest: extra config: %w", err)
		}
		merged = mergeYAML(merged, over)
	}
	out, err := yaml.Marshal(merged)
	if err != nil {
		return fmt.Errorf("apptest: config: %w", err)
	}
	return os.WriteFile(b.Config, out, 0o600)
}

// mergeYAML returns base with over merged in: mappings merge key by key,
// anything else in over replaces what base has.
func mergeYAML(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = mergeYAML(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// Log returns what the broker wrote to stderr so far.
func (b *Broker) Log() string { return b.log.String() }

// PID returns the broker's process id.
func (b *Broker) PID() int { return b.cmd.Process.Pid }

// Signal sends sig to the broker.
func (b *Broker) Signal(sig os.Signal) { _ = b.cmd.Process.Signal(sig) }

// Wait waits for the broker to exit and returns its exit error.
func (b *Broker) Wait(timeout time.Duration) error {
	select {
	case <-b.done:
		return b.exitErr
	case <-time.After(timeout):
		return fmt.Errorf("apptest: broker still running after %s", timeout)
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 10s). Safe to call twice.
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// Restart stops the broker and starts it again on the same ports and data.
func (b *Broker) Restart() {
	b.Stop()
	b.start(nil)
}

// CLI runs an extasis subcommand against this broker's config, with stdin.
func (b *Broker) CLI(stdin string, args ...string) (string, error) {
	cmd := exec.Command(b.Bin, append(args, "--config", b.Config)...)
	cmd.Dir = b.Dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// AddUser creates an account with the CLI.
func (b *Broker) AddUser(jidStr, password string) {
	b.t.Helper()
	if out, err := b.CLI(password+"\n", "account", "add", jidStr); err != nil {
		b.t.Fatalf("apptest: account add %s: %v\n%s", jidStr, err, out)
	}
}

// TLSConfig is what test clients use: the broker's certificate is
// self-signed.
func TLSConfig(domain string) *tls.Config {
	return &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
}

// Python returns Debian's python3 with slixmpp. Without it the test skips,
// except under CI=true where a missing dependency is a failure.
func Python(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		Require(t, "python3-slixmpp (apt-get install python3-slixmpp)")
	}
	return py
}

// Require skips a test for a missing dependency, or fails it under CI=true
// where nothing may skip.
func Require(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing test dependency: %s", what)
	}
	t.Skipf("missing test dependency: %s", what)
}

// Slixmpp runs a Python script with env XMPP_HOST, XMPP_PORT,
// XMPP_DIRECT_PORT and XMPP_DOMAIN set for this broker, plus args. It
// fails the test if the script exits non-zero.
func (b *Broker) Slixmpp(t testing.TB, script string, args ...string) string {
	t.Helper()
	py := Python(t)
	host, port, _ := net.SplitHostPort(b.C2S)
	_, dport, _ := net.SplitHostPort(b.DirectTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "XMPP_HOST="+host, "XMPP_PORT="+port, "XMPP_DIRECT_PORT="+dport, "XMPP_DOMAIN="+b.Domain, "PYTHONUNBUFFERED=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("slixmpp %s %v: %v\n%s", filepath.Base(script), args, err, out)
	}
	return string(out)
}
