package apptest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"mellium.im/sasl"
)

// Transport is how a raw client reaches the broker.
type Transport string

// The transports the broker serves clients on.
const (
	StartTLS  Transport = "starttls"   // TCP, STARTTLS required (RFC 6120)
	DirectTLS Transport = "direct-tls" // TLS from the first byte (XEP-0368)
	WebSocket Transport = "websocket"  // RFC 7395 on the HTTP listener
)

// EventKind tells what a raw client read.
type EventKind int

// The kinds of Event.
const (
	EventOpen    EventKind = iota + 1 // a stream header (<stream:stream> or <open/>)
	EventElement                      // a complete top-level element
	EventClose                        // the stream's close tag (</stream:stream> or <close/>)
	EventEOF                          // the transport closed
)

func (k EventKind) String() string {
	switch k {
	case EventOpen:
		return "stream header"
	case EventElement:
		return "element"
	case EventClose:
		return "stream close tag"
	case EventEOF:
		return "connection closed"
	}
	return "nothing"
}

// Event is one thing a raw client read from the server.
type Event struct {
	Kind EventKind
	El   *Element // the element, or the stream header with its attributes
	Err  error    // EventEOF: what ended the transport (io.EOF for a clean close)
}

func (e Event) String() string {
	switch e.Kind {
	case EventOpen, EventElement:
		return e.Kind.String() + " " + e.El.String()
	case EventEOF:
		if e.Err != nil && !errors.Is(e.Err, io.EOF) {
			return e.Kind.String() + " (" + e.Err.Error() + ")"
		}
	}
	return e.Kind.String()
}

// RawConn is a client that speaks XMPP byte by byte: it sends exactly what
// it is told and reports every element the server sends, so that tests can
// check stream-level behaviour that real client libraries hide or refuse to
// produce. Reads are synchronous, each bounded by Timeout.
type RawConn struct {
	Transport Transport
	Domain    string
	JID       string        // bound full JID, after Bind
	Timeout   time.Duration // bound on each read; default 10s

	b      *Broker
	nc     net.Conn // TCP or TLS
	br     *bufio.Reader
	dec    *xml.Decoder
	inside bool // a stream header was read on dec
	ws     *websocket.Conn
	tls    *tls.ConnectionState
	peeked *Event
	eof    bool
	// afterOpen: a stream header was read and no element since, so the
	// stream features are still to come.
	afterOpen bool
	features  *Element // the last stream features read
}

