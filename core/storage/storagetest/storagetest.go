package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Run runs the suite against the store that open returns. open is called
// once per Run and must return an empty store; it registers its own
// cleanup with t. Subtests use disjoint domains so that they share it.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	s := open(t)
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Store)
	}{
		{"Ping", testPing},
		{"Accounts", testAccounts},
		{"Credentials", testCredentials},
		{"ListAccounts", testListAccounts},
		{"DeleteCascade", testDeleteCascade},
		{"Roster", testRoster},
		{"RosterQuota", testRosterQuota},
		{"RosterVersions", testRosterVersions},
		{"RosterTombstonePruning", testRosterPruning},
		{"RosterParallel", testRosterParallel},
		{"Subscriptions", testSubscriptions},
		{"Offline", testOffline},
		{"OfflineQuotaRace", testOfflineQuotaRace},
		{"Blocking", testBlocking},
		{"Unicode", testUnicode},
		{"HostileStrings", testHostile},
		{"CancelledContext", testCancelled},
		{"Provisioning", testProvisioning},
		{"APIKeys", testAPIKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustJID(t *testing.T, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatalf("jid.Parse(%q): %v", s, err)
	}
	return j
}

// cred builds a verifier whose bytes include NUL and 0xff, to catch any
// text conversion of binary columns.
func cred(h storage.Hash, seed byte) storage.Credential {
	return storage.Credential{
		Hash:       h,
		Salt:       []byte{0, seed, 0xff, 1, 2},
		Iterations: 4096 + int(seed),
		StoredKey:  bytes.Repeat([]byte{seed, 0}, 16),
		ServerKey:  bytes.Repeat([]byte{0xff, seed}, 16),
	}
}

func create(t *testing.T, s storage.Store, bare string) jid.JID {
	t.Helper()
	j := mustJID(t, bare)
	if err := s.CreateAccount(ctx(t), storage.Account{JID: j, Credentials: []storage.Credential{cred(storage.SHA256, 1)}}); err != nil {
		t.Fatalf("CreateAccount(%s): %v", bare, err)
	}
	return j
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equalCred(a, b storage.Credential) bool {
	return a.Hash == b.Hash && a.Iterations == b.Iterations && bytes.Equal(a.Salt, b.Salt) &&
		bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey)
}

func equalItem(a, b storage.RosterItem) bool {
	return a.Contact == b.Contact && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.Ask == b.Ask && a.Approved == b.Approved && slices.Equal(a.Groups, b.Groups) &&
		(len(a.Groups) == 0) == (len(b.Groups) == 0)
}

func testPing(t *testing.T, s storage.Store) {
	noErr(t, "Ping", s.Ping(ctx(t)))
}

func testAccounts(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := mustJID(t, "alice@accounts.test")
	created := time.Date(2024, 2, 29, 12, 30, 15, 123456000, time.UTC)
	a := storage.Account{JID: alice, Created: created, Credentials: []storage.Credential{cred(storage.SHA1, 1), cred(storage.SHA256, 2)}}
	noErr(t, "CreateAccount", s.CreateAccount(c, a))
	wantErr(t, "CreateAccount twice", s.CreateAccount(c, a), storage.ErrExists)

	got, err := s.Account(c, alice)
	noErr(t, "Account", err)
	if got.JID != alice || !got.Created.Equal(created) || len(got.Credentials) != 2 {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	for _, want := range a.Credentials {
		i := slices.IndexFunc(got.Credentials, func(c storage.Credential) bool { return c.Hash == want.Hash })
		if i < 0 || !equalCred(got.Credentials[i], want) {
			t.Fatalf("Account credentials = %+v, want %+v", got.Credentials, a.Credentials)
		}
	}

	// A zero Created is set to now.
	bob := mustJID(t, "bob@accounts.test")
	before := time.Now().Add(-time.Second)
	noErr(t, "CreateAccount without credentials", s.CreateAccount(c, storage.Account{JID: bob}))
	got, err = s.Account(c, bob)
	noErr(t, "Account", err)
	if got.Created.Before(before) || got.Created.After(time.Now().Add(time.Second)) || len(got.Credentials) != 0 {
		t.Fatalf("Account(bob) = %+v, want Created about now and no credentials", got)
	}

	_, err = s.Account(c, mustJID(t, "nobody@accounts.test"))
	wantErr(t, "Account of nobody", err, storage.ErrNotFound)

	// A full JID names its bare account.
	got, err = s.Account(c, mustJID(t, "alice@accounts.test/phone"))
	noErr(t, "Account(full JID)", err)
	if got.JID != alice {
		t.Fatalf("Account(full).JID = %s, want %s", got.JID, alice)
	}

	wantErr(t, "CreateAccount(zero JID)", s.CreateAccount(c, storage.Account{}), storage.ErrInvalid)
	wantErr(t, "CreateAccount(duplicate hash)", s.CreateAccount(c, storage.Account{
		JID: mustJID(t, "carol@accounts.test"), Credentials: []storage.Credential{cred(storage.SHA1, 1), cred(storage.SHA1, 2)},
	}), storage.ErrInvalid)
	_, err = s.Account(c, mustJID(t, "carol@accounts.test"))
	wantErr(t, "Account after refused create", err, storage.ErrNotFound)
}

func testCredentials(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := mustJID(t, "alice@credentials.test")
	noErr(t, "CreateAccount", s.CreateAccount(c, storage.Account{JID: alice, Credentials: []storage.Credential{cred(storage.SHA1, 1), cred(storage.SHA256, 2)}}))

	tests := []struct {
		name string
		jid  jid.JID
		hash storage.Hash
		want *storage.Credential
	}{
		{"sha1", alice, storage.SHA1, &storage.Credential{}},
		{"sha256", alice, storage.SHA256, &storage.Credential{}},
		{"unknown hash", alice, "SHA-512", nil},
		{"unknown account", mustJID(t, "bob@credentials.test"), storage.SHA256, nil},
	}
	*tests[0].want, *tests[1].want = cred(storage.SHA1, 1), cred(storage.SHA256, 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Credential(c, tt.jid, tt.hash)
			if tt.want == nil {
				wantErr(t, "Credential", err, storage.ErrNotFound)
				return
			}
			noErr(t, "Credential", err)
			if !equalCred(got, *tt.want) {
				t.Fatalf("Credential = %+v, want %+v", got, *tt.want)
			}
		})
	}

	// SetCredentials replaces all: SHA-1 disappears.
	noErr(t, "SetCredentials", s.SetCredentials(c, alice, []storage.Credential{cred(storage.SHA256, 9)}))
	_, err := s.Credential(c, alice, storage.SHA1)
	wantErr(t, "Credential(SHA-1) after replace", err, storage.ErrNotFound)
	got, err := s.Credential(c, alice, storage.SHA256)
	noErr(t, "Credential(SHA-256) after replace", err)
	if !equalCred(got, cred(storage.SHA256, 9)) {
		t.Fatalf("Credential after replace = %+v", got)
	}
	wantErr(t, "SetCredentials(nobody)", s.SetCredentials(c, mustJID(t, "nobody@credentials.test"), nil), storage.ErrNotFound)
	wantErr(t, "SetCredentials(incomplete)", s.SetCredentials(c, alice, []storage.Credential{{Hash: storage.SHA1}}), storage.ErrInvalid)

	// Concurrent replacements of one account all succeed.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.SetCredentials(c, alice, []storage.Credential{cred(storage.SHA1, byte(i)), cred(storage.SHA256, byte(i))})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "concurrent SetCredentials", err)
	}
	a, err := s.Account(c, alice)
	noErr(t, "Account", err)
	if len(a.Credentials) != 2 {
		t.Fatalf("after concurrent SetCredentials: %d credentials, want 2", len(a.Credentials))
	}
}

