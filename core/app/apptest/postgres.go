package apptest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extasis/extasis/core/storage/pgtest"
)

// BackendEnv chooses the storage of every broker whose Options leave
// Storage empty, so that the same end-to-end tests run on either backend:
//
//	EXTASIS_TEST_BACKEND=postgres EXTASIS_TEST_POSTGRES=postgres://... go test ./core/im/
//
// "postgres" gives each broker a fresh database on the server that
// pgtest.EnvVar names, dropped when the test ends; "" or "sqlite" keeps
// SQLite in the data directory.
const BackendEnv = "EXTASIS_TEST_BACKEND"

// Backend returns the backend that tests run on: "sqlite" or "postgres".
func Backend(t testing.TB) string {
	t.Helper()
	switch b := os.Getenv(BackendEnv); b {
	case "", "sqlite":
		return "sqlite"
	case "postgres":
		return b
	default:
		t.Fatalf("apptest: %s=%q: allowed values are sqlite, postgres", BackendEnv, b)
		return ""
	}
}

// storageFile remembers, in a broker's directory, the database created for
// it, so that a broker started again on the same Dir finds its data.
const storageFile = "apptest-storage.dsn"

// defaultStorage returns the DSN for a broker in dir whose Options set no
// Storage: "" (SQLite in the data dir) unless BackendEnv asks for
// PostgreSQL.
func defaultStorage(t testing.TB, dir string) string {
	t.Helper()
	if Backend(t) != "postgres" {
		return ""
	}
	path := filepath.Join(dir, storageFile)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("apptest: %v", err)
	}
	dsn := pgtest.Database(t)
	if err := os.WriteFile(path, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return dsn
}
