package thing

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"
)

// Namespaces of XEP-0077 and RFC 6120 this package speaks.
const (
	nsRegister        = "jabber:iq:register"
	nsRegisterFeature = "http://jabber.org/features/iq-register"
	nsData            = "jabber:x:data"
	nsClient          = "jabber:client"
	nsSASL            = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind            = "urn:ietf:params:xml:ns:xmpp-bind"
	nsStanzas         = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Config says how a thing connects.
type Config struct {
	// JID is the account, user@domain, to log in as or to create.
	JID string
	// Password of the account; when registering, at least as long as the
	// broker requires (8 characters by default).
	Password string
	// APIKey signs the registration. Without it, Connect only logs in.
	APIKey APIKey
	// Addr is host:port of the broker. Empty: the JID's domain, found
	// through DNS SRV records as XMPP clients do.
	Addr string
	// DirectTLS uses TLS from the first byte (XEP-0368) instead of
	// STARTTLS; only with Addr.
	DirectTLS bool
	// TLS is the client TLS configuration; nil: verify the broker's
	// certificate for the JID's domain.
	TLS *tls.Config
	// Resource to bind; "" lets the broker choose.
	Resource string
	// Now is the clock for oauth_timestamp; nil: time.Now. The broker
	// refuses signatures more than a few minutes off its own clock.
	Now func() time.Time
}

// ErrNotAuthorized: the broker refused the login (wrong password, or no
// such account and no API key to create it).
var ErrNotAuthorized = errors.New("thing: not authorized: wrong password, or no such account")

// ErrNoRegistration: the broker does not offer in-band registration (it
// is disabled there), so Register cannot create the account.
var ErrNoRegistration = errors.New("thing: the broker does not offer in-band registration")

// RegistrationError is the broker's refusal of a registration: the
// XEP-0077 condition (conflict, not-acceptable, bad-request, forbidden,
// not-allowed, resource-constraint) and its explanation.
type RegistrationError struct {
	Condition string
	Text      string
}

func (e *RegistrationError) Error() string {
	if e.Text != "" {
		return "thing: registration refused: " + e.Condition + ": " + e.Text
	}
	return "thing: registration refused: " + e.Condition
}

// Connect logs in. If the broker refuses the login, offers in-band
// registration and cfg has an API key, it creates the account with a
// signed form on the same stream and logs in again: the first-boot flow of
// deployed IoT clients, so a device needs this one call whether or not its
// account exists yet. The session is bound and ready for Serve.
func Connect(ctx context.Context, cfg Config) (*xmpp.Session, error) {
	return session(ctx, cfg, false)
}

// Register creates the account with a signed form and logs in on the same
// stream, without trying to log in first (which a broker counts as a
// failed login). A *RegistrationError says why the broker refused; conflict
// means the account exists.
func Register(ctx context.Context, cfg Config) (*xmpp.Session, error) {
	if cfg.APIKey.Key == "" || cfg.APIKey.Secret == "" {
		return nil, errors.New("thing: Register needs an API key and its secret")
	}
	return session(ctx, cfg, true)
}

func session(ctx context.Context, cfg Config, registerFirst bool) (*xmpp.Session, error) {
	origin, err := jid.Parse(cfg.JID)
	if err != nil || origin.Localpart() == "" || origin.Resourcepart() != "" {
		return nil, fmt.Errorf("thing: %q is not an account address like sensor-1@example.com", cfg.JID)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: origin.Domainpart(), MinVersion: tls.VersionTLS12}
	}
	conn, err := dialBroker(ctx, cfg, origin, tlsCfg)
	if err != nil {
		return nil, err
	}
	reg := &registrar{cfg: cfg, origin: origin}
	mechs := []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1}
	login := xmpp.SASL("", cfg.Password, mechs...)
	features := []xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}
	if registerFirst {
		features = append(features, reg.feature())
	}
	features = append(features, reg.loginOrRegister(login, registerFirst), bind(cfg.Resource))
	s, err := xmpp.NewClientSession(ctx, origin, conn, features...)
	if err != nil {
		_ = conn.Close()
		if reg.err != nil {
			return nil, reg.err
		}
		if saslCondition(err) == "not-authorized" {
			return nil, ErrNotAuthorized
		}
		return nil, fmt.Errorf("thing: connect: %w", err)
	}
	return s, nil
}

func dialBroker(ctx context.Context, cfg Config, origin jid.JID, tlsCfg *tls.Config) (net.Conn, error) {
	if cfg.Addr == "" {
		d := dial.Dialer{TLSConfig: tlsCfg}
		c, err := d.Dial(ctx, "tcp", origin)
		if err != nil {
			return nil, fmt.Errorf("thing: dial %s: %w", origin.Domainpart(), err)
		}
		return c, nil
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("thing: dial %s: %w", cfg.Addr, err)
	}
	if !cfg.DirectTLS {
		return c, nil
	}
	tc := tls.Client(c, tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("thing: TLS with %s: %w", cfg.Addr, err)
	}
	return tc, nil
}

