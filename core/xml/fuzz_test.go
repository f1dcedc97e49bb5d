package xml

import (
	"bytes"
	stdxml "encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// chunkReader returns data in reads whose sizes a seed drives, from one
// byte to a few KiB.
type chunkReader struct {
	data []byte
	seed uint64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.seed = c.seed*6364136223846793005 + 1442695040888963407
	n := int(c.seed>>33)%17 + 1
	if c.seed&0x300 == 0 {
		n = int(c.seed>>40)%4096 + 1
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func fuzzSeeds(f *testing.F) {
	f.Add([]byte(sampleStream), uint64(1), uint8(0))
	f.Add([]byte(header+benchBody+"</stream:stream>"), uint64(2), uint8(0))
	f.Add([]byte(benchBody), uint64(3), uint8(1))
	f.Add([]byte(benchBody), uint64(4), uint8(3))
	f.Add([]byte(header+"<iq><stream:x a:b='1' xmlns:a='urn:a'/></iq><stream:error><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"), uint64(5), uint8(0))
	f.Add([]byte("<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns:p='urn:p&amp;' xmlns='jabber:server'><p:a s:x='1'/><s:features/></s:stream>"), uint64(6), uint8(2))
	for i, tc := range errorCases {
		f.Add([]byte(header+tc.in), uint64(i), uint8(i%4)&^1)
		f.Add([]byte(tc.in), uint64(i), uint8(1))
	}
}

// FuzzDecoder checks that the Decoder never panics, that its frames do not
// depend on how the input is split into reads, that every element it returns
// stands alone (Parse accepts it, with the same name) within the limits, and
// that encoding/xml accepts what it accepts.
func FuzzDecoder(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, mode uint8) {
		lim := Limits{}
		if mode&2 != 0 {
			lim = Limits{MaxElement: 300, MaxDepth: 4, MaxAttrs: 4}
		}
		newDecoder := func(r io.Reader) *Decoder {
			if mode&1 != 0 {
				d := NewFragmentDecoder(r, lim)
				d.SetDefaultSpace("jabber:client")
				return d
			}
			return NewDecoder(r, lim)
		}
		d := newDecoder(bytes.NewReader(data))
		var want []frame
		var err error
		for {
			var fr Frame
			fr, err = d.Next()
			if err != nil {
				break
			}
			want = append(want, copyFrame(fr))
			if fr.Kind != TopElement {
				continue
			}
			if len(fr.Raw) > d.lim.MaxElement {
				t.Fatalf("frame of %d bytes over the limit", len(fr.Raw))
			}
			raw := withStreamPrefix(d, fr.Raw)
			def := d.defSpace
			if d.hdrHasDef {
				def = d.hdrDef
			}
			e, perr := Parse(raw, def)
			if perr != nil {
				t.Fatalf("Parse refuses a frame: %v\n%q", perr, raw)
			}
			if e.Name != fr.Name {
				t.Fatalf("Parse names %v the frame named %v", e.Name, fr.Name)
			}
			if fr.Child != (Name{}) && (len(e.Children) == 0 || e.Children[0].Name != fr.Child) {
				t.Fatalf("first child %v, Parse disagrees", fr.Child)
			}
			if serr := stdAccepts(raw); serr != nil {
				t.Fatalf("encoding/xml refuses a frame: %v\n%q", serr, raw)
			}
		}
		if condOf(err) == "" && err != ErrClosed && err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("unexpected error %v", err)
		}
		got, err2 := decodeAll(newDecoder(&chunkReader{data: data, seed: seed}))
		if !equalFrames(got, want) || !sameError(err, err2) {
			t.Fatalf("reads change the result:\nwhole %v %+v\nchunks %v %+v", err, want, err2, got)
		}
	})
}

func sameError(a, b error) bool {
	var x, y *SyntaxError
	if errors.As(a, &x) && errors.As(b, &y) {
		return *x == *y
	}
	return a == b
}

// withStreamPrefix declares the header's own prefix on an element that the
// Decoder left without it (stream:features), so that Parse can read it.
func withStreamPrefix(d *Decoder, raw []byte) []byte {
	if d.hdrPrefix == "" || !bytes.HasPrefix(raw[1:], []byte(d.hdrPrefix+":")) {
		return raw
	}
	t, ok := parseTop(raw)
	if !ok || hasAttr(raw, t, "xmlns:"+d.hdrPrefix) {
		return raw
	}
	out := append([]byte(nil), raw[:t.nameEnd]...)
	out = append(out, " xmlns:"+d.hdrPrefix+"='"+nsStream+"'"...)
	return append(out, raw[t.nameEnd:]...)
}

