package portable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "x.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), pgtest.Database(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill writes a bit of everything the format carries.
func fill(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cred := func(h storage.Hash, seed byte) storage.Credential {
		return storage.Credential{Hash: h, Salt: []byte{seed, 0, 0xff}, Iterations: 4096 + int(seed),
			StoredKey: bytes.Repeat([]byte{seed}, 32), ServerKey: bytes.Repeat([]byte{0xff - seed}, 32)}
	}
	users := []string{"alice@example.org", "bob@example.org", "jürgen@münchen.example", "thing-42@example.org"}
	for i, u := range users {
		must(s.CreateAccount(ctx, storage.Account{JID: jid.MustParse(u), Credentials: []storage.Credential{cred(storage.SHA1, byte(i)), cred(storage.SHA256, byte(i+10))}}))
	}
	must(s.CreateAccount(ctx, storage.Account{JID: jid.MustParse("nocreds@example.org")}))
	alice := jid.MustParse("alice@example.org")
	n := 0
	for _, sub := range []storage.Subscription{storage.None, storage.To, storage.From, storage.Both} {
		for _, ask := range []bool{false, true} {
			for _, approved := range []bool{false, true} {
				it := storage.RosterItem{
					Contact: jid.MustParse(fmt.Sprintf("c%d@remote.example", n)), Subscription: sub, Ask: ask, Approved: approved,
				}
				switch n % 4 {
				case 1:
					it.Name, it.Groups = "Contact <&> 'quoted' \"double\"", []string{"Friends"}
				case 2:
					it.Name, it.Groups = "Ünïcödé 名前", []string{"Work", "家族", "🏠"}
				case 3:
					it.Groups = []string{""}
				}
				_, err := s.PutRosterItem(ctx, alice, it, 0)
				must(err)
				n++
			}
		}
	}
	big := "<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>" + strings.Repeat("0123456789abcdef", 16<<10) + "</body></message>"
	for _, m := range []string{
		"<message from='bob@example.org/phone' to='alice@example.org' type='chat' id='m1'><body>hi &amp; &lt;bye&gt;</body></message>",
		`<message from="c1@remote.example/r" to="alice@example.org"><body>double quotes, ünïcode</body><x xmlns='jabber:x:data'/></message>`,
		big,
		"<message\nfrom='bob@example.org' to='alice@example.org'/>",
	} {
		_, err := s.StoreOffline(ctx, alice, []byte(m), 0)
		must(err)
	}
	for _, from := range []string{"eve@remote.example", "dave@example.org"} {
		must(s.AddSubscriptionRequest(ctx, alice, storage.SubscriptionRequest{
			From: jid.MustParse(from), Raw: []byte("<presence from='" + from + "' to='alice@example.org' type='subscribe'><status>let me in</status></presence>"),
		}))
	}
	must(s.Block(ctx, alice, []jid.JID{jid.MustParse("spam.example"), jid.MustParse("eve@remote.example/bot"), jid.MustParse("mallory@example.org")}))
	must(s.Block(ctx, jid.MustParse("jürgen@münchen.example"), []jid.JID{jid.MustParse("用户@例子.测试")}))
	_, err := s.PutRosterItem(ctx, jid.MustParse("jürgen@münchen.example"), storage.RosterItem{Contact: alice, Name: "Alice", Subscription: storage.Both}, 0)
	must(err)
}

// account is everything the format carries for one user, for comparison.
type account struct {
	Creds    []storage.Credential
	Roster   []storage.RosterItem
	Offline  []string
	Requests []string
	Blocked  []jid.JID
}

