package stanza

import "testing"

var benchRaw = []byte(`<message from='echo.localhost' to='alice@localhost/phone' type='chat' id='m1'><body>hello there, this is a reply of about a hundred bytes from a plugin</body></message>`)

// BenchmarkParse is the cost of taking a stanza from a plugin or storage.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRaw)))
	for b.Loop() {
		if _, err := Parse(benchRaw); err != nil {
			b.Fatal(err)
		}
	}
}
