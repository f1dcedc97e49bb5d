package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

var _ storage.APIKeys = (*Store)(nil)

// micros stores a time, 0 for the zero time ("never").
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UTC().Truncate(time.Microsecond).UnixMicro()
}

// fromMicrosOrZero is the inverse of micros.
func fromMicrosOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("sqlstore: empty api key: %w", storage.ErrInvalid)
	}
	return storage.CheckText("api key", key)
}

// CreateAPIKey implements storage.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k storage.APIKey) error {
	if err := checkKey(k.Key); err != nil {
		return err
	}
	if k.Accounts < 0 {
		return fmt.Errorf("sqlstore: api key %s: negative quota: %w", k.Key, storage.ErrInvalid)
	}
	if len(k.Sealed) == 0 {
		return fmt.Errorf("sqlstore: api key %s: no sealed secret: %w", k.Key, storage.ErrInvalid)
	}
	for _, f := range [][2]string{{"domain", k.Domain}, {"note", k.Note}} {
		if err := storage.CheckText(f[0], f[1]); err != nil {
			return err
		}
	}
	created := k.Created
	if created.IsZero() {
		created = now()
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx,
		`INSERT INTO api_keys (api_key, sealed, accounts, used, domain, note, created, expires, revoked)
		 VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8)`,
		k.Key, k.Sealed, k.Accounts, k.Domain, k.Note, micros(created), micros(k.Expires), micros(k.Revoked)); err != nil {
		return s.fail("create api key "+k.Key, err)
	}
	return nil
}

const apiKeyColumns = `api_key, sealed, accounts, used, domain, note, created, expires, revoked`

// apiKeyRow is a *sql.Row or *sql.Rows.
type apiKeyRow interface{ Scan(dest ...any) error }

func scanAPIKey(r apiKeyRow) (storage.APIKey, error) {
	var (
		k                         storage.APIKey
		created, expires, revoked int64
	)
	if err := r.Scan(&k.Key, &k.Sealed, &k.Accounts, &k.Used, &k.Domain, &k.Note, &created, &expires, &revoked); err != nil {
		return storage.APIKey{}, err
	}
	k.Created, k.Expires, k.Revoked = fromMicros(created), fromMicrosOrZero(expires), fromMicrosOrZero(revoked)
	return k, nil
}

// APIKey implements storage.APIKeys.
func (s *Store) APIKey(ctx context.Context, key string) (storage.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	k, err := scanAPIKey(s.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE api_key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.APIKey{}, fmt.Errorf("sqlstore: api key %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return storage.APIKey{}, s.fail("api key", err)
	}
	return k, nil
}

// ListAPIKeys implements storage.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]storage.APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created, api_key`)
	if err != nil {
		return nil, s.fail("list api keys", err)
	}
	defer rows.Close()
	var out []storage.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.fail("list api keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list api keys", err)
	}
	return out, nil
}

// RevokeAPIKey implements storage.APIKeys.
func (s *Store) RevokeAPIKey(ctx context.Context, key string, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx,
		`UPDATE api_keys SET revoked = CASE WHEN revoked = 0 THEN $2 ELSE revoked END WHERE api_key = $1`, key, micros(at))
	if err != nil {
		return s.fail("revoke api key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("revoke api key", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: api key %q: %w", key, storage.ErrNotFound)
	}
	return nil
}

// RegisterAccount implements storage.APIKeys. The slot is taken first, by
// a conditional increment: on PostgreSQL a second registration waits for
// the first's row lock and re-evaluates the condition once it commits or
// rolls back; SQLite has one writer. A duplicate account then rolls the
// increment back with everything else.
func (s *Store) RegisterAccount(ctx context.Context, a storage.Account, r storage.Registration) error {
	bare, err := owner(a.JID)
	if err != nil {
		return err
	}
	if err := checkCredentials(a.Credentials); err != nil {
		return err
	}
	if err := storage.CheckText("remote", r.Remote); err != nil {
		return err
	}
	if err := storage.CheckText("api key", r.Key); err != nil {
		return err
	}
	at := r.Time
	if at.IsZero() {
		at = now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("register account", err)
	}
	defer tx.Rollback()
	if r.Key != "" {
		if err := s.takeSlot(ctx, tx, r.Key, at); err != nil {
			return err
		}
	}
	base := now().UnixMicro()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO accounts (jid, domain, created, roster_version, roster_floor) VALUES ($1, $2, $3, $4, $4)`,
		bare, a.JID.Domain(), at.UnixMicro(), base); err != nil {
		return s.fail("register account "+bare, err)
	}
	if err := s.insertCredentials(ctx, tx, bare, a.Credentials); err != nil {
		return s.fail("register account "+bare, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO registrations (api_key, account, created, remote) VALUES ($1, $2, $3, $4)`,
		r.Key, bare, at.UnixMicro(), r.Remote); err != nil {
		return s.fail("register account "+bare, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("register account "+bare, err)
	}
	return nil
}

