package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// AddSubscriptionRequest implements storage.Subscriptions.
func (s *Store) AddSubscriptionRequest(ctx context.Context, ownerJID jid.JID, r storage.SubscriptionRequest) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	if r.From.IsZero() {
		return fmt.Errorf("sqlstore: subscription request without sender: %w", storage.ErrInvalid)
	}
	received := r.Received.UTC().Truncate(time.Microsecond)
	if r.Received.IsZero() {
		received = now()
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx,
		`INSERT INTO subscription_requests (owner, sender, raw, received) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (owner, sender) DO UPDATE SET raw = excluded.raw, received = excluded.received`,
		o, r.From.Bare().String(), nonNil(r.Raw), received.UnixMicro()); err != nil {
		return s.fail("add subscription request", err)
	}
	return nil
}

// SubscriptionRequests implements storage.Subscriptions.
func (s *Store) SubscriptionRequests(ctx context.Context, ownerJID jid.JID) ([]storage.SubscriptionRequest, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx,
		`SELECT sender, raw, received FROM subscription_requests WHERE owner = $1 ORDER BY received, sender`, o)
	if err != nil {
		return nil, s.fail("subscription requests", err)
	}
	defer rows.Close()
	var out []storage.SubscriptionRequest
	for rows.Next() {
		var (
			from string
			r    storage.SubscriptionRequest
			at   int64
		)
		if err := rows.Scan(&from, &r.Raw, &at); err != nil {
			return nil, s.fail("subscription requests", err)
		}
		if r.From, err = jid.Parse(from); err != nil {
			return nil, fmt.Errorf("sqlstore: stored sender %q: %w", from, err)
		}
		r.Received = fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("subscription requests", err)
	}
	return out, nil
}

// HasSubscriptionRequest implements storage.Subscriptions.
func (s *Store) HasSubscriptionRequest(ctx context.Context, ownerJID, from jid.JID) (bool, error) {
	o, err := owner(ownerJID)
	if err != nil {
		return false, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var one int
	err = s.queryRow(ctx, `SELECT 1 FROM subscription_requests WHERE owner = $1 AND sender = $2`, o, from.Bare().String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail("subscription request", err)
	}
	return true, nil
}

// RemoveSubscriptionRequest implements storage.Subscriptions.
func (s *Store) RemoveSubscriptionRequest(ctx context.Context, ownerJID, from jid.JID) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx,
		`DELETE FROM subscription_requests WHERE owner = $1 AND sender = $2`, o, from.Bare().String()); err != nil {
		return s.fail("remove subscription request", err)
	}
	return nil
}
