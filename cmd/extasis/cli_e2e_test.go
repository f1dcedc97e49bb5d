package main_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/extasis/extasis/core/app/apptest"
)

const wait = 10 * time.Second

// These tests run the real binary's operator commands as a user would, with
// a running broker to prove what they changed.

func login(t *testing.T, b *apptest.Broker, mech, user, password string) error {
	t.Helper()
	c, err := b.TryDialRaw(apptest.DirectTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	return c.Auth(mech, user, password)
}

// mustLogin logs in with both SCRAM hashes: the commands store verifiers
// for SHA-1 and SHA-256.
func mustLogin(t *testing.T, b *apptest.Broker, user, password string) {
	t.Helper()
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1"} {
		if err := login(t, b, mech, user, password); err != nil {
			t.Fatalf("%s %s with %q: %v", mech, user, password, err)
		}
	}
}

func mustNotLogin(t *testing.T, b *apptest.Broker, user, password string) {
	t.Helper()
	err := login(t, b, "SCRAM-SHA-256", user, password)
	if f, ok := err.(*apptest.AuthFailure); !ok || f.Condition() != "not-authorized" {
		t.Fatalf("%s with %q: %v, want not-authorized", user, password, err)
	}
}

func cli(t *testing.T, b *apptest.Broker, stdin string, args ...string) (string, bool) {
	t.Helper()
	out, err := b.CLI(stdin, args...)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
		return out, false
	}
	return out, true
}

// TestAccountLifecycle: add, passwd, del and list with full JIDs; the
// password comes from the first line of stdin when it is not a terminal,
// never from an argument.
func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{Extra: "limits:\n  auth_backoff: 0s\n"})

	if out, ok := cli(t, b, "first-password\nsecond-line-is-ignored\n", "account", "add", "alice@localhost"); !ok || !strings.Contains(out, "created alice@localhost") {
		t.Fatalf("add: %q", out)
	}
	mustLogin(t, b, "alice", "first-password")
	mustNotLogin(t, b, "alice", "second-line-is-ignored")

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string // in the error output
	}{
		{"password as argument", "x-password\n", []string{"account", "add", "bob@localhost", "bob-password"}, "accepts 1 arg"},
		{"no domain", "bob-password\n", []string{"account", "add", "bob"}, "not an account address"},
		{"full JID with resource", "bob-password\n", []string{"account", "add", "bob@localhost/phone"}, "not an account address"},
		{"domain not served", "bob-password\n", []string{"account", "add", "bob@example.org"}, "not served"},
		{"short password", "short\n", []string{"account", "add", "bob@localhost"}, "password"},
		{"empty stdin", "", []string{"account", "add", "bob@localhost"}, "password"},
		{"exists", "other-password\n", []string{"account", "add", "alice@localhost"}, "already exists"},
		{"passwd of nobody", "bob-password\n", []string{"account", "passwd", "nobody@localhost"}, "no account"},
		{"del of nobody", "", []string{"account", "del", "nobody@localhost"}, "no account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := cli(t, b, tc.stdin, tc.args...)
			if ok || !strings.Contains(out, tc.want) {
				t.Fatalf("%v: ok=%v %q, want a failure mentioning %q", tc.args, ok, out, tc.want)
			}
		})
	}
	if out, _ := cli(t, b, "", "account", "list"); strings.Contains(out, "bob") {
		t.Fatalf("a refused add created an account: %q", out)
	}
	mustLogin(t, b, "alice", "first-password")

	if out, ok := cli(t, b, "new-password\n", "account", "passwd", "alice@localhost"); !ok {
		t.Fatalf("passwd: %q", out)
	}
	mustLogin(t, b, "alice", "new-password")
	mustNotLogin(t, b, "alice", "first-password")

	for _, u := range []string{"carol@localhost", "bob@localhost"} {
		if out, ok := cli(t, b, "some-password\n", "account", "add", u); !ok {
			t.Fatalf("add %s: %q", u, out)
		}
	}
	out, ok := cli(t, b, "", "account", "list")
	if !ok || out != "alice@localhost\nbob@localhost\ncarol@localhost\n" {
		t.Fatalf("list: %q", out)
	}
	if out, ok := cli(t, b, "", "account", "del", "alice@localhost"); !ok || !strings.Contains(out, "deleted alice@localhost") {
		t.Fatalf("del: %q", out)
	}
	mustNotLogin(t, b, "alice", "new-password")
	if out, ok := cli(t, b, "", "account", "list", "localhost"); !ok || out != "bob@localhost\ncarol@localhost\n" {
		t.Fatalf("list localhost: %q", out)
	}
}