func testListAccounts(t *testing.T, s storage.Store) {
	c := ctx(t)
	var want []string
	for _, d := range []string{"list-a.test", "list-b.test"} {
		for _, l := range []string{"zed", "amy", "bob", "a.b", "a-c", "0x"} {
			create(t, s, l+"@"+d)
			if d == "list-a.test" {
				want = append(want, l+"@"+d)
			}
		}
	}
	sort.Strings(want) // bytewise, as the contract says

	strs := func(js []jid.JID) []string {
		out := make([]string, len(js))
		for i, j := range js {
			out[i] = j.String()
		}
		return out
	}
	all, err := s.ListAccounts(c, "list-a.test", "", 0)
	noErr(t, "ListAccounts", err)
	if !slices.Equal(strs(all), want) {
		t.Fatalf("ListAccounts = %v, want %v", strs(all), want)
	}
	// Paging by 4 gives the same list.
	var paged []string
	after := ""
	for {
		page, err := s.ListAccounts(c, "list-a.test", after, 4)
		noErr(t, "ListAccounts page", err)
		if len(page) > 4 {
			t.Fatalf("page of %d, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, strs(page)...)
		after = page[len(page)-1].String()
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged ListAccounts = %v, want %v", paged, want)
	}
	// All domains: sorted by the whole JID, so the two domains interleave.
	all, err = s.ListAccounts(c, "", "", 0)
	noErr(t, "ListAccounts all domains", err)
	var both []string
	for _, j := range all {
		if strings.HasPrefix(j.Domain(), "list-") {
			both = append(both, j.String())
		}
	}
	if len(both) != 12 || !slices.IsSorted(both) || !slices.IsSortedFunc(all, func(a, b jid.JID) int { return strings.Compare(a.String(), b.String()) }) {
		t.Fatalf("ListAccounts(\"\") = %v, want sorted with the 12 of list-*.test", both)
	}
	rest, err := s.ListAccounts(c, "", "zed@list-a.test", 0)
	noErr(t, "ListAccounts all domains after", err)
	if len(rest) == 0 || rest[0].String() != "zed@list-b.test" {
		t.Fatalf("ListAccounts(\"\", after zed@list-a.test) = %v, want zed@list-b.test first", rest)
	}
	none, err := s.ListAccounts(c, "no-such-domain.test", "", 10)
	noErr(t, "ListAccounts unknown domain", err)
	if len(none) != 0 {
		t.Fatalf("ListAccounts(unknown domain) = %v", none)
	}

	for _, tt := range []struct {
		domain string
		min    int
		exact  bool
	}{{"list-a.test", 6, true}, {"list-b.test", 6, true}, {"no-such-domain.test", 0, true}, {"", 12, false}} {
		t.Run("count "+tt.domain, func(t *testing.T) {
			n, err := s.CountAccounts(c, tt.domain)
			noErr(t, "CountAccounts", err)
			if tt.exact && n != tt.min || n < tt.min {
				t.Fatalf("CountAccounts(%q) = %d, want %d", tt.domain, n, tt.min)
			}
		})
	}
}

func testDeleteCascade(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@cascade.test")
	bob := create(t, s, "bob@cascade.test")
	for _, o := range []jid.JID{alice, bob} {
		_, err := s.PutRosterItem(c, o, storage.RosterItem{Contact: mustJID(t, "carol@cascade.test"), Groups: []string{"g"}}, 0)
		noErr(t, "PutRosterItem", err)
		noErr(t, "AddSubscriptionRequest", s.AddSubscriptionRequest(c, o, storage.SubscriptionRequest{From: mustJID(t, "dave@cascade.test"), Raw: []byte("<presence/>")}))
		_, err = s.StoreOffline(c, o, []byte("<message/>"), 0)
		noErr(t, "StoreOffline", err)
		noErr(t, "Block", s.Block(c, o, []jid.JID{mustJID(t, "spam.test")}))
	}
	_, err := s.DeleteRosterItem(c, alice, mustJID(t, "carol@cascade.test"))
	noErr(t, "DeleteRosterItem", err) // leaves a tombstone to cascade too
	_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, "erin@cascade.test")}, 0)
	noErr(t, "PutRosterItem", err)

	noErr(t, "DeleteAccount", s.DeleteAccount(c, alice))
	wantErr(t, "DeleteAccount twice", s.DeleteAccount(c, alice), storage.ErrNotFound)
	_, err = s.Account(c, alice)
	wantErr(t, "Account after delete", err, storage.ErrNotFound)
	_, err = s.Credential(c, alice, storage.SHA256)
	wantErr(t, "Credential after delete", err, storage.ErrNotFound)

	// Re-created, the account starts empty: nothing survived.
	create(t, s, "alice@cascade.test")
	items, _, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	reqs, err := s.SubscriptionRequests(c, alice)
	noErr(t, "SubscriptionRequests", err)
	msgs, err := s.OfflineMessages(c, alice, 0)
	noErr(t, "OfflineMessages", err)
	n, err := s.CountOffline(c, alice)
	noErr(t, "CountOffline", err)
	blocked, err := s.BlockList(c, alice)
	noErr(t, "BlockList", err)
	if len(items)+len(reqs)+len(msgs)+n+len(blocked) != 0 {
		t.Fatalf("after delete and re-create: roster %v, requests %v, offline %v (count %d), blocked %v", items, reqs, msgs, n, blocked)
	}
	// Bob is untouched.
	items, _, _ = s.RosterItems(c, bob)
	reqs, _ = s.SubscriptionRequests(c, bob)
	msgs, _ = s.OfflineMessages(c, bob, 0)
	blocked, _ = s.BlockList(c, bob)
	if len(items) != 1 || len(reqs) != 1 || len(msgs) != 1 || len(blocked) != 1 {
		t.Fatalf("bob lost data when alice was deleted: roster %v, requests %v, offline %v, blocked %v", items, reqs, msgs, blocked)
	}
}

