package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// Store is what registration needs from storage.
type Store interface {
	storage.APIKeys
	SetCredentials(ctx context.Context, bare jid.JID, creds []storage.Credential) error
	DeleteAccount(ctx context.Context, bare jid.JID) error
}

// Router is what the logged-in handlers need from the router.
type Router interface {
	Route(ctx context.Context, s *stanza.Stanza)
	ReplyError(ctx context.Context, s *stanza.Stanza, e stanza.Error)
	Sessions() *session.Table
}

// Config holds the service's settings and dependencies.
type Config struct {
	Log     *slog.Logger
	Store   Store
	Router  Router     // for the logged-in handlers; nil if Register is not called
	Events  *event.Bus // optional
	Metrics *Metrics   // nil: unregistered collectors
	Sealer  *Sealer

	// Enabled serves registration before login; Open also accepts
	// unsigned registrations, OpenRatePerIP per hour per IP address.
	Enabled       bool
	Open          bool
	OpenRatePerIP int
	// TimestampWindow bounds |oauth_timestamp - now|; NonceTTL (at least
	// twice the window) is how long nonces are remembered; TokenTTL is the
	// life of a form's oauth_token.
	TimestampWindow time.Duration
	NonceTTL        time.Duration
	TokenTTL        time.Duration
	// MinPasswordLength in characters; Iterations of PBKDF2 for new
	// credentials.
	MinPasswordLength int
	Iterations        int
	// AllowRemove lets logged-in users delete their account.
	AllowRemove bool
	// MaxTokens bounds the live form tokens (default 100000).
	MaxTokens int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service answers jabber:iq:register: before login for c2s (it is a
// c2s.Registrar), and after login through the router's muxes.
type Service struct {
	cfg       Config
	log       *slog.Logger
	m         *Metrics
	tokens    *tokens
	limit     *limiter
	lastPrune atomic.Int64 // unix nanoseconds of the last nonce pruning
}

// New validates cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("register: Store and Sealer are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 100_000
	}
	if cfg.MinPasswordLength <= 0 {
		cfg.MinPasswordLength = MinPasswordLength
	}
	switch {
	case cfg.TimestampWindow <= 0:
		return nil, errors.New("register: TimestampWindow must be positive")
	case cfg.NonceTTL < 2*cfg.TimestampWindow:
		return nil, fmt.Errorf("register: NonceTTL %s must be at least twice TimestampWindow %s", cfg.NonceTTL, cfg.TimestampWindow)
	case cfg.TokenTTL <= 0:
		return nil, errors.New("register: TokenTTL must be positive")
	case cfg.Open && cfg.OpenRatePerIP <= 0:
		return nil, errors.New("register: OpenRatePerIP must be positive when registration is open")
	case cfg.Iterations <= 0:
		return nil, errors.New("register: Iterations must be positive")
	}
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	s := &Service{
		cfg:    cfg,
		log:    cfg.Log.With("component", "register"),
		m:      m,
		tokens: newTokens(cfg.TokenTTL, cfg.MaxTokens),
		limit:  newLimiter(max(cfg.OpenRatePerIP, 1)),
	}
	return s, nil
}

// Features are the disco features to advertise on the server's domains.
func (s *Service) Features() []string {
	if !s.cfg.Enabled {
		return nil
	}
	return []string{stanza.NSRegister, NSSignature}
}

// Offer implements c2s.Registrar: the stream feature is advertised when
// registration is enabled.
func (s *Service) Offer(domain string) bool { return s.cfg.Enabled }

func ipOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func connOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// refusal is a registration refused: the stanza error for the client and
// the metric's result label.
type refusal struct {
	result string
	err    stanza.Error
}

func refuse(result string, cond stanza.Condition, text string) *refusal {
	return &refusal{result: result, err: stanza.Error{Condition: cond, Text: text}}
}

// HandleUnauthenticated implements c2s.Registrar: a form for a get, an
// account for a valid set.
func (s *Service) HandleUnauthenticated(ctx context.Context, domain string, remote net.Addr, st *stanza.Stanza) *stanza.Stanza {
	switch st.Type {
	case "get":
		return s.form(domain, remote, st)
	case "set":
	default:
		return nil // a result or error: nothing was asked
	}
	el, err := st.Element()
	if err != nil {
		return st.ErrorReply(stanza.E(stanza.BadRequest, "the iq is not well-formed"))
	}
	q, err := parseQuery(el)
	if err != nil {
		return st.ErrorReply(stanza.AsError(err))
	}
	if q.remove {
		return st.ErrorReply(stanza.E(stanza.NotAuthorized, "log in to remove your account"))
	}
	if !s.cfg.Enabled {
		return st.ErrorReply(stanza.E(stanza.NotAllowed, "in-band registration is closed on this server"))
	}
	kind := "signed"
	if q.get("oauth_signature") == "" && q.get("oauth_consumer_key") == "" {
		kind = "open"
	}
	var r *refusal
	if kind == "signed" {
		r = s.registerSigned(ctx, domain, remote, st, q)
	} else {
		r = s.registerOpen(ctx, domain, remote, q)
	}
	if r != nil {
		s.m.Registrations.WithLabelValues(kind, r.result).Inc()
		s.log.Debug("registration refused", "kind", kind, "result", r.result, "remote", ipOf(remote), "reason", r.err.Text)
		return st.ErrorReply(r.err)
	}
	s.m.Registrations.WithLabelValues(kind, "ok").Inc()
	return st.Result()
}

