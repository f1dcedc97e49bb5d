package register

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// fakeRouter records what the handlers send. The real path (a client
// through c2s and the router) is covered by the end-to-end tests.
type fakeRouter struct {
	mu       sync.Mutex
	sent     []*stanza.Stanza
	sessions *session.Table
}

func (r *fakeRouter) Route(_ context.Context, s *stanza.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, s)
}

func (r *fakeRouter) ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error) {
	r.Route(ctx, s.ErrorReply(e))
}

func (r *fakeRouter) Sessions() *session.Table { return r.sessions }

func (r *fakeRouter) last(t *testing.T) *stanza.Stanza {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		t.Fatal("nothing sent")
	}
	return r.sent[len(r.sent)-1]
}

type closedConn struct {
	mu   sync.Mutex
	cond string
}

func (c *closedConn) Send(*stanza.Stanza) bool { return true }
func (c *closedConn) Close(cond, _ string) {
	c.mu.Lock()
	c.cond = cond
	c.mu.Unlock()
}

func TestLoggedIn(t *testing.T) {
	r := &fakeRouter{sessions: session.NewTable()}
	f := newFixture(t, func(c *Config) { c.Router = r })
	server, account := router.NewMux(), router.NewMux()
	f.svc.Register(server, account)
	for _, m := range []*router.Mux{server, account} {
		if ns := m.Namespaces(); len(ns) != 1 || ns[0] != stanza.NSRegister {
			t.Fatalf("mux namespaces %v", ns)
		}
	}
	ctx := context.Background()
	alice := jid.MustParse("alice@iot.test")
	if err := f.store.CreateAccount(ctx, storage.Account{JID: alice, Credentials: mustCreds(t)}); err != nil {
		t.Fatal(err)
	}
	conns := []*closedConn{{}, {}}
	for i, res := range []string{"a", "b"} {
		full, _ := alice.WithResource(res)
		r.sessions.Add(session.New(full, conns[i]), 10)
	}
	route := func(raw string) (stanza.Condition, string) {
		t.Helper()
		st, err := stanza.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if st.Type == "get" {
			f.svc.handleGet(ctx, st)
		} else {
			f.svc.handleSet(ctx, st)
		}
		return outcome(t, r.last(t))
	}
	tests := []struct {
		name     string
		raw      string
		wantCond stanza.Condition
		wantText string
	}{
		{"get", "<iq type='get' id='1' from='alice@iot.test/a' to='iot.test'><query xmlns='jabber:iq:register'/></iq>", "", ""},
		{"someone else's account", "<iq type='set' id='2' from='bob@iot.test/a' to='alice@iot.test'><query xmlns='jabber:iq:register'><remove/></query></iq>", stanza.ServiceUnavailable, ""},
		{"other user's password", "<iq type='set' id='3' from='alice@iot.test/a' to='iot.test'><query xmlns='jabber:iq:register'><username>bob</username><password>new password</password></query></iq>", stanza.NotAllowed, "own account"},
		{"weak password", "<iq type='set' id='4' from='alice@iot.test/a' to='iot.test'><query xmlns='jabber:iq:register'><username>alice</username><password>short</password></query></iq>", stanza.NotAcceptable, "at least 8"},
		{"no password", "<iq type='set' id='5' from='alice@iot.test/a' to='iot.test'><query xmlns='jabber:iq:register'><username>alice</username></query></iq>", stanza.BadRequest, ""},
		{"change password", "<iq type='set' id='6' from='alice@iot.test/a' to='alice@iot.test'><query xmlns='jabber:iq:register'><username>alice</username><password>a new password</password></query></iq>", "", ""},
		{"change password by form", "<iq type='set' id='7' from='alice@iot.test/a' to='iot.test'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>alice</value></field><field var='password'><value>a third password</value></field></x></query></iq>", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, text := route(tt.raw)
			if cond != tt.wantCond || !strings.Contains(text, tt.wantText) {
				t.Fatalf("got <%s/> %q, want <%s/> %q", cond, text, tt.wantCond, tt.wantText)
			}
		})
	}
	c, err := f.store.Credential(ctx, alice, storage.SHA256)
	if err != nil || !(sasl.Credentials{Hash: sasl.SHA256, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}).VerifyPassword("a third password") {
		t.Fatalf("the password was not changed: %v", err)
	}

	cond, _ := route("<iq type='set' id='9' from='alice@iot.test/a' to='alice@iot.test'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	if cond != "" {
		t.Fatalf("remove: <%s/>", cond)
	}
	if _, err := f.store.Account(ctx, alice); err == nil {
		t.Fatal("the account still exists")
	}
	for i, c := range conns {
		if c.cond != "not-authorized" {
			t.Fatalf("session %d closed with %q, want not-authorized", i, c.cond)
		}
	}
}
