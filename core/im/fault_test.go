package im

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// downStore fails every call with storage.ErrUnavailable while down is set,
// as the SQL store does when its database is unreachable.
type downStore struct {
	Store
	down atomic.Bool
}

var errDown = fmt.Errorf("test: connection refused: %w", storage.ErrUnavailable)

func (d *downStore) RosterItems(ctx context.Context, o jid.JID) ([]storage.RosterItem, int64, error) {
	if d.down.Load() {
		return nil, 0, errDown
	}
	return d.Store.RosterItems(ctx, o)
}

func (d *downStore) RosterItem(ctx context.Context, o, c jid.JID) (storage.RosterItem, error) {
	if d.down.Load() {
		return storage.RosterItem{}, errDown
	}
	return d.Store.RosterItem(ctx, o, c)
}

func (d *downStore) PutRosterItem(ctx context.Context, o jid.JID, it storage.RosterItem, max int) (int64, error) {
	if d.down.Load() {
		return 0, errDown
	}
	return d.Store.PutRosterItem(ctx, o, it, max)
}

func (d *downStore) BlockList(ctx context.Context, o jid.JID) ([]jid.JID, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.Store.BlockList(ctx, o)
}

func (d *downStore) StoreOffline(ctx context.Context, o jid.JID, raw []byte, max int) (int64, error) {
	if d.down.Load() {
		return 0, errDown
	}
	return d.Store.StoreOffline(ctx, o, raw, max)
}

func (d *downStore) SubscriptionRequests(ctx context.Context, o jid.JID) ([]storage.SubscriptionRequest, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.Store.SubscriptionRequests(ctx, o)
}

func (d *downStore) HasSubscriptionRequest(ctx context.Context, o, from jid.JID) (bool, error) {
	if d.down.Load() {
		return false, errDown
	}
	return d.Store.HasSubscriptionRequest(ctx, o, from)
}

func (d *downStore) OfflineMessages(ctx context.Context, o jid.JID, limit int) ([]storage.OfflineMessage, error) {
	if d.down.Load() {
		return nil, errDown
	}
	return d.Store.OfflineMessages(ctx, o, limit)
}

func (d *downStore) Account(ctx context.Context, o jid.JID) (storage.Account, error) {
	if d.down.Load() {
		return storage.Account{}, errDown
	}
	return d.Store.Account(ctx, o)
}

// TestStorageDown: with the database unreachable, what needs it is
// answered with a temporary error, live traffic keeps flowing, and the
// service recovers by itself.
func TestStorageDown(t *testing.T) {
	var ds *downStore
	e := newEnv(t, envOptions{wrap: func(s Store) Store { ds = &downStore{Store: s}; return ds }})
	e.account("alice")
	e.account("bob")
	e.account("carol")
	e.account("dave")
	befriend(e, "alice", "bob")
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	ds.down.Store(true)

	e.run(t, "roster set answered with a temporary error", func(t *testing.T) {
		a.send(`<iq type='set' id='rs'><query xmlns='jabber:iq:roster'><item jid='x@example.org'/></query></iq>`)
		a.expect(`id='rs'`, `type='error'`, `<error type='wait'><resource-constraint`)
	})
	e.run(t, "messages between online users still flow", func(t *testing.T) {
		b.send(`<message to='alice@example.org' type='chat' id='m1'><body>x</body></message>`)
		a.expect(`id='m1'`)
	})
	e.run(t, "presence still flows", func(t *testing.T) {
		b.send(`<presence><status>still here</status></presence>`)
		a.expect(`still here`)
	})
	e.run(t, "offline message refused, not lost silently", func(t *testing.T) {
		b.send(`<message to='carol@example.org' type='chat' id='m2'><body>x</body></message>`)
		b.expect(`id='m2'`, `type='error'`, `resource-constraint`)
	})
	e.run(t, "login while down, recovery after", func(t *testing.T) {
		d := e.login("dave@example.org/d")
		d.send(`<presence/>`)
		d.expect(`from='dave@example.org/d'`)
		ds.down.Store(false)
		d.send(`<iq type='set' id='rs2'><query xmlns='jabber:iq:roster'><item jid='alice@example.org'/></query></iq>`)
		d.expect(`id='rs2'`, `type='result'`)
		d.send(`<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>`)
		d.expect(`id='rg'`, `alice@example.org`)
	})
}
