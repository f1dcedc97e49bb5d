package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/extasis/extasis/sdk/plugintest"
)

// BenchmarkRegister measures registrations through the whole plugin:
// gRPC exchange, XML parsing, tag rules, one SQLite transaction, reply.
func BenchmarkRegister(b *testing.B) {
	h := plugintest.New(b, newPlugin(), plugintest.Options{Timeout: 30 * time.Second})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Deliver(fmt.Sprintf(`<iq from='t%d@localhost/r' to='%s' type='set' id='b%d'><register xmlns='urn:nf:iot:disco:1.0'>`+
			`<str name='MAN' value='acme.example'/><str name='MODEL' value='EM-200'/><str name='SN' value='SN-%d'/>`+
			`<str name='CLASS' value='Meter'/><num name='LAT' value='59.3293'/><num name='LON' value='18.0686'/>`+
			`<num name='V' value='3.1'/><str name='KEY' value='k%d'/></register></iq>`, i, h.Address(), i, i, i))
		if s := h.Next(); s.Type != "result" {
			b.Fatalf("%s", s.Raw)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// BenchmarkSearch measures one indexed search through the whole plugin
// over 1000 public things.
func BenchmarkSearch(b *testing.B) {
	h := plugintest.New(b, newPlugin(), plugintest.Options{Timeout: 30 * time.Second, Config: map[string]any{"searches_per_minute": 1 << 30}})
	for i := range 1000 {
		h.Deliver(fmt.Sprintf(`<iq from='t%d@localhost/r' to='%s' type='set' id='r%d'><register xmlns='urn:nf:iot:disco:1.0' selfOwned='true'>`+
			`<str name='CLASS' value='Class%d'/><num name='LAT' value='%d'/></register></iq>`, i, h.Address(), i, i%10, i%180-90))
		h.Next()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Deliver(fmt.Sprintf(`<iq from='s@localhost/r' to='%s' type='get' id='s%d'><search xmlns='urn:nf:iot:disco:1.0' maxCount='10'>`+
			`<strEq name='CLASS' value='Class%d'/><numRange name='LAT' min='-10' max='10'/></search></iq>`, h.Address(), i, i%10))
		if s := h.Next(); s.Type != "result" {
			b.Fatalf("%s", s.Raw)
		}
	}
}
