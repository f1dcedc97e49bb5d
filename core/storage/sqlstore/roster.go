package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// groupSep precedes every group name in the group_names column. XML cannot
// carry U+001F, and storage.CheckText refuses it, so it never occurs in a
// name; a leading separator per group keeps [] and [""] apart.
const groupSep = "\x1f"

func encodeGroups(groups []string) string {
	if len(groups) == 0 {
		return ""
	}
	return groupSep + strings.Join(groups, groupSep)
}

func decodeGroups(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s[1:], groupSep)
}

func checkItem(it storage.RosterItem) error {
	if it.Contact.IsZero() {
		return fmt.Errorf("sqlstore: roster item without contact: %w", storage.ErrInvalid)
	}
	if it.Subscription > storage.Both {
		return fmt.Errorf("sqlstore: subscription %d: %w", it.Subscription, storage.ErrInvalid)
	}
	if err := storage.CheckText("roster item name", it.Name); err != nil {
		return err
	}
	for _, g := range it.Groups {
		if err := storage.CheckText("roster group", g); err != nil {
			return err
		}
	}
	return nil
}

const rosterColumns = `contact, name, group_names, subscription, ask, approved`

type scanner interface{ Scan(dest ...any) error }

func scanItem(sc scanner, extra ...any) (storage.RosterItem, error) {
	var (
		it      storage.RosterItem
		contact string
		groups  string
		sub     int16
	)
	dest := append([]any{&contact, &it.Name, &groups, &sub, &it.Ask, &it.Approved}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return it, err
	}
	c, err := jid.Parse(contact)
	if err != nil {
		return it, fmt.Errorf("sqlstore: stored contact %q: %w", contact, err)
	}
	it.Contact, it.Groups, it.Subscription = c, decodeGroups(groups), storage.Subscription(sub)
	return it, nil
}

// RosterItems implements storage.Roster in one query: the account row
// carries the version, joined to its items, so version and items come
// from the same snapshot.
func (s *Store) RosterItems(ctx context.Context, ownerJID jid.JID) ([]storage.RosterItem, int64, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx,
		`SELECT a.roster_version, r.contact, r.name, r.group_names, r.subscription, r.ask, r.approved
		 FROM accounts a LEFT JOIN roster_items r ON r.owner = a.jid
		 WHERE a.jid = $1 ORDER BY r.contact`, o)
	if err != nil {
		return nil, 0, s.fail("roster", err)
	}
	defer rows.Close()
	var (
		items   []storage.RosterItem
		version int64
	)
	for rows.Next() {
		var (
			contact, name, groups sql.NullString
			sub                   sql.NullInt16
			ask, approved         sql.NullBool
		)
		if err := rows.Scan(&version, &contact, &name, &groups, &sub, &ask, &approved); err != nil {
			return nil, 0, s.fail("roster", err)
		}
		if !contact.Valid {
			continue // the account has no items
		}
		c, err := jid.Parse(contact.String)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlstore: stored contact %q: %w", contact.String, err)
		}
		items = append(items, storage.RosterItem{
			Contact: c, Name: name.String, Groups: decodeGroups(groups.String),
			Subscription: storage.Subscription(sub.Int16), Ask: ask.Bool, Approved: approved.Bool,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.fail("roster", err)
	}
	return items, version, nil
}

// RosterItem implements storage.Roster.
func (s *Store) RosterItem(ctx context.Context, ownerJID, contact jid.JID) (storage.RosterItem, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return storage.RosterItem{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	it, err := scanItem(s.queryRow(ctx,
		`SELECT `+rosterColumns+` FROM roster_items WHERE owner = $1 AND contact = $2`, o, contact.Bare().String()))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.RosterItem{}, fmt.Errorf("sqlstore: roster item %s of %s: %w", contact, o, storage.ErrNotFound)
	}
	if err != nil {
		return storage.RosterItem{}, s.fail("roster item", err)
	}
	return it, nil
}

// bumpRoster increments the owner's roster version. On PostgreSQL the
// UPDATE takes the account's row lock, which serialises the roster writes
// of one owner (and so makes the quota check exact); on SQLite the single
// writer does.
func (s *Store) bumpRoster(ctx context.Context, tx *sql.Tx, o string) (int64, error) {
	var v int64
	err := s.txQueryRow(ctx, tx,
		`UPDATE accounts SET roster_version = roster_version + 1 WHERE jid = $1 RETURNING roster_version`, o).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlstore: account %s: %w", o, storage.ErrNotFound)
	}
	return v, err
}

