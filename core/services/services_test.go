package services

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/stanza"
)

type recorder struct{ routed []*stanza.Stanza }

func (r *recorder) Route(_ context.Context, s *stanza.Stanza) { r.routed = append(r.routed, s) }

// handler finds what Register installed for an iq, through the router so
// that the keys (type, namespace, name) are part of the test.
func answer(t *testing.T, cfg Config, raw string) *stanza.Stanza {
	t.Helper()
	rec := &recorder{}
	rt := router.New(router.Config{Hosts: []string{"localhost"}})
	Register(rec, rt.ServerMux(), rt.AccountMux(), cfg)
	s, err := stanza.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rt.Route(context.Background(), s)
	if len(rec.routed) != 1 {
		t.Fatalf("%d answers to %s", len(rec.routed), raw)
	}
	r := rec.routed[0]
	if r.Type != "result" || r.ID != s.ID || r.To != s.From || r.From != s.To {
		t.Fatalf("answer %s to %s", r.Raw, raw)
	}
	return r
}

func TestPing(t *testing.T) {
	for _, to := range []string{"localhost", "alice@localhost"} {
		r := answer(t, Config{}, "<iq from='alice@localhost/r' to='"+to+"' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
		if r.Payload.Local != "" {
			t.Fatalf("a pong has no payload (XEP-0199 §4.2): %s", r.Raw)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		wantOS bool
	}{{Config{Version: "1.2.3"}, true}, {Config{Version: "1.2.3", HideOS: true}, false}} {
		r := answer(t, tc.cfg, "<iq from='alice@localhost/r' to='localhost' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>")
		el, err := r.Element()
		if err != nil {
			t.Fatal(err)
		}
		q := el.Child(stanza.NSVersion, "query")
		if q == nil || q.Child(stanza.NSVersion, "name").Text != "Extasis" || q.Child(stanza.NSVersion, "version").Text != "1.2.3" {
			t.Fatalf("version answer %s", r.Raw)
		}
		osEl := q.Child(stanza.NSVersion, "os")
		if tc.wantOS != (osEl != nil) {
			t.Fatalf("HideOS=%v but the answer %s", tc.cfg.HideOS, r.Raw)
		}
		if osEl != nil && osEl.Text != runtime.GOOS+"/"+runtime.GOARCH {
			t.Fatalf("os %q", osEl.Text)
		}
	}
}

func TestTime(t *testing.T) {
	before := time.Now().UTC().Add(-time.Second)
	r := answer(t, Config{}, "<iq from='alice@localhost/r' to='localhost' type='get' id='t'><time xmlns='urn:xmpp:time'/></iq>")
	el, err := r.Element()
	if err != nil {
		t.Fatal(err)
	}
	q := el.Child(stanza.NSTime, "time")
	if q == nil || q.Child(stanza.NSTime, "tzo").Text != "+00:00" {
		t.Fatalf("time answer %s", r.Raw)
	}
	utc, err := time.Parse(time.RFC3339Nano, q.Child(stanza.NSTime, "utc").Text)
	if err != nil || utc.Before(before) || utc.After(time.Now().UTC().Add(time.Second)) {
		t.Fatalf("utc %q: %v", q.Child(stanza.NSTime, "utc").Text, err)
	}
}
