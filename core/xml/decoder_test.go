package xml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>`

// frame is a Frame copied out of the Decoder's buffers.
type frame struct {
	Kind  Kind
	Raw   string
	Name  Name
	Child Name
	Attrs []attrCopy
}

type attrCopy struct {
	Name  Name
	Value string
}

func copyFrame(f Frame) frame {
	c := frame{Kind: f.Kind, Raw: string(f.Raw), Name: f.Name, Child: f.Child}
	for _, a := range f.Attrs {
		c.Attrs = append(c.Attrs, attrCopy{a.Name, string(a.Value)})
	}
	return c
}

// decodeAll runs d to its first error.
func decodeAll(d *Decoder) ([]frame, error) {
	var out []frame
	for {
		f, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, copyFrame(f))
		if len(out) > 10000 {
			panic("runaway decoder")
		}
	}
}

func condOf(err error) Condition {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Cond
	}
	return ""
}

// errorCases are bodies of top-level elements that must be refused with the
// condition given, in a stream, as a fragment and by Parse.
var errorCases = []struct {
	name string
	in   string
	cond Condition
}{
	{"malformed utf8 in text", "<message><body>\xff</body></message>", NotWellFormed},
	{"truncated utf8 in text", "<message><body>\xe2\x82</body></message>", NotWellFormed},
	{"overlong utf8", "<message><body>\xc0\xaf</body></message>", NotWellFormed},
	{"surrogate", "<message><body>\xed\xa0\x80</body></message>", NotWellFormed},
	{"U+FFFE", "<message><body>\xef\xbf\xbe</body></message>", NotWellFormed},
	{"U+FFFF in attr", "<message id='\xef\xbf\xbf'/>", NotWellFormed},
	{"malformed utf8 in attr", "<message id='\x80'/>", NotWellFormed},
	{"malformed utf8 in name", "<mess\xffage/>", NotWellFormed},
	{"malformed utf8 in cdata", "<a><![CDATA[\xff]]></a>", NotWellFormed},
	{"control char in text", "<message><body>\x01</body></message>", NotWellFormed},
	{"NUL in text", "<message><body>\x00</body></message>", NotWellFormed},
	{"control char in attr", "<message id='\x1b'/>", NotWellFormed},
	{"control char in cdata", "<a><![CDATA[\x0c]]></a>", NotWellFormed},
	{"]]> in text", "<a>x]]>y</a>", NotWellFormed},
	{"]]]> in text", "<a>]]]></a>", NotWellFormed},
	{"< in attr", "<a x='<'/>", NotWellFormed},
	{"unquoted attr", "<a x=1/>", NotWellFormed},
	{"attr without value", "<a x/>", NotWellFormed},
	{"attr without =", "<a x '1'/>", NotWellFormed},
	{"missing space between attrs", "<a x='1'y='2'/>", NotWellFormed},
	{"duplicate attr", "<a x='1' x='2'/>", NotWellFormed},
	{"duplicate xmlns", "<a xmlns='u' xmlns='u'/>", NotWellFormed},
	{"duplicate after resolution", "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>", NotWellFormed},
	{"duplicate xml:lang", "<a xml:lang='en' xmlns:l='http://www.w3.org/XML/1998/namespace'/>", NotWellFormed},
	{"unbound element prefix", "<p:a/>", NotWellFormed},
	{"unbound attr prefix", "<a p:x='1'/>", NotWellFormed},
	{"unbound prefix in child", "<a><p:b/></a>", NotWellFormed},
	{"prefix out of scope", "<a><b xmlns:p='u'/><p:c/></a>", NotWellFormed},
	{"empty prefix binding", "<a xmlns:p=''/>", NotWellFormed},
	{"xml prefix rebound", "<a xmlns:xml='urn:x'/>", NotWellFormed},
	{"xml namespace bound", "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>", NotWellFormed},
	{"xml namespace default", "<a xmlns='http://www.w3.org/XML/1998/namespace'/>", NotWellFormed},
	{"xmlns namespace bound", "<a xmlns:p='http://www.w3.org/2000/xmlns/'/>", NotWellFormed},
	{"xmlns prefix declared", "<a xmlns:xmlns='urn:x'/>", NotWellFormed},
	{"xmlns element prefix", "<xmlns:a/>", NotWellFormed},
	{"mismatched end tag", "<a><b></a></b>", NotWellFormed},
	{"mismatched end prefix", "<a xmlns:p='u' xmlns:q='u'><p:b></q:b></a>", NotWellFormed},
	{"end tag garbage", "<a></a x>", NotWellFormed},
	{"name starts with digit", "<1a/>", NotWellFormed},
	{"name starts with dash", "<a><-b/></a>", NotWellFormed},
	{"two colons", "<a:b:c xmlns:a='u'/>", NotWellFormed},
	{"trailing colon", "<a: xmlns:a='u'/>", NotWellFormed},
	{"leading colon", "<:a/>", NotWellFormed},
	{"local starts with digit", "<a:1 xmlns:a='u'/>", NotWellFormed},
	{"space after <", "< a/>", NotWellFormed},
	{"bad empty tag", "<a/ >", NotWellFormed},
	{"non-name char in name", "<a\xc3\x97/>", NotWellFormed},
	{"comment", "<a><!-- x --></a>", RestrictedXML},
	{"comment at top", "<!-- x -->", RestrictedXML},
	{"processing instruction", "<a><?php x?></a>", RestrictedXML},
	{"pi at top", "<?foo bar?>", RestrictedXML},
	{"xml declaration after header", "<?xml version='1.0'?>", RestrictedXML},
	{"doctype", "<!DOCTYPE a>", RestrictedXML},
	{"entity declaration", "<a><!ENTITY x 'y'></a>", RestrictedXML},
	{"malformed bang", "<a><!x></a>", NotWellFormed},
	{"entity reference", "<a>&foo;</a>", RestrictedXML},
	{"entity reference in attr", "<a x='&nbsp;'/>", RestrictedXML},
	{"long entity reference", "<a>&" + strings.Repeat("x", 40) + ";</a>", RestrictedXML},
	{"malformed reference", "<a>& x</a>", NotWellFormed},
	{"empty reference", "<a>&;</a>", NotWellFormed},
	{"unterminated char ref", "<a>&#65</a>", NotWellFormed},
	{"char ref to NUL", "<a>&#0;</a>", NotWellFormed},
	{"char ref to control", "<a>&#x1;</a>", NotWellFormed},
	{"char ref to surrogate", "<a>&#xD800;</a>", NotWellFormed},
	{"char ref to FFFE", "<a x='&#xFFFE;'/>", NotWellFormed},
	{"char ref out of range", "<a>&#x110000;</a>", NotWellFormed},
	{"huge char ref", "<a>&#99999999999999999999;</a>", NotWellFormed},
	{"uppercase X char ref", "<a>&#X41;</a>", NotWellFormed},
	{"empty char ref", "<a>&#x;</a>", NotWellFormed},
	{"long char ref", "<a>&#x" + strings.Repeat("0", 40) + "41;</a>", NotWellFormed},
	{"malformed cdata", "<a><![CDATX[x]]></a>", NotWellFormed},
	{"cdata at top", "<![CDATA[x]]>", NotWellFormed},
	{"text at top", "hello", NotWellFormed},
	{"ampersand at top", "&amp;", NotWellFormed},
	{"unknown end tag at top", "</a>", NotWellFormed},
}

func TestDecoderErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run("stream/"+tc.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(header+"<presence/>"+tc.in+"<presence/></stream:stream>"), Limits{})
			frames, err := decodeAll(d)
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v after %d frames, want %s", err, len(frames), tc.cond)
			}
			if len(frames) != 2 {
				t.Errorf("got %d frames before the error, want 2", len(frames))
			}
			if _, err2 := d.Next(); err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
			if !errors.Is(err, tc.cond) {
				t.Errorf("errors.Is(%v, %s) = false", err, tc.cond)
			}
		})
		t.Run("fragment/"+tc.name, func(t *testing.T) {
			d := NewFragmentDecoder(strings.NewReader("<presence/>"+tc.in+"<presence/>"), Limits{})
			_, err := decodeAll(d)
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
		})
		t.Run("onebyte/"+tc.name, func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(strings.NewReader(header+tc.in+"<presence/>")), Limits{})
			_, err := decodeAll(d)
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
		})
		t.Run("parse/"+tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), "jabber:client")
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
		})
	}
}

func TestStreamHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		cond     Condition
	}{
		{"wrong namespace", `<stream:stream xmlns:stream='urn:wrong'>`, InvalidNamespace},
		{"no namespace", `<stream xmlns='jabber:client'>`, InvalidNamespace},
		{"wrong local name", `<stream:flux xmlns:stream='http://etherx.jabber.org/streams'>`, InvalidNamespace},
		{"unbound prefix", `<stream:stream xmlns='jabber:client'>`, InvalidNamespace},
		{"unbound attribute prefix", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' foo:x='1'>`, InvalidNamespace},
		{"empty header", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`, NotWellFormed},
		{"text before header", `hi<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, NotWellFormed},
		{"end tag first", `</stream:stream>`, NotWellFormed},
		{"doctype", `<!DOCTYPE stream><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, RestrictedXML},
		{"comment", `<!-- hi --><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, RestrictedXML},
		{"pi", `<?php x?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, RestrictedXML},
		{"two declarations", `<?xml version='1.0'?><?xml version='1.0'?>` + header, RestrictedXML},
		{"declaration encoding", `<?xml version='1.0' encoding='ISO-8859-1'?>` + header, UnsupportedEncoding},
		{"declaration version", `<?xml version='1.1'?>` + header, NotWellFormed},
		{"declaration no version", `<?xml encoding='UTF-8'?>` + header, NotWellFormed},
		{"declaration order", `<?xml version='1.0' standalone='yes' encoding='UTF-8'?>` + header, NotWellFormed},
		{"declaration garbage", `<?xml version='1.0' foo='bar'?>` + header, NotWellFormed},
		{"declaration too long", `<?xml version='1.0'` + strings.Repeat(" ", 300) + `?>` + header, NotWellFormed},
		{"header too large", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' x='` + strings.Repeat("a", 8<<10) + `'>`, PolicyViolation},
		{"close tag mismatch", header + `</stream:flux>`, NotWellFormed},
		{"close tag other prefix", header + `</s:stream>`, NotWellFormed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAll(NewDecoder(strings.NewReader(tc.in), Limits{}))
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
			_, err = decodeAll(NewDecoder(iotest.OneByteReader(strings.NewReader(tc.in)), Limits{}))
			if got := condOf(err); got != tc.cond {
				t.Fatalf("one byte at a time: got %v, want %s", err, tc.cond)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxElement: 100, MaxDepth: 3, MaxAttrs: 4}
	tests := []struct {
		name, in string
		cond     Condition
	}{
		{"element at the limit", "<a>" + strings.Repeat("x", 93) + "</a>", ""},
		{"element over the limit", "<a>" + strings.Repeat("x", 94) + "</a>", PolicyViolation},
		{"start tag over the limit", "<a x='" + strings.Repeat("x", 200) + "'/>", PolicyViolation},
		{"name over the limit", "<a" + strings.Repeat("x", 200) + "/>", PolicyViolation},
		{"huge element", "<a>" + strings.Repeat("x", 1<<20) + "</a>", PolicyViolation},
		{"depth at the limit", "<a><b><c/></b></a>", ""},
		{"depth over the limit", "<a><b><c><d/></c></b></a>", PolicyViolation},
		{"attrs at the limit", "<a b='1' c='2' d='3' e='4'/>", ""},
		{"attrs over the limit", "<a b='1' c='2' d='3' e='4' f='5'/>", PolicyViolation},
		{"declarations count", "<a xmlns='u' xmlns:p='v' b='1' c='2' d='3'/>", PolicyViolation},
		{"attrs over the limit in child", "<a><b b='1' c='2' d='3' e='4' f='5'/></a>", PolicyViolation},
		{"inserted bindings over the limit", "<a><s:b/>" + strings.Repeat("x", 80) + "</a>", PolicyViolation},
	}
	hdr := `<stream xmlns='http://etherx.jabber.org/streams' xmlns:s='urn:s'>`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(hdr + tc.in + "<z/>")}
			frames, err := decodeAll(NewDecoder(r, lim))
			if got := condOf(err); got != tc.cond {
				t.Fatalf("got %v, want %q", err, tc.cond)
			}
			if tc.cond == "" && len(frames) != 3 {
				t.Fatalf("got %d frames, want 3", len(frames))
			}
			// Never buffer more than the limit plus one read (and the header).
			if r.n > int64(len(hdr))+100+2*initialBuf {
				t.Errorf("read %d bytes for a limit of 100", r.n)
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestDecoderFrames(t *testing.T) {
	xmlNS := Name{"http://www.w3.org/XML/1998/namespace", "lang"}
	tests := []struct {
		name string
		in   string // after the header
		want []frame
	}{
		{
			name: "message with default namespace",
			in:   "<message to='a@b/c' from='d@e' type='chat' id='x1' xml:lang='en'><body>hi</body></message>",
			want: []frame{{Kind: TopElement, Raw: "<message to='a@b/c' from='d@e' type='chat' id='x1' xml:lang='en'><body>hi</body></message>",
				Name: Name{"jabber:client", "message"}, Child: Name{"jabber:client", "body"},
				Attrs: []attrCopy{{Name{"", "to"}, "a@b/c"}, {Name{"", "from"}, "d@e"}, {Name{"", "type"}, "chat"}, {Name{"", "id"}, "x1"}, {xmlNS, "en"}}}},
		},
		{
			name: "prefixed stanza",
			in:   "<c:message xmlns:c='jabber:client' to='x'><c:body>hi</c:body></c:message>",
			want: []frame{{Kind: TopElement, Raw: "<c:message xmlns:c='jabber:client' to='x'><c:body>hi</c:body></c:message>",
				Name: Name{"jabber:client", "message"}, Child: Name{"jabber:client", "body"}, Attrs: []attrCopy{{Name{"", "to"}, "x"}}}},
		},
		{
			name: "default namespace redeclared",
			in:   "<message xmlns='jabber:server'><body/></message>",
			want: []frame{{Kind: TopElement, Raw: "<message xmlns='jabber:server'><body/></message>",
				Name: Name{"jabber:server", "message"}, Child: Name{"jabber:server", "body"}}},
		},
		{
			name: "default namespace undeclared",
			in:   "<foo xmlns=''><bar/></foo>",
			want: []frame{{Kind: TopElement, Raw: "<foo xmlns=''><bar/></foo>", Name: Name{"", "foo"}, Child: Name{"", "bar"}}},
		},
		{
			name: "child in another namespace",
			in:   "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
			want: []frame{{Kind: TopElement, Raw: "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
				Name: Name{"jabber:client", "iq"}, Child: Name{"urn:xmpp:ping", "ping"},
				Attrs: []attrCopy{{Name{"", "type"}, "get"}, {Name{"", "id"}, "p"}}}},
		},
		{
			name: "first child only",
			in:   "<iq><query xmlns='jabber:iq:roster'><item/></query><x xmlns='urn:x'/></iq>",
			want: []frame{{Kind: TopElement, Raw: "<iq><query xmlns='jabber:iq:roster'><item/></query><x xmlns='urn:x'/></iq>",
				Name: Name{"jabber:client", "iq"}, Child: Name{"jabber:iq:roster", "query"}}},
		},
		{
			name: "stream features keep their prefix",
			in:   "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
			want: []frame{{Kind: TopElement, Raw: "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
				Name: Name{"http://etherx.jabber.org/streams", "features"}, Child: Name{"urn:ietf:params:xml:ns:xmpp-tls", "starttls"}}},
		},
		{
			name: "header prefix used inside gets declared",
			in:   "<iq><stream:x/></iq>",
			want: []frame{{Kind: TopElement, Raw: "<iq xmlns:stream='http://etherx.jabber.org/streams'><stream:x/></iq>",
				Name: Name{"jabber:client", "iq"}, Child: Name{"http://etherx.jabber.org/streams", "x"}}},
		},
		{
			name: "header prefix redeclared inside is not inserted",
			in:   "<iq><q xmlns:stream='urn:q'><stream:x/></q></iq>",
			want: []frame{{Kind: TopElement, Raw: "<iq><q xmlns:stream='urn:q'><stream:x/></q></iq>",
				Name: Name{"jabber:client", "iq"}, Child: Name{"jabber:client", "q"}}},
		},
		{
			name: "white space and keepalives",
			in:   " \n\t\r <presence/>  \n\n <presence/>\n",
			want: []frame{
				{Kind: TopElement, Raw: "<presence/>", Name: Name{"jabber:client", "presence"}},
				{Kind: TopElement, Raw: "<presence/>", Name: Name{"jabber:client", "presence"}},
			},
		},
		{
			name: "cdata and references",
			in:   "<message id='a&amp;b&#x27;&#39;'><body>&lt;&#65;&#x42;<![CDATA[<&]]]]><![CDATA[>]]></body></message>",
			want: []frame{{Kind: TopElement, Raw: "<message id='a&amp;b&#x27;&#39;'><body>&lt;&#65;&#x42;<![CDATA[<&]]]]><![CDATA[>]]></body></message>",
				Name: Name{"jabber:client", "message"}, Child: Name{"jabber:client", "body"}, Attrs: []attrCopy{{Name{"", "id"}, "a&amp;b&#x27;&#39;"}}}},
		},
		{
			name: "utf8 names and text",
			in:   "<prés xmlns='urn:é' été='ü'>日本語 \U0001F600</prés>",
			want: []frame{{Kind: TopElement, Raw: "<prés xmlns='urn:é' été='ü'>日本語 \U0001F600</prés>",
				Name: Name{"urn:é", "prés"}, Attrs: []attrCopy{{Name{"", "été"}, "ü"}}}},
		},
		{
			name: "quotes and spacing",
			in:   "<presence  to = \"a'b\"\n\tid='x\"y' ></presence >",
			want: []frame{{Kind: TopElement, Raw: "<presence  to = \"a'b\"\n\tid='x\"y' ></presence >",
				Name: Name{"jabber:client", "presence"}, Attrs: []attrCopy{{Name{"", "to"}, "a'b"}, {Name{"", "id"}, "x\"y"}}}},
		},
		{
			name: "gt in text and attrs",
			in:   "<a x='>'>]>]]</a>",
			want: []frame{{Kind: TopElement, Raw: "<a x='>'>]>]]</a>", Name: Name{"jabber:client", "a"}, Attrs: []attrCopy{{Name{"", "x"}, ">"}}}},
		},
		{
			name: "prefixed attribute",
			in:   "<a xmlns:p='urn:p' p:x='1' x='2'/>",
			want: []frame{{Kind: TopElement, Raw: "<a xmlns:p='urn:p' p:x='1' x='2'/>", Name: Name{"jabber:client", "a"},
				Attrs: []attrCopy{{Name{"urn:p", "x"}, "1"}, {Name{"", "x"}, "2"}}}},
		},
		{
			name: "escaped namespace",
			in:   "<a xmlns='urn:a&amp;b'><b/></a>",
			want: []frame{{Kind: TopElement, Raw: "<a xmlns='urn:a&amp;b'><b/></a>", Name: Name{"urn:a&b", "a"}, Child: Name{"urn:a&b", "b"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := append([]frame{{Kind: StreamOpen, Raw: header, Name: Name{"http://etherx.jabber.org/streams", "stream"},
				Attrs: []attrCopy{{Name{"", "to"}, "example.com"}, {Name{"", "version"}, "1.0"}}}}, tc.want...)
			want = append(want, frame{Kind: StreamClose, Raw: "</stream:stream>", Name: Name{"http://etherx.jabber.org/streams", "stream"}})
			in := header + tc.in + "</stream:stream>"
			for _, r := range readers(in) {
				d := NewDecoder(r.r, Limits{})
				got, err := decodeAll(d)
				if err != ErrClosed {
					t.Fatalf("%s: err = %v, want ErrClosed", r.name, err)
				}
				if !equalFrames(got, want) {
					t.Fatalf("%s:\n got %+v\nwant %+v", r.name, got, want)
				}
			}
		})
	}
}

type namedReader struct {
	name string
	r    io.Reader
}

func readers(s string) []namedReader {
	return []namedReader{
		{"whole", strings.NewReader(s)},
		{"one byte", iotest.OneByteReader(strings.NewReader(s))},
		{"half", iotest.HalfReader(strings.NewReader(s))},
		{"data err", iotest.DataErrReader(strings.NewReader(s))},
	}
}

func equalFrames(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Raw != y.Raw || x.Name != y.Name || x.Child != y.Child || len(x.Attrs) != len(y.Attrs) {
			return false
		}
		for j := range x.Attrs {
			if x.Attrs[j] != y.Attrs[j] {
				return false
			}
		}
	}
	return true
}

const sampleStream = `<?xml version='1.0' encoding='utf-8'?>
<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>
<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='m1' xml:lang='en'><body>Art thou not Romeo, &amp; a Montague? &#x263A; ☺</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>
 <presence><show>away</show><status>at the <![CDATA[<ball>]]></status><priority>5</priority></presence>
<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq> <iq type="result" id="p1"/>
<c:message xmlns:c='jabber:client' xmlns:x='urn:x'><x:data x:v='1'>42</x:data><stream:x/></c:message>
<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>
</stream:stream>`

// TestSplitEverywhere feeds the sample stream in two reads split at every
// byte, and one byte at a time: the frames must not depend on the reads.
func TestSplitEverywhere(t *testing.T) {
	want, err := decodeAll(NewDecoder(strings.NewReader(sampleStream), Limits{}))
	if err != ErrClosed || len(want) != 8 {
		t.Fatalf("whole: %d frames, %v", len(want), err)
	}
	for k := 0; k <= len(sampleStream); k++ {
		r := io.MultiReader(strings.NewReader(sampleStream[:k]), strings.NewReader(sampleStream[k:]))
		got, err := decodeAll(NewDecoder(r, Limits{}))
		if err != ErrClosed || !equalFrames(got, want) {
			t.Fatalf("split at %d: %v\n got %+v\nwant %+v", k, err, got, want)
		}
	}
	got, err := decodeAll(NewDecoder(iotest.OneByteReader(strings.NewReader(sampleStream)), Limits{}))
	if err != ErrClosed || !equalFrames(got, want) {
		t.Fatalf("one byte: %v", err)
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name     string
		fragment bool
		in       string
		frames   int
		want     error
	}{
		{"nothing", false, "", 0, io.EOF},
		{"white space only", false, "  \n", 0, io.EOF},
		{"inside the header", false, "<stream:str", 0, io.ErrUnexpectedEOF},
		{"after the header", false, header, 1, io.ErrUnexpectedEOF},
		{"between elements", false, header + "<presence/> ", 2, io.ErrUnexpectedEOF},
		{"inside an element", false, header + "<presence><show>", 1, io.ErrUnexpectedEOF},
		{"inside a reference", false, header + "<a>&am", 1, io.ErrUnexpectedEOF},
		{"inside a character", false, header + "<a>\xe2\x82", 1, io.ErrUnexpectedEOF},
		{"inside ]]", false, header + "<a>]]", 1, io.ErrUnexpectedEOF},
		{"fragment nothing", true, "", 0, io.EOF},
		{"fragment between elements", true, "<a/> <b/>\n", 2, io.EOF},
		{"fragment inside an element", true, "<a/><b>", 1, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range readers(tc.in) {
				var d *Decoder
				if tc.fragment {
					d = NewFragmentDecoder(r.r, Limits{})
				} else {
					d = NewDecoder(r.r, Limits{})
				}
				frames, err := decodeAll(d)
				if err != tc.want || len(frames) != tc.frames {
					t.Fatalf("%s: %d frames, %v; want %d, %v", r.name, len(frames), err, tc.frames, tc.want)
				}
			}
		})
	}
}

func TestReadErrorPassesThrough(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(header+"<presence/><mess"), iotest.ErrReader(boom))
	frames, err := decodeAll(NewDecoder(r, Limits{}))
	if err != boom || len(frames) != 2 {
		t.Fatalf("got %d frames, %v; want 2, %v", len(frames), err, boom)
	}
}

