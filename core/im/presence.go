package im

import (
	"bytes"
	"context"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// Outbound processes what a local session sent (router.Users): presence
// in full, messages for carbons. Everything else is routed as it is.
func (s *Service) Outbound(ctx context.Context, from *session.Session, st *stanza.Stanza) bool {
	switch st.Kind {
	case stanza.Presence:
		s.outboundPresence(ctx, from, st)
		return true
	case stanza.Message:
		return s.outboundMessage(ctx, from, st)
	}
	return false
}

// Inbound delivers a message or presence to a local account (router.Users).
func (s *Service) Inbound(ctx context.Context, st *stanza.Stanza) {
	switch st.Kind {
	case stanza.Message:
		s.inboundMessage(ctx, st)
	case stanza.Presence:
		s.inboundPresence(ctx, st)
	}
}

func (s *Service) outboundPresence(ctx context.Context, from *session.Session, st *stanza.Stanza) {
	if st.To.IsZero() {
		switch st.Type {
		case "":
			s.availablePresence(ctx, from, st)
		case "unavailable":
			s.unavailablePresence(ctx, from, st)
		}
		// Anything else without an address has no meaning (RFC 6121
		// §4.7.1): dropped.
		return
	}
	switch st.Type {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.outboundSubscription(ctx, from, st)
		return
	case "":
		// §4.6.2: directed presence to someone not subscribed is tracked,
		// so that they learn when the session ends.
		if st.To.Bare() != from.JID().Bare() && !s.subscribedFrom(from.JID().Bare(), st.To.Bare()) {
			from.AddDirected(st.To)
		}
	case "unavailable":
		from.RemoveDirected(st.To)
	}
	s.r.Route(ctx, st)
}

// subscribedFrom reports whether contact receives owner's broadcasts.
func (s *Service) subscribedFrom(owner, contact jid.JID) bool {
	a := s.cached(owner)
	if a == nil {
		return false
	}
	it, ok := a.item(contact)
	return ok && (it.Subscription == storage.From || it.Subscription == storage.Both)
}

// priorityOf reads <priority/> without parsing presences that have none,
// which is most of them.
func priorityOf(st *stanza.Stanza) int {
	if !bytes.Contains(st.Raw, []byte("priority")) {
		return 0
	}
	return router.PresencePriority(st)
}

func showOf(st *stanza.Stanza) string {
	if !bytes.Contains(st.Raw, []byte("show")) {
		return ""
	}
	el, err := st.Element()
	if err != nil {
		return ""
	}
	if c := el.Child(stanza.NSClient, "show"); c != nil {
		return c.Text
	}
	return ""
}

// availablePresence broadcasts available presence (RFC 6121 §4.2, §4.4);
// the first one of a session also probes the contacts, re-delivers pending
// subscription requests and flushes offline messages.
func (s *Service) availablePresence(ctx context.Context, sess *session.Session, st *stanza.Stanza) {
	prio := priorityOf(st)
	initial := sess.SetPresence(st, true, prio)
	bare := sess.JID().Bare()
	a, err := s.ready(ctx, bare)
	if err != nil {
		s.log.Warn("presence not broadcast to contacts: roster unavailable", "jid", sess.JID(), "err", err)
		a = nil
	}
	s.broadcast(ctx, sess, a, st, true)
	if s.events != nil && s.events.HasSubscribers(event.NamePresenceChanged) {
		s.publishPresence(ctx, sess.JID(), true, showOf(st), prio)
	}
	if initial {
		s.initialPresence(ctx, sess, a, prio)
	}
}

func (s *Service) unavailablePresence(ctx context.Context, sess *session.Session, st *stanza.Stanza) {
	if sess.SetUnavailable() {
		a, err := s.ready(ctx, sess.JID().Bare())
		if err != nil {
			a = nil
		}
		s.broadcast(ctx, sess, a, st, false)
		s.publishPresence(ctx, sess.JID(), false, "", 0)
	}
	for _, to := range sess.TakeDirected() {
		s.r.Route(ctx, stanza.Build(stanza.Presence, sess.JID(), to, "unavailable", ""))
	}
}

// broadcast sends a presence of sess to every contact subscribed to it and
// to the account's own available resources (self included when
// includeSelf). a may be nil when the roster could not be loaded.
func (s *Service) broadcast(ctx context.Context, sess *session.Session, a *account, st *stanza.Stanza, includeSelf bool) {
	if a != nil {
		for _, c := range a.fanoutList() {
			s.presenceTo(ctx, st, c)
		}
	}
	for _, o := range s.r.Sessions().Resources(sess.JID().Bare()) {
		if o == sess {
			if includeSelf {
				s.r.Deliver(o, st)
			}
			continue
		}
		if o.Available() {
			s.r.Deliver(o, st)
		}
	}
}

// presenceTo sends broadcast presence to one contact. A local contact is
// served here without a trip through the router: its available resources
// get the stanza unless it blocks the sender; an offline one gets nothing
// (§4.2.2, presence is not stored).
func (s *Service) presenceTo(ctx context.Context, st *stanza.Stanza, contact jid.JID) {
	if !s.isLocalUser(contact) {
		s.r.Route(ctx, withTo(st, contact))
		return
	}
	ca := s.cached(contact)
	if ca == nil || ca.blocks(st.From) {
		return
	}
	var out *stanza.Stanza
	for _, cs := range s.r.Sessions().Resources(contact) {
		if !cs.Available() {
			continue
		}
		if out == nil {
			out = withTo(st, contact)
		}
		s.r.Deliver(cs, out)
	}
}

// initialPresence runs once per availability of a session: probes (§4.3),
// pending subscription requests (§3.1.3), offline messages (XEP-0160).
func (s *Service) initialPresence(ctx context.Context, sess *session.Session, a *account, prio int) {
	bare := sess.JID().Bare()
	if a != nil {
		for _, c := range a.probeList() {
			s.probe(ctx, sess, c)
		}
	}
	reqs, err := s.store.SubscriptionRequests(ctx, bare)
	if err != nil {
		s.log.Warn("pending subscription requests not delivered", "jid", bare, "err", err)
	}
	for _, r := range reqs {
		if st, err := stanza.Parse(r.Raw); err == nil {
			s.r.Deliver(sess, st)
		}
	}
	if prio < 0 {
		return
	}
	if a == nil {
		// The roster did not load; offline messages need only the account.
		a = s.cached(bare)
	}
	if a != nil {
		s.flushOffline(ctx, a, sess)
	}
}

// probe asks contact's presence for a new session. A local contact is
// answered directly from its sessions' last presence, as its server would
// (§4.3.2); a remote one gets a probe from the user's bare JID.
func (s *Service) probe(ctx context.Context, sess *session.Session, contact jid.JID) {
	bare := sess.JID().Bare()
	if !s.isLocalUser(contact) {
		s.r.Route(ctx, stanza.Build(stanza.Presence, bare, contact, "probe", ""))
		return
	}
	ca := s.cached(contact)
	if ca == nil || ca.blocks(bare) {
		return
	}
	if it, ok := ca.item(bare); !ok || !(it.Subscription == storage.From || it.Subscription == storage.Both) {
		return
	}
	for _, cs := range s.r.Sessions().Resources(contact) {
		if avail, _, last := cs.Presence(); avail && last != nil {
			s.r.Deliver(sess, withTo(last, sess.JID()))
		}
	}
}

func (s *Service) inboundPresence(ctx context.Context, st *stanza.Stanza) {
	switch st.Type {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.inboundSubscription(ctx, st)
		return
	case "probe":
		s.inboundProbe(ctx, st)
		return
	}
	if !st.To.IsBare() {
		// §8.5.3: to a connected resource, else silently ignored.
		if sess := s.r.Sessions().Get(st.To); sess != nil {
			s.r.Deliver(sess, st)
		}
		return
	}
	// §8.5.2.1.1: to every available resource; none: ignored.
	s.deliverAvailable(st.To, st)
}

// inboundProbe answers a probe for a local account (§4.3.2): the last
// presence of each available resource to a subscriber, unavailable when
// there is none, unsubscribed to anyone else.
func (s *Service) inboundProbe(ctx context.Context, st *stanza.Stanza) {
	owner := st.To.Bare()
	prober := st.From
	if prober.IsZero() {
		return
	}
	reply := func(typ string) {
		s.r.Route(ctx, stanza.Build(stanza.Presence, owner, prober, typ, ""))
	}
	allowed := prober.Bare() == owner
	if !allowed {
		var (
			it    storage.RosterItem
			found bool
		)
		if a, err := s.ready(ctx, owner); a != nil && err == nil {
			if a.blocks(prober) {
				return
			}
			it, found = a.item(prober.Bare())
		} else {
			exists, blocked, err := s.offlineChecks(ctx, owner, prober)
			if err != nil {
				s.log.Warn("probe not answered: storage failed", "to", owner, "err", err)
				return
			}
			if blocked {
				return
			}
			if !exists {
				reply("unsubscribed")
				return
			}
			it, found, err = s.getItem(ctx, owner, prober.Bare())
			if err != nil {
				s.log.Warn("probe not answered: storage failed", "to", owner, "err", err)
				return
			}
		}
		allowed = found && (it.Subscription == storage.From || it.Subscription == storage.Both)
	}
	if !allowed {
		reply("unsubscribed")
		return
	}
	sent := false
	for _, sess := range s.r.Sessions().Resources(owner) {
		if avail, _, last := sess.Presence(); avail && last != nil {
			s.r.Route(ctx, withTo(last, prober))
			sent = true
		}
	}
	if !sent {
		reply("unavailable")
	}
}