func snapshot(t *testing.T, s storage.Store) map[jid.JID]account {
	t.Helper()
	ctx := context.Background()
	all, err := s.ListAccounts(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[jid.JID]account{}
	for _, j := range all {
		a, err := s.Account(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		items, _, err := s.RosterItems(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.OfflineMessages(ctx, j, 0)
		if err != nil {
			t.Fatal(err)
		}
		reqs, err := s.SubscriptionRequests(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		blocked, err := s.BlockList(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		acc := account{Creds: a.Credentials, Roster: items, Blocked: blocked}
		for _, m := range msgs {
			acc.Offline = append(acc.Offline, string(m.Raw))
		}
		for _, r := range reqs {
			acc.Requests = append(acc.Requests, r.From.String()+" "+string(r.Raw))
		}
		out[j] = acc
	}
	return out
}

func roundTrip(t *testing.T, from, to storage.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Export(context.Background(), from, &buf, nil); err != nil {
		t.Fatalf("Export: %v", err)
	}
	st, err := Import(context.Background(), to, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	t.Logf("%d bytes; imported %+v", buf.Len(), st)
	if st.Users != 5 || st.Hosts != 2 || st.RosterItems != 17 || st.OfflineMessages != 4 || st.SubscriptionRequests != 2 || st.BlockedItems != 4 || st.Credentials != 8 {
		t.Fatalf("Import stats = %+v", st)
	}
	return buf.Bytes()
}

func compare(t *testing.T, want, got map[jid.JID]account) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d accounts, want %d", len(got), len(want))
	}
	for j, w := range want {
		g, ok := got[j]
		if !ok {
			t.Fatalf("account %s missing", j)
		}
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("account %s differs:\n got %+v\nwant %+v", j, g, w)
		}
	}
}

// TestRoundTrip moves a store SQLite -> PostgreSQL -> SQLite and compares
// everything at each step.
func TestRoundTrip(t *testing.T) {
	src := openSQLite(t)
	fill(t, src)
	want := snapshot(t, src)

	pg := openPostgres(t)
	doc := roundTrip(t, src, pg)
	compare(t, want, snapshot(t, pg))

	back := openSQLite(t)
	doc2 := roundTrip(t, pg, back)
	compare(t, want, snapshot(t, back))
	if !bytes.Equal(doc, doc2) {
		t.Fatalf("the second export differs from the first")
	}
}

// TestRoundTripSQLite is the same without PostgreSQL, so the format is
// checked on every machine.
func TestRoundTripSQLite(t *testing.T) {
	src := openSQLite(t)
	fill(t, src)
	dst := openSQLite(t)
	roundTrip(t, src, dst)
	compare(t, snapshot(t, src), snapshot(t, dst))
}

func TestImportForeign(t *testing.T) {
	doc := `<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='urn:xmpp:pie:0'>
  <host jid='capulet.example'>
    <user name='juliet' password='s3cr3t'>
      <query xmlns='jabber:iq:roster'>
        <item jid='romeo@montague.example' name='Romeo' subscription='both'><group>Lovers</group></item>
        <item jid='nurse@capulet.example'/>
      </query>
      <vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard>
      <query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query>
      <offline-messages>
        <message xmlns='jabber:client' from='romeo@montague.example/orchard' to='juliet@capulet.example' type='chat'><body>Wherefore?</body></message>
      </offline-messages>
      <presence xmlns='jabber:client' from='tybalt@capulet.example' to='juliet@capulet.example' type='subscribe'/>
    </user>
  </host>
</server-data>`
	s := openSQLite(t)
	st, err := Import(context.Background(), s, strings.NewReader(doc))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if st.Users != 1 || st.RosterItems != 2 || st.OfflineMessages != 1 || st.SubscriptionRequests != 1 || st.Skipped != 2 || st.Credentials != 2 {
		t.Fatalf("stats = %+v", st)
	}
	ctx := context.Background()
	juliet := jid.MustParse("juliet@capulet.example")
	for _, h := range []storage.Hash{storage.SHA1, storage.SHA256} {
		c, err := s.Credential(ctx, juliet, h)
		if err != nil {
			t.Fatalf("Credential(%s): %v", h, err)
		}
		sc := sasl.Credentials{Hash: sasl.Hash(c.Hash), Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
		if !sc.VerifyPassword("s3cr3t") || sc.VerifyPassword("wrong") {
			t.Fatalf("%s verifier derived from the password does not verify it", h)
		}
	}
	msgs, _ := s.OfflineMessages(ctx, juliet, 0)
	if want := "<message from='romeo@montague.example/orchard' to='juliet@capulet.example' type='chat'><body>Wherefore?</body></message>"; len(msgs) != 1 || string(msgs[0].Raw) != want {
		t.Fatalf("offline = %v, want %q (jabber:client declaration removed)", msgs, want)
	}
	it, err := s.RosterItem(ctx, juliet, jid.MustParse("romeo@montague.example"))
	if err != nil || it.Name != "Romeo" || it.Subscription != storage.Both || len(it.Groups) != 1 {
		t.Fatalf("roster item = %+v, %v", it, err)
	}
	// Importing the same user again is refused.
	if _, err := Import(ctx, s, strings.NewReader(doc)); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Import: %v, want ErrExists", err)
	}
}

func TestImportErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not xml", "hello", "not a XEP-0227 document"},
		{"other root", "<foo xmlns='bar'/>", "not a XEP-0227 document"},
		{"bad host", "<server-data xmlns='urn:xmpp:pie:0'><host jid='a@b'/></server-data>", "host jid"},
		{"bad user", "<server-data xmlns='urn:xmpp:pie:0'><host jid='b.example'><user name=''/></host></server-data>", "not a valid localpart"},
		{"bad scram", "<server-data xmlns='urn:xmpp:pie:0'><host jid='b.example'><user name='u'><scram-credentials xmlns='urn:xmpp:extasis:scram:0' hash='SHA-1' iterations='x'/></user></host></server-data>", "iterations"},
		{"bad subscription", "<server-data xmlns='urn:xmpp:pie:0'><host jid='b.example'><user name='u'><query xmlns='jabber:iq:roster'><item jid='a@b.example' subscription='remove'/></query></user></host></server-data>", "subscription"},
		{"truncated", "<server-data xmlns='urn:xmpp:pie:0'><host jid='b.example'><user name='u'>", "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Import(context.Background(), openSQLite(t), strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestClientStanza(t *testing.T) {
	tests := []struct {
		name, raw, from, want string
		fails                 bool
	}{
		{"adds namespace", "<message to='a@b'/>", "", "<message xmlns='jabber:client' to='a@b'/>", false},
		{"keeps namespace", "<message xmlns='jabber:client' to='a@b'/>", "", "<message xmlns='jabber:client' to='a@b'/>", false},
		{"adds from", "<presence type='subscribe'/>", "x@y", "<presence xmlns='jabber:client' from='x@y' type='subscribe'/>", false},
		{"keeps from", "<presence from='z@y' type='subscribe'/>", "x@y", "<presence xmlns='jabber:client' from='z@y' type='subscribe'/>", false},
		{"bare name", "<message>hi</message>", "", "<message xmlns='jabber:client'>hi</message>", false},
		{"malformed", "<message>", "", "", true},
		{"two elements", "<a/><b/>", "", "", true},
		{"text", "just text", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientStanza([]byte(tt.raw), tt.from)
			if tt.fails {
				if err == nil {
					t.Fatalf("clientStanza(%q) = %q, want an error", tt.raw, got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("clientStanza(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
			if back := string(unclient(got)); tt.from == "" && !strings.Contains(tt.raw, "xmlns") && back != tt.raw {
				t.Fatalf("unclient(%q) = %q, want %q", got, back, tt.raw)
			}
		})
	}
}

func TestExportMalformedStanza(t *testing.T) {
	s := openSQLite(t)
	ctx := context.Background()
	a := jid.MustParse("a@b.example")
	if err := s.CreateAccount(ctx, storage.Account{JID: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreOffline(ctx, a, []byte("<message><body>unclosed"), 0); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Export(ctx, s, &buf, []string{"b.example"}); err == nil || !strings.Contains(err.Error(), "offline message") {
		t.Fatalf("Export with a malformed stored stanza: %v", err)
	}
}