// TestNoPasswordEquivalentStored: after accounts are created, no file in
// the data directory holds the password, nor the SCRAM SaltedPassword or
// ClientKey of either hash (from which a login could be forged): only
// salt, iteration count, StoredKey and ServerKey (RFC 5802 §3).
func TestNoPasswordEquivalentStored(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{})
	const password = "correct horse battery staple"
	if out, ok := cli(t, b, password+"\n", "account", "add", "alice@localhost"); !ok {
		t.Fatal(out)
	}
	if out, ok := cli(t, b, "another secret pass\n", "account", "passwd", "alice@localhost"); !ok {
		t.Fatal(out)
	}
	if out, ok := cli(t, b, password+"\n", "account", "passwd", "alice@localhost"); !ok {
		t.Fatal(out)
	}
	forbidden := map[string][]byte{"password": []byte(password), "old password": []byte("another secret pass")}
	for _, h := range []struct {
		mech string
		new  func() hash.Hash
	}{{"SCRAM-SHA-1", sha1.New}, {"SCRAM-SHA-256", sha256.New}} {
		salt, iter := scramParams(t, b, h.mech, "alice")
		salted, err := pbkdf2.Key(h.new, password, salt, iter, h.new().Size())
		if err != nil {
			t.Fatal(err)
		}
		mac := hmac.New(h.new, salted)
		mac.Write([]byte("Client Key"))
		forbidden[h.mech+" SaltedPassword"] = salted
		forbidden[h.mech+" ClientKey"] = mac.Sum(nil)
	}
	err := filepath.WalkDir(filepath.Join(b.Dir, "data"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, v := range forbidden {
			for _, form := range [][]byte{v, []byte(hex.EncodeToString(v)), []byte(base64.StdEncoding.EncodeToString(v)), []byte(base64.RawStdEncoding.EncodeToString(v))} {
				if bytes.Contains(data, form) {
					t.Errorf("%s holds the %s", path, what)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scramParams reads the salt and iteration count the server uses for user
// from its server-first message, as any client can.
func scramParams(t *testing.T, b *apptest.Broker, mech, user string) ([]byte, int) {
	t.Helper()
	c := b.DialRaw(t, apptest.DirectTLS)
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mech + "'>" +
		base64.StdEncoding.EncodeToString([]byte("n,,n="+user+",r=abcdefghijklmnop")) + "</auth>"); err != nil {
		t.Fatal(err)
	}
	el, err := c.Expect("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{*}</challenge>")
	if err != nil {
		t.Fatal(err)
	}
	first, err := base64.StdEncoding.DecodeString(strings.TrimSpace(el.Text))
	if err != nil {
		t.Fatal(err)
	}
	var salt []byte
	iter := 0
	for _, f := range strings.Split(string(first), ",") {
		switch {
		case strings.HasPrefix(f, "s="):
			salt, err = base64.StdEncoding.DecodeString(f[2:])
		case strings.HasPrefix(f, "i="):
			iter, err = strconv.Atoi(f[2:])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(salt) == 0 || iter < 4096 {
		t.Fatalf("server-first %q: want a salt and at least 4096 iterations", first)
	}
	return salt, iter
}

// TestStrictConfig: `extasis serve` refuses a config with an unknown key or
// a value out of range, and says where.
func TestStrictConfig(t *testing.T) {
	t.Parallel()
	bin := apptest.Binary(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "data_dir: " + dir + "\nc2s:\n  listne: [\":5222\"]\n", []string{"bad.yaml", "c2s.listne: unknown key", "allowed here: listen,"}},
		{"unknown top-level key", "data_dir: " + dir + "\ndomain: localhost\n", []string{"domain: unknown key", "domains"}},
		{"out of range", "data_dir: " + dir + "\nlimits:\n  max_stanza: 1KiB\n", []string{"limits.max_stanza", "out of range"}},
		{"bad duration", "data_dir: " + dir + "\nc2s:\n  ping_interval: soon\n", []string{"bad.yaml", "c2s.ping_interval: \"soon\" is not a duration"}},
		{"bad domain", "data_dir: " + dir + "\ndomains:\n  - name: Not A Domain\n", []string{"domains[0].name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "serve", "--config", cfg).CombinedOutput()
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("serve with a bad config: %v, want a non-zero exit\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("error %q does not mention %q", out, w)
				}
			}
		})
	}
}

// TestExampleConfig: the documented example config is valid as shipped.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	root := apptest.ModuleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "extasis.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Its ports may be taken on this machine: check it with a command
	// that loads the config without listening.
	cfg := filepath.Join(dir, "extasis.yaml")
	text := strings.Replace(string(b), "data_dir: ./data", "data_dir: "+filepath.Join(dir, "data"), 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(apptest.Binary(t), "account", "list", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("the example config does not load: %v\n%s", err, out)
	}
}

// openPTY opens a pseudo-terminal pair with nothing but syscalls.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		apptest.Require(t, "a pseudo-terminal (/dev/ptmx)")
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// waitNoEcho polls the terminal's settings until echo is off.
func waitNoEcho(t *testing.T, tty *os.File) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var tio syscall.Termios
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
			t.Fatal(e)
		}
		if tio.Lflag&syscall.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the password prompt never turned echo off")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPasswordPrompt: on a terminal the password is prompted for twice,
// without echo, and the two must agree.
func TestPasswordPrompt(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, apptest.Options{})
	for _, tc := range []struct {
		name, first, again string
		ok                 bool
	}{
		{"same", "typed-password", "typed-password", true},
		{"different", "typed-password", "other-password", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var out bytes.Buffer
			cmd := exec.Command(b.Bin, "account", "add", "tty-"+tc.name+"@localhost", "--config", b.Config)
			cmd.Stdin, cmd.Stderr, cmd.Stdout = slave, slave, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var screen bytes.Buffer
			waitFor := func(prompt string) {
				t.Helper()
				buf := make([]byte, 256)
				_ = master.SetReadDeadline(time.Now().Add(wait))
				for !strings.Contains(screen.String(), prompt) {
					n, err := master.Read(buf)
					if err != nil {
						t.Fatalf("no %q prompt: %v; terminal shows %q", prompt, err, screen.String())
					}
					screen.Write(buf[:n])
				}
			}
			// Type only once echo is off, as a person would: what is typed
			// between the prompt and the switch would be echoed by the
			// terminal itself.
			waitFor("Password: ")
			waitNoEcho(t, slave)
			_, _ = master.WriteString(tc.first + "\n")
			waitFor("Again: ")
			waitNoEcho(t, slave)
			_, _ = master.WriteString(tc.again + "\n")
			err := cmd.Wait()
			if strings.Contains(screen.String(), tc.first) {
				t.Fatalf("the password was echoed: %q", screen.String())
			}
			if tc.ok != (err == nil) {
				t.Fatalf("exit %v, want ok=%v; stdout %q, terminal %q", err, tc.ok, out.String(), screen.String())
			}
			if tc.ok {
				mustLogin(t, b, "tty-"+tc.name, tc.first)
			}
		})
	}
}