// saslCondition returns the condition of a SASL <failure/> error from
// mellium, "" for another error. mellium's failure type is internal, but
// it can write itself as XML.
func saslCondition(err error) string {
	var m interface{ TokenReader() xml.TokenReader }
	if !errors.As(err, &m) {
		return ""
	}
	r := m.TokenReader()
	depth := 0
	for {
		tok, err := r.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			depth++
			if depth == 1 && (se.Name.Local != "failure" || se.Name.Space != nsSASL) {
				return ""
			}
			if depth == 2 && se.Name.Local != "text" {
				return se.Name.Local
			}
		}
		if _, ok := tok.(xml.EndElement); ok {
			depth--
		}
	}
}

// registrar performs the registration on a stream being negotiated.
type registrar struct {
	cfg    Config
	origin jid.JID
	err    error // the registration's own failure, reported instead of mellium's
	done   bool  // the account was created on this stream
}

// feature registers before SASL: the stream feature is optional, so
// mellium negotiates it before the required SASL.
func (r *registrar) feature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsRegisterFeature, Local: "register"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return false, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			if err := r.register(ctx, s); err != nil {
				r.err = err
				return 0, nil, err
			}
			return 0, nil, nil
		},
	}
}

// loginOrRegister wraps SASL. When registerFirst, the registration
// feature ran before (mellium negotiates optional features first), unless
// the broker did not offer it. Otherwise a refused login on a broker that
// offers registration is followed by a signed registration and a second
// login on the same stream.
func (r *registrar) loginOrRegister(login xmpp.StreamFeature, registerFirst bool) xmpp.StreamFeature {
	inner := login.Negotiate
	login.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		_, offered := s.Feature(nsRegisterFeature)
		if registerFirst {
			if r.err != nil {
				// mellium goes on to the next feature after a failed one.
				return 0, nil, r.err
			}
			if !r.done {
				r.err = ErrNoRegistration
				return 0, nil, r.err
			}
			return inner(ctx, s, data)
		}
		mask, rw, err := inner(ctx, s, data)
		if err == nil || r.cfg.APIKey.Key == "" || !offered || saslCondition(err) != "not-authorized" {
			return mask, rw, err
		}
		if rerr := r.register(ctx, s); rerr != nil {
			var re *RegistrationError
			if errors.As(rerr, &re) && re.Condition == "conflict" {
				// The account exists: the password was wrong.
				rerr = fmt.Errorf("%w (%w)", ErrNotAuthorized, rerr)
			}
			r.err = rerr
			return 0, nil, rerr
		}
		return inner(ctx, s, data)
	}
	return login
}

// Wire types of the registration exchange.
type (
	iqReply struct {
		Type  string     `xml:"type,attr"`
		ID    string     `xml:"id,attr"`
		Query *regQuery  `xml:"jabber:iq:register query"`
		Error *stanzaErr `xml:"jabber:client error"`
	}
	regQuery struct {
		Form     *dataForm `xml:"jabber:x:data x"`
		Username *struct{} `xml:"jabber:iq:register username"`
		Password *struct{} `xml:"jabber:iq:register password"`
	}
	dataForm struct {
		Fields []formField `xml:"jabber:x:data field"`
	}
	formField struct {
		Var    string   `xml:"var,attr"`
		Values []string `xml:"jabber:x:data value"`
	}
	stanzaErr struct {
		Inner []anyInside `xml:",any"`
	}
	anyInside struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	}
)

// register asks for the form, fills and signs it, and submits it.
func (r *registrar) register(ctx context.Context, s *xmpp.Session) error {
	reply, err := exchange(ctx, s, "reg-get", "get", nil)
	if err != nil {
		return err
	}
	if reply.Query == nil {
		return errors.New("thing: the broker's registration answer has no query")
	}
	user, pw := r.origin.Localpart(), r.cfg.Password
	var payload []xml.Token
	switch q := reply.Query; {
	case q.Form != nil:
		var fields []Field
		for _, f := range q.Form.Fields {
			if f.Var == "" {
				continue
			}
			v := ""
			if len(f.Values) > 0 {
				v = f.Values[0]
			}
			fields = append(fields, Field{f.Var, v})
		}
		fields = set(fields, "username", user)
		fields = set(fields, "password", pw)
		if signable(fields) && r.cfg.APIKey.Key != "" {
			fields = SignForm(fields, r.cfg.APIKey, r.cfg.Now(), "")
		}
		payload = formTokens(fields)
	case q.Username != nil || q.Password != nil:
		payload = append(payload, textElement(nsRegister, "username", user)...)
		payload = append(payload, textElement(nsRegister, "password", pw)...)
	default:
		return errors.New("thing: the broker's registration form has neither a data form nor username and password")
	}
	if _, err = exchange(ctx, s, "reg-set", "set", payload); err != nil {
		return err
	}
	r.done = true
	return nil
}

