package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/sasl"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

const headerPrefix = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"

// maxAuthAttempts is how many SASL failures one stream may have before it
// is closed (RFC 6120 §6.4.5 asks for at least two retries).
const maxAuthAttempts = 3

// conn is one client transport (TCP or WebSocket). The read loop runs in
// serve's goroutine; writes go through out, which outlives the transport
// when stream management keeps the session for resumption.
type conn struct {
	srv    *Server
	nc     net.Conn
	ws     bool // RFC 7395 framing
	remote net.Addr
	dec    *xml.Decoder
	ctx    context.Context
	cancel context.CancelFunc
	// work is the context of the stanzas this stream has read: not
	// cancelled when the transport dies (a failed write, a timeout, a
	// replacing session, shutdown), so that what the server has read is
	// processed to the end - a message to an offline contact is stored, a
	// subscription recorded. Every call it reaches is bounded on its own
	// (storage calls by their timeout, policies by their evaluation time).
	work context.Context

	secure   bool // TLS (or a WebSocket the operator declared secure)
	tlsState *tls.ConnectionState
	cb       sasl.ChannelBinding

	// stateMu guards domain, streamID and out against closeStream called
	// from other goroutines (shutdown, a replacing session, the timer).
	// The read loop is their only writer: it writes them under stateMu and
	// reads them without it. A leaf lock.
	stateMu  sync.Mutex
	domain   string
	streamID string
	user     jid.JID // bare, after SASL
	authed   bool
	sess     *session.Session
	out      *outbound

	saslSrv      sasl.Server
	cbRefused    bool // the client asked for a binding type we lack
	saslMech     string
	saslUser     string
	authAttempts int
	ipFailures   int // failures this stream added to its IP's count

	wl          sync.Mutex // serialises writes to nc
	closed      atomic.Bool
	lastRead    atomic.Int64
	timer       *time.Timer
	pingSent    atomic.Int64 // lastRead value when the idle ping went out; 0 none
	seenAtTimer atomic.Int64
	boundFlag   atomic.Bool // c.sess is set (read by the timer goroutine)
}

func newConn(s *Server, nc net.Conn, directTLS bool) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.work = context.WithoutCancel(c.ctx)
	if directTLS {
		c.nc = tls.Server(nc, s.tls.Load())
	}
	return c
}

// activity counts reads so the idle timer knows the peer is alive.
type activity struct{ c *conn }

func (a activity) Read(p []byte) (int, error) {
	n, err := a.c.nc.Read(p)
	if n > 0 {
		a.c.lastRead.Add(1)
	}
	return n, err
}

func (c *conn) serve() {
	s := c.srv
	s.conns.Store(c, struct{}{})
	s.metrics.conns.Inc()
	defer func() {
		c.end()
		s.conns.Delete(c)
		s.metrics.conns.Dec()
	}()
	c.timer = time.AfterFunc(s.cfg.AuthTimeout, c.onTimer)
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = c.nc.SetDeadline(time.Now().Add(s.cfg.AuthTimeout))
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return
		}
		_ = c.nc.SetDeadline(time.Time{})
		c.tlsDone(tc)
	}
	if c.ws {
		c.dec = xml.NewFragmentDecoder(activity{c}, s.cfg.Limits)
		c.dec.SetDefaultSpace(stanza.NSClient)
	} else {
		c.dec = xml.NewDecoder(activity{c}, s.cfg.Limits)
	}
	for {
		f, err := c.dec.Next()
		if err != nil {
			c.readError(err)
			return
		}
		if !c.handle(&f) {
			return
		}
	}
}

func (c *conn) readError(err error) {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		c.closeStream(string(se.Cond), se.Msg)
		return
	}
	if errors.Is(err, xml.ErrClosed) {
		c.closeStream("", "")
	}
	// EOF, reset, or our own close: nothing to say.
}

func (c *conn) tlsDone(tc *tls.Conn) {
	cs := tc.ConnectionState()
	c.tlsState = &cs
	c.secure = true
	c.cb = sasl.NewChannelBinding(cs, serverLeaf(c.srv.tls.Load(), cs.ServerName))
}

