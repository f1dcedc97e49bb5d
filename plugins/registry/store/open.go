package store

import (
	"context"
	"database/sql"
	_ "embed"
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
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

//go:embed schema.sql
var schema string

// schemaVersion 2 dropped the tag table's vis column and its two partial
// indexes, which searches used before they ran in memory; 3 made the tag
// primary key cover label on PostgreSQL.
const schemaVersion = 3

// Errors a caller turns into protocol answers.
var (
	// ErrNotFound: no such record, or not the caller's (deliberately the
	// same answer).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: another unclaimed thing registered the same tag set.
	ErrConflict = errors.New("store: another thing registered the same tags")
	// ErrLimit: a record would exceed the tag count limit.
	ErrLimit = errors.New("store: too many tags")
	// ErrTooBroad: a search would scan more records than allowed.
	ErrTooBroad = errors.New("store: search too broad")
	// ErrBadSearch: an operator cannot be evaluated (e.g. a bad regular
	// expression).
	ErrBadSearch = errors.New("store: bad search")
	// ErrNotReady: the search index is still being loaded (at start).
	ErrNotReady = errors.New("store: search index still loading")
)

// Options tune a Store. Zero fields take the defaults shown.
type Options struct {
	MaxTags int // tags per record: 32
	// MaxScan bounds the records one search examines beyond what the
	// indexes select: 100000.
	MaxScan int
	// MaxConns bounds the read pool (PostgreSQL: the whole pool): 8.
	MaxConns int
	Now      func() time.Time
}

func (o *Options) defaults() {
	if o.MaxTags <= 0 {
		o.MaxTags = 32
	}
	if o.MaxScan <= 0 {
		o.MaxScan = 100000
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Store is the registry's database. Methods are safe for concurrent use.
type Store struct {
	backend string  // "sqlite" or "postgres"
	w, r    *sql.DB // writer and readers (the same pool on PostgreSQL)
	where   string  // for messages; never the DSN, which may hold a password
	o       Options

	ix       *index
	stopLoad context.CancelFunc
	loadDone chan struct{}
}

// Open opens (creating if needed) the database a DSN names and brings its
// schema up to date:
//
//	postgres://USER:PASSWORD@HOST:PORT/DB or postgresql://…   PostgreSQL
//	sqlite:PATH, file:PATH or a plain PATH                      SQLite file (0600)
//	:memory:                                                    SQLite in memory (tests)
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	o.defaults()
	var (
		s   *Store
		err error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s, err = openPostgres(ctx, dsn, o)
	} else {
		s, err = openSQLite(ctx, dsn, o)
	}
	if err != nil {
		return nil, err
	}
	s.ix = newIndex()
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		if s.r != s.w {
			s.r.Close()
		}
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stopLoad, s.loadDone = stop, make(chan struct{})
	go func() {
		defer close(s.loadDone)
		s.loadLoop(lctx)
	}()
	return s, nil
}

// Backend returns "sqlite" or "postgres".
func (s *Store) Backend() string { return s.backend }

// Close stops loading the index and closes the pools.
func (s *Store) Close() error {
	s.stopLoad()
	<-s.loadDone
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

func openPostgres(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parser's message may quote the DSN, password included.
		return nil, errors.New("store: storage is not a valid PostgreSQL DSN (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnectTimeout = 10 * time.Second
	}
	where := "postgres at " + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	return &Store{backend: "postgres", w: db, r: db, where: where, o: o}, nil
}

func openSQLite(ctx context.Context, dsn string, o Options) (*Store, error) {
	path := dsn
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(path, p); ok {
			path = rest
			break
		}
	}
	if path == "" {
		return nil, errors.New("store: storage names no SQLite file")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, errors.New("store: a SQLite path must not contain '?' or '#' (options are fixed by the registry)")
	}
	// busy_timeout covers another process on the file (a backup, the
	// sqlite3 shell); inside this process the single writer never waits.
	// Reads go through the memory-mapped file (up to SQLite's 2 GiB, about
	// 5M things), out of read(2) and outside the plugin's data limit
	// (RLIMIT_DATA counts the page cache, not a shared read-only map): the
	// writer keeps a 64 MiB cache for the indexes it updates, readers,
	// which only load the search index and pages of results by primary
	// key, 8 MiB.
	const common = "_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(2147418112)"
	const wcache, rcache = "&_pragma=cache_size(-65536)", "&_pragma=cache_size(-8192)"
	if path == ":memory:" {
		// Each connection to :memory: is its own database: use one.
		db, err := sql.Open("sqlite", ":memory:?"+common+wcache+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return &Store{backend: "sqlite", w: db, r: db, where: "sqlite :memory:", o: o}, db.PingContext(ctx)
	}
	where := "sqlite at " + path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	} else {
		f.Close()
	}
	w, err := sql.Open("sqlite", path+"?"+common+wcache+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	// One writer: SQLite serialises writers anyway, and one connection
	// makes every write transaction run alone, which is what makes the
	// claim race safe without retries.
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %s: cannot open: %w", where, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+rcache+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	conns := min(o.MaxConns, 4) // SQLite reads are CPU-bound: more connections only cost memory
	r.SetMaxOpenConns(conns)
	r.SetMaxIdleConns(conns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	return &Store{backend: "sqlite", w: w, r: r, where: where, o: o}, nil
}

func (s *Store) ddl() string {
	var rep *strings.Replacer
	if s.backend == "postgres" {
		rep = strings.NewReplacer(`{{text}}`, `TEXT COLLATE "C"`, "{{real}}", "DOUBLE PRECISION",
			"{{id}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
			"{{pk_include}}", " INCLUDE (label, s, n)", "{{without_rowid}}", "")
	} else {
		// BINARY collation (the default) orders UTF-8 by code point, as
		// "C" does on PostgreSQL: strGt and friends agree on both.
		// AUTOINCREMENT: ids are never reused, so paging stays stable.
		rep = strings.NewReplacer("{{text}}", "TEXT", "{{real}}", "REAL", "{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
			"{{pk_include}}", "", "{{without_rowid}}", " WITHOUT ROWID")
	}
	return rep.Replace(schema)
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("migrate", err)
	}
	defer tx.Rollback()
	if s.backend == "postgres" {
		// Two registries starting on one database must not both migrate.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7305911)"); err != nil {
			return s.fail("migrate", err)
		}
	}
	for _, stmt := range strings.Split(s.ddl(), ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return s.fail("migrate", err)
		}
	}
	var v int
	err = tx.QueryRowContext(ctx, "SELECT version FROM registry_schema").Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO registry_schema (version) VALUES ($1)", schemaVersion); err != nil {
			return s.fail("migrate", err)
		}
	case err != nil:
		return s.fail("migrate", err)
	case v > schemaVersion:
		return fmt.Errorf("store: %s has schema version %d, newer than this registry's %d", s.where, v, schemaVersion)
	case v < schemaVersion:
		for _, stmt := range upgrade(v, s.backend) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return s.fail(fmt.Sprintf("migrate from version %d", v), err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE registry_schema SET version = $1", schemaVersion); err != nil {
			return s.fail("migrate", err)
		}
	}
	return s.fail("migrate", tx.Commit())
}

// upgrade returns the statements that bring a database of a backend from
// version v to schemaVersion (the CREATE statements of schema.sql have
// already run).
func upgrade(v int, backend string) []string {
	var out []string
	if v < 2 {
		// Searches run in memory: the partial indexes over visible tags,
		// and the vis column that fed them, only cost writes. (SQLite
		// rewrites the table once: seconds per million things.)
		out = append(out,
			"DROP INDEX IF EXISTS registry_tags_str",
			"DROP INDEX IF EXISTS registry_tags_num",
			"ALTER TABLE registry_tags DROP COLUMN vis")
	}
	if v < 3 && backend == "postgres" {
		// A page of results reads its things' tags from the index alone,
		// wherever their rows lie in the heap.
		out = append(out, "ALTER TABLE registry_tags DROP CONSTRAINT registry_tags_pkey, "+
			"ADD CONSTRAINT registry_tags_pkey PRIMARY KEY (thing_id, name) INCLUDE (label, s, n)")
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// fail wraps a database error with the operation and where the database
// is; nil stays nil.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s (%s): %w", op, s.where, err)
}