// DialRaw connects a raw client; it sends nothing yet.
func (b *Broker) DialRaw(t testing.TB, tr Transport) *RawConn {
	t.Helper()
	c, err := b.TryDialRaw(tr)
	if err != nil {
		t.Fatalf("apptest: dial %s: %v", tr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TryDialRaw is DialRaw returning the error.
func (b *Broker) TryDialRaw(tr Transport) (*RawConn, error) {
	c := &RawConn{Transport: tr, Domain: b.Domain, b: b, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch tr {
	case StartTLS, DirectTLS:
		addr := b.C2S
		if tr == DirectTLS {
			addr = b.DirectTLS
		}
		nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		c.setConn(nc)
		if tr == DirectTLS {
			if err := c.handshake(); err != nil {
				_ = nc.Close()
				return nil, err
			}
		}
	case WebSocket:
		ws, resp, err := websocket.Dial(ctx, "ws://"+b.HTTP+"/xmpp-websocket", &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
		if err != nil {
			return nil, err
		}
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		ws.SetReadLimit(64 << 20)
		c.ws = ws
	default:
		return nil, fmt.Errorf("apptest: unknown transport %q", tr)
	}
	return c, nil
}

func (c *RawConn) setConn(nc net.Conn) {
	c.nc = nc
	c.br = bufio.NewReader(nc)
	c.newStream()
}

// newStream starts reading a new stream on the same bytes: after SASL
// success the old stream is replaced without a close tag (RFC 6120 §6.4.6).
func (c *RawConn) newStream() {
	c.dec = xml.NewDecoder(c.br)
	c.inside = false
}

func (c *RawConn) handshake() error {
	tc := tls.Client(c.nc, TLSConfig(c.Domain))
	_ = tc.SetDeadline(time.Now().Add(c.timeout()))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("apptest: TLS handshake: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	c.tls = &cs
	c.setConn(tc)
	return nil
}

func (c *RawConn) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

// Close closes the transport without ceremony.
func (c *RawConn) Close() error {
	if c.ws != nil {
		return c.ws.CloseNow()
	}
	return c.nc.Close()
}

// TLSState returns the TLS connection state, nil before TLS (and on
// WebSocket, where TLS is the HTTP server's).
func (c *RawConn) TLSState() *tls.ConnectionState { return c.tls }

// Send writes s as it is: on TCP as bytes of the stream, on WebSocket as one
// text message.
func (c *RawConn) Send(s string) error { return c.SendBytes([]byte(s)) }

// SendBytes writes b as it is.
func (c *RawConn) SendBytes(b []byte) error {
	if c.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout())
		defer cancel()
		return c.ws.Write(ctx, websocket.MessageText, b)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := c.nc.Write(b)
	return err
}

// Peek returns the next event without consuming it.
func (c *RawConn) Peek() (Event, error) {
	if c.peeked == nil {
		ev, err := c.read()
		if err != nil {
			return Event{}, err
		}
		c.peeked = &ev
	}
	return *c.peeked, nil
}

// Next returns the next event. An error means nothing arrived within
// Timeout or the server sent something that is not XML.
func (c *RawConn) Next() (Event, error) {
	if c.peeked != nil {
		ev := *c.peeked
		c.peeked = nil
		return ev, nil
	}
	return c.read()
}

func (c *RawConn) read() (Event, error) {
	if c.eof {
		return Event{Kind: EventEOF, Err: io.EOF}, nil
	}
	var ev Event
	var err error
	if c.ws != nil {
		ev, err = c.readWS()
	} else {
		ev, err = c.readTCP()
	}
	if err == nil {
		c.eof = ev.Kind == EventEOF
		c.afterOpen = ev.Kind == EventOpen
		if ev.Kind == EventElement && ev.El.Is(nsStream, "features") {
			c.features = ev.El
		}
	}
	return ev, err
}

func (c *RawConn) readWS() (Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout())
	defer cancel()
	typ, msg, err := c.ws.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Event{}, fmt.Errorf("apptest: nothing from the server within %s", c.timeout())
		}
		return Event{Kind: EventEOF, Err: err}, nil
	}
	if typ != websocket.MessageText {
		return Event{}, fmt.Errorf("apptest: RFC 7395 §3.2 wants text messages, got a binary one: %q", msg)
	}
	el, err := ParseElement(string(msg))
	if err != nil {
		return Event{}, fmt.Errorf("apptest: a WebSocket message is not one element (RFC 7395 §3.3.3): %w", err)
	}
	switch {
	case el.Is(nsFraming, "open"):
		return Event{Kind: EventOpen, El: el}, nil
	case el.Is(nsFraming, "close"):
		return Event{Kind: EventClose, El: el}, nil
	}
	return Event{Kind: EventElement, El: el}, nil
}

func (c *RawConn) readTCP() (Event, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout()))
	defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }()
	for {
		tok, err := c.dec.Token()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return Event{}, fmt.Errorf("apptest: nothing from the server within %s", c.timeout())
			}
			if isClosed(err) {
				return Event{Kind: EventEOF, Err: err}, nil
			}
			return Event{}, fmt.Errorf("apptest: the server sent malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !c.inside && t.Name.Space == nsStream && t.Name.Local == "stream" {
				c.inside = true
				el := &Element{Name: t.Name}
				for _, a := range t.Attr {
					if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
						el.Attr = append(el.Attr, a)
					}
				}
				return Event{Kind: EventOpen, El: el}, nil
			}
			el, err := readElement(c.dec, t)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return Event{}, fmt.Errorf("apptest: an element started but did not end within %s", c.timeout())
				}
				if isClosed(err) {
					return Event{Kind: EventEOF, Err: err}, nil
				}
				return Event{}, fmt.Errorf("apptest: the server sent malformed XML: %w", err)
			}
			if el.Is(nsSASL, "success") {
				c.newStream()
			}
			return Event{Kind: EventElement, El: el}, nil
		case xml.EndElement:
			c.inside = false
			return Event{Kind: EventClose}, nil
		}
	}
}

// isClosed reports whether a read error means the transport is gone.
func isClosed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) && se.Msg == "unexpected EOF" {
		return true
	}
	var ae tls.AlertError
	return errors.As(err, &ae)
}

// Expect reads the next event and fails unless it is an element matching
// pattern (see Element.Match). It returns the element. Stream features
// right after a stream header are skipped unless the pattern is features.
func (c *RawConn) Expect(pattern string) (*Element, error) {
	p, err := ParsePattern(pattern)
	if err != nil {
		return nil, err
	}
	if !p.Is(nsStream, "features") {
		if err := c.skipFeatures(); err != nil {
			return nil, err
		}
	}
	ev, err := c.Next()
	if err != nil {
		return nil, err
	}
	if ev.Kind != EventElement || !p.Match(ev.El) {
		return nil, fmt.Errorf("apptest: want %s, got %s", p, ev)
	}
	return ev.El, nil
}

