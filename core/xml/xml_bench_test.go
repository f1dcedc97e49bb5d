package xml

import (
	"bytes"
	stdxml "encoding/xml"
	"io"
	"strings"
	"testing"
)

// benchBody is a realistic mix of top-level elements: chat messages, presence
// with status, pings and roster queries, an IoT read-out and its answer.
const benchBody = `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague? Neither, fair saint, if either thee dislike.</body></message>
<presence from='romeo@example.net/orchard' id='pres1'><show>away</show><status>In the orchard, looking at the balcony</status><priority>5</priority></presence>
<iq from='juliet@example.com/balcony' to='example.com' type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>
<iq from='juliet@example.com/balcony' type='get' id='roster1'><query xmlns='jabber:iq:roster' ver='ver7'/></iq>
<message to='sensor@example.com/s1' from='owner@example.com/app' type='normal' id='m2'><body>read</body><request xmlns='urn:xmpp:receipts'/></message>
<iq to='sensor@example.com/s1' type='get' id='sd1'><req xmlns='urn:ieee:iot:sd:1.0' id='S0001' momentary='true'/></iq>
<iq from='sensor@example.com/s1' type='result' id='sd1'><resp xmlns='urn:ieee:iot:sd:1.0' id='S0001' done='true'><nd id='Temp1'><ts v='2025-01-01T00:00:00Z'><numeric n='Temperature' v='21.5' u='C' m='true' ar='true'/></ts></nd></resp></iq>
<presence type='unavailable'/>
`

func BenchmarkDecoder(b *testing.B) {
	frames := strings.Count(benchBody, "\n")
	d := NewDecoder(io.MultiReader(strings.NewReader(header), &loopReader{data: []byte(benchBody)}), Limits{})
	if _, err := d.Next(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchBody) / frames))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecoderOneByte shows the cost of the worst read pattern.
func BenchmarkDecoderSmallReads(b *testing.B) {
	frames := strings.Count(benchBody, "\n")
	d := NewDecoder(io.MultiReader(strings.NewReader(header), &smallReader{&loopReader{data: []byte(benchBody)}}), Limits{})
	if _, err := d.Next(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchBody) / frames))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 7 {
		p = p[:7]
	}
	return s.r.Read(p)
}

const benchStanza = `<iq from='sensor@example.com/s1' type='result' id='sd1'><resp xmlns='urn:ieee:iot:sd:1.0' id='S0001' done='true'><nd id='Temp1'><ts v='2025-01-01T00:00:00Z'><numeric n='Temperature' v='21.5' u='C' m='true' ar='true'/></ts></nd></resp></iq>`

func BenchmarkParse(b *testing.B) {
	raw := []byte(benchStanza)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for range b.N {
		if _, err := Parse(raw, "jabber:client"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	e, err := Parse([]byte(benchStanza), "jabber:client")
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = e.Append(buf[:0], "jabber:client")
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkSetAttrs(b *testing.B) {
	raw := []byte(`<message to='juliet@example.com/balcony' from='mallory@evil.example/x' type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>`)
	var buf []byte
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for range b.N {
		buf = SetAttrs(buf[:0], raw, "from", "romeo@example.net/orchard", "-xml:lang", "")
	}
}

// BenchmarkEncodingXML is the reference: encoding/xml reading the same mix
// as tokens, without framing, checks or raw bytes.
func BenchmarkEncodingXML(b *testing.B) {
	data := []byte(header + strings.Repeat(benchBody, 100))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for range b.N {
		d := stdxml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Token(); err != nil {
				break
			}
		}
	}
}
