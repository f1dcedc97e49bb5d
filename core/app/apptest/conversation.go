package apptest

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A conversation script is a plain-text file of what clients send and what
// the server must answer, in the style of Prosody's scansion. One line is
// one step; lines that start with white space continue the step above
// (joined with a newline); blank lines and lines starting with # are
// ignored. Header lines, before the first step:
//
//	config: <yaml>        appended to the broker's config; scripts with the
//	                      same config share a broker
//	transports: <list>    run once per transport: starttls (default),
//	                      direct-tls, websocket
//
// Steps (any step may be prefixed with @NAME to act as another client; the
// unnamed client is called default; a client connects on its first step):
//
//	connect [TRANSPORT]   connect now, on another transport if given
//	open                  send a stream header to the domain, read the server's
//	starttls              skip features, <starttls/>, <proceed/>, TLS handshake
//	tls                   open and starttls on a STARTTLS connection; nothing
//	                      on the others, which are secure from the start
//	auth MECH USER [PASS]             a SASL exchange that must succeed
//	auth MECH USER PASS => CONDITION  one that must fail with <CONDITION/>
//	bind [RESOURCE]       skip features, bind; sets ${jid}
//	login USER [RESOURCE] tls, open, auth SCRAM-SHA-256, open, bind
//	close                 send the stream's close tag
//	C: <xml>              send the text as it is
//	bytes HEX             send raw bytes
//	fill N TEXT           send TEXT repeated to N bytes
//	S: <xml>              the next thing read must be an element matching this
//	                      pattern: listed attributes and children must be
//	                      there (children in any order), others may be; {*}
//	                      matches any attribute value or text. Unprefixed
//	                      names are in jabber:client, stream: is bound
//	                      (stream features right after a header are skipped
//	                      when the pattern is not features itself)
//	S: <stream:stream ...>  the next thing read must be a stream header
//	S: </stream:stream>   the next thing read must be the stream's close tag
//	S: closed             the stream's close tag (optional), then the end of
//	                      the connection
//	S: stream-error COND  <stream:error><COND/></stream:error>, the close tag,
//	                      then the end of the connection
//
// Every S: step waits for the next thing the server sends, at most the
// client's Timeout; order is strict, so a ping round trip proves that
// nothing else arrived before it. In every step, ${domain} is the broker's
// domain, ${jid} and ${bare} the current client's bound JID and its bare
// form, ${jid:NAME} and ${bare:NAME} another client's. A condition of
// {*} in S: stream-error matches any condition.
type Script struct {
	Name       string
	Config     string
	Transports []Transport
	Steps      []Step
}

// Step is one line of a script.
type Step struct {
	Line   int
	Client string
	Verb   string // C:, S:, or a directive
	Arg    string
}

