package sasl

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"golang.org/x/text/secure/precis"
)

// fuzzCB is binding data for the -PLUS servers the fuzz targets build.
var fuzzCB = ChannelBinding{
	TLSExporter:       bytes.Repeat([]byte{0xe1}, 32),
	TLSServerEndPoint: bytes.Repeat([]byte{0x5e}, 32),
}

var fuzzMechs = []string{ScramSHA1, ScramSHA256, ScramSHA1Plus, ScramSHA256Plus}

// knownCondition reports whether cond is one of the RFC 6120 §6.5
// conditions a Server may return.
func knownCondition(cond string) bool {
	switch cond {
	case Aborted, AccountDisabled, CredentialsExpired, EncryptionRequired, IncorrectEncoding,
		InvalidAuthzid, InvalidMechanism, MalformedRequest, MechanismTooWeak, NotAuthorized,
		TemporaryAuthFailure:
		return true
	}
	return false
}

// FuzzSCRAMClientFirst feeds arbitrary client-first messages: the server
// must not panic, must answer either a well-formed server-first message or
// a known failure, and never finish.
func FuzzSCRAMClientFirst(f *testing.F) {
	store := newCredStore(f, map[string]string{"user": "pencil", "a,b": "pencil"})
	for _, s := range []string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"y,,n=user,r=abc",
		"p=tls-exporter,,n=user,r=abc",
		"p=tls-server-end-point,a=admin@example.com,n=user,r=abc",
		"p=tls-unique,,n=user,r=abc",
		"n,a=x=2Cy,n=a=2Cb,r=abc,x=ext",
		"n,,m=ext,n=user,r=abc",
		"n,,n=user,r=abc,m=ext",
		"n,,n=us=er,r=abc",
		"n,,n=,r=",
		"n,,n=user,r=abc,",
		"n,a=,n=user,r=abc",
		"F,n,,n=user,r=abc",
		"c=biws,r=abc,p=AAAA",
		"n,,n=\xff,r=abc",
		"n,,n=user\x00,r=abc",
		"",
		",,,,",
		"n,,n=nobody,r=abc",
		"n,,n=USER,r=abc",
	} {
		for i := range fuzzMechs {
			f.Add([]byte(s), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, mech uint8) {
		m := fuzzMechs[int(mech)%len(fuzzMechs)]
		s, err := NewServer(m, store.lookup, fuzzCB, true)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step(context.Background(), in)
		if done {
			t.Fatalf("exchange finished after client-first %q", in)
		}
		if s.Username() != "" || s.Authzid() != "" {
			t.Fatal("identity set before success")
		}
		if err != nil {
			if !knownCondition(ConditionOf(err)) || out != nil {
				t.Fatalf("failure %v with output %q", err, out)
			}
			return
		}
		if len(in) == 0 {
			if len(out) != 0 {
				t.Fatalf("challenge %q for an empty initial response", out)
			}
			return
		}
		f := bytes.Split(out, []byte{','})
		if len(f) != 3 || !bytes.HasPrefix(f[0], []byte("r=")) || !bytes.HasPrefix(f[1], []byte("s=")) || !bytes.HasPrefix(f[2], []byte("i=")) {
			t.Fatalf("server-first %q for %q", out, in)
		}
	})
}

