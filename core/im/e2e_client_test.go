package im_test

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
	"github.com/extasis/extasis/core/xml"
)

// xc is a raw XMPP client for the end-to-end tests: it speaks the wire
// protocol itself (STARTTLS, SASL PLAIN, bind or XEP-0198 resume) so that
// the tests see every byte a library would hide, and it can die the way
// real devices do (socket closed without a stream end, or going silent).
type xc struct {
	t    testing.TB
	b    *apptest.Broker
	user string // bare JID
	pass string
	nc   net.Conn
	dec  *xml.Decoder
	JID  string // bound full JID

	in      chan string // top-level elements after negotiation
	backlog []string    // received, not yet matched by expect
	handled atomic.Uint32
	autoAck atomic.Bool // answer <r/> with the count of stanzas read
	silent  atomic.Bool
	smID    string
	done    chan struct{}
	mu      sync.Mutex
	closed  bool
}

type xcOptions struct {
	Resource string
	// SM enables XEP-0198 with resumption before anything else is sent.
	SM bool
	// NoAutoAck leaves <r/> unanswered: nothing is acknowledged.
	NoAutoAck bool
	// Silent answers nothing at all, not even the server's pings: a
	// device whose link died without the TCP connection closing.
	Silent bool
}

func dial(t testing.TB, b *apptest.Broker, user, pass string, o xcOptions) *xc {
	t.Helper()
	c, err := tryDial(t, b, user, pass, o, "")
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(c.kill)
	return c
}

