package im

import (
	"context"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// subState is one side's view of a subscription (RFC 6121 Appendix A):
// the subscription itself, Pending Out (ask), Pending In (a stored
// request) and pre-approval.
type subState struct {
	Sub      storage.Subscription
	Out      bool // pending out
	In       bool // pending in
	Approved bool // pre-approved
}

func (s subState) to() bool   { return s.Sub == storage.To || s.Sub == storage.Both }
func (s subState) from() bool { return s.Sub == storage.From || s.Sub == storage.Both }

func (s *subState) set(to, from bool) {
	switch {
	case to && from:
		s.Sub = storage.Both
	case to:
		s.Sub = storage.To
	case from:
		s.Sub = storage.From
	default:
		s.Sub = storage.None
	}
}

// The transitions below are RFC 6121 Appendix A.2 (outbound, sent by the
// user) and A.3 (inbound, received for the user), with §3.4 pre-approval.
// Each returns the new state and whether the stanza goes on (route for
// outbound, deliver for inbound).

// outSubscribe: A.2.1. The request is always routed, so that a contact
// whose server lost the subscription answers again (§3.1.3 auto-reply).
func outSubscribe(s subState) (subState, bool) {
	if !s.to() {
		s.Out = true
	}
	return s, true
}

// outSubscribed: A.2.2 with §3.4: without a pending request it becomes a
// pre-approval and is not routed.
func outSubscribed(s subState) (subState, bool) {
	switch {
	case s.In:
		s.In, s.Approved = false, false
		s.set(s.to(), true)
		return s, true
	case !s.from():
		s.Approved = true
	}
	return s, false
}

// outUnsubscribe: A.2.3.
func outUnsubscribe(s subState) (subState, bool) {
	if s.to() || s.Out {
		s.Out = false
		s.set(false, s.from())
		return s, true
	}
	return s, false
}

// outUnsubscribed: A.2.4; it also cancels a pre-approval.
func outUnsubscribed(s subState) (subState, bool) {
	s.Approved = false
	if s.In || s.from() {
		s.In = false
		s.set(s.to(), false)
		return s, true
	}
	return s, false
}

// inSubscribe: A.3.1. autoReply is set when the server answers
// "subscribed" on the user's behalf: the contact is already subscribed, or
// the user pre-approved it (§3.1.3, §3.4).
func inSubscribe(s subState) (next subState, deliver, autoReply bool) {
	switch {
	case s.from():
		return s, false, true
	case s.Approved:
		s.Approved, s.In = false, false
		s.set(s.to(), true)
		return s, false, true
	case s.In:
		return s, false, false
	}
	s.In = true
	return s, true, false
}

// inSubscribed: A.3.2.
func inSubscribed(s subState) (subState, bool) {
	if s.Out && !s.to() {
		s.Out = false
		s.set(true, s.from())
		return s, true
	}
	return s, false
}

// inUnsubscribe: A.3.3.
func inUnsubscribe(s subState) (subState, bool) {
	if s.In || s.from() {
		s.In = false
		s.set(s.to(), false)
		return s, true
	}
	return s, false
}

// inUnsubscribed: A.3.4.
func inUnsubscribed(s subState) (subState, bool) {
	if s.Out || s.to() {
		s.Out = false
		s.set(false, s.from())
		return s, true
	}
	return s, false
}

// change is the outcome of one transition applied to storage.
type change struct {
	prev, next subState
	item       storage.RosterItem
	pushed     bool // the roster item changed: push it
	removed    bool // the roster item was deleted
	ver        int64
	pass       bool // route or deliver the stanza
	autoReply  bool
}

type transitionFunc func(subState) (subState, bool)

// transition reads owner's state toward contact, applies f and stores the
// result, under the owner's lock. raw is kept as the pending request when
// the state gains Pending In.
func (s *Service) transition(ctx context.Context, owner, contact jid.JID, raw []byte, inbound bool, f func(subState) (subState, bool, bool)) (change, error) {
	l := s.lock(owner)
	defer l.Unlock()
	var c change
	it, found, err := s.getItem(ctx, owner, contact)
	if err != nil {
		return c, err
	}
	in, err := s.hasRequest(ctx, owner, contact)
	if err != nil {
		return c, err
	}
	c.prev = subState{Sub: it.Subscription, Out: it.Ask, In: in, Approved: it.Approved}
	c.next, c.pass, c.autoReply = f(c.prev)
	if c.next.In != c.prev.In {
		if c.next.In {
			err = s.store.AddSubscriptionRequest(ctx, owner, storage.SubscriptionRequest{From: contact, Raw: raw, Received: s.cfg.Now()})
		} else {
			err = s.store.RemoveSubscriptionRequest(ctx, owner, contact)
		}
		if err != nil {
			return c, err
		}
	}
	it.Contact = contact
	it.Subscription, it.Ask, it.Approved = c.next.Sub, c.next.Out, c.next.Approved
	c.item = it
	itemChanged := c.next.Sub != c.prev.Sub || c.next.Out != c.prev.Out || c.next.Approved != c.prev.Approved
	if !itemChanged {
		return c, nil
	}
	if !found && inbound {
		// RFC 6121 §3.1.3: an inbound request alone creates no roster item;
		// nothing else can change a state that has no item.
		return c, nil
	}
	// The quota applies to what the user adds, not to what a contact's
	// answer changes on an existing item.
	quota := 0
	if !found {
		quota = s.cfg.MaxRoster
	}
	c.ver, err = s.putItem(ctx, owner, it, quota)
	if err != nil {
		return c, err
	}
	c.pushed = true
	return c, nil
}

func two(f transitionFunc) func(subState) (subState, bool, bool) {
	return func(s subState) (subState, bool, bool) {
		n, ok := f(s)
		return n, ok, false
	}
}

// restamp returns st with from and to set to the bare JIDs (RFC 6121
// §3.1.2: subscription stanzas travel between bare JIDs).
func restamp(st *stanza.Stanza, from, to jid.JID) *stanza.Stanza {
	raw := xml.SetAttrs(make([]byte, 0, len(st.Raw)+64), st.Raw, "from", from.String(), "to", to.String())
	return &stanza.Stanza{Kind: st.Kind, Raw: raw, From: from, To: to, Type: st.Type, ID: st.ID, Payload: st.Payload}
}

// withTo returns st addressed to to (from unchanged).
func withTo(st *stanza.Stanza, to jid.JID) *stanza.Stanza {
	raw := xml.SetAttrs(make([]byte, 0, len(st.Raw)+len(to.String())+8), st.Raw, "to", to.String())
	return &stanza.Stanza{Kind: st.Kind, Raw: raw, From: st.From, To: to, Type: st.Type, ID: st.ID, Payload: st.Payload}
}

// outboundSubscription handles subscribe, subscribed, unsubscribe and
// unsubscribed sent by a local user (RFC 6121 §3, Appendix A.2).
func (s *Service) outboundSubscription(ctx context.Context, from *session.Session, st *stanza.Stanza) {
	owner, contact := from.JID().Bare(), st.To.Bare()
	if owner == contact {
		return
	}
	out := restamp(st, owner, contact)
	var f func(subState) (subState, bool, bool)
	switch st.Type {
	case "subscribe":
		f = two(outSubscribe)
	case "subscribed":
		f = two(outSubscribed)
	case "unsubscribe":
		f = two(outUnsubscribe)
	default:
		f = two(outUnsubscribed)
	}
	c, err := s.transition(ctx, owner, contact, nil, false, f)
	if err != nil {
		s.r.ReplyError(ctx, st, s.storageError("outbound "+st.Type, owner, err))
		return
	}
	if c.pushed {
		s.push(owner, c.ver, itemElement(c.item))
	}
	if !c.pass {
		return
	}
	s.r.Route(ctx, out)
	switch st.Type {
	case "subscribed":
		// §3.1.5: the new subscriber gets the user's current presence.
		s.sendPresenceFrom(ctx, owner, contact)
	case "unsubscribed":
		// §3.2.2: a cancelled subscriber sees the user go unavailable.
		if c.prev.from() {
			s.sendUnavailableFrom(ctx, owner, contact)
		}
	}
}

// inboundSubscription handles a subscription stanza for a local account
// (RFC 6121 §3, Appendix A.3).
func (s *Service) inboundSubscription(ctx context.Context, st *stanza.Stanza) {
	owner, contact := st.To.Bare(), st.From.Bare()
	if contact.IsZero() || contact == owner {
		return
	}
	if s.cached(owner) == nil {
		exists, blocked, err := s.offlineChecks(ctx, owner, st.From)
		if err != nil {
			s.log.Warn("inbound subscription dropped: storage failed", "type", st.Type, "to", owner, "err", err)
			return
		}
		if !exists {
			if st.Type == "subscribe" {
				// §3.1.3: no such user.
				s.r.Route(ctx, stanza.Build(stanza.Presence, owner, contact, "unsubscribed", ""))
			}
			return
		}
		if blocked {
			return
		}
	}
	in := restamp(st, contact, owner)
	var f func(subState) (subState, bool, bool)
	switch st.Type {
	case "subscribe":
		f = inSubscribe
	case "subscribed":
		f = two(inSubscribed)
	case "unsubscribe":
		f = two(inUnsubscribe)
	default:
		f = two(inUnsubscribed)
	}
	c, err := s.transition(ctx, owner, contact, in.Raw, true, f)
	if err != nil {
		s.log.Warn("inbound subscription dropped: storage failed", "type", st.Type, "to", owner, "err", err)
		return
	}
	if c.autoReply {
		s.r.Route(ctx, stanza.Build(stanza.Presence, owner, contact, "subscribed", ""))
		s.sendPresenceFrom(ctx, owner, contact)
	}
	if c.pass {
		if !s.deliverAvailable(owner, in) && st.Type != "subscribe" {
			// A request waits in the pending list; the other answers are
			// kept offline so that the user learns of them at login.
			s.storeSubscriptionOffline(ctx, owner, in)
		}
	}
	if c.pushed {
		s.push(owner, c.ver, itemElement(c.item))
	}
	if st.Type == "unsubscribe" && c.prev.from() {
		// §3.3.3: the former subscriber sees every resource go offline.
		s.sendUnavailableFrom(ctx, owner, contact)
	}
}

// deliverAvailable sends st to every available resource of owner and
// reports whether one took it.
func (s *Service) deliverAvailable(owner jid.JID, st *stanza.Stanza) bool {
	ok := false
	for _, sess := range s.r.Sessions().Resources(owner) {
		if sess.Available() && s.r.Deliver(sess, st) {
			ok = true
		}
	}
	return ok
}

// sendPresenceFrom sends owner's current presence, one stanza per
// available resource, to contact.
func (s *Service) sendPresenceFrom(ctx context.Context, owner, contact jid.JID) {
	for _, sess := range s.r.Sessions().Resources(owner) {
		if avail, _, last := sess.Presence(); avail && last != nil {
			s.r.Route(ctx, withTo(last, contact))
		}
	}
}

// sendUnavailableFrom sends unavailable from each available resource of
// owner to contact.
func (s *Service) sendUnavailableFrom(ctx context.Context, owner, contact jid.JID) {
	for _, sess := range s.r.Sessions().Resources(owner) {
		if sess.Available() {
			s.r.Route(ctx, stanza.Build(stanza.Presence, sess.JID(), contact, "unavailable", ""))
		}
	}
}

// offlineChecks answers, for an account without sessions, whether it
// exists and whether it blocks from.
func (s *Service) offlineChecks(ctx context.Context, owner, from jid.JID) (exists, blocked bool, err error) {
	if _, err := s.store.Account(ctx, owner); err != nil {
		if isNotFound(err) {
			return false, false, nil
		}
		return false, false, err
	}
	list, err := s.store.BlockList(ctx, owner)
	if err != nil {
		return true, false, err
	}
	if len(list) == 0 {
		return true, false, nil
	}
	a := &account{}
	a.setBlocked(list)
	return true, a.blocksLocked(from), nil
}
