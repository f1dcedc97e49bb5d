package register

import (
	"context"
	"errors"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// Register installs the logged-in handlers (XEP-0077 §3.2, §3.3): on the
// server mux for iqs to the domain, and on the account mux for iqs without
// 'to', which RFC 6120 §10.3 sends to the user's own account.
func (s *Service) Register(server, account *router.Mux) {
	for _, m := range []*router.Mux{server, account} {
		m.HandleFunc("get", stanza.NSRegister, "query", s.handleGet)
		m.HandleFunc("set", stanza.NSRegister, "query", s.handleSet)
	}
}

// own reports whether s is about the sender's own account: addressed to
// its domain, or to its own bare JID.
func own(s *stanza.Stanza) bool {
	return s.To.IsDomain() && s.To.Domain() == s.From.Domain() || s.To.Bare() == s.From.Bare()
}

func (s *Service) handleGet(ctx context.Context, st *stanza.Stanza) {
	if !own(st) {
		s.cfg.Router.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
		return
	}
	q := xml.New(stanza.NSRegister, "query").Add(
		xml.New(stanza.NSRegister, "instructions").SetText("Send your user name and a new password to change the password, or <remove/> to delete this account."),
		xml.New(stanza.NSRegister, "registered"),
		xml.New(stanza.NSRegister, "username").SetText(st.From.Local()),
		xml.New(stanza.NSRegister, "password"),
	)
	s.cfg.Router.Route(ctx, st.Result(q.Append(nil, "")))
}

func (s *Service) handleSet(ctx context.Context, st *stanza.Stanza) {
	if !own(st) {
		s.cfg.Router.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
		return
	}
	el, err := st.Element()
	if err != nil {
		s.cfg.Router.ReplyError(ctx, st, stanza.E(stanza.BadRequest, "the iq is not well-formed"))
		return
	}
	q, err := parseQuery(el)
	if err != nil {
		s.cfg.Router.ReplyError(ctx, st, stanza.AsError(err))
		return
	}
	if q.remove {
		s.remove(ctx, st)
		return
	}
	s.changePassword(ctx, st, q)
}

// changePassword replaces the account's verifiers. Other sessions stay
// logged in: they authenticated with the old password legitimately.
func (s *Service) changePassword(ctx context.Context, st *stanza.Stanza, q *query) {
	fail := func(result string, e stanza.Error) {
		s.m.Changes.WithLabelValues("password", result).Inc()
		s.cfg.Router.ReplyError(ctx, st, e)
	}
	bare := st.From.Bare()
	if u := q.get("username"); u != "" {
		if j, err := jid.New(u, bare.Domain(), ""); err != nil || j != bare {
			fail("invalid", stanza.E(stanza.NotAllowed, "you can change the password of your own account only ("+bare.Local()+")"))
			return
		}
	}
	if !q.has("password") {
		fail("invalid", stanza.E(stanza.BadRequest, "send <username/> and <password/> to change the password, or <remove/>"))
		return
	}
	pw := q.get("password")
	if err := CheckPassword(pw, bare.Local(), s.cfg.MinPasswordLength); err != nil {
		fail("invalid", stanza.E(stanza.NotAcceptable, userText(err)))
		return
	}
	creds, err := NewCredentials(pw, s.cfg.Iterations)
	if err != nil {
		fail("invalid", stanza.E(stanza.NotAcceptable, "the password contains characters that are not allowed (RFC 8265)"))
		return
	}
	if err := s.cfg.Store.SetCredentials(ctx, bare, creds); err != nil {
		s.log.Warn("password change failed in storage", "account", bare.String(), "err", err)
		fail("error", stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError, Text: "the password could not be changed; retry later"})
		return
	}
	s.m.Changes.WithLabelValues("password", "ok").Inc()
	s.log.Info("password changed", "account", bare.String())
	s.cfg.Router.Route(ctx, st.Result())
}

// remove deletes the account, answers, then closes every session of it
// with <not-authorized/> (XEP-0077 §3.2): the answer is queued first, and a
// closing stream flushes its queue before the stream error.
func (s *Service) remove(ctx context.Context, st *stanza.Stanza) {
	bare := st.From.Bare()
	if !s.cfg.AllowRemove {
		s.m.Changes.WithLabelValues("remove", "closed").Inc()
		s.cfg.Router.ReplyError(ctx, st, stanza.E(stanza.NotAllowed, "accounts are removed by the operator on this server"))
		return
	}
	if err := s.cfg.Store.DeleteAccount(ctx, bare); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.m.Changes.WithLabelValues("remove", "error").Inc()
		s.log.Warn("account removal failed in storage", "account", bare.String(), "err", err)
		s.cfg.Router.ReplyError(ctx, st, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError, Text: "the account could not be removed; retry later"})
		return
	}
	s.m.Changes.WithLabelValues("remove", "ok").Inc()
	s.log.Info("account removed by its user", "account", bare.String())
	s.cfg.Router.Route(ctx, st.Result())
	for _, sess := range s.cfg.Router.Sessions().Resources(bare) {
		sess.Close("not-authorized", "this account was removed")
	}
	if s.cfg.Events != nil {
		s.cfg.Events.Publish(ctx, event.AccountDeleted{JID: bare})
	}
}
