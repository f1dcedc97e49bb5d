package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseDefaultsAndOverrides(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
data_dir: /tmp/x
domains:
  - name: example.com
  - name: iot.example.com
limits:
  max_stanza: 512KiB
  out_queue: 8MiB
c2s:
  ping_interval: 90s
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/tmp/x" || len(c.Domains) != 2 || c.Domains[1].Name != "iot.example.com" {
		t.Fatalf("got %+v", c)
	}
	if c.Limits.MaxStanza != 512<<10 || c.Limits.OutQueue != 8<<20 {
		t.Fatalf("sizes: %d %d", c.Limits.MaxStanza, c.Limits.OutQueue)
	}
	if c.C2S.PingInterval.D() != 90*time.Second || c.C2S.AuthTimeout.D() != 30*time.Second {
		t.Fatalf("durations: %v %v", c.C2S.PingInterval, c.C2S.AuthTimeout)
	}
	if c.Limits.MaxDepth != 64 {
		t.Fatal("default lost")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown key", "c2s:\n  lissten: [':1']\n", "lissten"},
		{"unknown top key", "colour: red\n", "colour"},
		{"bad domain", "domains:\n  - name: Example.com\n", "domains[0].name"},
		{"bad size", "limits:\n  max_stanza: lots\n", "not a size"},
		{"size range", "limits:\n  max_stanza: 1\n", "limits.max_stanza"},
		{"bad duration", "c2s:\n  ping_interval: soon\n", "not a duration"},
		{"bad level", "log:\n  level: chatty\n", "allowed values are debug, info, warn, error"},
		{"cert without key", "domains:\n  - name: a.b\n    cert: x.pem\n", "cert and key"},
		{"plugin path escape", "plugins:\n  list:\n    - name: x\n      path: ../x\n      sha256: " + strings.Repeat("a", 64) + "\n", "plugins.list[0].path"},
		{"plugin sha", "plugins:\n  list:\n    - name: x\n      path: x\n", "sha256"},
		{"plugin address twice", "plugins:\n  list:\n    - {name: a, path: a, sha256: " + strings.Repeat("a", 64) + ", address: x.localhost}\n    - {name: b, path: b, sha256: " + strings.Repeat("a", 64) + ", address: x.localhost}\n", "already served by plugin \"a\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "t.yaml") {
				t.Fatalf("err = %v, want the file name", err)
			}
		})
	}
}

// The documented example must load and must set every option the code has.
func TestExampleLoads(t *testing.T) {
	c, err := Load("../../extasis.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Domains) == 0 {
		t.Fatal("no domains in example")
	}
	b, _ := os.ReadFile("../../extasis.example.yaml")
	for _, key := range []string{"data_dir", "storage", "domains", "log", "c2s", "http", "limits", "plugins", "im", "auth", "admins", "version",
		"max_stanza", "max_depth", "max_attrs", "conn_rate_per_ip", "sessions_per_account", "out_queue", "auth_failures", "auth_backoff",
		"listen", "direct_tls", "allow_plain", "ping_interval", "ping_timeout", "auth_timeout", "public_url",
		"max_roster", "max_offline", "resume_timeout", "sm_max_unacked", "iterations", "hide_os", "memory_limit"} {
		if !strings.Contains(string(b), key+":") {
			t.Errorf("extasis.example.yaml does not document %q", key)
		}
	}
}

func TestErrorsNameTheKeyPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"c2s:\n  listne: [':1']\n", "c2s.listne: unknown key (allowed here: listen,"},
		{"domains:\n  - name: a.b\n    crt: x\n", "domains[0].crt: unknown key"},
		{"c2s:\n  ping_interval: soon\n", `c2s.ping_interval: "soon" is not a duration`},
		{"limits:\n  max_stanza: lots\n", `limits.max_stanza: "lots" is not a size`},
		{"c2s:\n  listen: 5\n", "c2s.listen (line 2): "},
		{"log: [1, 2\n", "line "},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "\n\n"} {
		c, err := Parse("empty.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if c.Limits.MaxStanza != Default().Limits.MaxStanza || c.Domains[0].Name != "localhost" {
			t.Fatalf("Parse(%q) lost the defaults: %+v", in, c.Limits)
		}
	}
}
