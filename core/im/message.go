package im

import (
	"context"
	"errors"
	"strconv"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

const (
	nsChatStates = "http://jabber.org/protocol/chatstates"
	delayText    = "Offline Storage"
	stampLayout  = "2006-01-02T15:04:05.000Z"
)

func messageType(st *stanza.Stanza) string {
	if st.Type == "" {
		return "normal"
	}
	return st.Type
}

// outboundMessage sends carbons of what a user sends (XEP-0280 §6); the
// message itself is routed by the router.
func (s *Service) outboundMessage(ctx context.Context, from *session.Session, st *stanza.Stanza) bool {
	bare := from.JID().Bare()
	copies := s.carbonTargets(bare, func(o *session.Session) bool { return o == from })
	if len(copies) == 0 || !eligibleForCarbons(st) {
		return false
	}
	if a := s.cached(bare); a != nil && a.blocks(st.To) {
		return false // the filter answers it; nothing was sent to copy
	}
	s.r.Route(ctx, st)
	for _, o := range copies {
		s.r.Deliver(o, carbon("sent", bare, o.JID(), st))
	}
	return true
}

// inboundMessage delivers a message to a local account (RFC 6121 §8.5).
func (s *Service) inboundMessage(ctx context.Context, st *stanza.Stanza) {
	typ := messageType(st)
	bare := st.To.Bare()
	if !st.To.IsBare() {
		if sess := s.r.Sessions().Get(st.To); sess != nil && s.r.Deliver(sess, st) {
			s.sendReceivedCarbons(bare, st, func(o *session.Session) bool { return o == sess })
			return
		}
		// §8.5.3.2.1: no such resource.
		switch typ {
		case "groupchat":
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
			return
		case "headline", "error":
			return
		}
		// chat and normal: as if sent to the bare JID.
	}
	switch typ {
	case "error":
		return
	case "groupchat":
		// §8.5.2.1.1: never delivered to a bare JID.
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
		return
	case "headline":
		for _, sess := range s.r.Sessions().Resources(bare) {
			if avail, prio, _ := sess.Presence(); avail && prio >= 0 {
				s.r.Deliver(sess, st)
			}
		}
		return
	}
	var got []*session.Session
	for _, sess := range s.r.BestResources(bare) {
		if s.r.Deliver(sess, st) {
			got = append(got, sess)
		}
	}
	if len(got) > 0 {
		s.sendReceivedCarbons(bare, st, func(o *session.Session) bool {
			for _, g := range got {
				if g == o {
					return true
				}
			}
			return false
		})
		return
	}
	s.storeOffline(ctx, st)
}

// worthStoring reports whether a message holds content to keep offline
// (XEP-0160, XEP-0334): anything but chat states, threads and hints, and no
// <no-store/>. content says whether it holds such content at all.
func worthStoring(el *xml.Element) (store, content bool) {
	noStore := false
	for _, c := range el.Children {
		switch {
		case c.Name.Space == stanza.NSHints:
			if c.Name.Local == "no-store" {
				noStore = true
			}
		case c.Name.Space == nsChatStates:
		case c.Name.Space == stanza.NSClient && c.Name.Local == "thread":
		default:
			content = true
		}
	}
	return content && !noStore, content
}

// storeOffline keeps a chat or normal message for an account with no
// available resource, stamped with a delay (XEP-0203), or answers why not.
func (s *Service) storeOffline(ctx context.Context, st *stanza.Stanza) {
	owner := st.To.Bare()
	el, err := st.Element()
	if err != nil {
		return
	}
	store, content := worthStoring(el)
	if !store {
		if content {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable, Text: "the recipient is offline and the message asks not to be stored"})
		}
		return
	}
	if s.cached(owner) == nil {
		_, blocked, err := s.offlineChecks(ctx, owner, st.From)
		if err == nil && blocked {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
			return
		}
	}
	raw := st.Raw
	if !hasDelay(el, owner.Domain()) {
		raw = s.stamp(st.Raw, owner.Domain())
	}
	if _, err := s.store.StoreOffline(ctx, owner, raw, s.cfg.MaxOffline); err != nil {
		switch {
		case errors.Is(err, storage.ErrQuota):
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable,
				Text: "the recipient's offline storage is full (" + strconv.Itoa(s.cfg.MaxOffline) + " messages)"})
		case isNotFound(err):
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
		default:
			s.r.ReplyError(ctx, st, s.storageError("store offline", owner, err))
		}
		return
	}
	// The account may have come online between the delivery attempt and
	// the store: hand the message over now rather than at the next login.
	// Only if no flush is running: this can run inside a delivery that
	// ended a session, under that flush.
	if a := s.cached(owner); a != nil {
		if best := s.r.BestResources(owner); len(best) > 0 && a.flushMu.TryLock() {
			s.flushLocked(ctx, a, best[0])
			a.flushMu.Unlock()
		}
	}
}

// storeSubscriptionOffline keeps a subscription answer for an account with
// no available resource.
func (s *Service) storeSubscriptionOffline(ctx context.Context, owner jid.JID, st *stanza.Stanza) {
	raw := s.stamp(st.Raw, owner.Domain())
	if _, err := s.store.StoreOffline(ctx, owner, raw, s.cfg.MaxOffline); err != nil && !errors.Is(err, storage.ErrQuota) {
		s.log.Warn("subscription answer not kept offline", "to", owner, "err", err)
	}
}

func hasDelay(el *xml.Element, domain string) bool {
	for _, c := range el.ChildrenNamed(stanza.NSDelay, "delay") {
		if c.Attr("from") == domain {
			return true
		}
	}
	return false
}

// stamp adds <delay/> (XEP-0203) from domain at the current time.
func (s *Service) stamp(raw []byte, domain string) []byte {
	d := make([]byte, 0, 128)
	d = append(d, "<delay xmlns='"+stanza.NSDelay+"' from='"...)
	d = xml.EscapeAttr(d, domain)
	d = append(d, "' stamp='"...)
	d = s.cfg.Now().UTC().AppendFormat(d, stampLayout)
	d = append(d, "'>"+delayText+"</delay>"...)
	return xml.InsertChild(make([]byte, 0, len(raw)+len(d)+16), raw, d)
}

// flushOffline delivers the stored messages in order to sess and deletes
// those it queued; what it could not queue stays for the next time.
func (s *Service) flushOffline(ctx context.Context, a *account, sess *session.Session) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	s.flushLocked(ctx, a, sess)
}

func (s *Service) flushLocked(ctx context.Context, a *account, sess *session.Session) {
	msgs, err := s.store.OfflineMessages(ctx, a.bare, 0)
	if err != nil {
		s.log.Warn("offline messages not delivered", "jid", a.bare, "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	last := int64(-1)
	for _, m := range msgs {
		st, err := stanza.Parse(m.Raw)
		if err == nil && !s.r.Deliver(sess, st) {
			break
		}
		last = m.ID
	}
	if last < 0 {
		return
	}
	if err := s.store.DeleteOffline(ctx, a.bare, last); err != nil {
		// They were delivered: the client may see them again next time,
		// which is better than losing them.
		s.log.Warn("delivered offline messages not deleted", "jid", a.bare, "err", err)
	}
}
