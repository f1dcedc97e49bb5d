package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/extasis/extasis/core/storage"
)

// testAPIKeys runs the API key tests: a backend's Store must implement
// storage.APIKeys too.
func testAPIKeys(t *testing.T, s storage.Store) {
	ks, ok := s.(storage.APIKeys)
	if !ok {
		t.Fatalf("%T does not implement storage.APIKeys", s)
	}
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Store, storage.APIKeys)
	}{
		{"CRUD", testAPIKeyCRUD},
		{"Register", testRegisterAccount},
		{"RegisterInactive", testRegisterInactive},
		{"RegisterOpen", testRegisterOpen},
		{"QuotaRace", testRegisterQuotaRace},
		{"Nonces", testNonces},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s, ks) })
	}
}

// sealed stands for a secret the broker sealed: binary, with NUL and 0xff.
var sealed = []byte{1, 0, 0xff, 'x', 0, 2}

func newKey(key string, accounts int) storage.APIKey {
	return storage.APIKey{Key: key, Sealed: sealed, Accounts: accounts}
}

func testAPIKeyCRUD(t *testing.T, _ storage.Store, ks storage.APIKeys) {
	c := ctx(t)
	created := time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)
	expires := created.Add(30 * 24 * time.Hour)
	k := storage.APIKey{Key: "crud-a", Sealed: sealed, Accounts: 10, Used: 7, Domain: "crud.test",
		Note: "line 4, Ünïcode", Created: created, Expires: expires}
	noErr(t, "CreateAPIKey", ks.CreateAPIKey(c, k))
	wantErr(t, "CreateAPIKey(again)", ks.CreateAPIKey(c, k), storage.ErrExists)
	got, err := ks.APIKey(c, "crud-a")
	noErr(t, "APIKey", err)
	if got.Key != k.Key || string(got.Sealed) != string(sealed) || got.Accounts != 10 || got.Used != 0 ||
		got.Domain != k.Domain || got.Note != k.Note || !got.Created.Equal(created) || !got.Expires.Equal(expires) || !got.Revoked.IsZero() {
		t.Fatalf("APIKey = %+v, want %+v with Used 0", got, k)
	}
	if !got.Active(created) || got.Active(expires) || got.Remaining() != 10 {
		t.Fatalf("Active/Remaining of %+v wrong", got)
	}
	_, err = ks.APIKey(c, "crud-none")
	wantErr(t, "APIKey(unknown)", err, storage.ErrNotFound)

	b := newKey("crud-b", 1)
	b.Created = created.Add(time.Second)
	noErr(t, "CreateAPIKey(b)", ks.CreateAPIKey(c, b))
	list, err := ks.ListAPIKeys(c)
	noErr(t, "ListAPIKeys", err)
	ia, ib := -1, -1
	for i, x := range list {
		switch x.Key {
		case "crud-a":
			ia = i
		case "crud-b":
			ib = i
		}
	}
	if ia < 0 || ib < 0 || ia > ib {
		t.Fatalf("ListAPIKeys: crud-a at %d, crud-b at %d; want both, oldest first", ia, ib)
	}

	first := created.Add(time.Hour)
	noErr(t, "RevokeAPIKey", ks.RevokeAPIKey(c, "crud-b", first))
	noErr(t, "RevokeAPIKey(again)", ks.RevokeAPIKey(c, "crud-b", first.Add(time.Hour)))
	got, err = ks.APIKey(c, "crud-b")
	noErr(t, "APIKey(revoked)", err)
	if !got.Revoked.Equal(first) || got.Active(first.Add(-time.Hour)) {
		t.Fatalf("revoked key = %+v, want Revoked %v and inactive", got, first)
	}
	wantErr(t, "RevokeAPIKey(unknown)", ks.RevokeAPIKey(c, "crud-none", first), storage.ErrNotFound)

	for _, bad := range []storage.APIKey{
		{Key: "", Sealed: sealed, Accounts: 1},
		{Key: "crud-nul", Sealed: sealed, Accounts: 1, Note: "a\x00b"},
		{Key: "crud-neg", Sealed: sealed, Accounts: -1},
		{Key: "crud-nosecret", Accounts: 1},
	} {
		wantErr(t, fmt.Sprintf("CreateAPIKey(%q)", bad.Key), ks.CreateAPIKey(c, bad), storage.ErrInvalid)
	}
}

