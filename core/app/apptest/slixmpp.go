package apptest

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed slixmpp_driver.py
var slixmppDriver []byte

// SlixEvent is one line the slixmpp driver printed.
type SlixEvent struct {
	Event     string `json:"event"`
	JID       string `json:"jid"`
	XML       string `json:"xml"`
	Condition string `json:"condition"`
}

// SlixClient is a python3-slixmpp client run by apptest's driver script,
// so that Go tests can drive it like the mellium client: send raw XML,
// wait for stanzas.
type SlixClient struct {
	JID    string // bound full JID, after login
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan SlixEvent
	stderr *syncBuffer
	mu     sync.Mutex
	closed bool
}

// SlixOptions select how slixmpp connects.
type SlixOptions struct {
	DirectTLS bool
	Mechanism string // "" lets slixmpp choose
	Resource  string // "" lets the server choose
}

// StartSlixmpp starts slixmpp for jidStr without waiting for the login;
// see Login and WaitEvent.
func (b *Broker) StartSlixmpp(t testing.TB, jidStr, password string, o SlixOptions) *SlixClient {
	t.Helper()
	py := Python(t)
	script := filepath.Join(t.TempDir(), "slixmpp_driver.py")
	if err := os.WriteFile(script, slixmppDriver, 0o600); err != nil {
		t.Fatal(err)
	}
	if o.Resource != "" {
		jidStr += "/" + o.Resource
	}
	host, port, _ := net.SplitHostPort(b.C2S)
	_, dport, _ := net.SplitHostPort(b.DirectTLS)
	direct := "0"
	if o.DirectTLS {
		direct = "1"
	}
	cmd := exec.Command(py, script)
	cmd.Env = append(os.Environ(), "XMPP_JID="+jidStr, "XMPP_PASSWORD="+password, "XMPP_HOST="+host,
		"XMPP_PORT="+port, "XMPP_DIRECT_PORT="+dport, "XMPP_DIRECT_TLS="+direct, "XMPP_MECH="+o.Mechanism,
		"PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &SlixClient{cmd: cmd, events: make(chan SlixEvent, 1024), stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("apptest: start slixmpp: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var ev SlixEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = SlixEvent{Event: "garbage", XML: sc.Text()}
			}
			s.events <- ev
		}
		close(s.events)
	}()
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("slixmpp %s stderr:\n%s", jidStr, s.stderr.String())
		}
	})
	return s
}

// Slix starts slixmpp and waits for its session to start.
func (b *Broker) Slix(t testing.TB, jidStr, password string, o SlixOptions) *SlixClient {
	t.Helper()
	s := b.StartSlixmpp(t, jidStr, password, o)
	ev := s.WaitEvent(t, 30*time.Second, "session_start", "failed_all_auth", "stream_error", "disconnected")
	if ev.Event != "session_start" {
		t.Fatalf("apptest: slixmpp %s did not log in: %+v\n%s", jidStr, ev, s.stderr.String())
	}
	s.JID = ev.JID
	return s
}

// WaitEvent waits for one of the named driver events, skipping others
// (received stanzas included), and returns it.
func (s *SlixClient) WaitEvent(t testing.TB, timeout time.Duration, names ...string) SlixEvent {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("apptest: slixmpp exited before any of %v; saw %v\n%s", names, seen, s.stderr.String())
			}
			for _, n := range names {
				if ev.Event == n {
					return ev
				}
			}
			seen = append(seen, ev.Event)
		case <-deadline:
			t.Fatalf("apptest: slixmpp: none of %v within %s; saw %v\n%s", names, timeout, seen, s.stderr.String())
		}
	}
}

// SendRaw has slixmpp write raw XML on its stream.
func (s *SlixClient) SendRaw(raw string) error {
	b, _ := json.Marshal(map[string]string{"send": raw})
	_, err := s.stdin.Write(append(b, '\n'))
	return err
}

// TryExpect waits for a received stanza matching pattern, skipping others.
func (s *SlixClient) TryExpect(timeout time.Duration, pattern string) (*Element, error) {
	p, err := ParsePattern(pattern)
	if err != nil {
		return nil, err
	}
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return nil, fmt.Errorf("apptest: slixmpp exited; want %s; saw %q", p, seen)
			}
			if ev.Event != "stanza" {
				seen = append(seen, ev.Event+" "+ev.Condition)
				continue
			}
			el, err := ParseElement(ev.XML)
			if err != nil {
				return nil, fmt.Errorf("apptest: slixmpp printed %q: %w", ev.XML, err)
			}
			if p.Match(el) {
				return el, nil
			}
			seen = append(seen, el.String())
		case <-deadline:
			return nil, fmt.Errorf("apptest: slixmpp %s: nothing matching %s within %s; got instead: %q", s.JID, p, timeout, seen)
		}
	}
}

// Close ends the session and the process.
func (s *SlixClient) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	_, _ = s.stdin.Write([]byte(`{"close": true}` + "\n"))
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// Stderr returns what slixmpp logged.
func (s *SlixClient) Stderr() string { return s.stderr.String() }