// handle processes one frame; false ends the read loop.
func (c *conn) handle(f *xml.Frame) bool {
	switch f.Kind {
	case xml.StreamOpen:
		return c.streamOpen(f.Attrs)
	case xml.StreamClose:
		c.closeStream("", "")
		return false
	}
	if c.ws && f.Name.Space == stanza.NSFraming {
		switch f.Name.Local {
		case "open":
			return c.streamOpen(f.Attrs)
		case "close":
			c.closeStream("", "")
			return false
		}
	}
	if c.streamID == "" {
		c.closeStream("not-well-formed", "stream header expected")
		return false
	}
	switch {
	case !c.secure:
		return c.preTLS(f)
	case !c.authed:
		return c.preAuth(f)
	case c.sess == nil:
		return c.preBind(f)
	}
	return c.bound(f)
}

func (c *conn) streamOpen(attrs []xml.RawAttr) bool {
	var to, version string
	for _, a := range attrs {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "to":
			to = xml.UnescapeString(a.Value)
		case "version":
			version = xml.UnescapeString(a.Value)
		}
	}
	c.stateMu.Lock()
	c.streamID = newID()
	c.stateMu.Unlock()
	// The header goes out before any error so the client can parse it
	// (RFC 6120 §4.9.1.2).
	host := to
	if j, err := jid.Domain(to); err == nil {
		host = j.String()
	}
	if c.domain != "" && host != c.domain {
		c.writeHeader(c.domain)
		c.closeStream("host-unknown", "the domain changed across a stream restart")
		return false
	}
	if !c.srv.cfg.Router.IsHost(host) {
		c.writeHeader(c.anyHost())
		c.closeStream("host-unknown", "this server does not serve "+truncate(to, 100))
		return false
	}
	c.stateMu.Lock()
	c.domain = host
	c.stateMu.Unlock()
	ns, nsOK := c.dec.StreamDefaultSpace()
	if !c.ws && nsOK && ns == stanza.NSClient && strings.HasPrefix(version, "1.") {
		// The usual case: header and features in one write (one TLS
		// record, one syscall).
		c.writeSync(append(c.headerBytes(c.streamID, host), c.featuresBytes()...))
		return true
	}
	c.writeHeader(host)
	if !c.ws && (!nsOK || ns != stanza.NSClient) {
		// RFC 6120 §4.8.2: a client stream's content namespace is
		// jabber:client.
		c.closeStream("invalid-namespace", "the stream's default namespace must be jabber:client")
		return false
	}
	if !strings.HasPrefix(version, "1.") {
		c.closeStream("unsupported-version", "XMPP 1.0 is required")
		return false
	}
	c.writeFeatures()
	return true
}

