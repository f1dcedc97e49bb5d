package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/pgtest"
	"github.com/extasis/extasis/core/storage/storagetest"
)

func openSQLiteTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "db", "extasis.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pgtestDatabase(tb testing.TB) string { return pgtest.Database(tb) }

func openPostgresTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.Database(t), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceSQLite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openSQLiteTemp(t) })
}

func TestConformanceSQLiteMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(context.Background(), ":memory:", Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConformancePostgres(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openPostgresTemp(t) })
}

func TestBackend(t *testing.T) {
	if got := openSQLiteTemp(t).Backend(); got != "sqlite" {
		t.Fatalf("Backend = %q", got)
	}
	if got := openPostgresTemp(t).Backend(); got != "postgres" {
		t.Fatalf("Backend = %q", got)
	}
}
