package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/extasis/extasis/core/storage"
)

// Options tune a Store. The zero value is the documented default.
type Options struct {
	// NoMigrate skips applying pending migrations at Open (the CLI's
	// "storage status" opens this way).
	NoMigrate bool
	// MaxConns is the PostgreSQL pool size (default 16) or the number of
	// SQLite read connections (default 4; SQLite always has one writer).
	MaxConns int
	// Timeout bounds every call (default 5s); when it fires the call
	// returns storage.ErrUnavailable.
	Timeout time.Duration
	// ConnectTimeout bounds one PostgreSQL connection attempt (default 5s)
	// unless the DSN sets connect_timeout.
	ConnectTimeout time.Duration
	// RosterTombstones is how many roster deletions are remembered per
	// owner for XEP-0237 (default storage.RosterTombstones).
	RosterTombstones int
	// DSNSource says where the DSN came from, for error messages
	// (default "the storage DSN in the config or EXTASIS_STORAGE").
	DSNSource string
}

func (o *Options) defaults(backend string) {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
		if backend == "sqlite" {
			o.MaxConns = 4
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.RosterTombstones <= 0 {
		o.RosterTombstones = storage.RosterTombstones
	}
	if o.DSNSource == "" {
		o.DSNSource = "the storage DSN in the config or EXTASIS_STORAGE"
	}
}

// Store is a storage.Store on SQLite or PostgreSQL.
type Store struct {
	d       dialect
	w       *sql.DB // the writer: transactions and every write
	r       *sql.DB // reads; the same pool as w on PostgreSQL and :memory:
	where   string  // "postgres at host:port" or "sqlite at path", for messages
	opts    Options
	timeout time.Duration
	stmts   *stmtCache // SQLite only
}

var _ storage.Store = (*Store)(nil)

// Open opens the store that dsn names:
//
//	postgres://user:password@host:port/db?...  or postgresql://...   PostgreSQL
//	sqlite:PATH, file:PATH or a plain PATH                              SQLite file (created 0600, its folder 0700)
//	:memory:                                                            a private in-memory SQLite, for tests
//
// and applies pending migrations unless opts.NoMigrate. A DSN that cannot
// work (wrong password, unknown database, unreachable host) fails within
// about opts.ConnectTimeout with one line that says which and how to fix
// it; it never contains the password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	var (
		s   *Store
		err error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		opts.defaults("postgres")
		s, err = openPostgres(ctx, dsn, opts)
	} else {
		opts.defaults("sqlite")
		s, err = openSQLite(ctx, dsn, opts)
	}
	if err != nil {
		return nil, err
	}
	if !opts.NoMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Backend returns "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// Close closes the pools; calls after Close fail.
func (s *Store) Close() error {
	s.stmts.close()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.w.PingContext(ctx); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

func openPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parser's message may quote the DSN, password included.
		return nil, fmt.Errorf("storage: %s is not a valid PostgreSQL DSN (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)", opts.DSNSource)
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	where := "postgres at " + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		where = "postgres at " + cfg.Host
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)

	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, explainConnect(where, cfg, opts, err)
	}
	return &Store{d: postgresDialect, w: db, r: db, where: where, opts: opts, timeout: opts.Timeout}, nil
}

// sqlitePath extracts the file path from a SQLite DSN; "" means :memory:.
// Its errors never repeat the DSN, which may hold a password.
func sqlitePath(dsn, source string) (string, error) {
	if dsn == ":memory:" {
		return "", nil
	}
	p := dsn
	if rest, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		p = strings.TrimPrefix(rest, "//")
	} else if rest, ok := strings.CutPrefix(dsn, "file:"); ok {
		p = strings.TrimPrefix(rest, "//")
	} else if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		return "", fmt.Errorf("storage: %s has scheme %q (expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE)", source, scheme)
	}
	if p == "" {
		return "", fmt.Errorf("storage: %s names no SQLite file (expected sqlite:PATH)", source)
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("storage: the SQLite path in %s must not contain '?' or '#' (options are fixed by extasis)", source)
	}
	return p, nil
}

func openSQLite(ctx context.Context, dsn string, opts Options) (*Store, error) {
	path, err := sqlitePath(dsn, opts.DSNSource)
	if err != nil {
		return nil, err
	}
	// busy_timeout covers other processes on the same file (a second node,
	// the CLI); within this process the single writer never waits on it.
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	if path == "" {
		// Each connection to :memory: is its own database: use exactly one.
		db, err := sql.Open("sqlite", ":memory:?"+common+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("storage: sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("storage: sqlite :memory:: %w", err)
		}
		return &Store{d: sqliteDialect, w: db, r: db, where: "sqlite :memory:", opts: opts, timeout: opts.Timeout, stmts: &stmtCache{}}, nil
	}

	where := "sqlite at " + path
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("storage: %s: %w (check the path in %s and that the folder is writable)", where, err, opts.DSNSource)
	}
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", where, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer goes first: it switches the file to WAL, which read-only
	// connections cannot do.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: %s: cannot open: %w (is it a SQLite database?)", where, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("storage: %s: %w", where, err)
	}
	r.SetMaxOpenConns(opts.MaxConns)
	r.SetMaxIdleConns(opts.MaxConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	return &Store{d: sqliteDialect, w: w, r: r, where: where, opts: opts, timeout: opts.Timeout, stmts: &stmtCache{}}, nil
}

// createPrivate creates the database file 0600 and its folder 0700 when
// they do not exist. SQLite gives its -wal and -shm files the mode of the
// database file. Existing files and folders keep their modes.
func createPrivate(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
