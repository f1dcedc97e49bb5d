package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/extasis/extasis/core/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the PostgreSQL advisory lock held while migrating:
// the first bytes of "extasis" so that it does not collide with another
// application's lock on a shared server.
const migrationLockKey int64 = 0x65787461736973

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files NNNN_name.sql in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlstore: two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    applied BIGINT NOT NULL
)`

// Migrate applies the pending migrations, each in its own transaction on
// PostgreSQL (all in one on SQLite), under a lock that makes concurrent
// callers on other nodes wait and then find nothing to do. It returns the
// migrations it applied.
func (s *Store) Migrate(ctx context.Context) ([]storage.Migration, error) {
	all, err := migrations()
	if err != nil {
		return nil, err
	}
	// Migrations may take long on a big database: only the caller's ctx
	// bounds them, not the per-call timeout.
	maxKnown := all[len(all)-1].version
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, s.fail("migrate", err)
	}
	defer conn.Close()

	if s.d.name == "postgres" {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
			return nil, s.fail("migrate: lock", err)
		}
		defer func() {
			// Unlock even if ctx is done; a lost session releases it too.
			uctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey)
		}()
		if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
			return nil, s.fail("migrate", err)
		}
		var done []storage.Migration
		for _, m := range all {
			applied, err := s.applyPending(ctx, conn, []migration{m}, maxKnown)
			done = append(done, applied...)
			if err != nil {
				return done, err
			}
		}
		return done, nil
	}
	// SQLite: the writer's BEGIN IMMEDIATE takes the file's write lock, so
	// another process migrating the same file waits (busy_timeout) and then
	// sees the new schema_migrations rows.
	return s.applyPending(ctx, conn, all, maxKnown)
}

// applyPending applies those of ms not yet recorded, in one transaction.
func (s *Store) applyPending(ctx context.Context, conn *sql.Conn, ms []migration, maxKnown int) ([]storage.Migration, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, s.fail("migrate", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return nil, s.fail("migrate", err)
	}
	for v := range applied {
		if v > maxKnown {
			return nil, fmt.Errorf("sqlstore: %s has schema version %d, newer than this extasis knows (%d): upgrade extasis", s.where, v, maxKnown)
		}
	}
	var done []storage.Migration
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.d.macros.Replace(m.sql)); err != nil {
			return nil, fmt.Errorf("sqlstore: %s: migration %04d_%s: %w", s.where, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`,
			m.version, m.name, now.UnixMicro()); err != nil {
			return nil, s.fail("migrate", err)
		}
		done = append(done, storage.Migration{Version: m.version, Name: m.name, Applied: now})
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("migrate", err)
	}
	return done, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func appliedVersions(ctx context.Context, q querier) (map[int]time.Time, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, applied FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		applied[v] = time.UnixMicro(at).UTC()
	}
	return applied, rows.Err()
}

// Status lists every migration this build knows, with Applied zero for the
// pending ones, followed by any applied version it does not know.
func (s *Store) Status(ctx context.Context) ([]storage.Migration, error) {
	all, err := migrations()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	applied := map[int]time.Time{}
	var exists bool
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`
	if s.d.name == "postgres" {
		q = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	}
	if err := s.r.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return nil, s.fail("status", err)
	}
	if exists {
		if applied, err = appliedVersions(ctx, s.r); err != nil {
			return nil, s.fail("status", err)
		}
	}
	out := make([]storage.Migration, 0, len(all))
	for _, m := range all {
		out = append(out, storage.Migration{Version: m.version, Name: m.name, Applied: applied[m.version]})
		delete(applied, m.version)
	}
	for v, at := range applied {
		out = append(out, storage.Migration{Version: v, Name: "(unknown to this build)", Applied: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