func testRoster(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@roster.test")
	items := []storage.RosterItem{
		{Contact: mustJID(t, "dave@roster.test"), Name: "Dave", Subscription: storage.Both, Groups: []string{"Friends", "Work"}},
		{Contact: mustJID(t, "bob@roster.test"), Name: "", Subscription: storage.None, Ask: true},
		{Contact: mustJID(t, "carol@remote.test"), Name: "Carol", Subscription: storage.To, Approved: true, Groups: []string{""}},
		{Contact: mustJID(t, "erin@roster.test"), Subscription: storage.From, Groups: []string{"Only"}},
		{Contact: mustJID(t, "thing.roster.test"), Name: "a domain contact", Subscription: storage.Both, Ask: true, Approved: true},
	}
	_, v0, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems(empty)", err)
	last := v0
	for _, it := range items {
		v, err := s.PutRosterItem(c, alice, it, 0)
		noErr(t, "PutRosterItem", err)
		if v <= last {
			t.Fatalf("PutRosterItem version %d not above %d", v, last)
		}
		last = v
	}
	got, v, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	if v != last {
		t.Fatalf("RosterItems version %d, want %d", v, last)
	}
	want := slices.Clone(items)
	slices.SortFunc(want, func(a, b storage.RosterItem) int { return strings.Compare(a.Contact.String(), b.Contact.String()) })
	if len(got) != len(want) {
		t.Fatalf("RosterItems = %+v, want %+v", got, want)
	}
	for i := range want {
		if !equalItem(got[i], want[i]) {
			t.Fatalf("RosterItems[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, it := range items {
		g, err := s.RosterItem(c, alice, it.Contact)
		noErr(t, "RosterItem", err)
		if !equalItem(g, it) {
			t.Fatalf("RosterItem = %+v, want %+v", g, it)
		}
	}
	// A full JID contact is stored as its bare JID.
	_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, "frank@roster.test/laptop"), Name: "Frank"}, 0)
	noErr(t, "PutRosterItem(full JID)", err)
	if g, err := s.RosterItem(c, alice, mustJID(t, "frank@roster.test")); err != nil || g.Contact != mustJID(t, "frank@roster.test") {
		t.Fatalf("RosterItem(frank) = %+v, %v; want the bare contact", g, err)
	}

	// Replacing changes every field.
	upd := storage.RosterItem{Contact: items[0].Contact, Name: "David", Subscription: storage.From, Ask: true, Approved: true}
	v2, err := s.PutRosterItem(c, alice, upd, 0)
	noErr(t, "PutRosterItem(update)", err)
	if v2 <= last {
		t.Fatalf("update version %d not above %d", v2, last)
	}
	g, err := s.RosterItem(c, alice, upd.Contact)
	noErr(t, "RosterItem", err)
	if !equalItem(g, upd) {
		t.Fatalf("after update RosterItem = %+v, want %+v", g, upd)
	}

	v3, err := s.DeleteRosterItem(c, alice, items[1].Contact)
	noErr(t, "DeleteRosterItem", err)
	if v3 <= v2 {
		t.Fatalf("delete version %d not above %d", v3, v2)
	}
	_, err = s.RosterItem(c, alice, items[1].Contact)
	wantErr(t, "RosterItem after delete", err, storage.ErrNotFound)
	_, err = s.DeleteRosterItem(c, alice, items[1].Contact)
	wantErr(t, "DeleteRosterItem twice", err, storage.ErrNotFound)
	if _, v, _ := s.RosterItems(c, alice); v != v3 {
		t.Fatalf("a failed delete changed the version: %d, want %d", v, v3)
	}

	nobody := mustJID(t, "nobody@roster.test")
	_, err = s.PutRosterItem(c, nobody, items[0], 0)
	wantErr(t, "PutRosterItem(no account)", err, storage.ErrNotFound)
	_, err = s.DeleteRosterItem(c, nobody, items[0].Contact)
	wantErr(t, "DeleteRosterItem(no account)", err, storage.ErrNotFound)
	empty, _, err := s.RosterItems(c, nobody)
	noErr(t, "RosterItems(no account)", err)
	if len(empty) != 0 {
		t.Fatalf("RosterItems(no account) = %v", empty)
	}
	_, err = s.RosterItem(c, alice, nobody)
	wantErr(t, "RosterItem(not on roster)", err, storage.ErrNotFound)
	_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: nobody, Subscription: 7}, 0)
	wantErr(t, "PutRosterItem(bad subscription)", err, storage.ErrInvalid)
}