// anyHost is the domain to put in a stream header before the client named
// one we serve: RFC 6120 §4.7.1 wants the header from the server's own
// domain even when it only carries an error. The smallest name, so that it
// does not change from one connection to the next.
func (c *conn) anyHost() string {
	if c.domain != "" {
		return c.domain
	}
	hs := c.srv.cfg.Router.Hosts()
	if len(hs) == 0 {
		return ""
	}
	return slices.Min(hs)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (c *conn) writeHeader(from string) { c.writeHeaderID(c.streamID, from) }

// writeHeaderID writes a stream header with the given id.
func (c *conn) writeHeaderID(id, from string) { c.writeSync(c.headerBytes(id, from)) }

func (c *conn) headerBytes(id, from string) []byte {
	var b []byte
	if c.ws {
		b = append(b, "<open xmlns='"+stanza.NSFraming+"' version='1.0' xml:lang='en' id='"...)
		b = append(b, id...)
		b = append(b, "' from='"...)
		b = xml.EscapeAttr(b, from)
		b = append(b, "'/>"...)
	} else {
		b = append(b, headerPrefix+" version='1.0' xml:lang='en' id='"...)
		b = append(b, id...)
		b = append(b, "' from='"...)
		b = xml.EscapeAttr(b, from)
		b = append(b, "'>"...)
	}
	return b
}

func (c *conn) writeFeatures() { c.writeSync(c.featuresBytes()) }

func (c *conn) featuresBytes() []byte {
	var b []byte
	if c.ws {
		b = append(b, "<stream:features xmlns:stream='"+stanza.NSStream+"'>"...)
	} else {
		b = append(b, "<stream:features>"...)
	}
	switch {
	case !c.secure:
		b = append(b, "<starttls xmlns='"+stanza.NSTLS+"'><required/></starttls>"...)
	case !c.authed:
		b = append(b, "<mechanisms xmlns='"+stanza.NSSASL+"'>"...)
		for _, m := range sasl.Mechanisms(c.tlsState != nil, c.cb, c.srv.cfg.AllowPlain) {
			b = append(b, "<mechanism>"...)
			b = append(b, m...)
			b = append(b, "</mechanism>"...)
		}
		b = append(b, "</mechanisms>"...)
		if types := c.cb.Types(); len(types) > 0 {
			// XEP-0440: tell clients which binding types -PLUS can use.
			b = append(b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"...)
			for _, t := range types {
				b = append(b, "<channel-binding type='"...)
				b = append(b, t...)
				b = append(b, "'/>"...)
			}
			b = append(b, "</sasl-channel-binding>"...)
		}
		if r := c.srv.cfg.Registrar; r != nil && r.Offer(c.domain) {
			b = append(b, "<register xmlns='"+stanza.NSRegisterFeature+"'/>"...)
		}
	default:
		b = append(b, "<bind xmlns='"+stanza.NSBind+"'/>"+
			"<session xmlns='"+stanza.NSSession+"'><optional/></session>"+
			"<sm xmlns='"+stanza.NSSM+"'/>"+
			"<ver xmlns='"+stanza.NSRosterVer+"'/>"+
			"<sub xmlns='"+stanza.NSPreApproval+"'/>"...)
	}
	return append(b, "</stream:features>"...)
}

// preTLS: only STARTTLS is acceptable (RFC 6120 §5.3.1, TLS required).
func (c *conn) preTLS(f *xml.Frame) bool {
	if f.Name.Space != stanza.NSTLS || f.Name.Local != "starttls" {
		c.closeStream("policy-violation", "TLS is required: send <starttls/> first")
		return false
	}
	if c.dec.Buffered() > 0 {
		// Bytes pipelined after <starttls/> would be read as if they came
		// through TLS (STARTTLS command injection).
		c.closeStream("policy-violation", "data sent after <starttls/> before <proceed/>")
		return false
	}
	c.writeSync([]byte("<proceed xmlns='" + stanza.NSTLS + "'/>"))
	tc := tls.Server(c.nc, c.srv.tls.Load())
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.cfg.AuthTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.srv.log.Debug("tls handshake failed", "remote", c.remote, "err", err)
		_ = c.nc.Close()
		return false
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.wl.Lock()
	c.nc = tc
	c.wl.Unlock()
	c.tlsDone(tc)
	c.dec.Reset(activity{c})
	c.stateMu.Lock()
	c.streamID = ""
	c.stateMu.Unlock()
	return true
}

func (c *conn) preAuth(f *xml.Frame) bool {
	switch {
	case f.Name.Space == stanza.NSSASL:
		return c.sasl(f)
	case f.Name.Local == "iq" && f.Name.Space == stanza.NSClient && f.Child.Space == stanza.NSRegister:
		r := c.srv.cfg.Registrar
		st, err := stanza.FromFrame(f)
		if err != nil || r == nil || !r.Offer(c.domain) {
			id := ""
			if v, ok := f.Attr("id"); ok {
				id = xml.UnescapeString(v)
			}
			c.writeSync(stanza.Build(stanza.IQ, jid.JID{}, jid.JID{}, "error", id,
				stanza.ErrorElement(stanza.Error{Condition: stanza.NotAllowed, Text: "in-band registration is closed on this server"})).Raw)
			return true
		}
		if reply := r.HandleUnauthenticated(c.work, c.domain, c.remote, st); reply != nil {
			if st.Type == "set" && reply.Type == "result" && c.ipFailures > 0 {
				// A device that failed to log in and then registered with
				// a valid signature was onboarding, not guessing: forgive
				// this stream's failures so a factory behind one address
				// is not locked out.
				c.srv.auth.forgive(ipKey(c.remote), c.ipFailures)
				c.ipFailures = 0
			}
			c.writeSync(reply.Raw)
		}
		return true
	}
	c.closeStream("not-authorized", "authenticate first")
	return false
}

func (c *conn) sasl(f *xml.Frame) bool {
	el, err := xml.Parse(f.Raw, "")
	if err != nil {
		c.closeStream("not-well-formed", "")
		return false
	}
	switch el.Name.Local {
	case "auth":
		if c.saslSrv != nil {
			return c.saslFail(sasl.MalformedRequest, "an exchange is already running", "")
		}
		mech := el.Attr("mechanism")
		if !c.mechanismOffered(mech) {
			return c.saslFail(sasl.InvalidMechanism, "mechanism not offered", "")
		}
		if until, blocked := c.srv.auth.blocked(ipKey(c.remote)); blocked {
			return c.saslFail("temporary-auth-failure", "too many failed attempts from your address; retry in "+until.Round(time.Second).String(), "")
		}
		domain := c.domain
		cb := c.cb
		if c.cbRefused {
			// The client supports channel binding, but only types we do not
			// have (slixmpp sends tls-unique, which TLS 1.3 lacks). Its retry
			// with the 'y' flag is then no downgrade: from its side the
			// server offers no usable binding on this stream.
			cb = sasl.ChannelBinding{}
		}
		srv, err := sasl.NewServer(mech, func(ctx context.Context, user string, h sasl.Hash) (sasl.Credentials, error) {
			bare, err := jid.New(user, domain, "")
			if err != nil {
				return sasl.Credentials{}, sasl.ErrUnknownUser
			}
			return c.srv.cfg.Credentials(ctx, bare, h)
		}, cb, c.tlsState != nil, sasl.WithSecret(c.srv.cfg.SASLSecret))
		if err != nil {
			return c.saslFail(sasl.ConditionOf(err), "", "")
		}
		c.saslSrv, c.saslMech = srv, mech
		if el.Text == "" {
			// No initial response: ask for it with an empty challenge.
			c.writeSync([]byte("<challenge xmlns='" + stanza.NSSASL + "'/>"))
			return true
		}
		return c.saslStep(el.Text)
	case "response":
		if c.saslSrv == nil {
			return c.saslFail(sasl.MalformedRequest, "no exchange in progress", "")
		}
		return c.saslStep(el.Text)
	case "abort":
		c.saslSrv = nil
		c.writeSync([]byte("<failure xmlns='" + stanza.NSSASL + "'><aborted/></failure>"))
		return true
	}
	c.closeStream("unsupported-stanza-type", "")
	return false
}

func (c *conn) mechanismOffered(m string) bool {
	for _, o := range sasl.Mechanisms(c.tlsState != nil, c.cb, c.srv.cfg.AllowPlain) {
		if o == m {
			return true
		}
	}
	return false
}

func (c *conn) saslStep(text string) bool {
	var in []byte
	if text != "=" {
		var err error
		in, err = base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if err != nil {
			return c.saslFail(sasl.IncorrectEncoding, "invalid base64", c.saslUser)
		}
	}
	if c.saslUser == "" {
		c.saslUser = usernameOf(c.saslMech, in)
	}
	out, done, err := c.saslSrv.Step(c.ctx, in)
	if err != nil {
		var f *sasl.Failure
		if errors.As(err, &f) && f.ServerError == "unsupported-channel-binding-type" {
			c.cbRefused = true
		}
		if c.cbRefused && strings.HasSuffix(c.saslMech, "-PLUS") {
			c.authAttempts-- // a binding type mismatch is not a password guess
		}
		return c.saslFail(sasl.ConditionOf(err), failureText(err), c.saslUser)
	}
	if !done {
		c.writeSync(saslElem("challenge", out))
		return true
	}
	user, err := jid.New(c.saslSrv.Username(), c.domain, "")
	if err != nil {
		return c.saslFail(sasl.NotAuthorized, "", c.saslUser)
	}
	if az := c.saslSrv.Authzid(); az != "" {
		if aj, err := jid.Parse(az); err != nil || aj.Bare() != user {
			return c.saslFail(sasl.InvalidAuthzid, "you may only act as "+user.String(), "")
		}
	}
	if until, blocked := c.srv.auth.blocked(acctKey(user)); blocked {
		return c.saslFail("temporary-auth-failure", "too many failed attempts for this account; retry in "+until.Round(time.Second).String(), "")
	}
	c.srv.auth.success(acctKey(user))
	c.srv.metrics.logins.WithLabelValues(c.saslMech, "success").Inc()
	c.writeSync(saslElem("success", out))
	c.user, c.authed = user, true
	c.saslSrv = nil
	c.dec.Restart()
	c.stateMu.Lock()
	c.streamID = ""
	c.stateMu.Unlock()
	return true
}

func failureText(err error) string {
	var f *sasl.Failure
	if errors.As(err, &f) {
		return f.Text
	}
	return ""
}

func saslElem(name string, data []byte) []byte {
	b := []byte("<" + name + " xmlns='" + stanza.NSSASL + "'")
	if data == nil {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	if len(data) == 0 {
		b = append(b, '=')
	} else {
		b = base64.StdEncoding.AppendEncode(b, data)
	}
	return append(b, "</"+name+">"...)
}

// saslFail answers <failure/>; after maxAuthAttempts the stream closes.
func (c *conn) saslFail(cond, text, user string) bool {
	c.saslSrv = nil
	c.saslUser = ""
	c.srv.metrics.logins.WithLabelValues(c.saslMech, cond).Inc()
	if cond == sasl.NotAuthorized {
		c.srv.auth.failure(ipKey(c.remote))
		c.ipFailures++
		if user != "" {
			if u, err := jid.New(user, c.domain, ""); err == nil {
				c.srv.auth.failure(acctKey(u))
			}
		}
	}
	b := []byte("<failure xmlns='" + stanza.NSSASL + "'><" + cond + "/>")
	if text != "" {
		b = append(b, "<text xml:lang='en'>"...)
		b = xml.EscapeText(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</failure>"...)
	c.writeSync(b)
	c.authAttempts++
	if c.authAttempts >= maxAuthAttempts {
		c.closeStream("policy-violation", "too many failed authentication attempts")
		return false
	}
	return true
}

// usernameOf extracts the claimed username for per-account backoff,
// before the mechanism has validated anything. Best effort.
func usernameOf(mech string, in []byte) string {
	s := string(in)
	if mech == sasl.Plain {
		parts := strings.SplitN(s, "\x00", 3)
		if len(parts) == 3 {
			return parts[1]
		}
		return ""
	}
	if i := strings.Index(s, ",n="); i >= 0 {
		rest := s[i+3:]
		if j := strings.IndexByte(rest, ','); j >= 0 {
			rest = rest[:j]
		}
		rest = strings.ReplaceAll(rest, "=2C", ",")
		return strings.ReplaceAll(rest, "=3D", "=")
	}
	return ""
}

// preBind: resource binding (RFC 6120 §7), the legacy session iq, and
// XEP-0198 resumption.
func (c *conn) preBind(f *xml.Frame) bool {
	if f.Name.Space == stanza.NSSM && f.Name.Local == "resume" {
		return c.resume(f)
	}
	if f.Name.Local != "iq" || f.Name.Space != stanza.NSClient {
		c.closeStream("not-authorized", "bind a resource first")
		return false
	}
	st, err := stanza.FromFrame(f)
	if err != nil {
		c.writeSync(stanza.Build(stanza.IQ, jid.JID{}, jid.JID{}, "error", "", stanza.ErrorElement(stanza.AsError(err))).Raw)
		return true
	}
	if st.Type != "set" || st.Payload.Space != stanza.NSBind || st.Payload.Local != "bind" {
		c.writeSync(st.ErrorReply(stanza.Error{Condition: stanza.NotAuthorized, Text: "bind a resource first"}).Raw)
		return true
	}
	el, err := st.Element()
	if err != nil {
		c.writeSync(st.ErrorReply(stanza.Error{Condition: stanza.BadRequest}).Raw)
		return true
	}
	res := ""
	if b := el.Child(stanza.NSBind, "bind"); b != nil {
		if r := b.Child(stanza.NSBind, "resource"); r != nil {
			res = strings.TrimSpace(r.Text)
		}
	}
	if res == "" {
		res = newID()[:12]
	}
	full, err := c.user.WithResource(res)
	if err != nil || full.IsBare() {
		c.writeSync(st.ErrorReply(stanza.Error{Condition: stanza.BadRequest, Text: "invalid resource"}).Raw)
		return true
	}
	out := newOutbound(c.srv, c)
	sess := session.New(full, out)
	out.sess = sess
	replaced, ok := c.srv.cfg.Router.Sessions().Add(sess, c.srv.cfg.SessionsPerAccount)
	if !ok {
		c.writeSync(st.ErrorReply(stanza.Error{Condition: stanza.ResourceConstraint, Text: "too many sessions for this account"}).Raw)
		return true
	}
	if replaced != nil {
		replaced.Close("conflict", "replaced by a new session with the same resource")
	}
	c.stateMu.Lock()
	c.sess, c.out = sess, out
	c.stateMu.Unlock()
	c.boundFlag.Store(true)
	c.timer.Reset(c.srv.cfg.PingInterval)
	out.SendRaw(stanza.Build(stanza.IQ, jid.JID{}, jid.JID{}, "result", st.ID,
		[]byte("<bind xmlns='"+stanza.NSBind+"'><jid>"+escText(full.String())+"</jid></bind>")).Raw)
	if ev := c.srv.cfg.Events; ev != nil {
		ev.Publish(c.ctx, event.SessionOnline{JID: full})
	}
	if lc := c.srv.cfg.Lifecycle; lc != nil {
		lc.SessionStarted(c.ctx, sess)
	}
	return true
}

func escText(s string) string { return string(xml.EscapeText(nil, s)) }

// bound handles a frame on an established session.
func (c *conn) bound(f *xml.Frame) bool {
	if f.Name.Space == stanza.NSSM {
		return c.smFrame(f)
	}
	kind := stanza.KindOf(f.Name)
	if kind == stanza.Other || f.Name.Space != stanza.NSClient {
		c.closeStream("unsupported-stanza-type", "")
		return false
	}
	c.out.countIn()
	st, err := stanza.Stamped(f, c.sess.JID())
	if err != nil {
		id := ""
		if v, ok := f.Attr("id"); ok {
			id = xml.UnescapeString(v)
		}
		typ := ""
		if v, ok := f.Attr("type"); ok {
			typ = xml.UnescapeString(v)
		}
		if typ != "error" && !(kind == stanza.IQ && typ == "result") {
			c.out.Send(stanza.Build(kind, c.sess.JID().DomainJID(), c.sess.JID(), "error", id, stanza.ErrorElement(stanza.AsError(err))))
		}
		return true
	}
	if kind == stanza.IQ {
		if e, bad := iqShapeError(st); bad {
			if st.IsIQRequest() || (st.Type != "result" && st.Type != "error") {
				c.out.Send(stanza.Build(stanza.IQ, c.sess.JID().DomainJID(), c.sess.JID(), "error", st.ID, stanza.ErrorElement(e)))
			}
			return true
		}
	}
	if kind == stanza.IQ && st.Type == "set" && st.Payload.Space == stanza.NSSession && (st.To.IsZero() || st.To.String() == c.domain) {
		// RFC 3921 session establishment: a no-op kept for old clients.
		c.out.Send(stanza.Build(stanza.IQ, jid.MustParse(c.domain), c.sess.JID(), "result", st.ID))
		return true
	}
	c.srv.cfg.Router.FromClient(c.work, c.sess, st)
	return true
}

// iqShapeError checks what RFC 6120 §8.2.3 asks of every iq and the
// router relies on: one of the four types, an id, and a payload for get
// and set (that there is only one would take a full parse, so it is left
// to the handlers). The answer to a malformed iq is bad-request; without
// the check an unknown type was dropped silently and a payload-less get
// answered as if it were a ping.
func iqShapeError(st *stanza.Stanza) (stanza.Error, bool) {
	switch {
	case st.Type != "get" && st.Type != "set" && st.Type != "result" && st.Type != "error":
		return stanza.Error{Condition: stanza.BadRequest, Text: "iq type must be get, set, result or error"}, true
	case st.ID == "":
		return stanza.Error{Condition: stanza.BadRequest, Text: "iq without an id"}, true
	case st.IsIQRequest() && st.Payload.Local == "":
		return stanza.Error{Condition: stanza.BadRequest, Text: "iq get or set without a payload"}, true
	}
	return stanza.Error{}, false
}

// onTimer drives the auth timeout before bind and idle pings after.
func (c *conn) onTimer() {
	if c.closed.Load() {
		return
	}
	if !c.boundFlag.Load() {
		c.closeStream("connection-timeout", "authentication took too long")
		return
	}
	cur := c.lastRead.Load()
	if ps := c.pingSent.Load(); ps != 0 {
		if cur == ps {
			// Nothing arrived since the ping: the peer is gone.
			c.srv.log.Debug("ping timeout", "jid", c.sess.JID())
			c.kill()
			return
		}
		c.pingSent.Store(0)
	}
	if cur != c.lastSeenAtTimer() {
		c.timer.Reset(c.srv.cfg.PingInterval)
		return
	}
	c.pingSent.Store(cur)
	domain := jid.MustParse(c.domain)
	c.out.Send(stanza.Build(stanza.IQ, domain, c.sess.JID(), "get", "ping-"+newID()[:8], []byte("<ping xmlns='"+stanza.NSPing+"'/>")))
	c.timer.Reset(c.srv.cfg.PingTimeout)
}

// lastSeenAtTimer remembers the read counter between timer runs.
func (c *conn) lastSeenAtTimer() int64 {
	cur := c.lastRead.Load()
	prev := c.seenAtTimer.Swap(cur)
	return prev
}

// writeSync writes before the session exists (single writer).
func (c *conn) writeSync(b []byte) {
	c.wl.Lock()
	defer c.wl.Unlock()
	if c.closed.Load() {
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.closed.Store(true)
		_ = c.nc.Close()
	}
}

// closeStream sends a stream error (cond "" for a clean close) and the
// closing tag, then closes the transport once queued data is written.
func (c *conn) closeStream(cond, text string) {
	c.stateMu.Lock()
	id, host, out := c.streamID, c.anyHost(), c.out
	c.stateMu.Unlock()
	var b []byte
	if cond != "" {
		c.srv.metrics.streamErrs.WithLabelValues(cond).Inc()
		if id == "" {
			// No header sent yet on this stream: send one so the error parses.
			c.writeHeaderID(newID(), host)
		}
		if c.ws {
			b = append(b, "<stream:error xmlns:stream='"+stanza.NSStream+"'>"...)
		} else {
			b = append(b, "<stream:error>"...)
		}
		b = append(b, "<"+cond+" xmlns='"+stanza.NSStreams+"'/>"...)
		if text != "" {
			b = append(b, "<text xmlns='"+stanza.NSStreams+"' xml:lang='en'>"...)
			b = xml.EscapeText(b, text)
			b = append(b, "</text>"...)
		}
		b = append(b, "</stream:error>"...)
	}
	var end []byte
	if c.ws {
		end = []byte("<close xmlns='" + stanza.NSFraming + "'/>")
	} else {
		end = []byte("</stream:stream>")
	}
	if c.ws && len(b) > 0 {
		// RFC 7395 §3.3.3: every WebSocket message is one element, so the
		// error and <close/> go out as two writes (two messages).
		if out != nil && out.attachedTo(c) {
			out.SendRaw(b)
		} else {
			c.writeSync(b)
		}
		b = nil
	}
	b = append(b, end...)
	if out != nil && out.attachedTo(c) {
		out.closeWith(c, b)
		return
	}
	c.writeSync(b)
	c.kill()
}

// kill closes the transport without ceremony; the read loop then ends.
func (c *conn) kill() {
	if c.closed.Swap(true) {
		return
	}
	c.cancel()
	_ = c.nc.Close()
}

// end runs once when the read loop returns: the session is detached for
// resumption or ended.
func (c *conn) end() {
	if c.out != nil {
		c.out.awaitClose(c)
	}
	c.kill()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.out == nil {
		return
	}
	c.out.transportGone(c)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serverLeaf returns the certificate the handshake presented, for
// tls-server-end-point channel binding.
func serverLeaf(cfg *tls.Config, serverName string) *x509.Certificate {
	if cfg == nil {
		return nil
	}
	var cert *tls.Certificate
	if cfg.GetCertificate != nil {
		if c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName}); err == nil {
			cert = c
		}
	}
	if cert == nil && len(cfg.Certificates) > 0 {
		cert = &cfg.Certificates[0]
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

var _ io.Reader = activity{}
