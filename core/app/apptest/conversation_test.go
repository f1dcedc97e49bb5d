package apptest

import (
	"strings"
	"testing"
)

func TestParseScript(t *testing.T) {
	s, err := ParseScript("x", `# comment
config: limits:
config:   max_stanza: 16KiB
transports: starttls websocket

login alice
C: <message to='bob@localhost'>
  <body>hi</body></message>
@bob S: <message/>
@bob   auth PLAIN bob pw => not-authorized
`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Config != "limits:\n  max_stanza: 16KiB\n" {
		t.Fatalf("Config = %q", s.Config)
	}
	if len(s.Transports) != 2 || s.Transports[1] != WebSocket {
		t.Fatalf("Transports = %v", s.Transports)
	}
	want := []Step{
		{Line: 6, Client: "default", Verb: "login", Arg: "alice"},
		{Line: 7, Client: "default", Verb: "C:", Arg: "<message to='bob@localhost'>\n<body>hi</body></message>"},
		{Line: 9, Client: "bob", Verb: "S:", Arg: "<message/>"},
		{Line: 10, Client: "bob", Verb: "auth", Arg: "PLAIN bob pw => not-authorized"},
	}
	if len(s.Steps) != len(want) {
		t.Fatalf("%d steps: %+v", len(s.Steps), s.Steps)
	}
	for i, w := range want {
		if s.Steps[i] != w {
			t.Errorf("step %d = %+v, want %+v", i, s.Steps[i], w)
		}
	}
}

func TestParseScriptErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "# nothing\n", "no steps"},
		{"unknown step", "sing a song\n", "unknown step"},
		{"continuation first", "  <body/>\n", "continuation line"},
		{"continuation of a directive", "login alice\n  bob\n", "only C: and S:"},
		{"config after steps", "login alice\nconfig: x: 1\n", "config after"},
		{"unknown transport", "transports: pigeon\nlogin alice\n", "unknown transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScript("x", tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	cv := &Conversation{B: &Broker{Domain: "localhost"}}
	cur := &convClient{c: &RawConn{JID: "alice@localhost/a"}}
	all := map[string]*convClient{"default": cur, "bob": {c: &RawConn{JID: "bob@localhost/b"}}, "idle": {}}
	for _, tc := range []struct{ in, want, err string }{
		{"to='${domain}'", "to='localhost'", ""},
		{"${jid} ${bare}", "alice@localhost/a alice@localhost", ""},
		{"${jid:bob}/${bare:bob}", "bob@localhost/b/bob@localhost", ""},
		{"${jid:carol}", "", "no client"},
		{"${jid:idle}", "", "has not bound"},
		{"${nope}", "", "unknown variable"},
		{"${domain", "", "unterminated"},
	} {
		got, err := cv.expand(tc.in, cur, all)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expand(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add("login alice\nC: <iq/>\n  <x/>\nS: closed\n")
	f.Add("config: a: 1\ntransports: websocket\n@b auth PLAIN b p => not-authorized\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseScript("fuzz", text)
		if err != nil {
			return
		}
		if len(s.Steps) == 0 || len(s.Transports) == 0 {
			t.Fatalf("a script without steps or transports parsed: %+v", s)
		}
	})
}
