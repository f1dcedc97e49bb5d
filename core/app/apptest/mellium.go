package apptest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Client is a mellium client session with every received top-level element
// collected.
type Client struct {
	*xmpp.Session
	JID  jid.JID
	In   chan *Element
	done chan error
}

// DialOptions select how a client connects.
type DialOptions struct {
	DirectTLS  bool             // XEP-0368 port instead of STARTTLS
	Mechanisms []sasl.Mechanism // default: SCRAM-SHA-256-PLUS, -256, -1
	Resource   string           // "" lets the server choose
}

// Dial logs in jidStr with mellium's client and starts collecting stanzas.
func (b *Broker) Dial(t testing.TB, jidStr, password string, o DialOptions) *Client {
	t.Helper()
	c, err := b.TryDial(jidStr, password, o)
	if err != nil {
		t.Fatalf("apptest: dial %s: %v", jidStr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TryDial is Dial returning the error (for tests of failures).
func (b *Broker) TryDial(jidStr, password string, o DialOptions) (*Client, error) {
	origin, err := jid.Parse(jidStr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	addr := b.C2S
	if o.DirectTLS {
		addr = b.DirectTLS
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	mechs := o.Mechanisms
	if len(mechs) == 0 {
		mechs = []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1}
	}
	var features []xmpp.StreamFeature
	tlsCfg := TLSConfig(origin.Domainpart())
	if o.DirectTLS {
		nc = tlsClient(nc, tlsCfg)
	} else {
		features = append(features, xmpp.StartTLS(tlsCfg))
	}
	// mellium v0.22's own bind feature writes an empty <resource/> whatever
	// it is asked for, so the harness binds with its own.
	features = append(features, xmpp.SASL("", password, mechs...), bindResource(o.Resource))
	sess, err := xmpp.NewClientSession(ctx, origin, nc, features...)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	c := &Client{Session: sess, JID: sess.LocalAddr(), In: make(chan *Element, 1024), done: make(chan error, 1)}
	go func() {
		c.done <- sess.Serve(xmpp.HandlerFunc(func(tr xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			el, err := elementFromTokens(tr, *start)
			if err != nil {
				return err
			}
			select {
			case c.In <- el:
			default:
			}
			return nil
		}))
	}()
	return c, nil
}

// elementFromTokens builds an Element from a start token and the tokens of
// its content, as mellium hands them to a handler.
func elementFromTokens(r xml.TokenReader, start xml.StartElement) (*Element, error) {
	e := &Element{Name: start.Name}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		e.Attr = append(e.Attr, a)
	}
	for {
		tok, err := r.Token()
		if errors.Is(err, io.EOF) && tok == nil {
			return e, nil
		}
		if err != nil && tok == nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := elementFromTokens(r, t)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.CharData:
			e.Text += string(t)
		case xml.EndElement:
			return e, nil
		}
		if err != nil {
			return e, nil
		}
	}
}

// bindResource is RFC 6120 §7 resource binding that asks for resource (""
// lets the server choose) and records the JID the server assigned.
func bindResource(resource string) xmpp.StreamFeature {
	name := xml.Name{Space: nsBind, Local: "bind"}
	return xmpp.StreamFeature{
		Name:       name,
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			iq := xml.StartElement{Name: xml.Name{Space: nsClient, Local: "iq"},
				Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "set"}, {Name: xml.Name{Local: "id"}, Value: "apptest-bind"}}}
			bind := xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}
			toks := []xml.Token{iq, bind}
			if resource != "" {
				res := xml.StartElement{Name: xml.Name{Local: "resource"}}
				toks = append(toks, res, xml.CharData(resource), res.End())
			}
			toks = append(toks, bind.End(), iq.End())
			w := s.TokenWriter()
			defer w.Close()
			for _, tok := range toks {
				if err := w.EncodeToken(tok); err != nil {
					return 0, nil, err
				}
			}
			if err := w.Flush(); err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			defer r.Close()
			d := xml.NewTokenDecoder(r)
			for {
				tok, err := d.Token()
				if err != nil {
					return 0, nil, err
				}
				start, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				el, err := readElement(d, start)
				if err != nil {
					return 0, nil, err
				}
				if el.AttrValue("id") != "apptest-bind" {
					return 0, nil, fmt.Errorf("apptest: want the bind result, got %s", el)
				}
				j := el.Child(nsBind, "bind")
				if el.AttrValue("type") != "result" || j == nil || j.Child(nsBind, "jid") == nil {
					return 0, nil, fmt.Errorf("apptest: bind failed: %s", el)
				}
				full, err := jid.Parse(strings.TrimSpace(j.Child(nsBind, "jid").Text))
				if err != nil {
					return 0, nil, err
				}
				s.UpdateAddr(full)
				return xmpp.Ready, nil, nil
			}
		},
	}
}

// SendRaw writes raw XML on the session.
func (c *Client) SendRaw(ctx context.Context, raw string) error {
	return c.Send(ctx, xml.NewDecoder(strings.NewReader(raw)))
}

// Expect waits for a received element matching pattern (Element.Match),
// skipping others, and returns it.
func (c *Client) Expect(t testing.TB, timeout time.Duration, pattern string) *Element {
	t.Helper()
	el, err := c.TryExpect(timeout, pattern)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// TryExpect is Expect returning the error.
func (c *Client) TryExpect(timeout time.Duration, pattern string) (*Element, error) {
	p, err := ParsePattern(pattern)
	if err != nil {
		return nil, err
	}
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case got := <-c.In:
			if p.Match(got) {
				return got, nil
			}
			seen = append(seen, got.String())
		case <-deadline:
			return nil, fmt.Errorf("apptest: %s: nothing matching %s within %s; got instead: %q", c.JID, p, timeout, seen)
		}
	}
}