// LoadScripts parses every *.txt file of dir.
func LoadScripts(t testing.TB, dir string) []*Script {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("apptest: no scripts in %s", dir)
	}
	var out []*Script
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseScript(strings.TrimSuffix(filepath.Base(f), ".txt"), string(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

var directives = []string{"connect", "open", "starttls", "tls", "auth", "bind", "login", "close", "bytes", "fill", "C:", "S:"}

// ParseScript parses a script's text.
func ParseScript(name, text string) (*Script, error) {
	s := &Script{Name: name}
	var cfg strings.Builder
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimRight(line, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(s.Steps) == 0 {
				return nil, fmt.Errorf("%s:%d: continuation line without a step", name, n)
			}
			last := &s.Steps[len(s.Steps)-1]
			if last.Verb != "C:" && last.Verb != "S:" {
				return nil, fmt.Errorf("%s:%d: only C: and S: steps continue on the next line", name, n)
			}
			last.Arg += "\n" + trimmed
			continue
		}
		if rest, ok := strings.CutPrefix(line, "config:"); ok {
			if len(s.Steps) > 0 {
				return nil, fmt.Errorf("%s:%d: config after the first step", name, n)
			}
			cfg.WriteString(strings.TrimPrefix(rest, " ") + "\n")
			continue
		}
		if rest, ok := strings.CutPrefix(line, "transports:"); ok {
			for _, f := range strings.Fields(rest) {
				tr := Transport(f)
				if tr != StartTLS && tr != DirectTLS && tr != WebSocket {
					return nil, fmt.Errorf("%s:%d: unknown transport %q", name, n, f)
				}
				s.Transports = append(s.Transports, tr)
			}
			continue
		}
		st := Step{Line: n, Client: "default"}
		if strings.HasPrefix(line, "@") {
			who, rest, _ := strings.Cut(line, " ")
			st.Client, line = who[1:], strings.TrimSpace(rest)
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !slices.Contains(directives, verb) {
			return nil, fmt.Errorf("%s:%d: unknown step %q", name, n, verb)
		}
		st.Verb, st.Arg = verb, strings.TrimSpace(arg)
		s.Steps = append(s.Steps, st)
	}
	if len(s.Steps) == 0 {
		return nil, fmt.Errorf("%s: no steps", name)
	}
	if len(s.Transports) == 0 {
		s.Transports = []Transport{StartTLS}
	}
	s.Config = cfg.String()
	return s, nil
}

// Conversation runs scripts against a broker.
type Conversation struct {
	B *Broker
	// Users maps the local part of each account scripts use to its
	// password (the accounts must exist).
	Users map[string]string
}

type convClient struct {
	c  *RawConn
	tr Transport
}

// Run runs s with tr as the default transport, failing t at the first step
// that does not go as written.
func (cv *Conversation) Run(t testing.TB, s *Script, tr Transport) {
	t.Helper()
	clients := map[string]*convClient{}
	defer func() {
		for _, c := range clients {
			if c.c != nil {
				_ = c.c.Close()
			}
		}
	}()
	for _, st := range s.Steps {
		cl := clients[st.Client]
		if cl == nil {
			cl = &convClient{tr: tr}
			clients[st.Client] = cl
		}
		if err := cv.step(cl, clients, st); err != nil {
			t.Fatalf("%s.txt:%d (%s): %s %s\n%v", s.Name, st.Line, tr, st.Verb, firstLine(st.Arg), err)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func (cv *Conversation) expand(s string, cur *convClient, all map[string]*convClient) (string, error) {
	var out strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			out.WriteString(s)
			return out.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		out.WriteString(s[:i])
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		v, who, _ := strings.Cut(name, ":")
		c := cur
		if who != "" {
			c = all[who]
			if c == nil {
				return "", fmt.Errorf("no client %q", who)
			}
		}
		switch v {
		case "domain":
			out.WriteString(cv.B.Domain)
		case "jid", "bare":
			if c.c == nil || c.c.JID == "" {
				return "", fmt.Errorf("${%s}: that client has not bound a resource", name)
			}
			j := c.c.JID
			if v == "bare" {
				j, _, _ = strings.Cut(j, "/")
			}
			out.WriteString(j)
		default:
			return "", fmt.Errorf("unknown variable ${%s}", name)
		}
	}
}

func (cv *Conversation) step(cl *convClient, all map[string]*convClient, st Step) error {
	arg, err := cv.expand(st.Arg, cl, all)
	if err != nil {
		return err
	}
	if st.Verb == "connect" {
		if cl.c != nil {
			return fmt.Errorf("already connected")
		}
		if arg != "" {
			cl.tr = Transport(arg)
		}
	}
	if cl.c == nil {
		c, err := cv.B.TryDialRaw(cl.tr)
		if err != nil {
			return err
		}
		cl.c = c
	}
	c := cl.c
	fields := strings.Fields(arg)
	switch st.Verb {
	case "connect":
		return nil
	case "open":
		return c.Open()
	case "starttls":
		if c.Transport != StartTLS {
			return fmt.Errorf("starttls on a %s connection", c.Transport)
		}
		return c.StartTLS()
	case "tls":
		return c.Secure()
	case "auth":
		return cv.auth(c, fields)
	case "bind":
		if len(fields) > 1 {
			return fmt.Errorf("want: bind [RESOURCE]")
		}
		res := ""
		if len(fields) == 1 {
			res = fields[0]
		}
		return c.Bind(res)
	case "login":
		if len(fields) < 1 || len(fields) > 2 {
			return fmt.Errorf("want: login USER [RESOURCE]")
		}
		pw, ok := cv.Users[fields[0]]
		if !ok {
			return fmt.Errorf("no password for user %q", fields[0])
		}
		res := ""
		if len(fields) == 2 {
			res = fields[1]
		}
		return c.Login("SCRAM-SHA-256", fields[0], pw, res)
	case "close":
		if c.ws != nil {
			return c.Send("<close xmlns='" + nsFraming + "'/>")
		}
		return c.Send("</stream:stream>")
	case "bytes":
		b, err := hex.DecodeString(strings.Join(fields, ""))
		if err != nil {
			return err
		}
		return c.SendBytes(b)
	case "fill":
		n, text, ok := strings.Cut(arg, " ")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || text == "" {
			return fmt.Errorf("want: fill N TEXT")
		}
		buf := strings.Repeat(text, size/len(text)+1)[:size]
		return c.Send(buf)
	case "C:":
		return c.Send(arg)
	case "S:":
		return cv.expect(c, arg)
	}
	return fmt.Errorf("unknown step")
}

func (cv *Conversation) auth(c *RawConn, f []string) error {
	wantFail := ""
	if i := slices.Index(f, "=>"); i >= 0 {
		if i != len(f)-2 {
			return fmt.Errorf("want: auth MECH USER [PASS] => CONDITION")
		}
		wantFail, f = f[i+1], f[:i]
	}
	if len(f) == 2 {
		pw, ok := cv.Users[f[1]]
		if !ok {
			return fmt.Errorf("no password for user %q", f[1])
		}
		f = append(f, pw)
	}
	if len(f) != 3 {
		return fmt.Errorf("want: auth MECH USER [PASS] [=> CONDITION]")
	}
	err := c.Auth(f[0], f[1], f[2])
	if wantFail == "" {
		return err
	}
	af, ok := err.(*AuthFailure)
	if !ok {
		if err == nil {
			return fmt.Errorf("authentication succeeded, want <failure><%s/></failure>", wantFail)
		}
		return err
	}
	if af.Condition() != wantFail {
		return fmt.Errorf("want <failure><%s/></failure>, got %s", wantFail, af.El)
	}
	return nil
}

func (cv *Conversation) expect(c *RawConn, arg string) error {
	if arg == "closed" || strings.HasPrefix(arg, "stream-error ") {
		if err := c.skipFeatures(); err != nil {
			return err
		}
	}
	switch {
	case arg == "closed":
		return c.ExpectClosed()
	case strings.HasPrefix(arg, "stream-error "):
		return c.ExpectStreamError(strings.TrimSpace(strings.TrimPrefix(arg, "stream-error ")))
	case arg == "</stream:stream>":
		ev, err := c.Next()
		if err != nil {
			return err
		}
		if ev.Kind != EventClose {
			return fmt.Errorf("want the stream's close tag, got %s", ev)
		}
		return nil
	}
	pat := arg
	header := strings.HasPrefix(pat, "<stream:stream") && !strings.HasSuffix(pat, "/>")
	if header {
		pat += "</stream:stream>"
	}
	p, err := ParsePattern(pat)
	if err != nil {
		return err
	}
	if !header && !p.Is(nsStream, "features") {
		if err := c.skipFeatures(); err != nil {
			return err
		}
	}
	ev, err := c.Next()
	if err != nil {
		return err
	}
	want := EventElement
	switch {
	case header, p.Is(nsFraming, "open"):
		want = EventOpen
	case p.Is(nsFraming, "close"):
		want = EventClose
	}
	if ev.Kind != want || ev.El == nil || !p.Match(ev.El) {
		return fmt.Errorf("want %s %s\ngot  %s", want, p, ev)
	}
	return nil
}
