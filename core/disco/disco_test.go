package disco

import (
	"context"
	"slices"
	"testing"

	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// recorder is the Router disco answers through.
type recorder struct {
	routed []*stanza.Stanza
	errs   []stanza.Error
}

func (r *recorder) Route(_ context.Context, s *stanza.Stanza) { r.routed = append(r.routed, s) }

func (r *recorder) ReplyError(_ context.Context, _ *stanza.Stanza, e stanza.Error) {
	r.errs = append(r.errs, e)
}

func parse(t *testing.T, raw string) *stanza.Stanza {
	t.Helper()
	s, err := stanza.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFeaturesAndItems(t *testing.T) {
	d := New(&recorder{})
	if got := d.Features(); !slices.Equal(got, []string{stanza.NSDiscoInfo, stanza.NSDiscoItems}) {
		t.Fatalf("Features = %v", got)
	}
	rm1 := d.AddFeature("urn:xmpp:ping")
	rm2 := d.AddFeature("urn:xmpp:ping")
	rm1()
	rm1() // a second call must not withdraw the other registration
	if !slices.Contains(d.Features(), "urn:xmpp:ping") {
		t.Fatal("withdrawn while another registration holds it")
	}
	rm2()
	if slices.Contains(d.Features(), "urn:xmpp:ping") {
		t.Fatal("still advertised after every registration was withdrawn")
	}
	rmB := d.AddItem(Item{JID: "registry.localhost", Name: "Thing Registry"})
	d.AddItem(Item{JID: "billing.localhost"})
	if got := d.Items(); len(got) != 2 || got[0].JID != "billing.localhost" || got[1].Name != "Thing Registry" {
		t.Fatalf("Items = %v", got)
	}
	rmB()
	if got := d.Items(); len(got) != 1 {
		t.Fatalf("Items after removal = %v", got)
	}
}

// TestHandlers: what the server answers on its domain and on an account.
func TestHandlers(t *testing.T) {
	rec := &recorder{}
	d := New(rec)
	d.AddFeature("urn:xmpp:ping")
	d.AddItem(Item{JID: "registry.localhost", Name: "Registry"})
	server, account := router.NewMux(), router.NewMux()
	d.Register(server, account)
	for _, m := range []*router.Mux{server, account} {
		if ns := m.Namespaces(); !slices.Contains(ns, stanza.NSDiscoInfo) || !slices.Contains(ns, stanza.NSDiscoItems) {
			t.Fatalf("Register left out a namespace: %v", ns)
		}
	}
	for _, tc := range []struct {
		name, raw string
		handler   func(context.Context, *stanza.Stanza)
		want      string // pattern of the result's payload, "" for an error
		err       stanza.Condition
	}{
		{"server info", "<iq from='a@localhost/r' to='localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoInfo + "'/></iq>", d.serverInfo,
			"<query xmlns='" + stanza.NSDiscoInfo + "'><identity category='server' type='im' name='Extasis'/><feature var='" + stanza.NSDiscoInfo + "'/><feature var='" + stanza.NSDiscoItems + "'/><feature var='urn:xmpp:ping'/></query>", ""},
		{"server info node", "<iq from='a@localhost/r' to='localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoInfo + "' node='x'/></iq>", d.serverInfo, "", stanza.ItemNotFound},
		{"server items", "<iq from='a@localhost/r' to='localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoItems + "'/></iq>", d.serverItems,
			"<query xmlns='" + stanza.NSDiscoItems + "'><item jid='registry.localhost' name='Registry'/></query>", ""},
		{"server items node", "<iq from='a@localhost/r' to='localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoItems + "' node='x'/></iq>", d.serverItems, "", stanza.ItemNotFound},
		{"own account info", "<iq from='a@localhost/r' to='a@localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoInfo + "'/></iq>", d.accountInfo,
			"<query xmlns='" + stanza.NSDiscoInfo + "'><identity category='account' type='registered'/></query>", ""},
		{"other account info", "<iq from='a@localhost/r' to='b@localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoInfo + "'/></iq>", d.accountInfo, "", stanza.ServiceUnavailable},
		{"own account items", "<iq from='a@localhost/r' to='a@localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoItems + "'/></iq>", d.accountItems,
			"<query xmlns='" + stanza.NSDiscoItems + "'/>", ""},
		{"other account items", "<iq from='a@localhost/r' to='b@localhost' type='get' id='1'><query xmlns='" + stanza.NSDiscoItems + "'/></iq>", d.accountItems, "", stanza.ServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.routed, rec.errs = nil, nil
			tc.handler(context.Background(), parse(t, tc.raw))
			if tc.err != "" {
				if len(rec.errs) != 1 || rec.errs[0].Condition != tc.err || len(rec.routed) != 0 {
					t.Fatalf("errors %v, routed %d; want one %s", rec.errs, len(rec.routed), tc.err)
				}
				return
			}
			if len(rec.routed) != 1 || len(rec.errs) != 0 {
				t.Fatalf("routed %d, errors %v", len(rec.routed), rec.errs)
			}
			res := rec.routed[0]
			if res.Type != "result" || res.ID != "1" || res.To.String() != "a@localhost/r" {
				t.Fatalf("reply %s", res.Raw)
			}
			el, err := res.Element()
			if err != nil {
				t.Fatal(err)
			}
			want, err := xml.Parse([]byte(tc.want), "")
			if err != nil {
				t.Fatal(err)
			}
			if !contains(el.Children[0], want) {
				t.Fatalf("payload %s, want at least %s", res.Raw, tc.want)
			}
		})
	}
}

// contains reports whether got has want's name, attributes and, for each
// of want's children, one child that contains it.
func contains(got, want *xml.Element) bool {
	if got.Name != want.Name {
		return false
	}
	for _, a := range want.Attrs {
		if got.Attr(a.Name.Local) != a.Value {
			return false
		}
	}
	for _, wc := range want.Children {
		if !slices.ContainsFunc(got.Children, func(gc *xml.Element) bool { return contains(gc, wc) }) {
			return false
		}
	}
	return true
}
