package provisioning

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

func TestRunTests(t *testing.T) {
	mod := "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := {\"allow\": true, \"reason\": \"friends\", \"ask\": false, \"rules\": []} if input.domain == \"friends.example\"\n"
	in := `{"action": "friend", "thing": "t@l", "owner": "a@l", "requester": "b@%s", "domain": "%s", "tokens": {"service": [], "device": [], "user": []}, "nodes": [], "categories": set(), "fields": null, "params": null, "rules": {"thing": {}, "nodes": {}}}`
	test := "package extasis.provisioning.owner_test\n\nimport rego.v1\n\n" +
		"test_friends if data.extasis.provisioning.decision.allow with input as " + strings.ReplaceAll(in, "%s", "friends.example") + "\n\n" +
		"test_strangers if data.extasis.provisioning.decision.allow with input as " + strings.ReplaceAll(in, "%s", "x.example") + "\n"
	tests := []struct {
		name  string
		files map[string]string
		pass  int
		fail  int
		err   string
	}{
		{"owner module with tests", map[string]string{"mine.rego": mod, "mine_test.rego": test}, 1, 1, ""},
		{"syntax error", map[string]string{"bad.rego": "package extasis.provisioning.owner\n\nx := {\n"}, 0, 0, "bad.rego:4"},
		{"network builtin", map[string]string{"net.rego": "package extasis.provisioning.owner\n\nimport rego.v1\n\nx := net.lookup_ip_addr(\"a\")\n"}, 0, 0, "net.rego:5"},
		{"empty", map[string]string{}, 0, 0, "no .rego files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rs, err := RunTests(context.Background(), dir)
			if tt.err != "" {
				var pe *PolicyError
				if err == nil || !strings.Contains(err.Error(), tt.err) || (strings.Contains(tt.err, ":") && !errors.As(err, &pe)) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pass, fail := 0, 0
			for _, r := range rs {
				if r.Pass {
					pass++
				} else {
					fail++
				}
			}
			if pass != tt.pass || fail != tt.fail {
				t.Fatalf("pass %d fail %d: %+v", pass, fail, rs)
			}
			var b strings.Builder
			if PrintTests(&b, rs, true) != (fail == 0) || !strings.Contains(b.String(), "test_strangers: FAIL") {
				t.Fatalf("printed:\n%s", b.String())
			}
		})
	}
}

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, ":memory:", sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &Admin{Store: st, Hosts: []string{"example.org"}}
	meter := storage.ThingRef{JID: jid.MustParse("meter@example.org")}
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	if _, err := a.AddRule(ctx, storage.ProvisioningRule{Thing: meter, Action: "read", Origin: "all"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rule for an unclaimed thing: %v", err)
	}
	if err := a.Own(ctx, meter, alice); err != nil {
		t.Fatal(err)
	}
	id, err := a.AddRule(ctx, storage.ProvisioningRule{Thing: meter, Action: "friend", Origin: "jid", Remote: "carol@x.example", Allow: true})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := st.Rules(ctx, storage.RuleFilter{ID: id})
	if len(rs) != 1 || rs[0].Owner != alice {
		t.Fatalf("rule: %+v", rs)
	}
	for _, bad := range []storage.ProvisioningRule{
		{Thing: meter, Action: "dance", Origin: "all"},
		{Thing: meter, Action: "read", Origin: "galaxy", Remote: "x"},
		{Thing: meter, Action: "read", Origin: "jid"},
	} {
		if _, err := a.AddRule(ctx, bad); err == nil {
			t.Fatalf("accepted %+v", bad)
		}
	}
	// A new owner: the old owner's rules go; the thing is told.
	if err := a.Own(ctx, meter, bob); err != nil {
		t.Fatal(err)
	}
	if rs, _ := st.Rules(ctx, storage.RuleFilter{Thing: meter.JID}); len(rs) != 0 {
		t.Fatalf("rules left: %+v", rs)
	}
	ns, _ := st.Notices(ctx, meter.JID)
	var kinds []string
	for _, n := range ns {
		kinds = append(kinds, n.Kind+":"+strings.SplitN(string(n.Raw), " ", 2)[0])
	}
	if strings.Join(kinds, ",") != "iq:<clearCache,iq:<clearCache,message:<friend,iq:<clearCache,message:<unfriend,iq:<clearCache" {
		t.Fatalf("queued pushes: %v", kinds)
	}
	if err := a.SetEnforce(ctx, meter.JID, true); err != nil {
		t.Fatal(err)
	}
	if err := a.SetEnforce(ctx, jid.MustParse("nothing@example.org"), true); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("enforce unknown: %v", err)
	}
	if err := a.PutPolicy(ctx, bob, "bob.rego", "package extasis.provisioning.owner\n\nx := {\n"); err == nil {
		t.Fatal("a broken module was stored")
	}
	if err := a.PutPolicy(ctx, bob, "bob.rego", "package extasis.provisioning.owner\n"); err != nil {
		t.Fatal(err)
	}
	if err := a.Disown(ctx, meter); err != nil {
		t.Fatal(err)
	}
	if ts, _ := st.OwnedThings(ctx, jid.JID{}); len(ts) != 0 {
		t.Fatalf("things left: %+v", ts)
	}
	// Remote things get no queued pushes.
	remote := storage.ThingRef{JID: jid.MustParse("x@elsewhere.example")}
	if err := a.Own(ctx, remote, alice); err != nil {
		t.Fatal(err)
	}
	if ns, _ := st.Notices(ctx, remote.JID); len(ns) != 0 {
		t.Fatalf("pushes queued for a remote thing: %+v", ns)
	}
}