// connect runs the stream up to SASL success and the restarted stream.
func connect(b *apptest.Broker, user, pass string) (net.Conn, *xml.Decoder, error) {
	raw, err := net.DialTimeout("tcp", b.C2S, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
	domain := b.Domain
	header := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='" + domain + "'>"
	dec := xml.NewDecoder(raw, xml.Limits{})
	fail := func(err error) (net.Conn, *xml.Decoder, error) { raw.Close(); return nil, nil, err }
	if _, err := io.WriteString(raw, header); err != nil {
		return fail(err)
	}
	if _, err := expectFrame(dec, "features"); err != nil {
		return fail(err)
	}
	io.WriteString(raw, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if _, err := expectFrame(dec, "proceed"); err != nil {
		return fail(err)
	}
	tc := tls.Client(raw, apptest.TLSConfig(domain))
	if err := tc.Handshake(); err != nil {
		return fail(err)
	}
	dec = xml.NewDecoder(tc, xml.Limits{})
	io.WriteString(tc, header)
	if _, err := expectFrame(dec, "features"); err != nil {
		return fail(err)
	}
	local := user[:strings.IndexByte(user, '@')]
	io.WriteString(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+
		base64.StdEncoding.EncodeToString([]byte("\x00"+local+"\x00"+pass))+"</auth>")
	if _, err := expectFrame(dec, "success"); err != nil {
		return fail(err)
	}
	dec.Restart()
	io.WriteString(tc, header)
	if _, err := expectFrame(dec, "features"); err != nil {
		return fail(err)
	}
	return tc, dec, nil
}

// tryDial logs in; with previd it resumes that XEP-0198 session instead
// of binding, acknowledging h stanzas.
func tryDial(t testing.TB, b *apptest.Broker, user, pass string, o xcOptions, previd string, h ...uint32) (*xc, error) {
	nc, dec, err := connect(b, user, pass)
	if err != nil {
		return nil, err
	}
	c := &xc{t: t, b: b, user: user, pass: pass, nc: nc, dec: dec, in: make(chan string, 4096), done: make(chan struct{})}
	c.autoAck.Store(!o.NoAutoAck && !o.Silent)
	c.silent.Store(o.Silent)
	if previd != "" {
		c.smID = previd
		io.WriteString(nc, "<resume xmlns='urn:xmpp:sm:3' previd='"+previd+"' h='"+strconv.FormatUint(uint64(h[0]), 10)+"'/>")
		f, err := expectFrame(dec, "")
		if err != nil {
			nc.Close()
			return nil, err
		}
		if f.Name.Local != "resumed" {
			nc.Close()
			return nil, fmt.Errorf("resume: %s", f.Raw)
		}
		c.handled.Store(h[0])
	} else {
		res := ""
		if o.Resource != "" {
			res = "<resource>" + o.Resource + "</resource>"
		}
		io.WriteString(nc, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"+res+"</bind></iq>")
		f, err := expectFrame(dec, "iq")
		if err != nil {
			nc.Close()
			return nil, err
		}
		el, err := xml.Parse(f.Raw, "jabber:client")
		if err != nil || el.Attr("type") != "result" {
			nc.Close()
			return nil, fmt.Errorf("bind: %s", f.Raw)
		}
		c.JID = el.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind").Child("urn:ietf:params:xml:ns:xmpp-bind", "jid").Text
		if o.SM {
			io.WriteString(nc, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
			f, err := expectFrame(dec, "enabled")
			if err != nil {
				nc.Close()
				return nil, err
			}
			id, _ := f.Attr("id")
			c.smID = string(id)
		}
	}
	_ = nc.SetDeadline(time.Time{})
	go c.read()
	return c, nil
}

func expectFrame(dec *xml.Decoder, local string) (xml.Frame, error) {
	for {
		f, err := dec.Next()
		if err != nil {
			return f, err
		}
		if f.Kind == xml.StreamOpen {
			continue
		}
		if local == "" || f.Name.Local == local {
			return f, nil
		}
		if f.Name.Local == "failure" || f.Name.Local == "failed" || f.Name.Local == "error" {
			return f, fmt.Errorf("got %s", f.Raw)
		}
	}
}

func (c *xc) read() {
	defer close(c.done)
	for {
		f, err := c.dec.Next()
		if err != nil {
			return
		}
		if f.Kind == xml.StreamOpen {
			continue
		}
		if f.Kind != xml.TopElement {
			return
		}
		raw := string(f.Raw)
		if f.Name.Space == "urn:xmpp:sm:3" {
			if f.Name.Local == "r" && c.autoAck.Load() {
				c.write("<a xmlns='urn:xmpp:sm:3' h='" + strconv.FormatUint(uint64(c.handled.Load()), 10) + "'/>")
			}
			continue
		}
		switch f.Name.Local {
		case "message", "presence", "iq":
			c.handled.Add(1)
			if f.Name.Local == "iq" && strings.Contains(raw, "urn:xmpp:ping") && strings.Contains(raw, "type='get'") && !c.silent.Load() {
				el, _ := xml.Parse(f.Raw, "jabber:client")
				c.write("<iq type='result' id='" + string(xml.EscapeAttr(nil, el.Attr("id"))) + "' to='" + el.Attr("from") + "'/>")
				continue
			}
		}
		c.in <- raw
	}
}

func (c *xc) write(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c.nc, s)
}

// send writes raw XML.
func (c *xc) send(s string) { c.write(s) }

// ack acknowledges every stanza read so far.
func (c *xc) ack() {
	c.write("<a xmlns='urn:xmpp:sm:3' h='" + strconv.FormatUint(uint64(c.handled.Load()), 10) + "'/>")
}

// kill closes the socket without a stream end, as a dying device does.
func (c *xc) kill() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.nc.Close()
	}
	c.mu.Unlock()
}

// close ends the stream cleanly.
func (c *xc) close() {
	c.write("</stream:stream>")
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	c.kill()
}

// expect waits for an element containing every substring. Elements that
// do not match stay for later expectations.
func (c *xc) expect(timeout time.Duration, want ...string) string {
	c.t.Helper()
	s, err := c.tryExpect(timeout, want...)
	if err != nil {
		c.t.Fatalf("%s: %v", c.user, err)
	}
	return s
}

var errTimeout = errors.New("timeout")

func matches(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func (c *xc) tryExpect(timeout time.Duration, want ...string) (string, error) {
	for i, s := range c.backlog {
		if matches(s, want) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			return s, nil
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case s := <-c.in:
			if matches(s, want) {
				return s, nil
			}
			c.backlog = append(c.backlog, s)
		case <-deadline:
			return "", fmt.Errorf("%w: nothing matching %q within %s; holding:\n%s", errTimeout, want, timeout, strings.Join(c.backlog, "\n"))
		}
	}
}

// next returns the next element, from the backlog first.
func (c *xc) next(timeout time.Duration) (string, bool) {
	if len(c.backlog) > 0 {
		s := c.backlog[0]
		c.backlog = c.backlog[1:]
		return s, true
	}
	select {
	case s := <-c.in:
		return s, true
	case <-time.After(timeout):
		return "", false
	}
}

// collect returns what is held and what arrives within d.
func (c *xc) collect(d time.Duration) []string {
	out := c.backlog
	c.backlog = nil
	deadline := time.After(d)
	for {
		select {
		case s := <-c.in:
			out = append(out, s)
		case <-deadline:
			return out
		}
	}
}

// sync sends a ping to the server and waits for its answer, so that
// everything sent before has been processed.
func (c *xc) sync() {
	c.t.Helper()
	id := "sync" + strconv.Itoa(int(time.Now().UnixNano()%1e9))
	c.send("<iq type='get' id='" + id + "' to='" + c.b.Domain + "'><ping xmlns='urn:xmpp:ping'/></iq>")
	c.expect(10*time.Second, "id='"+id+"'")
}

// roster fetches the roster and returns the result element.
func (c *xc) roster() *xml.Element {
	c.t.Helper()
	id := "r" + strconv.Itoa(int(time.Now().UnixNano()%1e9))
	c.send("<iq type='get' id='" + id + "'><query xmlns='jabber:iq:roster'/></iq>")
	s := c.expect(10*time.Second, "id='"+id+"'")
	el, err := xml.Parse([]byte(s), "jabber:client")
	if err != nil {
		c.t.Fatal(err)
	}
	return el
}

// subscription returns the roster item of contact as "sub[+ask][+approved]",
// or "absent".
func (c *xc) subscription(contact string) string {
	c.t.Helper()
	q := c.roster().Child("jabber:iq:roster", "query")
	if q == nil {
		c.t.Fatal("roster result without query")
	}
	for _, it := range q.ChildrenNamed("jabber:iq:roster", "item") {
		if it.Attr("jid") == contact {
			s := it.Attr("subscription")
			if it.Attr("ask") == "subscribe" {
				s += "+ask"
			}
			if it.Attr("approved") == "true" {
				s += "+approved"
			}
			return s
		}
	}
	return "absent"
}
