package im

import (
	"context"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// carbonsSet enables or disables XEP-0280 carbons for the sending session.
func (s *Service) carbonsSet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	sess := s.r.Sessions().Get(st.From)
	if sess == nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	sess.SetCarbons(st.Payload.Local == "enable")
	s.r.Route(ctx, st.Result())
}

// carbonTargets returns the sessions of bare with carbons enabled, but for
// those skip selects. It allocates nothing when there are none.
func (s *Service) carbonTargets(bare jid.JID, skip func(*session.Session) bool) []*session.Session {
	var out []*session.Session
	for _, o := range s.r.Sessions().Resources(bare) {
		if o.Carbons() && !skip(o) {
			out = append(out, o)
		}
	}
	return out
}

// eligibleForCarbons applies XEP-0280 §6: chat messages, and normal ones
// with a body; never a message marked private or no-copy, nor a carbon.
func eligibleForCarbons(st *stanza.Stanza) bool {
	typ := messageType(st)
	if typ != "chat" && typ != "normal" {
		return false
	}
	el, err := st.Element()
	if err != nil {
		return false
	}
	body := false
	for _, c := range el.Children {
		switch {
		case c.Name.Space == stanza.NSCarbons:
			return false // <private/>, or already a <sent/>/<received/>
		case c.Name.Space == stanza.NSHints && c.Name.Local == "no-copy":
			return false
		case c.Name.Space == stanza.NSClient && c.Name.Local == "body":
			body = true
		}
	}
	return typ == "chat" || body
}

// sendReceivedCarbons copies a delivered message to the account's other
// carbons-enabled sessions (XEP-0280 §7).
func (s *Service) sendReceivedCarbons(bare jid.JID, st *stanza.Stanza, got func(*session.Session) bool) {
	targets := s.carbonTargets(bare, got)
	if len(targets) == 0 || !eligibleForCarbons(st) {
		return
	}
	for _, o := range targets {
		s.r.Deliver(o, carbon("received", bare, o.JID(), st))
	}
}

// carbon wraps st for one of the account's sessions: the original keeps
// its bytes, with jabber:client declared since it moves into another
// namespace (XEP-0297). The wrapper is written directly: stanza.Build would
// parse the payload to learn its name, which is known.
func carbon(kind string, bare, to jid.JID, st *stanza.Stanza) *stanza.Stanza {
	b := make([]byte, 0, len(st.Raw)+256)
	b = append(b, "<message from='"...)
	b = xml.EscapeAttr(b, bare.String())
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, to.String())
	if st.Type != "" {
		b = append(b, "' type='"...)
		b = xml.EscapeAttr(b, st.Type)
	}
	b = append(b, "'><"+kind+" xmlns='"+stanza.NSCarbons+"'><forwarded xmlns='"+stanza.NSForward+"'>"...)
	b = xml.EnsureNamespace(b, st.Raw, stanza.NSClient)
	b = append(b, "</forwarded></"+kind+"></message>"...)
	return &stanza.Stanza{Kind: stanza.Message, Raw: b, From: bare, To: to, Type: st.Type,
		Payload: xml.Name{Space: stanza.NSCarbons, Local: kind}}
}

// isCarbonCopy reports whether st is a carbon the server made for the
// session was.
func isCarbonCopy(st *stanza.Stanza, was jid.JID) bool {
	return st.From == was.Bare() && st.Payload.Space == stanza.NSCarbons
}
