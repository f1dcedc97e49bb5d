package sasl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestServerEndPoint checks RFC 5929 §4.1's choice of hash on certificates
// signed with different algorithms.
func TestServerEndPoint(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sha384 := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	sha256sum := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	sha512sum := func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

	tests := []struct {
		name string
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
		want func([]byte) []byte // nil: no binding defined
	}{
		{"ECDSA SHA-256", ecKey, x509.ECDSAWithSHA256, sha256sum},
		{"ECDSA SHA-384", ecKey, x509.ECDSAWithSHA384, sha384},
		{"RSA SHA-512", rsaKey, x509.SHA512WithRSA, sha512sum},
		{"RSA-PSS SHA-384", rsaKey, x509.SHA384WithRSAPSS, sha384},
		{"Ed25519 has no hash", edKey, x509.PureEd25519, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := &x509.Certificate{
				SerialNumber:       big.NewInt(2),
				Subject:            pkix.Name{CommonName: "example.com"},
				NotBefore:          time.Now().Add(-time.Hour),
				NotAfter:           time.Now().Add(time.Hour),
				SignatureAlgorithm: tt.alg,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tt.key.Public(), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			got := ServerEndPoint(cert)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("ServerEndPoint = %x, want nil", got)
				}
				return
			}
			if want := tt.want(der); !bytes.Equal(got, want) {
				t.Fatalf("ServerEndPoint = %x, want %x", got, want)
			}
		})
	}

	// crypto/x509 no longer signs with SHA-1, so this certificate is only
	// parsed-looking; RFC 5929 upgrades its hash to SHA-256.
	t.Run("SHA-1 signed uses SHA-256", func(t *testing.T) {
		cert := &x509.Certificate{Raw: []byte("der"), SignatureAlgorithm: x509.SHA1WithRSA}
		if want := sha256sum(cert.Raw); !bytes.Equal(ServerEndPoint(cert), want) {
			t.Fatal("SHA-1 certificate not hashed with SHA-256")
		}
	})
	t.Run("nil certificate", func(t *testing.T) {
		if ServerEndPoint(nil) != nil {
			t.Fatal("binding data for no certificate")
		}
	})
}

// TestNewChannelBinding checks the data taken from real TLS 1.2 and 1.3
// connections: the exporter only on 1.3, and the same values as the client
// computes.
func TestNewChannelBinding(t *testing.T) {
	tests := []struct {
		name         string
		version      uint16
		wantExporter bool
		wantTypes    string
	}{
		{"TLS 1.3", tls.VersionTLS13, true, "tls-exporter tls-server-end-point"},
		{"TLS 1.2", tls.VersionTLS12, false, "tls-server-end-point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, cb := tlsPair(t, tt.version)
			if got := strings.Join(cb.Types(), " "); got != tt.wantTypes {
				t.Fatalf("Types() = %q, want %q", got, tt.wantTypes)
			}
			if tt.wantExporter {
				ekm, err := client.ExportKeyingMaterial(exporterLabel, nil, exporterLen)
				if err != nil || !bytes.Equal(ekm, cb.TLSExporter) {
					t.Fatalf("exporter differs between the ends: %v", err)
				}
			} else if cb.TLSExporter != nil {
				t.Fatal("tls-exporter on TLS 1.2")
			}
			if want := ServerEndPoint(client.PeerCertificates[0]); !bytes.Equal(cb.TLSServerEndPoint, want) {
				t.Fatal("tls-server-end-point differs between the ends")
			}
		})
	}
	t.Run("no handshake", func(t *testing.T) {
		if cb := NewChannelBinding(tls.ConnectionState{}, nil); cb.has() {
			t.Fatalf("binding data without a handshake: %+v", cb)
		}
	})
}
