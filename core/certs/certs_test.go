package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writePair(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"configured"}},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestLoadGenerates(t *testing.T) {
	dir := t.TempDir()
	s, err := Load([]Domain{{Name: "example.test"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Generated) != 1 || s.Generated[0] != "example.test" {
		t.Fatalf("Generated = %v", s.Generated)
	}
	c := s.For("example.test")
	if c == nil || c.Leaf == nil {
		t.Fatal("no certificate for example.test")
	}
	pub, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", c.Leaf.PublicKey)
	}
	for _, name := range []string{"example.test", "registry.example.test"} {
		if err := c.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "certs", "example.test.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := Load([]Domain{{Name: "example.test"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.For("example.test").Leaf.Equal(c.Leaf) {
		t.Fatal("a second Load generated a new certificate instead of reusing the file")
	}
}

func TestLoadConfigured(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "things.test")
	s, err := Load([]Domain{{Name: "things.test", Cert: crt, Key: key}, {Name: "localhost"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.For("things.test").Leaf.Subject.Organization; len(got) != 1 || got[0] != "configured" {
		t.Fatalf("things.test: %v, want the configured certificate", got)
	}
	if len(s.Generated) != 1 || s.Generated[0] != "localhost" {
		t.Fatalf("Generated = %v, want only localhost", s.Generated)
	}
	if _, err := os.Stat(filepath.Join(dir, "certs", "things.test.crt")); err == nil {
		t.Fatal("a certificate was generated for a domain that has one configured")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	crt, key := writePair(t, dir, "a.test")
	_, otherKey := writePair(t, t.TempDir(), "b.test")
	for _, tc := range []struct {
		name    string
		domains []Domain
		want    string
	}{
		{"none", nil, "certs: no domains"},
		{"missing file", []Domain{{Name: "a.test", Cert: filepath.Join(dir, "nope.pem"), Key: key}}, "certs: domain a.test"},
		{"key of another certificate", []Domain{{Name: "a.test", Cert: crt, Key: otherKey}}, "certs: domain a.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.domains, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A data directory that cannot be created.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]Domain{{Name: "a.test"}}, file); err == nil || !strings.HasPrefix(err.Error(), "certs: ") {
		t.Fatalf("err = %v, want a certs: error", err)
	}
}

// TestSNI: the exact domain, the served parent of a service subdomain, and
// the first domain for anything else (or no SNI at all).
func TestSNI(t *testing.T) {
	s, err := Load([]Domain{{Name: "first.test"}, {Name: "second.test"}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.ServerConfig()
	if cfg.MinVersion < tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", cfg.MinVersion)
	}
	for _, tc := range []struct{ sni, want string }{
		{"first.test", "first.test"},
		{"second.test", "second.test"},
		{"SECOND.test.", "second.test"},
		{"registry.second.test", "second.test"},
		{"a.b.second.test", "second.test"},
		{"other.example", "first.test"},
		{"", "first.test"},
		{"test", "first.test"},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
			if err != nil {
				t.Fatal(err)
			}
			if c.Leaf.Subject.CommonName != tc.want {
				t.Fatalf("got %s, want %s", c.Leaf.Subject.CommonName, tc.want)
			}
		})
	}
	if s.For("other.example") != nil {
		t.Fatal("For returned a certificate for a domain not served")
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	s, err := Load([]Domain{{Name: "first.test"}, {Name: "second.test"}}, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "registry.second.test"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.get(hello); err != nil {
			b.Fatal(err)
		}
	}
}