// A read that times out must not lose the state: the broker may retry.
func TestReadErrorIsNotSticky(t *testing.T) {
	timeout := errors.New("i/o timeout")
	parts := []string{header + "<message><bo", "", "dy>hi</body></message>"}
	r := &scriptReader{parts: parts, errAt: 1, err: timeout}
	d := NewDecoder(r, Limits{})
	if f, err := d.Next(); err != nil || f.Kind != StreamOpen {
		t.Fatal(f, err)
	}
	if _, err := d.Next(); err != timeout {
		t.Fatalf("got %v, want the timeout", err)
	}
	f, err := d.Next()
	if err != nil || string(f.Raw) != "<message><body>hi</body></message>" {
		t.Fatalf("after the timeout: %q, %v", f.Raw, err)
	}
}

type scriptReader struct {
	parts []string
	errAt int
	err   error
	n     int
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if s.n >= len(s.parts) {
		return 0, io.EOF
	}
	k := s.n
	if k == s.errAt {
		s.n++
		return 0, s.err
	}
	n := copy(p, s.parts[k])
	if s.parts[k] = s.parts[k][n:]; s.parts[k] == "" {
		s.n++
	}
	return n, nil
}

func TestRestartKeepsPipelinedHeader(t *testing.T) {
	in := header + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>" +
		"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" +
		"<iq type='set'><stream:x/></iq>"
	d := NewDecoder(strings.NewReader(in), Limits{})
	for _, want := range []Kind{StreamOpen, TopElement} {
		if f, err := d.Next(); err != nil || f.Kind != want {
			t.Fatal(f, err)
		}
	}
	if d.Buffered() == 0 {
		t.Fatal("pipelined header not buffered")
	}
	d.Restart()
	f, err := d.Next()
	if err != nil || f.Kind != StreamOpen {
		t.Fatal(f, err)
	}
	f, err = d.Next()
	if err != nil || f.Name != (Name{"jabber:server", "iq"}) {
		t.Fatal(f.Name, err)
	}
	if want := "<iq xmlns:stream='http://etherx.jabber.org/streams' type='set'><stream:x/></iq>"; string(f.Raw) != want {
		t.Fatalf("raw %q, want %q", f.Raw, want)
	}
}

