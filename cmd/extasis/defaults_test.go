package main

import (
	"slices"
	"testing"
	"time"
)

// TestEmbeddedDefaults: `extasis serve` without --config (what `make run`
// does) serves localhost with data in ./data, STARTTLS on 5222, direct TLS
// on 5223 and HTTP on loopback port 5280.
func TestEmbeddedDefaults(t *testing.T) {
	root := newRootCmd()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EXTASIS_STORAGE", "")
	cfg, err := loadConfig(serve)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"domains", cfg.DomainNames(), []string{"localhost"}},
		{"data_dir", cfg.DataDir, "./data"},
		{"storage", cfg.StorageDSN(), "data/extasis.db"},
		{"c2s.listen", cfg.C2S.Listen, []string{":5222"}},
		{"c2s.direct_tls", cfg.C2S.DirectTLS, []string{":5223"}},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:5280"},
		{"limits.max_stanza", int64(cfg.Limits.MaxStanza), int64(256 << 10)},
		{"c2s.auth_timeout", cfg.C2S.AuthTimeout.D(), 30 * time.Second},
	} {
		if g, ok := tc.got.([]string); ok {
			if !slices.Equal(g, tc.want.([]string)) {
				t.Errorf("%s = %v, want %v", tc.name, g, tc.want)
			}
			continue
		}
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if cfg.Domains[0].Cert != "" {
		t.Error("the default domain names a certificate; it should get a generated one")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the embedded defaults do not validate: %v", err)
	}
}