// stdAccepts runs encoding/xml in strict mode over one element. Its name
// tables are those of XML 1.0 fourth edition, narrower than the fifth
// edition's we follow, so a refused non-ASCII name is not a disagreement.
func stdAccepts(raw []byte) error {
	d := stdxml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if !utf8.Valid(raw) || isASCII(raw) || !strings.Contains(err.Error(), "name") {
				return err
			}
			return nil
		}
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzParse checks the round trip Parse, Append, Parse, and that
// encoding/xml accepts what Parse accepts.
func FuzzParse(f *testing.F) {
	for _, s := range roundTrips {
		f.Add([]byte(s))
	}
	f.Add([]byte(benchStanza))
	for _, tc := range errorCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, "urn:d")
		if err != nil {
			if condOf(err) == "" {
				t.Fatalf("error is not a *SyntaxError: %v", err)
			}
			return
		}
		if serr := stdAccepts(data); serr != nil {
			t.Fatalf("encoding/xml refuses: %v", serr)
		}
		out := e.Append(nil, "urn:d")
		e2, err := Parse(out, "urn:d")
		if condOf(err) == PolicyViolation {
			return // escaping and prefix declarations can grow an element past a limit
		}
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q\n%q", err, data, out)
		}
		if !equalElement(e, e2) {
			t.Fatalf("round trip changes the tree:\n%q\n%q", data, out)
		}
		if out2 := e2.Append(nil, "urn:d"); !bytes.Equal(out, out2) {
			t.Fatalf("Append is not deterministic:\n%q\n%q", out, out2)
		}
	})
}

// FuzzEdits checks that the byte-level edits of a valid element give a valid
// element with the intended change.
func FuzzEdits(f *testing.F) {
	f.Add([]byte(`<message to='a' from='b'><body>x</body></message>`), "from", "c@d/e", []byte(`<x xmlns='urn:x'/>`))
	f.Add([]byte(`<a/>`), "id", "'\"<>&\t", []byte(`<b>t</b>`))
	f.Add([]byte(`<p:a xmlns:p='urn:p' x = "1" ></p:a>`), "x", "", []byte(`<q:b xmlns:q='urn:q'/>`))
	f.Add([]byte(benchStanza), "type", "error", []byte(`<error type='cancel'/>`))
	f.Fuzz(func(t *testing.T, raw []byte, key, value string, child []byte) {
		e, err := Parse(raw, "")
		if err != nil || raw[0] != '<' {
			return
		}
		clean := UnescapeString(EscapeAttr(nil, value))
		if _, ok := checkQName([]byte(key)); ok && !strings.Contains(key, ":") && !strings.HasPrefix(key, "xmlns") {
			out := SetAttrs(nil, raw, key, value)
			e2, err := Parse(out, "")
			if err != nil && condOf(err) != PolicyViolation {
				t.Fatalf("SetAttrs output does not parse: %v\n%q", err, out)
			}
			if err == nil {
				if v, ok := e2.AttrNS("", key); !ok || v != clean {
					t.Fatalf("SetAttrs: %s = %q, want %q\n%q", key, v, clean, out)
				}
				if len(e2.Children) != len(e.Children) || e2.Text != e.Text {
					t.Fatal("SetAttrs changed the content")
				}
			}
			out = SetAttrs(nil, raw, "-"+key, "")
			e3, err := Parse(out, "")
			if err != nil {
				t.Fatalf("SetAttrs removal output does not parse: %v\n%q", err, out)
			}
			if _, ok := e3.AttrNS("", key); ok {
				t.Fatalf("SetAttrs did not remove %s", key)
			}
		}
		if c, err := Parse(child, ""); err == nil && child[0] == '<' && child[len(child)-1] == '>' {
			out := InsertChild(nil, raw, child)
			e2, err := Parse(out, "")
			if err != nil && condOf(err) != PolicyViolation {
				t.Fatalf("InsertChild output does not parse: %v\n%q", err, out)
			}
			if err == nil {
				if len(e2.Children) != len(e.Children)+1 || e2.Children[len(e.Children)].Name.Local != c.Name.Local {
					t.Fatalf("InsertChild did not append the child:\n%q", out)
				}
			}
		}
		if clean != nsXML && clean != nsXMLNS {
			out := EnsureNamespace(nil, raw, value)
			e2, err := Parse(out, "")
			if err != nil && condOf(err) != PolicyViolation {
				t.Fatalf("EnsureNamespace output does not parse: %v\n%q", err, out)
			}
			t0, _ := parseTop(raw)
			if err == nil && !hasAttr(raw, t0, "xmlns") && !bytes.Contains(raw[:t0.nameEnd], []byte(":")) && e2.Name.Space != clean {
				t.Fatalf("EnsureNamespace: namespace %q, want %q", e2.Name.Space, clean)
			}
		}
		inner := InnerXML(raw)
		t0, _ := parseTop(raw)
		if t0.empty {
			if inner != nil {
				t.Fatalf("InnerXML of an empty-element tag: %q", inner)
			}
		} else if end := endTag(raw, t0); string(raw[:t0.end])+string(inner)+string(raw[end:]) != string(raw) {
			t.Fatalf("InnerXML %q is not the content of %q", inner, raw)
		}
	})
}
