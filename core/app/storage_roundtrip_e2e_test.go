package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/core/storage/pgtest"
)

const nsBlocking = "urn:xmpp:blocking"

// sqliteBroker starts a broker on SQLite whatever EXTASIS_TEST_BACKEND
// says: the round trip needs one of each.
func sqliteBroker(t *testing.T) *apptest.Broker {
	t.Helper()
	dir := t.TempDir()
	return apptest.Start(t, apptest.Options{Dir: dir, Storage: "sqlite:" + filepath.Join(dir, "data", "extasis.db")})
}

// move exports from one broker's storage with the CLI and imports into the
// other's, with the target stopped as an operator would have it, and
// returns the import's summary line.
func move(t *testing.T, from, to *apptest.Broker) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.xml")
	if out, err := from.CLI("", "storage", "export", "-o", file); err != nil {
		t.Fatalf("storage export: %v\n%s", err, out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v; want mode 0600", fi, err)
	}
	to.Stop()
	out, err := to.CLI("", "storage", "import", file)
	if err != nil {
		t.Fatalf("storage import: %v\n%s", err, out)
	}
	to.Restart()
	return strings.TrimSpace(out)
}

// rosterOf returns a client's roster as "jid subscription ask name
// groups" lines, sorted.
func rosterOf(c *pgClient) []string {
	id := c.id("roster")
	c.send("<iq type='get' id='" + id + "'><query xmlns='" + nsRoster + "'/></iq>")
	res := c.await("<iq type='result' id='" + id + "'/>")
	var out []string
	for _, it := range res.Child(nsRoster, "query").Children {
		var groups []string
		for _, g := range it.Children {
			groups = append(groups, g.Text)
		}
		out = append(out, strings.Join([]string{it.AttrValue("jid"), it.AttrValue("subscription"), it.AttrValue("ask"), it.AttrValue("name"), strings.Join(groups, "+")}, " "))
	}
	slices.Sort(out)
	return out
}

// offlineBodies returns the bodies of the messages a fresh login received
// before its first pong, checking that each carries a <delay/>.
func offlineBodies(t *testing.T, c *pgClient) []string {
	t.Helper()
	var out []string
	for _, el := range c.skipped {
		if el.Name.Local != "message" {
			continue
		}
		if el.Child(nsDelay, "delay") == nil {
			t.Errorf("%s: offline message without <delay/>: %s", c.name, el)
		}
		if bd := el.Child("jabber:client", "body"); bd != nil {
			out = append(out, bd.Text)
		}
	}
	return out
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestStorageRoundTrip moves a deployment from SQLite to PostgreSQL and
// back with `extasis storage export` and `extasis storage import`: the
// accounts log in with their passwords, rosters and block lists are the
// same, and offline messages and subscription requests are delivered at
// the next login on whichever backend holds them by then.
func TestStorageRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	pg := pgtest.Database(t)

	// On SQLite: a friendship with a named, grouped roster item, a block
	// list, and messages and a subscription request for users who are
	// offline.
	a := sqliteBroker(t)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		a.AddUser(u+"@localhost", u+"-password")
	}
	alice := pgLogin(t, a, "alice", "a")
	bob := pgLogin(t, a, "bob", "b")
	alice.send("<iq type='set' id='rs'><query xmlns='" + nsRoster + "'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>")
	alice.await("<iq type='result' id='rs'/>")
	alice.send("<presence type='subscribe' to='bob@localhost'/>")
	bob.await("<presence type='subscribe' from='alice@localhost'/>")
	bob.send("<presence type='subscribed' to='alice@localhost'/>")
	bob.send("<presence type='subscribe' to='alice@localhost'/>")
	alice.await("<presence type='subscribe' from='bob@localhost'/>")
	alice.send("<presence type='subscribed' to='bob@localhost'/>")
	alice.send("<iq type='set' id='bl'><block xmlns='" + nsBlocking + "'><item jid='spam.example'/></block></iq>")
	alice.await("<iq type='result' id='bl'/>")
	alice.send("<presence type='subscribe' to='carol@localhost'/>")
	for _, m := range []struct{ to, body string }{{"carol", "first for carol"}, {"carol", "second for carol"}, {"dave", "for dave, kept across two moves"}} {
		alice.send("<message type='chat' to='" + m.to + "@localhost'><body>" + m.body + "</body></message>")
	}
	alice.sync()
	bob.sync()
	aliceRoster := []string{"bob@localhost both  Bob Friends", "carol@localhost none subscribe  "}
	wantLines(t, "alice's roster on SQLite", rosterOf(alice), aliceRoster)

	// To PostgreSQL.
	b := apptest.Start(t, apptest.Options{Storage: pg})
	t.Logf("SQLite -> PostgreSQL: %s", move(t, a, b))
	a.Stop()
	alice = pgLogin(t, b, "alice", "a")
	wantLines(t, "alice's roster on PostgreSQL", rosterOf(alice), aliceRoster)
	alice.send("<iq type='get' id='bl'><blocklist xmlns='" + nsBlocking + "'/></iq>")
	alice.await("<iq type='result' id='bl'><blocklist xmlns='" + nsBlocking + "'><item jid='spam.example'/></blocklist></iq>")
	// Both SCRAM verifiers moved, not only the one alice used.
	c := b.DialRaw(t, apptest.StartTLS)
	if err := c.Login("SCRAM-SHA-1", "bob", "bob-password", "sha1"); err != nil {
		t.Fatalf("bob with SCRAM-SHA-1 on PostgreSQL: %v", err)
	}
	c.Close()
	if err := b.DialRaw(t, apptest.StartTLS).Login("SCRAM-SHA-256", "bob", "not-bob's-password", ""); err == nil {
		t.Fatal("a wrong password logged in on PostgreSQL")
	}
	carol := pgLogin(t, b, "carol", "c")
	wantLines(t, "carol's offline messages on PostgreSQL", offlineBodies(t, carol), []string{"first for carol", "second for carol"})
	if !slices.ContainsFunc(carol.skipped, apptest.MustPattern("<presence type='subscribe' from='alice@localhost'/>").Match) {
		t.Fatalf("carol did not get alice's subscription request on PostgreSQL; got %v", carol.skipped)
	}
	// Something new on PostgreSQL, to come back.
	alice.send("<iq type='set' id='rs2'><query xmlns='" + nsRoster + "'><item jid='erin@localhost' name='Erin'/></query></iq>")
	alice.await("<iq type='result' id='rs2'/>")
	alice.send("<message type='chat' to='dave@localhost'><body>for dave, from PostgreSQL</body></message>")
	alice.sync()

	// And back to SQLite.
	back := sqliteBroker(t)
	t.Logf("PostgreSQL -> SQLite: %s", move(t, b, back))
	b.Stop()
	alice = pgLogin(t, back, "alice", "a")
	wantLines(t, "alice's roster back on SQLite", rosterOf(alice), append(aliceRoster, "erin@localhost none  Erin "))
	dave := pgLogin(t, back, "dave", "d")
	wantLines(t, "dave's offline messages back on SQLite", offlineBodies(t, dave), []string{"for dave, kept across two moves", "for dave, from PostgreSQL"})
	carol = pgLogin(t, back, "carol", "c")
	wantLines(t, "carol's offline messages back on SQLite (delivered on PostgreSQL)", offlineBodies(t, carol), nil)
}