func testRegisterAccount(t *testing.T, s storage.Store, ks storage.APIKeys) {
	c := ctx(t)
	noErr(t, "CreateAPIKey", ks.CreateAPIKey(c, newKey("reg-a", 2)))
	at := time.Date(2025, 4, 1, 8, 0, 0, 0, time.UTC)
	reg := func(user string) error {
		a := storage.Account{JID: mustJID(t, user), Credentials: []storage.Credential{cred(storage.SHA256, 3)}}
		return ks.RegisterAccount(c, a, storage.Registration{Account: a.JID, Key: "reg-a", Time: at, Remote: "192.0.2.7"})
	}
	noErr(t, "RegisterAccount(1)", reg("one@register.test"))
	acct, err := s.Account(c, mustJID(t, "one@register.test"))
	noErr(t, "Account", err)
	if !acct.Created.Equal(at) || len(acct.Credentials) != 1 || !equalCred(acct.Credentials[0], cred(storage.SHA256, 3)) {
		t.Fatalf("registered account = %+v", acct)
	}
	// A taken name takes no slot.
	wantErr(t, "RegisterAccount(taken)", reg("one@register.test"), storage.ErrExists)
	create(t, s, "admin-made@register.test")
	wantErr(t, "RegisterAccount(taken by the CLI)", reg("admin-made@register.test"), storage.ErrExists)
	if k, err := ks.APIKey(c, "reg-a"); err != nil || k.Used != 1 {
		t.Fatalf("after a conflict: %+v, %v; want Used 1", k, err)
	}
	noErr(t, "RegisterAccount(2)", reg("two@register.test"))
	wantErr(t, "RegisterAccount(over quota)", reg("three@register.test"), storage.ErrQuota)
	if _, err := s.Account(c, mustJID(t, "three@register.test")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("account created over quota: %v", err)
	}
	if k, err := ks.APIKey(c, "reg-a"); err != nil || k.Used != 2 || k.Remaining() != 0 {
		t.Fatalf("after quota: %+v, %v; want Used 2", k, err)
	}

	a := storage.Account{JID: mustJID(t, "nokey@register.test"), Credentials: []storage.Credential{cred(storage.SHA1, 1)}}
	wantErr(t, "RegisterAccount(unknown key)", ks.RegisterAccount(c, a, storage.Registration{Account: a.JID, Key: "reg-none", Time: at}), storage.ErrNotFound)

	// The audit, newest first, outlives the account.
	noErr(t, "DeleteAccount", s.DeleteAccount(c, mustJID(t, "one@register.test")))
	regs, err := ks.Registrations(c, "reg-a", 0)
	noErr(t, "Registrations", err)
	if len(regs) != 2 || regs[0].Account.String() != "two@register.test" || regs[1].Account.String() != "one@register.test" ||
		regs[0].Key != "reg-a" || regs[0].Remote != "192.0.2.7" || !regs[0].Time.Equal(at) {
		t.Fatalf("Registrations = %+v", regs)
	}
	if regs, err := ks.Registrations(c, "reg-a", 1); err != nil || len(regs) != 1 || regs[0].Account.String() != "two@register.test" {
		t.Fatalf("Registrations(limit 1) = %+v, %v", regs, err)
	}
}

func testRegisterInactive(t *testing.T, s storage.Store, ks storage.APIKeys) {
	c := ctx(t)
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	exp := newKey("inactive-exp", 5)
	exp.Expires = at
	noErr(t, "CreateAPIKey(expiring)", ks.CreateAPIKey(c, exp))
	noErr(t, "CreateAPIKey(revoked)", ks.CreateAPIKey(c, newKey("inactive-rev", 5)))
	noErr(t, "RevokeAPIKey", ks.RevokeAPIKey(c, "inactive-rev", at))
	tests := []struct {
		name, key, user string
		at              time.Time
		want            error
	}{
		{"before expiry", "inactive-exp", "early@inactive.test", at.Add(-time.Microsecond), nil},
		{"at expiry", "inactive-exp", "late@inactive.test", at, storage.ErrKeyInactive},
		{"revoked", "inactive-rev", "rev@inactive.test", at.Add(-time.Hour), storage.ErrKeyInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := storage.Account{JID: mustJID(t, tt.user), Credentials: []storage.Credential{cred(storage.SHA256, 1)}}
			err := ks.RegisterAccount(c, a, storage.Registration{Account: a.JID, Key: tt.key, Time: tt.at})
			if tt.want == nil {
				noErr(t, "RegisterAccount", err)
				return
			}
			wantErr(t, "RegisterAccount", err, tt.want)
			if errors.Is(err, storage.ErrQuota) {
				t.Fatalf("an inactive key must not report ErrQuota: %v", err)
			}
			if _, err := s.Account(c, a.JID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("account created with an inactive key: %v", err)
			}
		})
	}
}

