package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// StoreOffline implements storage.Offline. The quota check is the
// conditional increment of the account's counter: on PostgreSQL the second
// of two concurrent stores waits for the first's row lock and then
// re-evaluates the condition, so exactly one of them fills the last slot.
func (s *Store) StoreOffline(ctx context.Context, ownerJID jid.JID, raw []byte, max int) (int64, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("store offline", err)
	}
	defer tx.Rollback()
	var n int
	err = s.txQueryRow(ctx, tx,
		`UPDATE accounts SET offline_count = offline_count + 1
		 WHERE jid = $1 AND ($2 <= 0 OR offline_count < $2) RETURNING offline_count`, o, max).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err = s.txQueryRow(ctx, tx, `SELECT 1 FROM accounts WHERE jid = $1`, o).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("sqlstore: account %s: %w", o, storage.ErrNotFound)
		}
		if err == nil {
			return 0, fmt.Errorf("sqlstore: offline store of %s holds %d messages: %w", o, max, storage.ErrQuota)
		}
	}
	if err != nil {
		return 0, s.fail("store offline", err)
	}
	var id int64
	if err := s.txQueryRow(ctx, tx,
		`INSERT INTO offline_messages (owner, raw, stored) VALUES ($1, $2, $3) RETURNING id`,
		o, nonNil(raw), now().UnixMicro()).Scan(&id); err != nil {
		return 0, s.fail("store offline", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("store offline", err)
	}
	return id, nil
}

// OfflineMessages implements storage.Offline.
func (s *Store) OfflineMessages(ctx context.Context, ownerJID jid.JID, limit int) ([]storage.OfflineMessage, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return nil, err
	}
	n := int64(limit)
	if limit <= 0 {
		n = math.MaxInt64
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx,
		`SELECT id, raw, stored FROM offline_messages WHERE owner = $1 ORDER BY id LIMIT $2`, o, n)
	if err != nil {
		return nil, s.fail("offline messages", err)
	}
	defer rows.Close()
	var out []storage.OfflineMessage
	for rows.Next() {
		var (
			m  storage.OfflineMessage
			at int64
		)
		if err := rows.Scan(&m.ID, &m.Raw, &at); err != nil {
			return nil, s.fail("offline messages", err)
		}
		m.Stored = fromMicros(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("offline messages", err)
	}
	return out, nil
}

// DeleteOffline implements storage.Offline.
func (s *Store) DeleteOffline(ctx context.Context, ownerJID jid.JID, upTo int64) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("delete offline", err)
	}
	defer tx.Rollback()
	res, err := s.txExec(ctx, tx, `DELETE FROM offline_messages WHERE owner = $1 AND id <= $2`, o, upTo)
	if err != nil {
		return s.fail("delete offline", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("delete offline", err)
	}
	if n == 0 {
		return nil
	}
	if _, err := s.txExec(ctx, tx,
		`UPDATE accounts SET offline_count = offline_count - $2 WHERE jid = $1`, o, n); err != nil {
		return s.fail("delete offline", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("delete offline", err)
	}
	return nil
}

// CountOffline implements storage.Offline from the account's counter.
func (s *Store) CountOffline(ctx context.Context, ownerJID jid.JID) (int, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err = s.queryRow(ctx, `SELECT offline_count FROM accounts WHERE jid = $1`, o).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail("count offline", err)
	}
	return n, nil
}
