package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
)

// childEnv makes the test binary a small broker that hosts the echo plugin
// (see runChild), so that a test can SIGKILL a real host process.
const childEnv = "EXTASIS_HOST_TEST_CHILD"

func newEnvRouter() *router.Router {
	return router.New(router.Config{Sessions: session.NewTable(), Hosts: []string{"localhost"}})
}

func addSession(t testing.TB, r *router.Router, c *client) {
	s := session.New(c.jid, &recConn{ch: c.ch})
	if _, ok := r.Sessions().Add(s, 0); !ok {
		t.Fatal("bind")
	}
}

type nopRegisterer struct{}

func (nopRegisterer) Register(prometheus.Collector) error  { return nil }
func (nopRegisterer) MustRegister(...prometheus.Collector) {}
func (nopRegisterer) Unregister(prometheus.Collector) bool { return true }

// runChild hosts the echo plugin, prints its pid and waits to be killed.
func runChild() {
	dir, sum := os.Getenv(childEnv+"_DIR"), os.Getenv(childEnv+"_SUM")
	data, err := os.MkdirTemp("", "extasis-host-child-")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	h, err := New(config.Plugins{Dir: dir, List: []config.Plugin{{Name: "echo", Path: "plugin-echo", SHA256: sum}}},
		Deps{Router: newEnvRouter(), DataDir: data, Domain: "localhost"})
	if err == nil {
		err = h.Start(context.Background())
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("PID", h.Plugins()[0].PID)
	select {}
}

func TestSIGKILLLeavesNoPlugin(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_DIR="+bins.dir, childEnv+"_SUM="+bins.echoSum)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PID ") {
		_ = cmd.Process.Kill()
		t.Fatalf("child said %q, %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
	if !alive(pid) {
		t.Fatalf("plugin %d not running", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 10*time.Second, "the plugin to die with its broker", func() bool { return !alive(pid) })
}

// alive reports whether pid is a live process (a zombie waiting for a
// reaper counts as dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}
