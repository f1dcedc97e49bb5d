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

// now is the timestamp stored for "now": microseconds, the precision both
// backends keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// owner checks an owner or account JID and returns its bare form.
func owner(j jid.JID) (string, error) {
	if j.IsZero() {
		return "", fmt.Errorf("sqlstore: empty JID: %w", storage.ErrInvalid)
	}
	return j.Bare().String(), nil
}

// nonNil keeps NOT NULL byte columns happy: pgx sends a nil slice as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func checkCredentials(creds []storage.Credential) error {
	seen := make(map[storage.Hash]bool, len(creds))
	for _, c := range creds {
		if c.Hash == "" || c.Iterations <= 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
			return fmt.Errorf("sqlstore: incomplete %q credential: %w", c.Hash, storage.ErrInvalid)
		}
		if err := storage.CheckText("hash", string(c.Hash)); err != nil {
			return err
		}
		if seen[c.Hash] {
			return fmt.Errorf("sqlstore: two %q credentials: %w", c.Hash, storage.ErrInvalid)
		}
		seen[c.Hash] = true
	}
	return nil
}

func (s *Store) insertCredentials(ctx context.Context, tx *sql.Tx, bare string, creds []storage.Credential) error {
	for _, c := range creds {
		if _, err := s.txExec(ctx, tx,
			`INSERT INTO credentials (jid, hash, salt, iterations, stored_key, server_key) VALUES ($1, $2, $3, $4, $5, $6)`,
			bare, string(c.Hash), nonNil(c.Salt), c.Iterations, c.StoredKey, c.ServerKey); err != nil {
			return err
		}
	}
	return nil
}

// CreateAccount implements storage.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a storage.Account) error {
	bare, err := owner(a.JID)
	if err != nil {
		return err
	}
	if err := checkCredentials(a.Credentials); err != nil {
		return err
	}
	created := a.Created.UTC().Truncate(time.Microsecond)
	if a.Created.IsZero() {
		created = now()
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("create account", err)
	}
	defer tx.Rollback()
	// Roster versions start at the current time in microseconds rather than
	// 0, so that a client still caching the roster of a deleted account of
	// the same name never finds its version valid for the new one.
	base := now().UnixMicro()
	if _, err := s.txExec(ctx, tx,
		`INSERT INTO accounts (jid, domain, created, roster_version, roster_floor) VALUES ($1, $2, $3, $4, $4)`,
		bare, a.JID.Domain(), created.UnixMicro(), base); err != nil {
		return s.fail("create account "+bare, err)
	}
	if err := s.insertCredentials(ctx, tx, bare, a.Credentials); err != nil {
		return s.fail("create account "+bare, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("create account "+bare, err)
	}
	return nil
}

