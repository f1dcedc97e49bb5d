package portable

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/storage"
)

// Stats counts what Import wrote, and what it skipped.
type Stats struct {
	Hosts                int
	Users                int
	Credentials          int
	RosterItems          int
	OfflineMessages      int
	SubscriptionRequests int
	BlockedItems         int
	// Skipped counts elements of namespaces extasis does not keep
	// (vCards, private XML, PEP nodes...).
	Skipped int
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Iterations is the PBKDF2 count of verifiers derived from a
	// 'password' attribute (default sasl.DefaultIterations).
	Iterations int
}

// Import reads a XEP-0227 document from r into s and returns what it
// wrote. Every user is created; a user that already exists is an error
// (wrapping storage.ErrExists) and stops the import, leaving the users
// before it imported. The whole document is read into memory first so that
// stored stanzas can be kept byte for byte.
func Import(ctx context.Context, s storage.Store, r io.Reader) (Stats, error) {
	return ImportWith(ctx, s, r, ImportOptions{})
}

// ImportWith is Import with options.
func ImportWith(ctx context.Context, s storage.Store, r io.Reader, opts ImportOptions) (Stats, error) {
	if opts.Iterations <= 0 {
		opts.Iterations = sasl.DefaultIterations
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return Stats{}, fmt.Errorf("portable: read: %w", err)
	}
	im := importer{ctx: ctx, s: s, data: data, d: xml.NewDecoder(bytes.NewReader(data)), opts: opts}
	err = im.run()
	return im.stats, err
}

type importer struct {
	ctx   context.Context
	s     storage.Store
	data  []byte
	d     *xml.Decoder
	opts  ImportOptions
	stats Stats
}

// user is one <user> read completely, since credentials may follow the
// roster in document order and the account must exist first.
type user struct {
	jid      jid.JID
	password string
	creds    []storage.Credential
	items    []storage.RosterItem
	offline  [][]byte
	requests []storage.SubscriptionRequest
	blocked  []jid.JID
}

// next returns the next start or end element, skipping whitespace,
// comments and processing instructions, and the offset where it began.
func (im *importer) next() (xml.Token, int64, error) {
	for {
		off := im.d.InputOffset()
		tok, err := im.d.Token()
		if err != nil {
			return nil, 0, err
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, off, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, 0, fmt.Errorf("portable: unexpected text at byte %d", off)
			}
		}
	}
}

func (im *importer) run() error {
	tok, _, err := im.next()
	if err != nil {
		return fmt.Errorf("portable: not a XEP-0227 document: %w", err)
	}
	root, ok := tok.(xml.StartElement)
	if !ok || root.Name.Space != NSPie || root.Name.Local != "server-data" {
		return fmt.Errorf("portable: not a XEP-0227 document: root element is not <server-data xmlns='%s'>", NSPie)
	}
	for {
		tok, _, err := im.next()
		if err != nil {
			return fmt.Errorf("portable: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Space == NSPie && t.Name.Local == "host" {
				if err := im.host(t); err != nil {
					return err
				}
				continue
			}
			im.stats.Skipped++
			if err := im.d.Skip(); err != nil {
				return fmt.Errorf("portable: %w", err)
			}
		}
	}
}

