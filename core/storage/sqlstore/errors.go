package sqlstore

import (
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/extasis/extasis/core/storage"
)

// bound limits a call to the store's timeout, so that no call waits forever
// on a database that accepts connections but does not answer.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// fail wraps a driver error with the operation and, where it means one,
// the storage error callers match on.
func (s *Store) fail(op string, err error) error {
	if kind := classify(err); kind != nil {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, kind, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// classify maps a driver error to a storage error, or nil when it is none of
// them (a bug or a schema problem, reported as is).
func classify(err error) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExists) ||
		errors.Is(err, storage.ErrQuota) || errors.Is(err, storage.ErrUnavailable) ||
		errors.Is(err, storage.ErrInvalid) {
		return nil // already classified
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return storage.ErrExists
		case pe.Code == "23503": // foreign_key_violation: the owner has no account
			return storage.ErrNotFound
		case pe.Code == "22021", pe.Code == "22P05": // bad encoding, untranslatable character
			return storage.ErrInvalid
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections, disk full)
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash shutdown, cannot connect now
			pe.Code == "57014": // query cancelled (our timeout)
			return storage.ErrUnavailable
		}
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return storage.ErrExists
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return storage.ErrNotFound
		}
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_INTERRUPT:
			return storage.ErrUnavailable
		}
		return nil
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, pgx.ErrTxClosed):
		return storage.ErrUnavailable
	}
	if err.Error() == "sql: database is closed" {
		return storage.ErrUnavailable
	}
	return nil
}

// openError is the one-line explanation of a failed Open. It matches
// storage.ErrUnavailable when retrying later may help.
type openError struct {
	msg   string
	cause error
	retry bool
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	if e.retry {
		return []error{storage.ErrUnavailable, e.cause}
	}
	return []error{e.cause}
}

// explainConnect turns a failed first connection into one line that names
// the problem and its fix. It never includes the password.
func explainConnect(where string, cfg *pgx.ConnConfig, opts Options, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01":
			return &openError{cause: err, msg: fmt.Sprintf(
				"storage: %s refused the password for user %q (check the user and password in %s; PostgreSQL answers the same for a user it does not know)", where, cfg.User, opts.DSNSource)}
		case "28000":
			return &openError{cause: err, msg: fmt.Sprintf(
				"storage: %s does not let user %q in: %s (check the user in %s, or pg_hba.conf on the server)", where, cfg.User, pe.Message, opts.DSNSource)}
		case "3D000":
			return &openError{cause: err, msg: fmt.Sprintf(
				"storage: %s has no database %q (create it: createdb -O %s %s, or fix the database name in %s)", where, cfg.Database, cfg.User, cfg.Database, opts.DSNSource)}
		case "57P03":
			return &openError{cause: err, retry: true, msg: fmt.Sprintf(
				"storage: %s is starting up or shutting down (retry in a moment)", where)}
		case "53300":
			return &openError{cause: err, retry: true, msg: fmt.Sprintf(
				"storage: %s has too many connections (lower storage pool sizes or raise max_connections)", where)}
		}
		return &openError{cause: err, msg: fmt.Sprintf("storage: %s: %s (SQLSTATE %s)", where, pe.Message, pe.Code)}
	}
	var dnsErr *net.DNSError
	switch {
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return &openError{cause: err, msg: fmt.Sprintf(
			"storage: %s does not accept TLS, which the DSN requires (turn ssl on in postgresql.conf, or set sslmode=disable in %s if the network to it is trusted)", where, opts.DSNSource)}
	case certError(err) != nil:
		return &openError{cause: err, msg: fmt.Sprintf(
			"storage: %s presented a TLS certificate that cannot be verified: %v (give its CA with sslrootcert=FILE, or use sslmode=require, in %s)", where, certError(err), opts.DSNSource)}
	case errors.As(err, &dnsErr):
		return &openError{cause: err, retry: dnsErr.IsTemporary, msg: fmt.Sprintf(
			"storage: %s: cannot resolve host %q (check the host in %s)", where, cfg.Host, opts.DSNSource)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &openError{cause: err, retry: true, msg: fmt.Sprintf(
			"storage: %s refused the connection: nothing listens there (is PostgreSQL running? check the host and port in %s)", where, opts.DSNSource)}
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), isTimeout(err):
		return &openError{cause: err, retry: true, msg: fmt.Sprintf(
			"storage: %s did not answer within %s (is the host reachable and the port open? check the host and port in %s)", where, cfg.ConnectTimeout, opts.DSNSource)}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &openError{cause: err, retry: true, msg: fmt.Sprintf(
			"storage: %s is unreachable: no route to host (check the host in %s)", where, opts.DSNSource)}
	}
	// Anything else (TLS refused, protocol mismatch): pgx's own message
	// names the user and database but not the password.
	return &openError{cause: err, retry: classify(err) == storage.ErrUnavailable, msg: fmt.Sprintf(
		"storage: cannot connect to %s: %v", where, err)}
}

// certError returns the certificate verification error inside err, or
// nil.
func certError(err error) error {
	var (
		ca   x509.UnknownAuthorityError
		host x509.HostnameError
		bad  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ca):
		return ca
	case errors.As(err, &host):
		return host
	case errors.As(err, &bad):
		return bad
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
