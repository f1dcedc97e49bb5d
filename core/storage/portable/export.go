package portable

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Namespaces of the format.
const (
	NSPie      = "urn:xmpp:pie:0"
	NSScram    = "urn:xmpp:extasis:scram:0"
	NSRoster   = "jabber:iq:roster"
	NSClient   = "jabber:client"
	NSBlocking = "urn:xmpp:blocking"
)

// pageSize is how many accounts Export lists per query.
const pageSize = 500

// Export writes the users of domains (all domains when empty) to w.
func Export(ctx context.Context, s storage.Store, w io.Writer, domains []string) error {
	if len(domains) == 0 {
		var err error
		if domains, err = allDomains(ctx, s); err != nil {
			return err
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='" + NSPie + "'>\n")
	for _, d := range domains {
		if err := exportHost(ctx, s, bw, d); err != nil {
			return err
		}
	}
	bw.WriteString("</server-data>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("portable: write: %w", err)
	}
	return nil
}

func allDomains(ctx context.Context, s storage.Store) ([]string, error) {
	seen := map[string]bool{}
	after := ""
	for {
		page, err := s.ListAccounts(ctx, "", after, pageSize)
		if err != nil {
			return nil, fmt.Errorf("portable: list accounts: %w", err)
		}
		for _, j := range page {
			seen[j.Domain()] = true
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].String()
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

func exportHost(ctx context.Context, s storage.Store, w *bufio.Writer, domain string) error {
	w.WriteString("  <host jid='" + attr(domain) + "'>\n")
	after := ""
	for {
		page, err := s.ListAccounts(ctx, domain, after, pageSize)
		if err != nil {
			return fmt.Errorf("portable: list accounts of %s: %w", domain, err)
		}
		for _, j := range page {
			if err := exportUser(ctx, s, w, j); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].String()
	}
	w.WriteString("  </host>\n")
	return nil
}

func exportUser(ctx context.Context, s storage.Store, w *bufio.Writer, j jid.JID) error {
	a, err := s.Account(ctx, j)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted while exporting
	}
	if err != nil {
		return fmt.Errorf("portable: account %s: %w", j, err)
	}
	items, _, err := s.RosterItems(ctx, j)
	if err != nil {
		return fmt.Errorf("portable: roster of %s: %w", j, err)
	}
	msgs, err := s.OfflineMessages(ctx, j, 0)
	if err != nil {
		return fmt.Errorf("portable: offline messages of %s: %w", j, err)
	}
	reqs, err := s.SubscriptionRequests(ctx, j)
	if err != nil {
		return fmt.Errorf("portable: subscription requests of %s: %w", j, err)
	}
	blocked, err := s.BlockList(ctx, j)
	if err != nil {
		return fmt.Errorf("portable: block list of %s: %w", j, err)
	}

	w.WriteString("    <user name='" + attr(j.Local()) + "'>\n")
	for _, c := range a.Credentials {
		fmt.Fprintf(w, "      <scram-credentials xmlns='%s' hash='%s' salt='%s' iterations='%d' stored-key='%s' server-key='%s'/>\n",
			NSScram, attr(string(c.Hash)), b64(c.Salt), c.Iterations, b64(c.StoredKey), b64(c.ServerKey))
	}
	if len(items) > 0 {
		w.WriteString("      <query xmlns='" + NSRoster + "'>\n")
		for _, it := range items {
			w.WriteString("        <item jid='" + attr(it.Contact.String()) + "'")
			if it.Name != "" {
				w.WriteString(" name='" + attr(it.Name) + "'")
			}
			w.WriteString(" subscription='" + it.Subscription.String() + "'")
			if it.Ask {
				w.WriteString(" ask='subscribe'")
			}
			if it.Approved {
				w.WriteString(" approved='true'")
			}
			if len(it.Groups) == 0 {
				w.WriteString("/>\n")
				continue
			}
			w.WriteString(">")
			for _, g := range it.Groups {
				w.WriteString("<group>" + attr(g) + "</group>")
			}
			w.WriteString("</item>\n")
		}
		w.WriteString("      </query>\n")
	}
	if len(msgs) > 0 {
		w.WriteString("      <offline-messages>\n")
		for _, m := range msgs {
			raw, err := clientStanza(m.Raw, "")
			if err != nil {
				return fmt.Errorf("portable: offline message %d of %s: %w", m.ID, j, err)
			}
			w.WriteString("        ")
			w.Write(raw)
			w.WriteString("\n")
		}
		w.WriteString("      </offline-messages>\n")
	}
	for _, r := range reqs {
		raw, err := clientStanza(r.Raw, r.From.String())
		if err != nil {
			return fmt.Errorf("portable: subscription request from %s to %s: %w", r.From, j, err)
		}
		w.WriteString("      ")
		w.Write(raw)
		w.WriteString("\n")
	}
	if len(blocked) > 0 {
		w.WriteString("      <blocklist xmlns='" + NSBlocking + "'>")
		for _, b := range blocked {
			w.WriteString("<item jid='" + attr(b.String()) + "'/>")
		}
		w.WriteString("</blocklist>\n")
	}
	w.WriteString("    </user>\n")
	return nil
}

// clientStanza checks that raw is one well-formed element and returns it
// with xmlns='jabber:client' on its top element when it has no namespace,
// and with from=from when from is set and raw has no from attribute. The
// rest of the bytes are kept as they are.
func clientStanza(raw []byte, from string) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("not a well-formed stanza: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			start = se
			break
		}
		if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
			return nil, errors.New("not a well-formed stanza: content before the element")
		}
	}
	if err := d.Skip(); err != nil {
		return nil, fmt.Errorf("not a well-formed stanza: %w", err)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a well-formed stanza: %w", err)
		}
		if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
			return nil, errors.New("not a well-formed stanza: more than one element")
		}
	}
	var insert string
	if start.Name.Space == "" {
		insert += " xmlns='" + NSClient + "'"
	}
	if from != "" {
		has := false
		for _, a := range start.Attr {
			if a.Name.Local == "from" && a.Name.Space == "" {
				has = true
			}
		}
		if !has {
			insert += " from='" + attr(from) + "'"
		}
	}
	if insert == "" {
		return raw, nil
	}
	lt := bytes.IndexByte(raw, '<')
	end := lt + 1
	for end < len(raw) && !isNameEnd(raw[end]) {
		end++
	}
	out := make([]byte, 0, len(raw)+len(insert))
	out = append(out, raw[:end]...)
	out = append(out, insert...)
	return append(out, raw[end:]...), nil
}

func isNameEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == '>'
}

// attr escapes s for an attribute value or text.
func attr(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