func testRosterQuota(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@quota.test")
	var last int64
	for i := range 3 {
		v, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, fmt.Sprintf("c%d@quota.test", i))}, 3)
		noErr(t, "PutRosterItem under quota", err)
		last = v
	}
	_, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, "c3@quota.test")}, 3)
	wantErr(t, "PutRosterItem over quota", err, storage.ErrQuota)
	items, v, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	if len(items) != 3 || v != last {
		t.Fatalf("after ErrQuota: %d items at version %d, want 3 at %d", len(items), v, last)
	}
	// Replacing an existing item at the limit is fine, and so is no limit.
	_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, "c0@quota.test"), Name: "renamed"}, 3)
	noErr(t, "PutRosterItem(replace at quota)", err)
	_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: mustJID(t, "c3@quota.test")}, 0)
	noErr(t, "PutRosterItem(no limit)", err)
}

func testRosterVersions(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@versions.test")
	a, b, d := mustJID(t, "a@versions.test"), mustJID(t, "b@versions.test"), mustJID(t, "d@versions.test")
	_, v0, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)

	changed, removed, v, err := s.RosterChanges(c, alice, v0)
	noErr(t, "RosterChanges(current)", err)
	if len(changed)+len(removed) != 0 || v != v0 {
		t.Fatalf("RosterChanges(current) = %v, %v, %d", changed, removed, v)
	}
	put := func(j jid.JID, name string) int64 {
		v, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: j, Name: name}, 0)
		noErr(t, "PutRosterItem", err)
		return v
	}
	put(a, "A")
	put(b, "B")
	v2 := put(d, "D")
	vDel, err := s.DeleteRosterItem(c, alice, a)
	noErr(t, "DeleteRosterItem", err)
	v4 := put(b, "B2")

	names := func(items []storage.RosterItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Contact.String()+"="+it.Name)
		}
		return out
	}
	jids := func(js []jid.JID) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.String())
		}
		return out
	}
	tests := []struct {
		name    string
		since   int64
		changed []string
		removed []string
	}{
		{"from empty", v0, []string{"b@versions.test=B2", "d@versions.test=D"}, []string{"a@versions.test"}},
		{"after d", v2, []string{"b@versions.test=B2"}, []string{"a@versions.test"}},
		{"after delete", vDel, []string{"b@versions.test=B2"}, nil},
		{"current", v4, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed, removed, v, err := s.RosterChanges(c, alice, tt.since)
			noErr(t, "RosterChanges", err)
			if v != v4 || !slices.Equal(names(changed), tt.changed) || !slices.Equal(jids(removed), tt.removed) {
				t.Fatalf("RosterChanges(%d) = %v, %v, %d; want %v, %v, %d", tt.since, names(changed), jids(removed), v, tt.changed, tt.removed, v4)
			}
		})
	}
	_, _, _, err = s.RosterChanges(c, alice, v4+1)
	wantErr(t, "RosterChanges(future version)", err, storage.ErrNotFound)
	_, _, _, err = s.RosterChanges(c, alice, v0-1)
	wantErr(t, "RosterChanges(before the roster existed)", err, storage.ErrNotFound)
	_, _, _, err = s.RosterChanges(c, mustJID(t, "nobody@versions.test"), 0)
	wantErr(t, "RosterChanges(no account)", err, storage.ErrNotFound)

	// Re-adding a deleted contact turns its tombstone into a change.
	v5 := put(a, "A again")
	changed, removed, _, err = s.RosterChanges(c, alice, v2)
	noErr(t, "RosterChanges", err)
	if !slices.Equal(names(changed), []string{"a@versions.test=A again", "b@versions.test=B2"}) || len(removed) != 0 {
		t.Fatalf("after re-add: %v, %v", names(changed), jids(removed))
	}
	// A deleted and re-created account never accepts the old versions.
	noErr(t, "DeleteAccount", s.DeleteAccount(c, alice))
	create(t, s, "alice@versions.test")
	for _, old := range []int64{v0, v2, v5} {
		if changed, removed, _, err := s.RosterChanges(c, alice, old); err == nil && len(changed)+len(removed) == 0 {
			t.Fatalf("re-created account accepts version %d of the deleted one as current", old)
		}
	}
}

