package sasl

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"
)

// testIterations keeps PBKDF2 cheap in tests; it is the smallest count
// Credentials.Valid admits.
const testIterations = MinIterations

// credStore is an in-memory account table for tests: username -> hash ->
// credentials, derived once per store.
type credStore map[string]map[Hash]Credentials

func newCredStore(t testing.TB, users map[string]string, hashes ...Hash) credStore {
	t.Helper()
	if len(hashes) == 0 {
		hashes = []Hash{SHA1, SHA256}
	}
	s := credStore{}
	for u, pw := range users {
		s[u] = map[Hash]Credentials{}
		for _, h := range hashes {
			c, err := NewCredentials(h, pw, testIterations)
			if err != nil {
				t.Fatalf("NewCredentials(%s, %q): %v", h, u, err)
			}
			s[u][h] = c
		}
	}
	return s
}

func (s credStore) lookup(_ context.Context, username string, h Hash) (Credentials, error) {
	c, ok := s[username][h]
	if !ok {
		return Credentials{}, ErrUnknownUser
	}
	return c, nil
}

// testClient is a minimal SCRAM client for building the messages of failure
// tests, where an independent client would refuse to misbehave. Interop
// with real clients is in interop_test.go.
type testClient struct {
	hash   Hash
	user   string // already saslname-encoded
	pass   string
	gs2    string // GS2 header, e.g. "n,,"
	cbData []byte
	cnonce string

	bare string
}

func (c *testClient) first() []byte {
	if c.cnonce == "" {
		c.cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	}
	c.bare = "n=" + c.user + ",r=" + c.cnonce
	return []byte(c.gs2 + c.bare)
}

// final answers a server-first message. cb overrides the channel binding
// bytes and nonce the combined nonce when non-nil; ext is inserted before
// the proof.
func (c *testClient) final(t testing.TB, serverFirst []byte, cb []byte, nonce []byte, ext string) []byte {
	t.Helper()
	var snonce, salt []byte
	iter := 0
	for f := range bytes.SplitSeq(serverFirst, []byte{','}) {
		switch {
		case bytes.HasPrefix(f, []byte("r=")):
			snonce = f[2:]
		case bytes.HasPrefix(f, []byte("s=")):
			var err error
			if salt, err = base64.StdEncoding.DecodeString(string(f[2:])); err != nil {
				t.Fatalf("server salt: %v", err)
			}
		case bytes.HasPrefix(f, []byte("i=")):
			iter, _ = strconv.Atoi(string(f[2:]))
		}
	}
	if nonce == nil {
		nonce = snonce
	}
	if cb == nil {
		cb = append([]byte(c.gs2), c.cbData...)
	}
	without := "c=" + base64.StdEncoding.EncodeToString(cb) + ",r=" + string(nonce) + ext
	return []byte(without + ",p=" + c.proof(t, serverFirst, []byte(without), salt, iter))
}

// proof is the base64 ClientProof for a client-final message without its
// proof, given the salt and iteration count of the server-first message.
func (c *testClient) proof(t testing.TB, serverFirst, without, salt []byte, iter int) string {
	t.Helper()
	newHash := c.hash.newHash()
	salted, err := pbkdf2.Key(newHash, c.pass, salt, iter, c.hash.size())
	if err != nil {
		t.Fatalf("pbkdf2: %v", err)
	}
	clientKey := hmacSum(newHash, salted, []byte("Client Key"))
	h := newHash()
	h.Write(clientKey)
	authMessage := c.bare + "," + string(serverFirst) + "," + string(without)
	sig := hmacSum(newHash, h.Sum(nil), []byte(authMessage))
	proof := make([]byte, len(sig))
	subtle.XORBytes(proof, clientKey, sig)
	return base64.StdEncoding.EncodeToString(proof)
}

// serverSignature is what a client expects in v=, to check server-final.
func (c *testClient) serverSignature(t testing.TB, serverFirst, clientFinal []byte) []byte {
	t.Helper()
	without := clientFinal[:bytes.LastIndex(clientFinal, []byte(",p="))]
	var salt []byte
	iter := 0
	for f := range bytes.SplitSeq(serverFirst, []byte{','}) {
		switch {
		case bytes.HasPrefix(f, []byte("s=")):
			salt, _ = base64.StdEncoding.DecodeString(string(f[2:]))
		case bytes.HasPrefix(f, []byte("i=")):
			iter, _ = strconv.Atoi(string(f[2:]))
		}
	}
	newHash := c.hash.newHash()
	salted, _ := pbkdf2.Key(newHash, c.pass, salt, iter, c.hash.size())
	serverKey := hmacSum(newHash, salted, []byte("Server Key"))
	m := hmac.New(newHash, serverKey)
	m.Write([]byte(c.bare + "," + string(serverFirst) + "," + string(without)))
	return []byte("v=" + base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// testCert makes a self-signed ECDSA P-256 certificate for localhost; its
// signature hash is SHA-256, so tls-server-end-point uses SHA-256.
func testCert(t testing.TB) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// tlsPair makes a real loopback TLS connection of the given version and
// returns both ends' state and the server's channel binding data, so that
// -PLUS tests bind to a real channel.
func tlsPair(t testing.TB, version uint16) (client tls.ConnectionState, cb ChannelBinding) {
	t.Helper()
	cert, leaf := testCert(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   version,
		MaxVersion:   version,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		cs   tls.ConnectionState
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		tc := c.(*tls.Conn)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = tc.HandshakeContext(ctx)
		done <- result{cs: tc.ConnectionState(), conn: c, err: err}
	}()

	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	cc, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		MinVersion: version,
		MaxVersion: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.conn.Close() })
	if r.cs.Version != version || cc.ConnectionState().Version != version {
		t.Fatalf("negotiated %x, want %x", r.cs.Version, version)
	}
	return cc.ConnectionState(), NewChannelBinding(r.cs, leaf)
}

// mustServer is NewServer for tests.
func mustServer(t testing.TB, mech string, lookup Lookup, cb ChannelBinding, tls bool, opts ...Option) Server {
	t.Helper()
	s, err := NewServer(mech, lookup, cb, tls, opts...)
	if err != nil {
		t.Fatalf("NewServer(%s): %v", mech, err)
	}
	return s
}

// wantCondition fails the test unless err carries the condition (and, when
// serverError is not "", that RFC 5802 server-error).
func wantCondition(t testing.TB, err error, cond, serverError string) {
	t.Helper()
	if got := ConditionOf(err); got != cond {
		t.Fatalf("condition = %q (err %v), want %q", got, err, cond)
	}
	if serverError == "" {
		return
	}
	f, ok := err.(*Failure)
	if !ok {
		t.Fatalf("err %T %v is not a *Failure", err, err)
	}
	if f.ServerError != serverError {
		t.Fatalf("server-error = %q, want %q", f.ServerError, serverError)
	}
}
