package sqlstore

import (
	"context"
	"fmt"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// BlockList implements storage.Blocking.
func (s *Store) BlockList(ctx context.Context, ownerJID jid.JID) ([]jid.JID, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx, `SELECT item FROM blocked WHERE owner = $1 ORDER BY item`, o)
	if err != nil {
		return nil, s.fail("block list", err)
	}
	defer rows.Close()
	var out []jid.JID
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, s.fail("block list", err)
		}
		j, err := jid.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: stored blocked JID %q: %w", v, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("block list", err)
	}
	return out, nil
}

// Block implements storage.Blocking.
func (s *Store) Block(ctx context.Context, ownerJID jid.JID, items []jid.JID) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.IsZero() {
			return fmt.Errorf("sqlstore: empty JID in block list: %w", storage.ErrInvalid)
		}
	}
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("block", err)
	}
	defer tx.Rollback()
	for _, it := range items {
		if _, err := s.txExec(ctx, tx,
			`INSERT INTO blocked (owner, item) VALUES ($1, $2) ON CONFLICT (owner, item) DO NOTHING`, o, it.String()); err != nil {
			return s.fail("block", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("block", err)
	}
	return nil
}

// Unblock implements storage.Blocking.
func (s *Store) Unblock(ctx context.Context, ownerJID jid.JID, items []jid.JID) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if len(items) == 0 {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM blocked WHERE owner = $1`, o); err != nil {
			return s.fail("unblock all", err)
		}
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("unblock", err)
	}
	defer tx.Rollback()
	for _, it := range items {
		if _, err := s.txExec(ctx, tx, `DELETE FROM blocked WHERE owner = $1 AND item = $2`, o, it.String()); err != nil {
			return s.fail("unblock", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("unblock", err)
	}
	return nil
}