func testRosterPruning(t *testing.T, s storage.Store) {
	if testing.Short() {
		t.Skip("2,000 roster writes; skipped with -short")
	}
	c := ctx(t)
	alice := create(t, s, "alice@pruning.test")
	n := storage.RosterTombstones + 1
	var contacts []jid.JID
	for i := range n {
		j := mustJID(t, fmt.Sprintf("c%04d@pruning.test", i))
		contacts = append(contacts, j)
		_, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: j}, 0)
		noErr(t, "PutRosterItem", err)
	}
	_, vFull, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	var vFirst int64
	for i, j := range contacts {
		v, err := s.DeleteRosterItem(c, alice, j)
		noErr(t, "DeleteRosterItem", err)
		if i == 0 {
			vFirst = v
		}
	}
	// The first tombstone is beyond the kept ones: a client that has not
	// seen it must get the full roster.
	_, _, _, err = s.RosterChanges(c, alice, vFull)
	wantErr(t, fmt.Sprintf("RosterChanges after %d deletions", n), err, storage.ErrNotFound)
	_, removed, _, err := s.RosterChanges(c, alice, vFirst)
	noErr(t, "RosterChanges from the first deletion", err)
	if len(removed) != storage.RosterTombstones {
		t.Fatalf("RosterChanges from the first deletion: %d removed, want %d", len(removed), storage.RosterTombstones)
	}
}

func testRosterParallel(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@parallel.test")
	_, v0, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	const workers, each = 8, 10
	var (
		mu       sync.Mutex
		versions = map[int64]bool{}
		wg       sync.WaitGroup
		errs     = make(chan error, workers*each)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: jid.MustParse(fmt.Sprintf("w%d-%d@parallel.test", w, i))}, 0)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				versions[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "parallel PutRosterItem", err)
	}
	items, v, err := s.RosterItems(c, alice)
	noErr(t, "RosterItems", err)
	if len(items) != workers*each || len(versions) != workers*each || v != v0+workers*each {
		t.Fatalf("after %d parallel puts: %d items, %d distinct versions, version %d (from %d)", workers*each, len(items), len(versions), v, v0)
	}

	// Quota race: 16 writers, room for 5.
	bob := create(t, s, "bob@parallel.test")
	var ok, quota int
	var wg2 sync.WaitGroup
	for i := range 16 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			_, err := s.PutRosterItem(c, bob, storage.RosterItem{Contact: jid.MustParse(fmt.Sprintf("q%d@parallel.test", i))}, 5)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrQuota):
				quota++
			default:
				t.Errorf("PutRosterItem in quota race: %v", err)
			}
		}()
	}
	wg2.Wait()
	items, _, _ = s.RosterItems(c, bob)
	if ok != 5 || quota != 11 || len(items) != 5 {
		t.Fatalf("roster quota race: %d stored, %d ErrQuota, %d items; want 5, 11, 5", ok, quota, len(items))
	}
}