// ExpectClosed reads until the transport closes: the stream close tag (on
// TCP, or <close/> on WebSocket) and then the end of the transport.
func (c *RawConn) ExpectClosed() error {
	ev, err := c.Next()
	if err != nil {
		return err
	}
	if ev.Kind == EventClose {
		if ev, err = c.Next(); err != nil {
			return err
		}
	}
	if ev.Kind != EventEOF {
		return fmt.Errorf("apptest: want the connection closed, got %s", ev)
	}
	return nil
}

// ExpectStreamError reads a stream error with the given condition, then
// the stream's close tag, then the end of the transport (RFC 6120 §4.9.1.1).
// A stream header may come first: a server that finds the error before it
// answered the client's header sends its own before the error (§4.9.1.2).
func (c *RawConn) ExpectStreamError(cond string) error {
	ev, err := c.Next()
	if err != nil {
		return err
	}
	if ev.Kind == EventOpen {
		if ev, err = c.Next(); err != nil {
			return err
		}
	}
	if ev.Kind != EventElement || !ev.El.Is(nsStream, "error") || !hasCondition(ev.El, cond) {
		return fmt.Errorf("apptest: want stream error <%s/>, got %s", cond, ev)
	}
	if ev, err = c.Next(); err != nil {
		return err
	}
	if ev.Kind != EventClose {
		return fmt.Errorf("apptest: want the stream's close tag after the stream error (RFC 6120 §4.9.1.1), got %s", ev)
	}
	if ev, err = c.Next(); err != nil {
		return err
	}
	if ev.Kind != EventEOF {
		return fmt.Errorf("apptest: want the connection closed after the stream error, got %s", ev)
	}
	return nil
}

// hasCondition reports whether a stream error carries cond, any
// condition for Wildcard.
func hasCondition(el *Element, cond string) bool {
	for _, c := range el.Children {
		if c.Name.Space == nsStreams && c.Name.Local != "text" && (cond == Wildcard || c.Name.Local == cond) {
			return true
		}
	}
	return false
}

// Header returns the stream header the client sends to open a stream to
// domain.
func (c *RawConn) Header(to string) string {
	if c.ws != nil {
		return "<open xmlns='" + nsFraming + "' to='" + to + "' version='1.0'/>"
	}
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' to='" + to + "' version='1.0'>"
}

// Open sends a stream header to the broker's domain and reads the server's
// header. The stream features stay unread.
func (c *RawConn) Open() error {
	if err := c.Send(c.Header(c.Domain)); err != nil {
		return err
	}
	ev, err := c.Next()
	if err != nil {
		return err
	}
	if ev.Kind != EventOpen {
		return fmt.Errorf("apptest: want the server's stream header, got %s", ev)
	}
	if from := ev.El.AttrValue("from"); from != c.Domain {
		return fmt.Errorf("apptest: the server's stream header has from=%q, want %q", from, c.Domain)
	}
	if id := ev.El.AttrValue("id"); id == "" {
		return errors.New("apptest: the server's stream header has no id (RFC 6120 §4.7.3)")
	}
	return nil
}

// Features reads the stream features.
func (c *RawConn) Features() (*Element, error) {
	ev, err := c.Next()
	if err != nil {
		return nil, err
	}
	if ev.Kind != EventElement || !ev.El.Is(nsStream, "features") {
		return nil, fmt.Errorf("apptest: want <stream:features/>, got %s", ev)
	}
	return ev.El, nil
}

// skipFeatures consumes the stream features if they are next.
func (c *RawConn) skipFeatures() error {
	if !c.afterOpen && c.peeked == nil {
		return nil
	}
	ev, err := c.Peek()
	if err != nil {
		return err
	}
	if ev.Kind == EventElement && ev.El.Is(nsStream, "features") {
		_, _ = c.Next()
	}
	return nil
}

// StartTLS negotiates TLS on a STARTTLS stream (features may still be
// unread) and leaves the client ready to open the encrypted stream.
func (c *RawConn) StartTLS() error {
	if err := c.skipFeatures(); err != nil {
		return err
	}
	if err := c.Send("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
		return err
	}
	if _, err := c.Expect("<proceed xmlns='" + nsTLS + "'/>"); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		return fmt.Errorf("apptest: the server sent %d bytes after <proceed/> before the TLS handshake", c.br.Buffered())
	}
	return c.handshake()
}