// takeSlot increments the key's use count if it is active at `at` and has
// a slot left, or says which of those it is not.
func (s *Store) takeSlot(ctx context.Context, tx *sql.Tx, key string, at time.Time) error {
	us := at.UnixMicro()
	var used int
	err := tx.QueryRowContext(ctx,
		`UPDATE api_keys SET used = used + 1
		 WHERE api_key = $1 AND used < accounts AND revoked = 0 AND (expires = 0 OR expires > $2)
		 RETURNING used`, key, us).Scan(&used)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return s.fail("register account", err)
	}
	var accounts, revoked, expires int64
	err = tx.QueryRowContext(ctx, `SELECT accounts, used, revoked, expires FROM api_keys WHERE api_key = $1`, key).
		Scan(&accounts, &used, &revoked, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: api key %q: %w", key, storage.ErrNotFound)
	case err != nil:
		return s.fail("register account", err)
	case revoked != 0:
		return fmt.Errorf("sqlstore: api key %q was revoked: %w", key, storage.ErrKeyInactive)
	case expires != 0 && expires <= us:
		return fmt.Errorf("sqlstore: api key %q has expired: %w", key, storage.ErrKeyInactive)
	}
	return fmt.Errorf("sqlstore: api key %q created %d of %d accounts: %w", key, used, accounts, storage.ErrQuota)
}

// UseNonce implements storage.APIKeys: one upsert that overwrites only an
// expired record, so that a replay finds no row to return.
func (s *Store) UseNonce(ctx context.Context, key, nonce string, at, expires time.Time) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := storage.CheckText("nonce", nonce); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var got int64
	err := s.w.QueryRowContext(ctx,
		`INSERT INTO api_nonces (api_key, nonce, expires) VALUES ($1, $2, $3)
		 ON CONFLICT (api_key, nonce) DO UPDATE SET expires = excluded.expires WHERE api_nonces.expires <= $4
		 RETURNING expires`, key, nonce, micros(expires), micros(at)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: nonce of api key %q already used: %w", key, storage.ErrExists)
	}
	if err != nil {
		return s.fail("use nonce", err)
	}
	return nil
}

// PruneNonces implements storage.APIKeys.
func (s *Store) PruneNonces(ctx context.Context, at time.Time) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_nonces WHERE expires <= $1`, micros(at))
	if err != nil {
		return 0, s.fail("prune nonces", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("prune nonces", err)
	}
	return int(n), nil
}

// Registrations implements storage.APIKeys.
func (s *Store) Registrations(ctx context.Context, key string, limit int) ([]storage.Registration, error) {
	n := int64(limit)
	if limit <= 0 {
		n = math.MaxInt64
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx,
		`SELECT account, created, remote FROM registrations WHERE api_key = $1 ORDER BY id DESC LIMIT $2`, key, n)
	if err != nil {
		return nil, s.fail("registrations", err)
	}
	defer rows.Close()
	var out []storage.Registration
	for rows.Next() {
		var (
			acct    string
			created int64
			r       = storage.Registration{Key: key}
		)
		if err := rows.Scan(&acct, &created, &r.Remote); err != nil {
			return nil, s.fail("registrations", err)
		}
		j, err := jid.Parse(acct)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: stored registration %q: %w", acct, err)
		}
		r.Account, r.Time = j, fromMicros(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("registrations", err)
	}
	return out, nil
}
