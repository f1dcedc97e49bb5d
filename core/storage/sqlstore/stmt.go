package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared read statements for SQLite. Preparing costs as much
// CPU as running a primary-key lookup, and modernc's driver does not cache;
// pgx caches prepared statements per connection by itself, so PostgreSQL
// does not use this.
type stmtCache struct {
	mu sync.Mutex
	m  map[stmtKey]*sql.Stmt
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
	if old := c.m[k]; old != nil {
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

// Writes are not cached: preparing on the single writer connection while a
// transaction holds it would wait for that transaction forever, and a
// statement prepared inside the transaction dies with it.