func testRegisterOpen(t *testing.T, s storage.Store, ks storage.APIKeys) {
	c := ctx(t)
	a := storage.Account{JID: mustJID(t, "walkin@open.test"), Credentials: []storage.Credential{cred(storage.SHA256, 1)}}
	r := storage.Registration{Account: a.JID, Remote: "2001:db8::1"}
	noErr(t, "RegisterAccount(open)", ks.RegisterAccount(c, a, r))
	wantErr(t, "RegisterAccount(open, taken)", ks.RegisterAccount(c, a, r), storage.ErrExists)
	if _, err := s.Account(c, a.JID); err != nil {
		t.Fatalf("Account: %v", err)
	}
	regs, err := ks.Registrations(c, "", 0)
	noErr(t, "Registrations(open)", err)
	found := 0
	for _, g := range regs {
		if g.Account == a.JID {
			found++
			if g.Remote != "2001:db8::1" || g.Time.IsZero() {
				t.Fatalf("open registration record = %+v", g)
			}
		}
	}
	if found != 1 {
		t.Fatalf("open registration recorded %d times, want once", found)
	}
}

func testRegisterQuotaRace(t *testing.T, s storage.Store, ks storage.APIKeys) {
	tests := []struct {
		name                string
		quota, prefill, try int
	}{
		{"last slot", 3, 2, 2},
		{"many devices", 5, 0, 16},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx(t)
			key := fmt.Sprintf("race-%d", i)
			noErr(t, "CreateAPIKey", ks.CreateAPIKey(c, newKey(key, tt.quota)))
			reg := func(user string) error {
				a := storage.Account{JID: mustJID(t, user), Credentials: []storage.Credential{cred(storage.SHA256, 1)}}
				return ks.RegisterAccount(c, a, storage.Registration{Account: a.JID, Key: key, Remote: "127.0.0.1"})
			}
			for n := range tt.prefill {
				noErr(t, "RegisterAccount(prefill)", reg(fmt.Sprintf("pre%d@race%d.test", n, i)))
			}
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				ok, quota int
				start     = make(chan struct{})
			)
			for n := range tt.try {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					err := reg(fmt.Sprintf("dev%d@race%d.test", n, i))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, storage.ErrQuota):
						quota++
					default:
						t.Errorf("RegisterAccount in race: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			want := tt.quota - tt.prefill
			n, err := s.CountAccounts(c, fmt.Sprintf("race%d.test", i))
			noErr(t, "CountAccounts", err)
			k, err := ks.APIKey(c, key)
			noErr(t, "APIKey", err)
			regs, err := ks.Registrations(c, key, 0)
			noErr(t, "Registrations", err)
			if ok != want || quota != tt.try-want || n != tt.quota || k.Used != tt.quota || len(regs) != tt.quota {
				t.Fatalf("%d registered, %d ErrQuota, %d accounts, Used %d, %d records; want %d, %d, then %d of each",
					ok, quota, n, k.Used, len(regs), want, tt.try-want, tt.quota)
			}
		})
	}
}

func testNonces(t *testing.T, _ storage.Store, ks storage.APIKeys) {
	c := ctx(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ttl := 10 * time.Minute
	noErr(t, "UseNonce", ks.UseNonce(c, "nonce-a", "n1", t0, t0.Add(ttl)))
	wantErr(t, "UseNonce(replay)", ks.UseNonce(c, "nonce-a", "n1", t0.Add(time.Minute), t0.Add(time.Minute+ttl)), storage.ErrExists)
	noErr(t, "UseNonce(other key)", ks.UseNonce(c, "nonce-b", "n1", t0, t0.Add(ttl)))
	noErr(t, "UseNonce(other nonce)", ks.UseNonce(c, "nonce-a", "n2", t0, t0.Add(ttl)))
	// Once expired, the record may be reused (the timestamp window refuses
	// such an old signature anyway).
	later := t0.Add(ttl)
	noErr(t, "UseNonce(after expiry)", ks.UseNonce(c, "nonce-a", "n1", later, later.Add(ttl)))
	wantErr(t, "UseNonce(replay after renewal)", ks.UseNonce(c, "nonce-a", "n1", later, later.Add(ttl)), storage.ErrExists)
	wantErr(t, "UseNonce(NUL)", ks.UseNonce(c, "nonce-a", "a\x00", t0, t0.Add(ttl)), storage.ErrInvalid)

	n, err := ks.PruneNonces(c, t0.Add(ttl))
	noErr(t, "PruneNonces", err)
	if n < 2 {
		t.Fatalf("PruneNonces removed %d, want at least nonce-b/n1 and nonce-a/n2", n)
	}
	noErr(t, "UseNonce(after prune)", ks.UseNonce(c, "nonce-a", "n2", t0, t0.Add(ttl)))
	wantErr(t, "UseNonce(kept by prune)", ks.UseNonce(c, "nonce-a", "n1", later, later.Add(ttl)), storage.ErrExists)
}
