package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestStoragePool(t *testing.T) {
	tests := []struct {
		name, in string
		want     StoragePool
		err      string
	}{
		{name: "defaults", in: "", want: StoragePool{Timeout: Duration(5 * time.Second), ConnectTimeout: Duration(5 * time.Second)}},
		{name: "set", in: "storage_pool:\n  max_conns: 32\n  timeout: 2s\n  connect_timeout: 500ms\n",
			want: StoragePool{MaxConns: 32, Timeout: Duration(2 * time.Second), ConnectTimeout: Duration(500 * time.Millisecond)}},
		{name: "one key keeps the other defaults", in: "storage_pool:\n  max_conns: 8\n",
			want: StoragePool{MaxConns: 8, Timeout: Duration(5 * time.Second), ConnectTimeout: Duration(5 * time.Second)}},
		{name: "negative pool", in: "storage_pool:\n  max_conns: -1\n", err: "storage_pool.max_conns"},
		{name: "huge pool", in: "storage_pool:\n  max_conns: 5000\n", err: "storage_pool.max_conns"},
		{name: "zero timeout", in: "storage_pool:\n  timeout: 0s\n", err: "storage_pool.timeout"},
		{name: "connect timeout too short", in: "storage_pool:\n  connect_timeout: 1ms\n", err: "storage_pool.connect_timeout"},
		{name: "unknown key", in: "storage_pool:\n  size: 4\n", err: "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An empty document would decode as null over the defaults.
			c, err := Parse("t.yaml", []byte("data_dir: ./data\n"+tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "t.yaml") {
					t.Fatalf("err = %v, want the file and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.StoragePool != tt.want {
				t.Fatalf("storage_pool = %+v, want %+v", c.StoragePool, tt.want)
			}
		})
	}
}

// The example documents the section with the defaults the code has.
func TestExampleStoragePool(t *testing.T) {
	b, err := os.ReadFile("../../extasis.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"storage_pool:", "max_conns: 0", "timeout: 5s", "connect_timeout: 5s"} {
		if !strings.Contains(string(b), key) {
			t.Errorf("extasis.example.yaml does not document %q", key)
		}
	}
	c, err := Load("../../extasis.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.StoragePool != Default().StoragePool {
		t.Fatalf("example storage_pool %+v differs from the default %+v", c.StoragePool, Default().StoragePool)
	}
}