func testSubscriptions(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@subs.test")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	reqs := []storage.SubscriptionRequest{
		{From: mustJID(t, "carol@subs.test"), Raw: []byte("<presence type='subscribe' from='carol@subs.test'/>"), Received: t0.Add(2 * time.Second)},
		{From: mustJID(t, "bob@subs.test"), Raw: []byte("<presence type='subscribe'>\x00binary\xff</presence>"), Received: t0},
		{From: mustJID(t, "dave@remote.test"), Raw: []byte("<presence type='subscribe'/>"), Received: t0.Add(time.Second)},
	}
	for _, r := range reqs {
		noErr(t, "AddSubscriptionRequest", s.AddSubscriptionRequest(c, alice, r))
	}
	got, err := s.SubscriptionRequests(c, alice)
	noErr(t, "SubscriptionRequests", err)
	order := []int{1, 2, 0}
	if len(got) != 3 {
		t.Fatalf("SubscriptionRequests = %v", got)
	}
	for i, k := range order {
		if got[i].From != reqs[k].From || !bytes.Equal(got[i].Raw, reqs[k].Raw) || !got[i].Received.Equal(reqs[k].Received) {
			t.Fatalf("SubscriptionRequests[%d] = %+v, want %+v", i, got[i], reqs[k])
		}
	}
	// The latest request from a sender replaces the earlier one.
	latest := storage.SubscriptionRequest{From: reqs[1].From, Raw: []byte("<presence type='subscribe'><status>again</status></presence>"), Received: t0.Add(time.Hour)}
	noErr(t, "AddSubscriptionRequest(again)", s.AddSubscriptionRequest(c, alice, latest))
	got, err = s.SubscriptionRequests(c, alice)
	noErr(t, "SubscriptionRequests", err)
	if len(got) != 3 || got[2].From != latest.From || !bytes.Equal(got[2].Raw, latest.Raw) {
		t.Fatalf("after re-request: %+v", got)
	}
	// A zero Received is set to now.
	noErr(t, "AddSubscriptionRequest(no time)", s.AddSubscriptionRequest(c, alice, storage.SubscriptionRequest{From: mustJID(t, "erin@subs.test"), Raw: []byte("<presence/>")}))
	got, _ = s.SubscriptionRequests(c, alice)
	if last := got[len(got)-1]; last.From.String() != "erin@subs.test" || time.Since(last.Received) > time.Minute {
		t.Fatalf("request without time: %+v", last)
	}

	has := func(owner jid.JID, from string, want bool) {
		t.Helper()
		got, err := s.HasSubscriptionRequest(c, owner, mustJID(t, from))
		noErr(t, "HasSubscriptionRequest", err)
		if got != want {
			t.Fatalf("HasSubscriptionRequest(%s, %s) = %v, want %v", owner, from, got, want)
		}
	}
	has(alice, "carol@subs.test", true)
	has(alice, "carol@subs.test/phone", true) // the request is the bare JID's
	has(alice, "dave@remote.test", true)
	has(alice, "frank@subs.test", false)
	has(mustJID(t, "nobody@subs.test"), "carol@subs.test", false)

	noErr(t, "RemoveSubscriptionRequest", s.RemoveSubscriptionRequest(c, alice, reqs[0].From))
	has(alice, "carol@subs.test", false)
	noErr(t, "RemoveSubscriptionRequest(absent)", s.RemoveSubscriptionRequest(c, alice, reqs[0].From))
	noErr(t, "RemoveSubscriptionRequest(no account)", s.RemoveSubscriptionRequest(c, mustJID(t, "nobody@subs.test"), reqs[0].From))
	got, _ = s.SubscriptionRequests(c, alice)
	if len(got) != 3 || slices.ContainsFunc(got, func(r storage.SubscriptionRequest) bool { return r.From == reqs[0].From }) {
		t.Fatalf("after remove: %+v", got)
	}
	wantErr(t, "AddSubscriptionRequest(no account)",
		s.AddSubscriptionRequest(c, mustJID(t, "nobody@subs.test"), reqs[0]), storage.ErrNotFound)
}

