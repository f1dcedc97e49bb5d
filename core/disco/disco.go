package disco

import (
	"context"
	"slices"
	"sync"

	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// Item is one entry of the domain's disco#items.
type Item struct {
	JID  string
	Name string
}

// Router is what disco needs from the router.
type Router interface {
	Route(ctx context.Context, s *stanza.Stanza)
	ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error)
}

// Disco holds the server's features and items.
type Disco struct {
	r        Router
	mu       sync.RWMutex
	features map[string]int
	items    map[string]Item
}

// New returns a Disco with the features every server has.
func New(r Router) *Disco {
	d := &Disco{r: r, features: map[string]int{}, items: map[string]Item{}}
	for _, f := range []string{stanza.NSDiscoInfo, stanza.NSDiscoItems} {
		d.features[f] = 1
	}
	return d
}

// AddFeature advertises a feature on the server's domains; the returned
// function withdraws it.
func (d *Disco) AddFeature(f string) (remove func()) {
	d.mu.Lock()
	d.features[f]++
	d.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			if d.features[f]--; d.features[f] <= 0 {
				delete(d.features, f)
			}
			d.mu.Unlock()
		})
	}
}

// AddItem lists a service address in the domain's disco#items.
func (d *Disco) AddItem(it Item) (remove func()) {
	d.mu.Lock()
	d.items[it.JID] = it
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.items, it.JID)
		d.mu.Unlock()
	}
}

// Features returns the advertised features, sorted.
func (d *Disco) Features() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.features))
	for f := range d.features {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Items returns the listed services, sorted by JID.
func (d *Disco) Items() []Item {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Item, 0, len(d.items))
	for _, it := range d.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int {
		if a.JID < b.JID {
			return -1
		}
		if a.JID > b.JID {
			return 1
		}
		return 0
	})
	return out
}

// Register installs the handlers on the server and account muxes.
func (d *Disco) Register(server, account *router.Mux) {
	server.HandleFunc("get", stanza.NSDiscoInfo, "query", d.serverInfo)
	server.HandleFunc("get", stanza.NSDiscoItems, "query", d.serverItems)
	account.HandleFunc("get", stanza.NSDiscoInfo, "query", d.accountInfo)
	account.HandleFunc("get", stanza.NSDiscoItems, "query", d.accountItems)
}

func node(s *stanza.Stanza) (string, bool) {
	el, err := s.Element()
	if err != nil {
		return "", false
	}
	q := el.Child(s.Payload.Space, "query")
	if q == nil {
		return "", false
	}
	return q.Attr("node"), true
}

func (d *Disco) serverInfo(ctx context.Context, s *stanza.Stanza) {
	n, ok := node(s)
	if !ok {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.BadRequest})
		return
	}
	if n != "" {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	q := xml.New(stanza.NSDiscoInfo, "query")
	q.Add(xml.New(stanza.NSDiscoInfo, "identity", "category", "server", "type", "im", "name", "Extasis"))
	for _, f := range d.Features() {
		q.Add(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	d.r.Route(ctx, s.Result(q.Append(nil, "")))
}

func (d *Disco) serverItems(ctx context.Context, s *stanza.Stanza) {
	n, ok := node(s)
	if !ok {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.BadRequest})
		return
	}
	if n != "" {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	q := xml.New(stanza.NSDiscoItems, "query")
	for _, it := range d.Items() {
		e := xml.New(stanza.NSDiscoItems, "item", "jid", it.JID)
		if it.Name != "" {
			e.SetAttr("name", it.Name)
		}
		q.Add(e)
	}
	d.r.Route(ctx, s.Result(q.Append(nil, "")))
}

// accountInfo answers for the account itself; to anyone else the account
// is opaque (no presence of an account is revealed).
func (d *Disco) accountInfo(ctx context.Context, s *stanza.Stanza) {
	if s.From.Bare() != s.To.Bare() {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
		return
	}
	q := xml.New(stanza.NSDiscoInfo, "query")
	q.Add(xml.New(stanza.NSDiscoInfo, "identity", "category", "account", "type", "registered"))
	q.Add(xml.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoInfo))
	q.Add(xml.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoItems))
	d.r.Route(ctx, s.Result(q.Append(nil, "")))
}

func (d *Disco) accountItems(ctx context.Context, s *stanza.Stanza) {
	if s.From.Bare() != s.To.Bare() {
		d.r.ReplyError(ctx, s, stanza.Error{Condition: stanza.ServiceUnavailable})
		return
	}
	d.r.Route(ctx, s.Result([]byte("<query xmlns='"+stanza.NSDiscoItems+"'/>")))
}
