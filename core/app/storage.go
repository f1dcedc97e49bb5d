package app

import (
	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

// StorageOptions are the sqlstore options that cfg asks for: the pool size
// and time bounds of storage_pool, and where the DSN came from for error
// messages. The broker and every CLI command that opens the store use them,
// so that both see the database the same way.
func StorageOptions(cfg *config.Config) sqlstore.Options {
	return sqlstore.Options{
		MaxConns:       cfg.StoragePool.MaxConns,
		Timeout:        cfg.StoragePool.Timeout.D(),
		ConnectTimeout: cfg.StoragePool.ConnectTimeout.D(),
		DSNSource:      cfg.StorageFrom,
	}
}