func attrOf(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (im *importer) host(se xml.StartElement) error {
	domain, _ := attrOf(se, "jid")
	if _, err := jid.Domain(domain); err != nil {
		return fmt.Errorf("portable: host jid %q: %w", domain, err)
	}
	im.stats.Hosts++
	for {
		tok, _, err := im.next()
		if err != nil {
			return fmt.Errorf("portable: host %s: %w", domain, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Space == NSPie && t.Name.Local == "user" {
				u, err := im.user(t, domain)
				if err != nil {
					return err
				}
				if err := im.store(u); err != nil {
					return err
				}
				continue
			}
			im.stats.Skipped++
			if err := im.d.Skip(); err != nil {
				return fmt.Errorf("portable: %w", err)
			}
		}
	}
}

func (im *importer) user(se xml.StartElement, domain string) (*user, error) {
	name, _ := attrOf(se, "name")
	j, err := jid.New(name, domain, "")
	if err != nil || name == "" {
		return nil, fmt.Errorf("portable: user %q of %s: not a valid localpart", name, domain)
	}
	u := &user{jid: j}
	u.password, _ = attrOf(se, "password")
	for {
		tok, off, err := im.next()
		if err != nil {
			return nil, fmt.Errorf("portable: user %s: %w", j, err)
		}
		var t xml.StartElement
		switch tt := tok.(type) {
		case xml.EndElement:
			return u, nil
		case xml.StartElement:
			t = tt
		}
		switch {
		case t.Name.Space == NSScram && t.Name.Local == "scram-credentials":
			c, err := scramCredential(t)
			if err != nil {
				return nil, fmt.Errorf("portable: user %s: %w", j, err)
			}
			u.creds = append(u.creds, c)
			err = im.d.Skip()
		case t.Name.Space == NSRoster && t.Name.Local == "query":
			err = im.roster(u, &t)
		case t.Name.Space == NSPie && t.Name.Local == "offline-messages":
			err = im.offline(u)
		case t.Name.Space == NSClient && t.Name.Local == "presence":
			err = im.request(u, t, off)
		case t.Name.Space == NSBlocking && t.Name.Local == "blocklist":
			err = im.blocklist(u, &t)
		default:
			im.stats.Skipped++
			err = im.d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("portable: user %s: %w", j, err)
		}
	}
}

func scramCredential(se xml.StartElement) (storage.Credential, error) {
	var c storage.Credential
	h, _ := attrOf(se, "hash")
	c.Hash = storage.Hash(h)
	it, _ := attrOf(se, "iterations")
	n, err := strconv.Atoi(it)
	if err != nil || n <= 0 {
		return c, fmt.Errorf("scram-credentials %s: iterations %q", h, it)
	}
	c.Iterations = n
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"salt", &c.Salt}, {"stored-key", &c.StoredKey}, {"server-key", &c.ServerKey}} {
		v, _ := attrOf(se, f.name)
		if *f.dst, err = base64.StdEncoding.DecodeString(v); err != nil || len(*f.dst) == 0 {
			return c, fmt.Errorf("scram-credentials %s: %s is not base64", h, f.name)
		}
	}
	return c, nil
}

type rosterQuery struct {
	Items []struct {
		JID          string   `xml:"jid,attr"`
		Name         string   `xml:"name,attr"`
		Subscription string   `xml:"subscription,attr"`
		Ask          string   `xml:"ask,attr"`
		Approved     string   `xml:"approved,attr"`
		Groups       []string `xml:"group"`
	} `xml:"item"`
}

func (im *importer) roster(u *user, se *xml.StartElement) error {
	var q rosterQuery
	if err := im.d.DecodeElement(&q, se); err != nil {
		return err
	}
	for _, it := range q.Items {
		c, err := jid.Parse(it.JID)
		if err != nil {
			return fmt.Errorf("roster item %q: %w", it.JID, err)
		}
		sub := storage.None
		if it.Subscription != "" {
			var ok bool
			if sub, ok = storage.ParseSubscription(it.Subscription); !ok {
				return fmt.Errorf("roster item %s: subscription %q", it.JID, it.Subscription)
			}
		}
		u.items = append(u.items, storage.RosterItem{
			Contact: c.Bare(), Name: it.Name, Groups: it.Groups, Subscription: sub,
			Ask: it.Ask == "subscribe", Approved: it.Approved == "true" || it.Approved == "1",
		})
	}
	return nil
}

// raw returns the bytes of the element that started at off, which the
// decoder has just returned, and moves past its end.
func (im *importer) raw(off int64) ([]byte, error) {
	if err := im.d.Skip(); err != nil {
		return nil, err
	}
	return unclient(im.data[off:im.d.InputOffset()]), nil
}

func (im *importer) offline(u *user) error {
	for {
		tok, off, err := im.next()
		if err != nil {
			return err
		}
		if _, ok := tok.(xml.EndElement); ok {
			return nil
		}
		b, err := im.raw(off)
		if err != nil {
			return err
		}
		u.offline = append(u.offline, b)
	}
}