// FuzzSCRAMClientFinal feeds arbitrary client-final messages after a real
// client-first: the server must not panic and must accept only a message
// with this exchange's channel binding and nonce and a proof of the
// password over exactly the bytes sent.
func FuzzSCRAMClientFinal(f *testing.F) {
	store := newCredStore(f, map[string]string{"user": "pencil"})
	const serverNonce = "3rfcNHYJY1ZVvWVs7j"
	clients := []*testClient{
		{hash: SHA1, user: "user", pass: "pencil", gs2: "n,,"},
		{hash: SHA256, user: "user", pass: "pencil", gs2: "n,a=user@example.com,"},
		{hash: SHA1, user: "user", pass: "pencil", gs2: "p=tls-exporter,,", cbData: fuzzCB.TLSExporter},
		{hash: SHA256, user: "user", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: fuzzCB.TLSServerEndPoint},
	}
	// The start of each client's correct final message: the channel binding
	// and nonce the server must insist on.
	prefix := make([][]byte, len(clients))
	start := func(t testing.TB, i int) (Server, []byte) {
		s, err := NewServer(fuzzMechs[i], store.lookup, fuzzCB, true, withServerNonce(serverNonce))
		if err != nil {
			t.Fatal(err)
		}
		sf, _, err := s.Step(context.Background(), clients[i].first())
		if err != nil {
			t.Fatal(err)
		}
		return s, sf
	}
	for i, c := range clients {
		_, sf := start(f, i)
		prefix[i] = []byte("c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2), c.cbData...)) + ",r=" + string(sf[2:bytes.IndexByte(sf, ',')]))
		wrongCB := c.final(f, sf, []byte("n,,"), nil, "")
		wrongPass := *c
		wrongPass.pass = "pencil2"
		for _, seed := range [][]byte{
			c.final(f, sf, nil, nil, ""),
			wrongCB,
			wrongPass.final(f, sf, nil, nil, ""),
			c.final(f, sf, nil, nil, ",x=ext"),
			c.final(f, sf, nil, nil, ",m=ext"),
			c.final(f, sf, nil, []byte("fyko+d2lbbFgONRv9qkxdawL"), ""),
			[]byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p="),
			[]byte("c=,r=,p=,p="),
			[]byte("n,,n=user,r=abc"),
			{},
		} {
			f.Add(seed, uint8(i))
		}
	}
	sfOf := func(t testing.TB, i int) []byte {
		_, sf := start(t, i)
		return sf
	}
	f.Fuzz(func(t *testing.T, in []byte, which uint8) {
		i := int(which) % len(clients)
		s, _ := start(t, i)
		out, done, err := s.Step(context.Background(), in)
		if err != nil {
			if done || out != nil || !knownCondition(ConditionOf(err)) {
				t.Fatalf("failure %v with %q, %v", err, out, done)
			}
			if s.Username() != "" {
				t.Fatal("identity set after failure")
			}
			return
		}
		// Success needs this channel binding and nonce, and the proof of
		// the password over exactly what was sent.
		j := bytes.LastIndex(in, []byte(",p="))
		if !done || j < 0 {
			t.Fatalf("client-final %q accepted (done=%v) without a proof", in, done)
		}
		without, proof := in[:j], in[j+3:]
		salt, iter := store["user"][clients[i].hash].Salt, store["user"][clients[i].hash].Iterations
		want := clients[i].proof(t, sfOf(t, i), without, salt, iter)
		if !bytes.HasPrefix(in, prefix[i]) || string(proof) != want {
			t.Fatalf("client-final %q accepted without the right binding, nonce and proof", in)
		}
		if !bytes.HasPrefix(out, []byte("v=")) || s.Username() != "user" {
			t.Fatalf("success with %q as %q", out, s.Username())
		}
	})
}

// FuzzPLAIN feeds arbitrary PLAIN messages: the server must not panic and
// must accept only user's password (up to PRECIS preparation).
func FuzzPLAIN(f *testing.F) {
	store := newCredStore(f, map[string]string{"user": "pencil"}, SHA256)
	for _, s := range []string{
		"\x00user\x00pencil",
		"user@example.com\x00user\x00pencil",
		"\x00USER\x00pencil",
		"\x00user\x00pencil2",
		"\x00user\x00",
		"\x00\x00pencil",
		"user\x00pencil",
		"\x00user\x00pencil\x00",
		"\x00nobody\x00pencil",
		"\x00us\xffer\x00pencil",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := NewServer(Plain, store.lookup, ChannelBinding{}, true)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step(context.Background(), in)
		if err != nil {
			if done || out != nil || !knownCondition(ConditionOf(err)) {
				t.Fatalf("failure %v with %q, %v", err, out, done)
			}
			return
		}
		if len(in) == 0 {
			if done || len(out) != 0 {
				t.Fatalf("empty initial response answered %q, %v", out, done)
			}
			return
		}
		parts := bytes.Split(in, []byte{0})
		if !done || len(parts) != 3 {
			t.Fatalf("%q accepted (done=%v)", in, done)
		}
		user, err1 := precis.UsernameCaseMapped.String(string(parts[1]))
		pass, err2 := precis.OpaqueString.String(string(parts[2]))
		if err1 != nil || err2 != nil || user != "user" || pass != "pencil" {
			t.Fatalf("%q accepted without user's password", in)
		}
		if s.Username() != "user" || s.Authzid() != string(parts[0]) {
			t.Fatalf("identity %q, %q", s.Username(), s.Authzid())
		}
	})
}
