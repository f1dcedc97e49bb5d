package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for SQLite. Preparing costs as much
// CPU as running a primary-key lookup, and modernc's driver does not cache;
// pgx caches prepared statements per connection by itself, so PostgreSQL
// does not use this.
type stmtCache struct {
	mu      sync.Mutex
	m       map[stmtKey]*sql.Stmt
	pending map[stmtKey]bool // being prepared in the background
	closed  bool
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// get returns the statement prepared on db (prepared on each connection
// lazily by database/sql), or nil when statements are not cached.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	if c == nil {
		return nil, nil
	}
	k := stmtKey{db, q}
	c.mu.Lock()
	st := c.m[k]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil || c.closed {
		st.Close()
		return old, nil
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st, nil
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
	c.closed = true
}

// queryRow runs a single-row read on the read pool.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, s.r, q)
	if err != nil || st == nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read on the read pool.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmts.get(ctx, s.r, q)
	if err != nil || st == nil {
		return s.r.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// cached returns the statement for q on db if it is prepared already; if
// not, it starts preparing it in the background and returns nil. Inside a
// transaction on the single SQLite writer, preparing on the pool would wait
// for the connection the transaction holds, forever; the background
// goroutine instead waits until the transaction ends.
func (c *stmtCache) cached(db *sql.DB, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	k := stmtKey{db, q}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[k]; st != nil || c.closed || c.pending[k] {
		return st
	}
	if c.pending == nil {
		c.pending = map[stmtKey]bool{}
	}
	c.pending[k] = true
	go func() {
		c.get(context.Background(), db, q)
		c.mu.Lock()
		delete(c.pending, k)
		c.mu.Unlock()
	}()
	return nil
}

// txExec and txQueryRow run q in tx, through the prepared statement once
// there is one.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.stmts.cached(s.w, q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.stmts.cached(s.w, q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}
