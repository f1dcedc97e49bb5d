package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Domain names one served domain and its certificate files (both empty:
// generate a self-signed one).
type Domain struct {
	Name, Cert, Key string
}

// Set holds one certificate per domain.
type Set struct {
	byName map[string]*tls.Certificate
	first  *tls.Certificate
	// Generated lists domains whose certificate is self-signed.
	Generated []string
}

// Load reads or generates the certificates. Generated ones go to
// dataDir/certs/<domain>.crt|.key (0600) and are reused on later starts.
func Load(domains []Domain, dataDir string) (*Set, error) {
	s := &Set{byName: map[string]*tls.Certificate{}}
	for _, d := range domains {
		certFile, keyFile := d.Cert, d.Key
		if certFile == "" {
			dir := filepath.Join(dataDir, "certs")
			certFile = filepath.Join(dir, d.Name+".crt")
			keyFile = filepath.Join(dir, d.Name+".key")
			if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
				if err := generate(d.Name, dir, certFile, keyFile); err != nil {
					return nil, err
				}
			}
			s.Generated = append(s.Generated, d.Name)
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certs: domain %s: %w", d.Name, err)
		}
		if c.Leaf == nil {
			c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
		}
		s.byName[d.Name] = &c
		if s.first == nil {
			s.first = &c
		}
	}
	if s.first == nil {
		return nil, errors.New("certs: no domains")
	}
	return s, nil
}

// get picks by SNI: the exact domain, a parent domain we serve (for
// service subdomains such as registry.D), or the first domain.
func (s *Set) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	for name != "" {
		if c := s.byName[name]; c != nil {
			return c, nil
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return s.first, nil
}

// ServerConfig returns the TLS configuration for c2s and HTTP listeners.
func (s *Set) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.get,
		NextProtos:     []string{"xmpp-client"},
	}
}

// For returns the certificate of a domain (nil if not served).
func (s *Set) For(domain string) *tls.Certificate { return s.byName[domain] }

func generate(domain, dir, certFile, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domain, Organization: []string{"Extasis self-signed"}},
		DNSNames:     []string{domain, "*." + domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