func TestRestartForgetsHeaderBindings(t *testing.T) {
	in := header + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
		"<s:stream xmlns:s='http://etherx.jabber.org/streams'><stream:x/>"
	d := NewDecoder(strings.NewReader(in), Limits{})
	for range 2 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	d.Restart()
	if f, err := d.Next(); err != nil || f.Kind != StreamOpen {
		t.Fatal(f, err)
	}
	if _, err := d.Next(); condOf(err) != NotWellFormed {
		t.Fatalf("stream prefix of the old header still bound: %v", err)
	}
}

func TestBufferedAndReset(t *testing.T) {
	in := header + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\r\n \t"
	d := NewDecoder(strings.NewReader(in), Limits{})
	for range 2 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Buffered(); n != 0 {
		t.Fatalf("Buffered = %d after <starttls/> and white space, want 0", n)
	}
	if got := d.InputOffset(); got != int64(len(in)) {
		t.Fatalf("InputOffset = %d, want %d", got, len(in))
	}

	injected := header + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message to='x'/>"
	d = NewDecoder(strings.NewReader(injected), Limits{})
	for range 2 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Buffered(); n != len("<message to='x'/>") {
		t.Fatalf("Buffered = %d, want the injected bytes", n)
	}
	d.Reset(strings.NewReader(header + "<presence/>"))
	if d.Buffered() != 0 || d.InputOffset() != 0 {
		t.Fatal("Reset kept buffered bytes")
	}
	if f, err := d.Next(); err != nil || f.Kind != StreamOpen {
		t.Fatal(f, err)
	}
	if f, err := d.Next(); err != nil || string(f.Raw) != "<presence/>" {
		t.Fatalf("%q %v", f.Raw, err)
	}
	// Reset also clears a syntax error.
	d.Reset(strings.NewReader("<!DOCTYPE x>"))
	if _, err := d.Next(); condOf(err) != RestrictedXML {
		t.Fatal(err)
	}
	d.Reset(strings.NewReader(header))
	if f, err := d.Next(); err != nil || f.Kind != StreamOpen {
		t.Fatal(f, err)
	}
}