// Mechanism returns mellium's client side of a SASL mechanism by name.
func Mechanism(name string) (sasl.Mechanism, error) {
	for _, m := range []sasl.Mechanism{sasl.Plain, sasl.ScramSha1, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha256Plus} {
		if m.Name == name {
			return m, nil
		}
	}
	return sasl.Mechanism{}, fmt.Errorf("apptest: unknown SASL mechanism %q", name)
}

// Auth runs a SASL exchange with mellium's client side of mech (features
// may still be unread). It returns the <failure/> element as an error of
// type *AuthFailure when the server refuses.
func (c *RawConn) Auth(mech, user, password string) error {
	m, err := Mechanism(mech)
	if err != nil {
		return err
	}
	if err := c.skipFeatures(); err != nil {
		return err
	}
	opts := []sasl.Option{sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil })}
	if c.tls != nil {
		opts = append(opts, sasl.TLSState(*c.tls))
	}
	if c.features != nil {
		// mellium binds the channel only when the server offers -PLUS.
		var offered []string
		if ms := c.features.Child(nsSASL, "mechanisms"); ms != nil {
			for _, m := range ms.Children {
				offered = append(offered, strings.TrimSpace(m.Text))
			}
		}
		opts = append(opts, sasl.RemoteMechanisms(offered...))
	}
	cl := sasl.NewClient(m, opts...)
	_, resp, err := cl.Step(nil)
	if err != nil {
		return fmt.Errorf("apptest: %s client-first: %w", mech, err)
	}
	if err := c.Send("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" + b64(resp) + "</auth>"); err != nil {
		return err
	}
	for {
		ev, err := c.Next()
		if err != nil {
			return err
		}
		if ev.Kind != EventElement {
			return fmt.Errorf("apptest: during SASL: %s", ev)
		}
		el := ev.El
		data, derr := unb64(el.Text)
		switch {
		case el.Is(nsSASL, "challenge"):
			if derr != nil {
				return fmt.Errorf("apptest: challenge: %w", derr)
			}
			_, resp, err := cl.Step(data)
			if err != nil {
				return fmt.Errorf("apptest: %s: %w", mech, err)
			}
			if err := c.Send("<response xmlns='" + nsSASL + "'>" + b64(resp) + "</response>"); err != nil {
				return err
			}
		case el.Is(nsSASL, "success"):
			if derr != nil {
				return fmt.Errorf("apptest: success: %w", derr)
			}
			if len(data) > 0 {
				// SCRAM's server-final message: the server proves it knows
				// the verifier too.
				if _, _, err := cl.Step(data); err != nil {
					return fmt.Errorf("apptest: %s server signature: %w", mech, err)
				}
			}
			return nil
		case el.Is(nsSASL, "failure"):
			return &AuthFailure{El: el}
		default:
			return fmt.Errorf("apptest: during SASL: %s", ev)
		}
	}
}

// AuthFailure is a SASL <failure/> the server answered.
type AuthFailure struct{ El *Element }

// Condition returns the failure's condition element name.
func (f *AuthFailure) Condition() string {
	for _, c := range f.El.Children {
		if c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return ""
}

func (f *AuthFailure) Error() string { return "apptest: SASL failure " + f.El.String() }

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "=" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// Bind binds resource ("" lets the server choose) and records the JID.
func (c *RawConn) Bind(resource string) error {
	if err := c.skipFeatures(); err != nil {
		return err
	}
	req := "<iq type='set' id='bind-1'><bind xmlns='" + nsBind + "'/></iq>"
	if resource != "" {
		req = "<iq type='set' id='bind-1'><bind xmlns='" + nsBind + "'><resource>" + escape(resource) + "</resource></bind></iq>"
	}
	if err := c.Send(req); err != nil {
		return err
	}
	el, err := c.Expect("<iq type='result' id='bind-1'><bind xmlns='" + nsBind + "'><jid>{*}</jid></bind></iq>")
	if err != nil {
		return err
	}
	c.JID = strings.TrimSpace(el.Child(nsBind, "bind").Child(nsBind, "jid").Text)
	return nil
}

// Secure negotiates TLS where the transport needs it: on a STARTTLS
// connection it opens the stream and runs STARTTLS; direct TLS and
// WebSocket connections are secure already.
func (c *RawConn) Secure() error {
	if c.Transport != StartTLS {
		return nil
	}
	if err := c.Open(); err != nil {
		return err
	}
	return c.StartTLS()
}

// Login opens, secures, authenticates and binds a stream.
func (c *RawConn) Login(mech, user, password, resource string) error {
	steps := []func() error{c.Secure, c.Open,
		func() error { return c.Auth(mech, user, password) },
		c.Open,
		func() error { return c.Bind(resource) }}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}