// Account implements storage.Accounts.
func (s *Store) Account(ctx context.Context, bare jid.JID) (storage.Account, error) {
	b, err := owner(bare)
	if err != nil {
		return storage.Account{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.query(ctx,
		`SELECT a.created, c.hash, c.salt, c.iterations, c.stored_key, c.server_key
		 FROM accounts a LEFT JOIN credentials c ON c.jid = a.jid
		 WHERE a.jid = $1 ORDER BY c.hash`, b)
	if err != nil {
		return storage.Account{}, s.fail("account", err)
	}
	defer rows.Close()
	a := storage.Account{JID: bare.Bare()}
	found := false
	for rows.Next() {
		var (
			created    int64
			hash       sql.NullString
			iterations sql.NullInt64
			c          storage.Credential
		)
		if err := rows.Scan(&created, &hash, &c.Salt, &iterations, &c.StoredKey, &c.ServerKey); err != nil {
			return storage.Account{}, s.fail("account", err)
		}
		found = true
		a.Created = fromMicros(created)
		if hash.Valid {
			c.Hash, c.Iterations = storage.Hash(hash.String), int(iterations.Int64)
			a.Credentials = append(a.Credentials, c)
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Account{}, s.fail("account", err)
	}
	if !found {
		return storage.Account{}, fmt.Errorf("sqlstore: account %s: %w", b, storage.ErrNotFound)
	}
	return a, nil
}

// Credential implements storage.Accounts: the login hot path, one indexed
// read on a read connection.
func (s *Store) Credential(ctx context.Context, bare jid.JID, h storage.Hash) (storage.Credential, error) {
	b, err := owner(bare)
	if err != nil {
		return storage.Credential{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c := storage.Credential{Hash: h}
	err = s.queryRow(ctx,
		`SELECT salt, iterations, stored_key, server_key FROM credentials WHERE jid = $1 AND hash = $2`,
		b, string(h)).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Credential{}, fmt.Errorf("sqlstore: %s credential of %s: %w", h, b, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Credential{}, s.fail("credential", err)
	}
	return c, nil
}

// SetCredentials implements storage.Accounts.
func (s *Store) SetCredentials(ctx context.Context, bare jid.JID, creds []storage.Credential) error {
	b, err := owner(bare)
	if err != nil {
		return err
	}
	if err := checkCredentials(creds); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("set credentials", err)
	}
	defer tx.Rollback()
	// The no-op update takes the account's row lock on PostgreSQL, so two
	// concurrent replacements run one after the other instead of colliding
	// on the primary key.
	res, err := s.txExec(ctx, tx, `UPDATE accounts SET created = created WHERE jid = $1`, b)
	if err != nil {
		return s.fail("set credentials", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return s.fail("set credentials", err)
		}
		return fmt.Errorf("sqlstore: account %s: %w", b, storage.ErrNotFound)
	}
	if _, err := s.txExec(ctx, tx, `DELETE FROM credentials WHERE jid = $1`, b); err != nil {
		return s.fail("set credentials", err)
	}
	if err := s.insertCredentials(ctx, tx, b, creds); err != nil {
		return s.fail("set credentials", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("set credentials", err)
	}
	return nil
}

// DeleteAccount implements storage.Accounts. The foreign keys cascade to
// every owned table, so one statement removes it all atomically.
func (s *Store) DeleteAccount(ctx context.Context, bare jid.JID) error {
	b, err := owner(bare)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, `DELETE FROM accounts WHERE jid = $1`, b)
	if err != nil {
		return s.fail("delete account", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("delete account", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: account %s: %w", b, storage.ErrNotFound)
	}
	return nil
}

// ListAccounts implements storage.Accounts.
func (s *Store) ListAccounts(ctx context.Context, domain, after string, limit int) ([]jid.JID, error) {
	n := int64(limit)
	if limit <= 0 {
		n = math.MaxInt64
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		rows *sql.Rows
		err  error
	)
	// Two texts rather than "$1 = '' OR domain = $1", which would keep
	// PostgreSQL's generic plan off the (domain, jid) index.
	if domain == "" {
		rows, err = s.query(ctx, `SELECT jid FROM accounts WHERE jid > $1 ORDER BY jid LIMIT $2`, after, n)
	} else {
		rows, err = s.query(ctx, `SELECT jid FROM accounts WHERE domain = $1 AND jid > $2 ORDER BY jid LIMIT $3`, domain, after, n)
	}
	if err != nil {
		return nil, s.fail("list accounts", err)
	}
	defer rows.Close()
	var out []jid.JID
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, s.fail("list accounts", err)
		}
		j, err := jid.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: stored account %q: %w", v, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list accounts", err)
	}
	return out, nil
}

// CountAccounts implements storage.Accounts.
func (s *Store) CountAccounts(ctx context.Context, domain string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	var err error
	if domain == "" {
		err = s.queryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n)
	} else {
		err = s.queryRow(ctx, `SELECT count(*) FROM accounts WHERE domain = $1`, domain).Scan(&n)
	}
	if err != nil {
		return 0, s.fail("count accounts", err)
	}
	return n, nil
}