func TestSyntaxErrorOffset(t *testing.T) {
	in := header + "<presence/><message><body>\x01</body></message>"
	for _, r := range readers(in) {
		_, err := decodeAll(NewDecoder(r.r, Limits{}))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatal(err)
		}
		if want := int64(strings.IndexByte(in, 1)); se.Offset != want {
			t.Fatalf("%s: offset %d, want %d", r.name, se.Offset, want)
		}
		if got := se.Error(); got != "xml: not-well-formed: illegal character" {
			t.Fatalf("Error() = %q", got)
		}
	}
}

func TestXMLDeclaration(t *testing.T) {
	for _, decl := range []string{
		"<?xml version='1.0'?>",
		`<?xml version="1.0" encoding="UTF-8"?>`,
		"<?xml version='1.0' encoding='utf-8' standalone='no'?>",
		"<?xml\tversion = '1.0' ?>",
		"\n<?xml version='1.0'?>\n",
	} {
		for _, r := range readers(decl + header) {
			if f, err := NewDecoder(r.r, Limits{}).Next(); err != nil || f.Kind != StreamOpen {
				t.Fatalf("%q (%s): %v", decl, r.name, err)
			}
		}
	}
}

func TestFragmentDecoder(t *testing.T) {
	in := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>" +
		"<message to='a'><body>x</body></message> <p:iq xmlns:p='jabber:server'/>"
	d := NewFragmentDecoder(strings.NewReader(in), Limits{})
	d.SetDefaultSpace("jabber:client")
	got, err := decodeAll(d)
	if err != io.EOF || len(got) != 3 {
		t.Fatal(len(got), err)
	}
	wantNames := []Name{{"urn:ietf:params:xml:ns:xmpp-framing", "open"}, {"jabber:client", "message"}, {"jabber:server", "iq"}}
	for i, f := range got {
		if f.Kind != TopElement || f.Name != wantNames[i] {
			t.Errorf("frame %d: %v %v", i, f.Kind, f.Name)
		}
	}
	fa := Frame{Attrs: []RawAttr{{Name{"", "to"}, []byte("a")}, {Name{"urn:x", "x"}, []byte("1")}}}
	if v, ok := fa.Attr("to"); !ok || string(v) != "a" {
		t.Error("Frame.Attr(to)")
	}
	if _, ok := fa.Attr("x"); ok {
		t.Error("Frame.Attr found a namespaced attribute")
	}
}

