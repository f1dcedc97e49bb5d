package sqlstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/pgtest"
)

// peer is a loopback TCP server that does one thing with each connection.
func peer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

// silent accepts and never answers, as a wedged server or a firewall that
// lets SYNs through does.
func silent(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.Copy(io.Discard, c)
}

// selfSigned answers PostgreSQL's SSLRequest with 'S' and then a TLS
// handshake with a certificate no client trusts.
func selfSigned(t *testing.T) func(net.Conn) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		req := make([]byte, 8)
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		c.Write([]byte{'S'})
		tc := tls.Server(c, cfg)
		tc.Handshake()
		tc.Close()
	}
}

// TestOpenPostgresTransportErrors: the connection failures that happen
// before PostgreSQL says anything, each told in one line with its fix.
func TestOpenPostgresTransportErrors(t *testing.T) {
	tests := []struct {
		name        string
		dsn         func(t *testing.T) string
		want        string
		unavailable bool
	}{
		{"server never answers", func(t *testing.T) string {
			return "postgres://extasis:secret-pw@" + peer(t, silent) + "/db?sslmode=disable"
		}, "did not answer within 1s", true},
		{"certificate not trusted", func(t *testing.T) string {
			return "postgres://extasis:secret-pw@" + peer(t, selfSigned(t)) + "/db?sslmode=verify-full"
		}, "presented a TLS certificate that cannot be verified", false},
		{"server without TLS", func(t *testing.T) string {
			u, err := url.Parse(pgtest.ServerDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("sslmode", "require")
			u.RawQuery = q.Encode()
			return u.String()
		}, "does not accept TLS, which the DSN requires", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn(t)
			u, _ := url.Parse(dsn)
			password, _ := u.User.Password()
			start := time.Now()
			s, err := Open(context.Background(), dsn, Options{ConnectTimeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Logf("%v (after %v)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "DSN") {
				t.Fatalf("Open error %q does not say %q and where the DSN came from", msg, tt.want)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, password) {
				t.Fatalf("Open error is not one line without the password: %q", msg)
			}
			if errors.Is(err, storage.ErrUnavailable) != tt.unavailable {
				t.Fatalf("errors.Is(ErrUnavailable) = %v, want %v", !tt.unavailable, tt.unavailable)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("Open took %v to fail", d)
			}
		})
	}
}