// exchange sends an iq in jabber:iq:register with payload inside the
// query and reads its answer; an error answer is a *RegistrationError.
func exchange(ctx context.Context, s *xmpp.Session, id, typ string, payload []xml.Token) (*iqReply, error) {
	iq := xml.StartElement{Name: xml.Name{Space: nsClient, Local: "iq"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: typ}, {Name: xml.Name{Local: "id"}, Value: id}}}
	q := xml.StartElement{Name: xml.Name{Space: nsRegister, Local: "query"}}
	toks := append([]xml.Token{iq, q}, payload...)
	toks = append(toks, q.End(), iq.End())
	w := s.TokenWriter()
	for _, t := range toks {
		if err := w.EncodeToken(t); err != nil {
			w.Close()
			return nil, fmt.Errorf("thing: register: %w", err)
		}
	}
	err := w.Flush()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("thing: register: %w", err)
	}
	rd := s.TokenReader()
	defer rd.Close()
	d := xml.NewTokenDecoder(rd)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("thing: register: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != "iq" {
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("thing: register: %w", err)
			}
			continue
		}
		var reply iqReply
		if err := d.DecodeElement(&reply, &start); err != nil {
			return nil, fmt.Errorf("thing: register: %w", err)
		}
		if reply.ID != id {
			continue
		}
		if reply.Type == "error" {
			return nil, registrationError(reply.Error)
		}
		if reply.Type != "result" {
			return nil, fmt.Errorf("thing: register: unexpected iq type %q", reply.Type)
		}
		return &reply, nil
	}
}

func registrationError(e *stanzaErr) error {
	re := &RegistrationError{Condition: "undefined-condition"}
	if e == nil {
		return re
	}
	for _, c := range e.Inner {
		if c.XMLName.Space != nsStanzas {
			continue
		}
		if c.XMLName.Local == "text" {
			re.Text = strings.TrimSpace(c.Text)
		} else {
			re.Condition = c.XMLName.Local
		}
	}
	return re
}

func textElement(space, local, text string) []xml.Token {
	s := xml.StartElement{Name: xml.Name{Space: space, Local: local}}
	return []xml.Token{s, xml.CharData(text), s.End()}
}

// formTokens is <x type='submit'> with every field, each with one value.
func formTokens(fields []Field) []xml.Token {
	x := xml.StartElement{Name: xml.Name{Space: nsData, Local: "x"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}}}
	toks := []xml.Token{x}
	for _, f := range fields {
		fe := xml.StartElement{Name: xml.Name{Space: nsData, Local: "field"}, Attr: []xml.Attr{{Name: xml.Name{Local: "var"}, Value: f.Var}}}
		toks = append(toks, fe)
		toks = append(toks, textElement(nsData, "value", f.Value)...)
		toks = append(toks, fe.End())
	}
	return append(toks, x.End())
}

// bind is RFC 6120 §7 resource binding asking for resource ("" lets the
// broker choose). mellium's own writes an empty resource whatever it is
// asked.
func bind(resource string) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
			iq := xml.StartElement{Name: xml.Name{Space: nsClient, Local: "iq"},
				Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "set"}, {Name: xml.Name{Local: "id"}, Value: "bind-1"}}}
			b := xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}
			toks := []xml.Token{iq, b}
			if resource != "" {
				toks = append(toks, textElement(nsBind, "resource", resource)...)
			}
			toks = append(toks, b.End(), iq.End())
			w := s.TokenWriter()
			defer w.Close()
			for _, t := range toks {
				if err := w.EncodeToken(t); err != nil {
					return 0, nil, err
				}
			}
			if err := w.Flush(); err != nil {
				return 0, nil, err
			}
			rd := s.TokenReader()
			defer rd.Close()
			d := xml.NewTokenDecoder(rd)
			for {
				tok, err := d.Token()
				if err != nil {
					return 0, nil, err
				}
				start, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				var reply struct {
					Type string `xml:"type,attr"`
					ID   string `xml:"id,attr"`
					JID  string `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
				}
				if err := d.DecodeElement(&reply, &start); err != nil {
					return 0, nil, err
				}
				if reply.ID != "bind-1" {
					continue
				}
				if reply.Type != "result" {
					return 0, nil, fmt.Errorf("thing: bind %q refused", resource)
				}
				full, err := jid.Parse(strings.TrimSpace(reply.JID))
				if err != nil {
					return 0, nil, fmt.Errorf("thing: bind: %w", err)
				}
				s.UpdateAddr(full)
				return xmpp.Ready, nil, nil
			}
		},
	}
}