func testOffline(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@offline.test")
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	raws := [][]byte{[]byte("<message>1</message>"), big, []byte("<message>\x00\xff3</message>"), []byte("<message>4</message>")}
	var ids []int64
	for _, r := range raws {
		id, err := s.StoreOffline(c, alice, r, 0)
		noErr(t, "StoreOffline", err)
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("StoreOffline id %d not above %d", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	msgs, err := s.OfflineMessages(c, alice, 0)
	noErr(t, "OfflineMessages", err)
	if len(msgs) != len(raws) {
		t.Fatalf("OfflineMessages: %d, want %d", len(msgs), len(raws))
	}
	for i, m := range msgs {
		if m.ID != ids[i] || !bytes.Equal(m.Raw, raws[i]) || time.Since(m.Stored) > time.Minute {
			t.Fatalf("OfflineMessages[%d] = id %d, %d bytes, stored %v; want id %d, %d bytes", i, m.ID, len(m.Raw), m.Stored, ids[i], len(raws[i]))
		}
	}
	two, err := s.OfflineMessages(c, alice, 2)
	noErr(t, "OfflineMessages(limit 2)", err)
	if len(two) != 2 || two[0].ID != ids[0] || two[1].ID != ids[1] {
		t.Fatalf("OfflineMessages(limit 2) = %d messages", len(two))
	}
	n, err := s.CountOffline(c, alice)
	noErr(t, "CountOffline", err)
	if n != 4 {
		t.Fatalf("CountOffline = %d, want 4", n)
	}

	_, err = s.StoreOffline(c, alice, []byte("<message>5</message>"), 4)
	wantErr(t, "StoreOffline into a full store", err, storage.ErrQuota)
	id5, err := s.StoreOffline(c, alice, []byte("<message>5</message>"), 5)
	noErr(t, "StoreOffline(max 5)", err)
	ids = append(ids, id5)

	noErr(t, "DeleteOffline", s.DeleteOffline(c, alice, ids[1]))
	msgs, _ = s.OfflineMessages(c, alice, 0)
	if n, _ := s.CountOffline(c, alice); n != 3 || len(msgs) != 3 || msgs[0].ID != ids[2] {
		t.Fatalf("after DeleteOffline(%d): count %d, %d messages", ids[1], n, len(msgs))
	}
	noErr(t, "DeleteOffline(nothing)", s.DeleteOffline(c, alice, ids[1]))
	noErr(t, "DeleteOffline(all)", s.DeleteOffline(c, alice, ids[len(ids)-1]+1000))
	if n, _ := s.CountOffline(c, alice); n != 0 {
		t.Fatalf("after flush: count %d", n)
	}
	// Ids keep increasing after a flush, so an old upTo never reaches a
	// new message.
	id6, err := s.StoreOffline(c, alice, nil, 0)
	noErr(t, "StoreOffline(empty)", err)
	if id6 <= id5 {
		t.Fatalf("id after flush %d not above %d", id6, id5)
	}
	msgs, _ = s.OfflineMessages(c, alice, 0)
	if len(msgs) != 1 || len(msgs[0].Raw) != 0 {
		t.Fatalf("empty message: %+v", msgs)
	}

	nobody := mustJID(t, "nobody@offline.test")
	_, err = s.StoreOffline(c, nobody, []byte("<message/>"), 0)
	wantErr(t, "StoreOffline(no account)", err, storage.ErrNotFound)
	if n, err := s.CountOffline(c, nobody); err != nil || n != 0 {
		t.Fatalf("CountOffline(no account) = %d, %v", n, err)
	}
	if m, err := s.OfflineMessages(c, nobody, 0); err != nil || len(m) != 0 {
		t.Fatalf("OfflineMessages(no account) = %v, %v", m, err)
	}
}

func testOfflineQuotaRace(t *testing.T, s storage.Store) {
	c := ctx(t)
	tests := []struct {
		name              string
		max, prefill, try int
	}{
		{"last slot", 10, 9, 2},
		{"many writers", 5, 0, 16},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := create(t, s, fmt.Sprintf("race%d@offline-race.test", i))
			for range tt.prefill {
				_, err := s.StoreOffline(c, owner, []byte("<message/>"), tt.max)
				noErr(t, "StoreOffline(prefill)", err)
			}
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				ok, quota int
				start     = make(chan struct{})
			)
			for range tt.try {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := s.StoreOffline(c, owner, []byte("<message>race</message>"), tt.max)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, storage.ErrQuota):
						quota++
					default:
						t.Errorf("StoreOffline in race: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			n, err := s.CountOffline(c, owner)
			noErr(t, "CountOffline", err)
			msgs, err := s.OfflineMessages(c, owner, 0)
			noErr(t, "OfflineMessages", err)
			want := tt.max - tt.prefill
			if ok != want || quota != tt.try-want || n != tt.max || len(msgs) != tt.max {
				t.Fatalf("%d stored, %d ErrQuota, count %d, %d messages; want %d, %d, %d, %d", ok, quota, n, len(msgs), want, tt.try-want, tt.max, tt.max)
			}
		})
	}
}

func testBlocking(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@blocking.test")
	items := []jid.JID{mustJID(t, "spam.example"), mustJID(t, "eve@blocking.test"), mustJID(t, "mallory@blocking.test/bot"), mustJID(t, "eve@blocking.test")}
	noErr(t, "Block", s.Block(c, alice, items))
	noErr(t, "Block(again)", s.Block(c, alice, items[:2]))
	noErr(t, "Block(nothing)", s.Block(c, alice, nil))
	got, err := s.BlockList(c, alice)
	noErr(t, "BlockList", err)
	want := []string{"eve@blocking.test", "mallory@blocking.test/bot", "spam.example"}
	var gs []string
	for _, j := range got {
		gs = append(gs, j.String())
	}
	if !slices.Equal(gs, want) {
		t.Fatalf("BlockList = %v, want %v", gs, want)
	}
	noErr(t, "Unblock", s.Unblock(c, alice, []jid.JID{mustJID(t, "eve@blocking.test"), mustJID(t, "never@blocking.test")}))
	got, _ = s.BlockList(c, alice)
	if len(got) != 2 || got[0].String() != "mallory@blocking.test/bot" {
		t.Fatalf("after Unblock: %v", got)
	}
	noErr(t, "Unblock(all)", s.Unblock(c, alice, nil))
	got, _ = s.BlockList(c, alice)
	if len(got) != 0 {
		t.Fatalf("after Unblock(all): %v", got)
	}
	wantErr(t, "Block(no account)", s.Block(c, mustJID(t, "nobody@blocking.test"), items), storage.ErrNotFound)
	noErr(t, "Unblock(no account)", s.Unblock(c, mustJID(t, "nobody@blocking.test"), nil))
}