// form hands out the registration form with a token for this connection.
func (s *Service) form(domain string, remote net.Addr, st *stanza.Stanza) *stanza.Stanza {
	if !s.cfg.Enabled {
		return st.ErrorReply(stanza.E(stanza.NotAllowed, "in-band registration is closed on this server"))
	}
	tok, secret, ok := s.tokens.issue(connOf(remote), domain, s.cfg.Now())
	if !ok {
		return st.ErrorReply(stanza.Error{Condition: stanza.ResourceConstraint, Text: "too many registrations in progress; retry in a minute"})
	}
	s.m.Forms.Inc()
	instr := "Account creation requires a manufacturer API key: sign this form (XEP-0348, HMAC-SHA1) with the key and its secret."
	if s.cfg.Open {
		instr = "Choose an account name and a password of at least " + strconv.Itoa(s.cfg.MinPasswordLength) + " characters."
	}
	return st.Result(renderForm(instr, tok, secret, s.cfg.Open))
}

// registerSigned checks a form signed with an API key and creates the
// account. Checks run cheapest first, and the signature before anything
// that would tell an unauthenticated client more than "bad signature".
func (s *Service) registerSigned(ctx context.Context, domain string, remote net.Addr, st *stanza.Stanza, q *query) *refusal {
	if !q.form {
		return refuse("invalid", stanza.BadRequest, "a signed registration must be a data form")
	}
	if ft := q.get(formType); ft != NSSignature {
		return refuse("invalid", stanza.BadRequest, "the form's FORM_TYPE must be "+NSSignature)
	}
	if m := q.get("oauth_signature_method"); m != "HMAC-SHA1" {
		return refuse("invalid", stanza.BadRequest, "oauth_signature_method '"+shorten(m)+"' is not supported; use HMAC-SHA1")
	}
	if v := q.get("oauth_version"); v != "" && v != "1.0" {
		return refuse("invalid", stanza.BadRequest, "oauth_version must be 1.0")
	}
	now := s.cfg.Now()
	keyID := q.get("oauth_consumer_key")
	tok := q.get("oauth_token")
	tokSecret, ok := s.tokens.secret(tok, connOf(remote), domain, now)
	if !ok {
		return refuse("token", stanza.BadRequest, "unknown or expired oauth_token: ask for a new registration form on this stream")
	}
	key, err := s.cfg.Store.APIKey(ctx, keyID)
	if errors.Is(err, storage.ErrNotFound) {
		return refuse("unknown_key", stanza.BadRequest, "unknown API key '"+shorten(keyID)+"'")
	}
	if err != nil {
		return s.storeFailure("api key lookup", err)
	}
	secret, err := s.cfg.Sealer.Open(key.Key, key.Sealed)
	if err != nil {
		s.log.Error("api key secret does not open: was data_dir/secret replaced?", "key", key.Key)
		return refuse("error", stanza.InternalServerError, "this API key cannot be verified on this server")
	}
	tos := []string{domain}
	if !st.To.IsZero() && st.To.String() != domain {
		tos = append(tos, st.To.String())
	}
	variant, ok := Verify(q.fields, secret, tokSecret, tos...)
	if !ok {
		return refuse("bad_signature", stanza.BadRequest, "the signature does not match: sign the submitted form (XEP-0348, HMAC-SHA1) with the API key's secret and the form's oauth_token_secret")
	}
	s.m.Signatures.WithLabelValues(string(variant)).Inc()
	// The signature proves knowledge of the secret; from here on the
	// device is told exactly what is wrong.
	ts, err := strconv.ParseInt(q.get("oauth_timestamp"), 10, 64)
	if err != nil {
		return refuse("stale", stanza.BadRequest, "oauth_timestamp must be seconds since 1970-01-01 UTC")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > s.cfg.TimestampWindow || -d > s.cfg.TimestampWindow {
		return refuse("stale", stanza.BadRequest, fmt.Sprintf("oauth_timestamp is %s away from the server's clock (allowed: %s); check the device's clock",
			d.Abs().Round(time.Second), s.cfg.TimestampWindow))
	}
	if !key.Active(now) {
		if !key.Revoked.IsZero() {
			return refuse("inactive", stanza.Forbidden, "API key '"+key.Key+"' has been revoked")
		}
		return refuse("inactive", stanza.Forbidden, "API key '"+key.Key+"' expired on "+key.Expires.UTC().Format(time.RFC3339))
	}
	if key.Domain != "" && key.Domain != domain {
		return refuse("domain", stanza.Forbidden, "API key '"+key.Key+"' creates accounts on "+key.Domain+" only")
	}
	if key.Remaining() == 0 {
		return refuse("quota", stanza.Forbidden, fmt.Sprintf("API key '%s' has created all the %d accounts it may", key.Key, key.Accounts))
	}
	nonce := q.get("oauth_nonce")
	if nonce == "" || len(nonce) > 128 {
		return refuse("replay", stanza.BadRequest, "oauth_nonce must have 1 to 128 characters")
	}
	s.pruneNonces(ctx, now)
	if err := s.cfg.Store.UseNonce(ctx, key.Key, nonce, now, now.Add(s.cfg.NonceTTL)); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return refuse("replay", stanza.BadRequest, "oauth_nonce was already used: sign again with a new nonce and timestamp")
		}
		return s.storeFailure("nonce", err)
	}
	if r := s.create(ctx, domain, remote, key, q); r != nil {
		return r
	}
	s.tokens.drop(tok)
	return nil
}

