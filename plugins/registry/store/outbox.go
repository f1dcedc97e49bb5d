package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Notification is a queued message to a thing.
type Notification struct {
	ID   int64
	Kind string // NotifyClaimed, NotifyRemoved or NotifyDisowned
	Ref
	Owner    string
	Public   bool
	NS       string
	Attempts int
}

// Event is a queued broker event.
type Event struct {
	ID    int64
	Name  string
	Attrs map[string]string
}

// Pending returns the notifications queued for a thing's bare JID, oldest
// first.
func (s *Store) Pending(ctx context.Context, jid string) ([]Notification, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id, kind, jid, nid, src, pt, owner, public, ns, attempts
		FROM registry_outbox WHERE jid = $1 ORDER BY id`, jid)
	if err != nil {
		return nil, s.fail("pending", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var pub int
		if err := rows.Scan(&n.ID, &n.Kind, &n.JID, &n.Node.ID, &n.Source, &n.Partition, &n.Owner, &pub, &n.NS, &n.Attempts); err != nil {
			return nil, s.fail("pending", err)
		}
		n.Public = pub == 1
		out = append(out, n)
	}
	return out, s.fail("pending", rows.Err())
}

// PendingJIDs returns every bare JID with queued notifications.
func (s *Store) PendingJIDs(ctx context.Context) ([]string, error) {
	rows, err := s.w.QueryContext(ctx, "SELECT DISTINCT jid FROM registry_outbox ORDER BY jid")
	if err != nil {
		return nil, s.fail("pending jids", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, s.fail("pending jids", err)
		}
		out = append(out, j)
	}
	return out, s.fail("pending jids", rows.Err())
}

// Delivered deletes a notification the thing acknowledged.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM registry_outbox WHERE id = $1", id)
	return s.fail("delivered", err)
}

// Failed counts a delivery the thing answered with an error; after max
// attempts the notification is dropped (dropped reports it).
func (s *Store) Failed(ctx context.Context, id int64, max int) (dropped bool, err error) {
	var n int
	err = s.tx(ctx, "failed", func(tx *wtx) error {
		if err := tx.QueryRowContext(ctx, "UPDATE registry_outbox SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", id).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			dropped = true
			_, err := tx.ExecContext(ctx, "DELETE FROM registry_outbox WHERE id = $1", id)
			return err
		}
		return nil
	})
	return dropped, err
}

// Events returns queued broker events, oldest first.
func (s *Store) Events(ctx context.Context) ([]Event, error) {
	rows, err := s.w.QueryContext(ctx, "SELECT id, name, attrs FROM registry_events ORDER BY id LIMIT 1000")
	if err != nil {
		return nil, s.fail("events", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var attrs string
		if err := rows.Scan(&e.ID, &e.Name, &attrs); err != nil {
			return nil, s.fail("events", err)
		}
		if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
			return nil, fmt.Errorf("store: event %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, s.fail("events", rows.Err())
}

// Published deletes a published event.
func (s *Store) Published(ctx context.Context, id int64) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM registry_events WHERE id = $1", id)
	return s.fail("published", err)
}

// Seen records a full JID of a thing that is online, if the bare JID has
// a record (other accounts are not tracked).
func (s *Store) Seen(ctx context.Context, full, bare string) error {
	// Every login in the broker comes here: most are not things, and are
	// answered by a reader without taking the single writer.
	var one int
	err := s.r.QueryRowContext(ctx, "SELECT 1 FROM registry_things WHERE jid = $1 LIMIT 1", bare).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return s.fail("seen", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO registry_sessions (full_jid, jid, seen)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM registry_things WHERE jid = $2)
		ON CONFLICT (full_jid) DO UPDATE SET seen = excluded.seen`, full, bare, s.o.Now().Unix())
	return s.fail("seen", err)
}

// Gone forgets a full JID whose session ended.
func (s *Store) Gone(ctx context.Context, full string) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM registry_sessions WHERE full_jid = $1", full)
	return s.fail("gone", err)
}

// Resources returns the full JIDs last seen for a bare JID, most recent
// first.
func (s *Store) Resources(ctx context.Context, bare string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT full_jid FROM registry_sessions WHERE jid = $1 ORDER BY seen DESC, full_jid", bare)
	if err != nil {
		return nil, s.fail("resources", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, s.fail("resources", err)
		}
		out = append(out, f)
	}
	return out, s.fail("resources", rows.Err())
}