func (im *importer) request(u *user, se xml.StartElement, off int64) error {
	typ, _ := attrOf(se, "type")
	from, _ := attrOf(se, "from")
	b, err := im.raw(off)
	if err != nil {
		return err
	}
	if typ != "subscribe" {
		im.stats.Skipped++
		return nil
	}
	f, err := jid.Parse(from)
	if err != nil {
		return fmt.Errorf("subscription request from %q: %w", from, err)
	}
	u.requests = append(u.requests, storage.SubscriptionRequest{From: f.Bare(), Raw: b})
	return nil
}

func (im *importer) blocklist(u *user, se *xml.StartElement) error {
	var bl struct {
		Items []struct {
			JID string `xml:"jid,attr"`
		} `xml:"item"`
	}
	if err := im.d.DecodeElement(&bl, se); err != nil {
		return err
	}
	for _, it := range bl.Items {
		j, err := jid.Parse(it.JID)
		if err != nil {
			return fmt.Errorf("blocked %q: %w", it.JID, err)
		}
		u.blocked = append(u.blocked, j)
	}
	return nil
}

// clientDecl is the declaration export adds; see clientStanza.
var clientDecl = []byte(" xmlns='" + NSClient + "'")

// unclient removes a default jabber:client declaration from the top
// element of a stanza, written with either quote, so that the stored bytes
// are those of a stanza inside a client stream.
func unclient(raw []byte) []byte {
	end := bytes.IndexByte(raw, '>')
	if end < 0 {
		return raw
	}
	for _, decl := range [][]byte{clientDecl, []byte(` xmlns="` + NSClient + `"`)} {
		if i := bytes.Index(raw[:end], decl); i >= 0 {
			out := make([]byte, 0, len(raw)-len(decl))
			out = append(out, raw[:i]...)
			return append(out, raw[i+len(decl):]...)
		}
	}
	return raw
}

func (im *importer) store(u *user) error {
	creds := u.creds
	if len(creds) == 0 && u.password != "" {
		for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
			c, err := sasl.NewCredentials(h, u.password, im.opts.Iterations)
			if err != nil {
				return fmt.Errorf("portable: user %s: password: %w", u.jid, err)
			}
			creds = append(creds, storage.Credential{
				Hash: storage.Hash(c.Hash), Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey,
			})
		}
	}
	ctx := im.ctx
	if err := im.s.CreateAccount(ctx, storage.Account{JID: u.jid, Credentials: creds}); err != nil {
		return fmt.Errorf("portable: user %s: %w", u.jid, err)
	}
	im.stats.Users++
	im.stats.Credentials += len(creds)
	for _, it := range u.items {
		if _, err := im.s.PutRosterItem(ctx, u.jid, it, 0); err != nil {
			return fmt.Errorf("portable: user %s: roster item %s: %w", u.jid, it.Contact, err)
		}
		im.stats.RosterItems++
	}
	for _, m := range u.offline {
		if _, err := im.s.StoreOffline(ctx, u.jid, m, 0); err != nil {
			return fmt.Errorf("portable: user %s: offline message: %w", u.jid, err)
		}
		im.stats.OfflineMessages++
	}
	// The format has no reception time; consecutive instants keep the
	// document's order, which export wrote oldest first.
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i, r := range u.requests {
		r.Received = base.Add(time.Duration(i) * time.Microsecond)
		if err := im.s.AddSubscriptionRequest(ctx, u.jid, r); err != nil {
			return fmt.Errorf("portable: user %s: subscription request from %s: %w", u.jid, r.From, err)
		}
		im.stats.SubscriptionRequests++
	}
	if len(u.blocked) > 0 {
		if err := im.s.Block(ctx, u.jid, u.blocked); err != nil {
			return fmt.Errorf("portable: user %s: block list: %w", u.jid, err)
		}
		im.stats.BlockedItems += len(u.blocked)
	}
	return nil
}