// After a large element, an idle decoder must give its buffers back.
func TestIdleShrinks(t *testing.T) {
	big := "<message><body>" + strings.Repeat("x", 100<<10) + "</body></message>"
	r := &scriptReader{parts: []string{header, big, "<presence/>"}, errAt: -1}
	d := NewDecoder(r, Limits{})
	for range 2 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if cap(d.buf) < 100<<10 {
		t.Fatalf("buffer did not grow: %d", cap(d.buf))
	}
	if f, err := d.Next(); err != nil || string(f.Raw) != "<presence/>" {
		t.Fatal(err)
	}
	if cap(d.buf) > initialBuf {
		t.Fatalf("buffer kept %d bytes", cap(d.buf))
	}
}

func TestZeroAllocsPerFrame(t *testing.T) {
	body := []byte(benchBody)
	r := &loopReader{data: body}
	d := NewDecoder(io.MultiReader(strings.NewReader(header), r), Limits{})
	for range 100 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

// loopReader returns data over and over, as a busy connection would.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], l.data[l.off:])
		n += k
		l.off = (l.off + k) % len(l.data)
	}
	return n, nil
}

func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 10000
	conns := make([]*Decoder, n)
	in := []byte(header + "<message to='a@b'><body>hello</body></message>")
	var before, after runtimeStats
	before.read()
	for i := range conns {
		d := NewDecoder(bytes.NewReader(in), Limits{})
		for range 2 {
			if _, err := d.Next(); err != nil {
				t.Fatal(err)
			}
		}
		conns[i] = d
	}
	after.read()
	per := (after.heap - before.heap) / n
	t.Logf("%d bytes per idle decoder", per)
	if per > 4<<10 {
		t.Fatalf("%d bytes per idle decoder, want well under 33 KiB in all", per)
	}
	for _, d := range conns {
		d.Reset(nil)
	}
}