// registerOpen creates an account from an unsigned submission, when the
// operator opened registration.
func (s *Service) registerOpen(ctx context.Context, domain string, remote net.Addr, q *query) *refusal {
	if !s.cfg.Open {
		return refuse("closed", stanza.NotAllowed, "registration on this server requires an API key: sign the form (XEP-0348) with the key and secret your operator issued")
	}
	if wait, ok := s.limit.allow(ipOf(remote), s.cfg.Now()); !ok {
		return &refusal{result: "rate_limited", err: stanza.Error{Condition: stanza.ResourceConstraint,
			Text: "too many registrations from your address; retry in " + wait.Round(time.Minute).String()}}
	}
	return s.create(ctx, domain, remote, storage.APIKey{}, q)
}

// create checks the user name and password and creates the account,
// taking a slot of key when it is set.
func (s *Service) create(ctx context.Context, domain string, remote net.Addr, key storage.APIKey, q *query) *refusal {
	user, pw := q.get("username"), q.get("password")
	if user == "" || !q.has("password") {
		return refuse("invalid", stanza.NotAcceptable, "both username and password are required")
	}
	bare, err := jid.New(user, domain, "")
	if err != nil || bare.Local() == "" {
		return refuse("invalid", stanza.NotAcceptable, "'"+shorten(user)+"' is not a valid account name (RFC 7622: no spaces, '@', '/', ':' or '\"')")
	}
	if err := CheckPassword(pw, bare.Local(), s.cfg.MinPasswordLength); err != nil {
		return refuse("invalid", stanza.NotAcceptable, userText(err))
	}
	creds, err := NewCredentials(pw, s.cfg.Iterations)
	if err != nil {
		return refuse("invalid", stanza.NotAcceptable, "the password contains characters that are not allowed (RFC 8265)")
	}
	r := storage.Registration{Account: bare, Key: key.Key, Time: s.cfg.Now(), Remote: ipOf(remote)}
	err = s.cfg.Store.RegisterAccount(ctx, storage.Account{JID: bare, Credentials: creds}, r)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrExists):
		return refuse("conflict", stanza.Conflict, "the account "+bare.String()+" already exists")
	case errors.Is(err, storage.ErrQuota):
		return refuse("quota", stanza.Forbidden, fmt.Sprintf("API key '%s' has created all the %d accounts it may", key.Key, key.Accounts))
	case errors.Is(err, storage.ErrKeyInactive):
		return refuse("inactive", stanza.Forbidden, "API key '"+key.Key+"' is revoked or expired")
	case errors.Is(err, storage.ErrNotFound):
		return refuse("unknown_key", stanza.BadRequest, "unknown API key '"+key.Key+"'")
	default:
		return s.storeFailure("register account", err)
	}
	s.log.Info("account registered", "account", bare.String(), "key", key.Key, "remote", r.Remote)
	if s.cfg.Events != nil {
		s.cfg.Events.Publish(ctx, event.AccountCreated{JID: bare})
	}
	return nil
}

func (s *Service) storeFailure(op string, err error) *refusal {
	s.log.Warn("registration failed in storage", "op", op, "err", err)
	return &refusal{result: "error", err: stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError, Text: "the server cannot register accounts right now; retry later"}}
}

// pruneNonces forgets expired nonces at most once per half NonceTTL, from
// the request path: no background goroutine to start and stop.
func (s *Service) pruneNonces(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if now.UnixNano()-last < int64(s.cfg.NonceTTL/2) || !s.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := s.cfg.Store.PruneNonces(ctx, now); err != nil {
		s.log.Warn("pruning nonces failed", "err", err)
	}
}

// userText strips the package prefix from an error meant for the user.
func userText(err error) string { return strings.TrimPrefix(err.Error(), "register: ") }