func testUnicode(t *testing.T, s storage.Store) {
	c := ctx(t)
	names := []string{"jürgen@münchen.example", "用户@例子.测试", "ΑΛΦΑ@ελληνικά.example", "ascii@unicode.example"}
	var owners []jid.JID
	for _, n := range names {
		owners = append(owners, create(t, s, n))
	}
	for _, o := range owners {
		got, err := s.Account(c, o)
		noErr(t, "Account("+o.String()+")", err)
		if got.JID != o {
			t.Fatalf("Account(%s).JID = %s", o, got.JID)
		}
	}
	n, err := s.CountAccounts(c, owners[1].Domain())
	noErr(t, "CountAccounts(unicode domain)", err)
	if n != 1 {
		t.Fatalf("CountAccounts(%s) = %d", owners[1].Domain(), n)
	}
	list, err := s.ListAccounts(c, owners[0].Domain(), "", 0)
	noErr(t, "ListAccounts(unicode domain)", err)
	if len(list) != 1 || list[0] != owners[0] {
		t.Fatalf("ListAccounts(%s) = %v", owners[0].Domain(), list)
	}
	it := storage.RosterItem{Contact: owners[2], Name: "Ünïcödé 名前 🚀", Groups: []string{"Família", "家族", "🏠"}, Subscription: storage.Both}
	_, err = s.PutRosterItem(c, owners[0], it, 0)
	noErr(t, "PutRosterItem(unicode)", err)
	got, err := s.RosterItem(c, owners[0], owners[2])
	noErr(t, "RosterItem(unicode)", err)
	if !equalItem(got, it) {
		t.Fatalf("RosterItem = %+v, want %+v", got, it)
	}
	noErr(t, "Block(unicode)", s.Block(c, owners[0], []jid.JID{owners[1], owners[1].DomainJID()}))
	bl, err := s.BlockList(c, owners[0])
	noErr(t, "BlockList", err)
	if len(bl) != 2 || !slices.Contains(bl, owners[1]) || !slices.Contains(bl, owners[1].DomainJID()) {
		t.Fatalf("BlockList = %v", bl)
	}
}

func testHostile(t *testing.T, s storage.Store) {
	c := ctx(t)
	alice := create(t, s, "alice@hostile.test")
	stored := []string{`O'Brien`, `"; DROP TABLE accounts; --`, `\x00 is not a NUL`, `%_*`, "tab\tand\nnewline", "<xml>&amp;</xml>", strings.Repeat("x", 4000)}
	for i, name := range stored {
		t.Run(fmt.Sprintf("stored %d", i), func(t *testing.T) {
			contact := mustJID(t, fmt.Sprintf("c%d@hostile.test", i))
			it := storage.RosterItem{Contact: contact, Name: name, Groups: []string{name}}
			_, err := s.PutRosterItem(c, alice, it, 0)
			noErr(t, "PutRosterItem", err)
			got, err := s.RosterItem(c, alice, contact)
			noErr(t, "RosterItem", err)
			if !equalItem(got, it) {
				t.Fatalf("RosterItem = %+v, want %+v", got, it)
			}
		})
	}
	// Text XML cannot carry is refused the same way by every backend.
	refused := []string{"nul\x00inside", "unit\x1fseparator", "bad utf-8 \xff", "bell\a"}
	for i, bad := range refused {
		t.Run(fmt.Sprintf("refused %d", i), func(t *testing.T) {
			contact := mustJID(t, fmt.Sprintf("r%d@hostile.test", i))
			_, err := s.PutRosterItem(c, alice, storage.RosterItem{Contact: contact, Name: bad}, 0)
			wantErr(t, "PutRosterItem(bad name)", err, storage.ErrInvalid)
			_, err = s.PutRosterItem(c, alice, storage.RosterItem{Contact: contact, Groups: []string{"ok", bad}}, 0)
			wantErr(t, "PutRosterItem(bad group)", err, storage.ErrInvalid)
			_, err = s.RosterItem(c, alice, contact)
			wantErr(t, "RosterItem after refusal", err, storage.ErrNotFound)
		})
	}
	// The table is still there.
	if _, err := s.CountAccounts(c, ""); err != nil {
		t.Fatalf("CountAccounts: %v", err)
	}
}

func testCancelled(t *testing.T, s storage.Store) {
	alice := create(t, s, "alice@cancel.test")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Credential(c, alice, storage.SHA256)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Credential with a cancelled context succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Credential with a cancelled context hangs")
	}
	_, err := s.StoreOffline(c, alice, []byte("<message/>"), 0)
	if err == nil {
		t.Fatal("StoreOffline with a cancelled context succeeded")
	}
}