// PutRosterItem implements storage.Roster.
func (s *Store) PutRosterItem(ctx context.Context, ownerJID jid.JID, it storage.RosterItem, maxItems int) (int64, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return 0, err
	}
	if err := checkItem(it); err != nil {
		return 0, err
	}
	contact := it.Contact.Bare().String()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("put roster item", err)
	}
	defer tx.Rollback()
	v, err := s.bumpRoster(ctx, tx, o)
	if err != nil {
		return 0, s.fail("put roster item", err)
	}
	// Most puts update an item (a subscription changes state): one lookup
	// by key, and then neither the roster count nor the tombstones (an
	// item that exists has none) need touching.
	var exists int
	if err := s.txQueryRow(ctx, tx,
		`SELECT count(*) FROM roster_items WHERE owner = $1 AND contact = $2`, o, contact).Scan(&exists); err != nil {
		return 0, s.fail("put roster item", err)
	}
	if exists == 0 && maxItems > 0 {
		// Count no further than the limit.
		var n int
		if err := s.txQueryRow(ctx, tx,
			`SELECT count(*) FROM (SELECT 1 FROM roster_items WHERE owner = $1 LIMIT $2) AS r`, o, maxItems).Scan(&n); err != nil {
			return 0, s.fail("put roster item", err)
		}
		if n >= maxItems {
			return 0, fmt.Errorf("sqlstore: roster of %s holds %d items: %w", o, n, storage.ErrQuota)
		}
	}
	if _, err := s.txExec(ctx, tx,
		`INSERT INTO roster_items (owner, contact, name, group_names, subscription, ask, approved, version)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		 ON CONFLICT (owner, contact) DO UPDATE SET name = excluded.name, group_names = excluded.group_names,
		   subscription = excluded.subscription, ask = excluded.ask, approved = excluded.approved, version = excluded.version`,
		o, contact, it.Name, encodeGroups(it.Groups), int16(it.Subscription), it.Ask, it.Approved, v); err != nil {
		return 0, s.fail("put roster item", err)
	}
	if exists == 0 {
		if _, err := s.txExec(ctx, tx, `DELETE FROM roster_tombstones WHERE owner = $1 AND contact = $2`, o, contact); err != nil {
			return 0, s.fail("put roster item", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("put roster item", err)
	}
	return v, nil
}

// DeleteRosterItem implements storage.Roster. It leaves a tombstone and
// prunes the oldest beyond Options.RosterTombstones, raising the floor
// below which RosterChanges answers ErrNotFound.
func (s *Store) DeleteRosterItem(ctx context.Context, ownerJID, contactJID jid.JID) (int64, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return 0, err
	}
	contact := contactJID.Bare().String()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("delete roster item", err)
	}
	defer tx.Rollback()
	v, err := s.bumpRoster(ctx, tx, o)
	if err != nil {
		return 0, s.fail("delete roster item", err)
	}
	res, err := s.txExec(ctx, tx, `DELETE FROM roster_items WHERE owner = $1 AND contact = $2`, o, contact)
	if err != nil {
		return 0, s.fail("delete roster item", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return 0, s.fail("delete roster item", err)
		}
		return 0, fmt.Errorf("sqlstore: roster item %s of %s: %w", contact, o, storage.ErrNotFound)
	}
	if _, err := s.txExec(ctx, tx,
		`INSERT INTO roster_tombstones (owner, contact, version) VALUES ($1, $2, $3)
		 ON CONFLICT (owner, contact) DO UPDATE SET version = excluded.version`, o, contact, v); err != nil {
		return 0, s.fail("delete roster item", err)
	}
	var cut int64
	err = s.txQueryRow(ctx, tx,
		`SELECT version FROM roster_tombstones WHERE owner = $1 ORDER BY version DESC LIMIT 1 OFFSET $2`,
		o, s.opts.RosterTombstones).Scan(&cut)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, s.fail("delete roster item", err)
	default:
		if _, err := s.txExec(ctx, tx, `DELETE FROM roster_tombstones WHERE owner = $1 AND version <= $2`, o, cut); err != nil {
			return 0, s.fail("delete roster item", err)
		}
		if _, err := s.txExec(ctx, tx, `UPDATE accounts SET roster_floor = $2 WHERE jid = $1`, o, cut); err != nil {
			return 0, s.fail("delete roster item", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("delete roster item", err)
	}
	return v, nil
}

// RosterChanges implements storage.Roster (XEP-0237). The version is read
// before the changes: a change committed in between is then sent again on
// the next sync, which is harmless, rather than lost.
func (s *Store) RosterChanges(ctx context.Context, ownerJID jid.JID, since int64) ([]storage.RosterItem, []jid.JID, int64, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return nil, nil, 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var version, floor int64
	err = s.queryRow(ctx, `SELECT roster_version, roster_floor FROM accounts WHERE jid = $1`, o).Scan(&version, &floor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, 0, fmt.Errorf("sqlstore: account %s: %w", o, storage.ErrNotFound)
	}
	if err != nil {
		return nil, nil, 0, s.fail("roster changes", err)
	}
	if since < floor || since > version {
		return nil, nil, 0, fmt.Errorf("sqlstore: roster version %d of %s (kept: %d to %d): %w", since, o, floor, version, storage.ErrNotFound)
	}
	if since == version {
		return nil, nil, version, nil
	}
	rows, err := s.query(ctx,
		`SELECT `+rosterColumns+` FROM roster_items WHERE owner = $1 AND version > $2 ORDER BY contact`, o, since)
	if err != nil {
		return nil, nil, 0, s.fail("roster changes", err)
	}
	defer rows.Close()
	var changed []storage.RosterItem
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, nil, 0, s.fail("roster changes", err)
		}
		changed = append(changed, it)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, s.fail("roster changes", err)
	}
	rows.Close()
	rows, err = s.query(ctx,
		`SELECT contact FROM roster_tombstones WHERE owner = $1 AND version > $2 ORDER BY contact`, o, since)
	if err != nil {
		return nil, nil, 0, s.fail("roster changes", err)
	}
	defer rows.Close()
	var removed []jid.JID
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, nil, 0, s.fail("roster changes", err)
		}
		j, err := jid.Parse(c)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("sqlstore: stored contact %q: %w", c, err)
		}
		removed = append(removed, j)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, s.fail("roster changes", err)
	}
	return changed, removed, version, nil
}
