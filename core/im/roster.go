package im

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/session"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// itemElement renders a roster item (RFC 6121 §2.1.2).
func itemElement(it storage.RosterItem) *xml.Element {
	e := xml.New(stanza.NSRoster, "item", "jid", it.Contact.String())
	if it.Name != "" {
		e.SetAttr("name", it.Name)
	}
	e.SetAttr("subscription", it.Subscription.String())
	if it.Ask {
		e.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		e.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		e.Add(xml.New(stanza.NSRoster, "group").SetText(g))
	}
	return e
}

func removedElement(contact jid.JID) *xml.Element {
	return xml.New(stanza.NSRoster, "item", "jid", contact.String(), "subscription", "remove")
}

func verString(v int64) string { return strconv.FormatInt(v, 10) }

// query returns the payload element of an iq, or nil.
func query(st *stanza.Stanza) *xml.Element {
	el, err := st.Element()
	if err != nil {
		return nil
	}
	return el.Child(st.Payload.Space, st.Payload.Local)
}

// ownAccount checks that an account iq comes from the account itself.
func (s *Service) ownAccount(ctx context.Context, st *stanza.Stanza) bool {
	if st.From.Bare() != st.To.Bare() {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.Forbidden, Text: "you may only manage your own account"})
		return false
	}
	return true
}

// rosterGet answers a roster get (RFC 6121 §2.2), with XEP-0237 versions:
// nothing when the client is current, the changes as pushes when they are
// known, the whole roster otherwise.
func (s *Service) rosterGet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	owner := st.To.Bare()
	q := query(st)
	if q == nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest})
		return
	}
	clientVer, versioned := q.AttrNS("", "ver")
	sess := s.r.Sessions().Get(st.From)
	if sess != nil {
		sess.SetRosterRequested()
	}
	var (
		items []storage.RosterItem
		ver   int64
	)
	a, err := s.ready(ctx, owner)
	if a != nil && err == nil {
		a.mu.RLock()
		items = make([]storage.RosterItem, 0, len(a.items))
		for _, it := range a.items {
			items = append(items, it)
		}
		ver = a.ver
		a.mu.RUnlock()
		slices.SortFunc(items, func(x, y storage.RosterItem) int { return strings.Compare(x.Contact.String(), y.Contact.String()) })
	} else {
		items, ver, err = s.store.RosterItems(ctx, owner)
		if err != nil {
			s.r.ReplyError(ctx, st, s.storageError("roster get", owner, err))
			return
		}
	}
	if versioned && clientVer != "" {
		if since, perr := strconv.ParseInt(clientVer, 10, 64); perr == nil {
			if since == ver {
				s.r.Route(ctx, st.Result())
				return
			}
			changed, removed, cur, err := s.store.RosterChanges(ctx, owner, since)
			switch {
			case err == nil:
				s.r.Route(ctx, st.Result())
				if sess != nil {
					s.sendChanges(sess, since, cur, changed, removed)
				}
				return
			case !isNotFound(err):
				s.r.ReplyError(ctx, st, s.storageError("roster changes", owner, err))
				return
			}
			// Unknown or too old a version: the whole roster below.
		}
	}
	res := xml.New(stanza.NSRoster, "query")
	if versioned {
		res.SetAttr("ver", verString(ver))
	}
	for _, it := range items {
		res.Add(itemElement(it))
	}
	s.r.Route(ctx, st.Result(res.Append(nil, "")))
}

// sendChanges pushes the changes since a version to one session. Only the
// last push carries the new version: a client cut off in the middle keeps
// its old one and asks for the same changes again.
func (s *Service) sendChanges(sess *session.Session, since, cur int64, changed []storage.RosterItem, removed []jid.JID) {
	n := len(changed) + len(removed)
	i := 0
	ver := func() string {
		i++
		if i == n {
			return verString(cur)
		}
		return verString(since)
	}
	for _, it := range changed {
		s.r.Deliver(sess, s.pushStanza(sess.JID(), ver(), itemElement(it)))
	}
	for _, c := range removed {
		s.r.Deliver(sess, s.pushStanza(sess.JID(), ver(), removedElement(c)))
	}
}

func (s *Service) pushStanza(to jid.JID, ver string, item *xml.Element) *stanza.Stanza {
	q := xml.New(stanza.NSRoster, "query", "ver", ver).Add(item)
	return stanza.Build(stanza.IQ, jid.JID{}, to, "set", "push"+itoa36(s.pushID.Add(1)), q.Append(nil, ""))
}

// push sends a roster push to every interested resource of owner (RFC
// 6121 §2.1.6).
func (s *Service) push(owner jid.JID, ver int64, item *xml.Element) {
	v := verString(ver)
	for _, sess := range s.r.Sessions().Resources(owner) {
		if sess.RosterRequested() {
			s.r.Deliver(sess, s.pushStanza(sess.JID(), v, item))
		}
	}
}

// rosterSet adds, updates or removes one item (RFC 6121 §2.3-2.5).
func (s *Service) rosterSet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	owner := st.To.Bare()
	q := query(st)
	if q == nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest})
		return
	}
	want, remove, e := parseItem(q, owner)
	if e != nil {
		s.r.ReplyError(ctx, st, *e)
		return
	}
	if remove {
		s.removeItem(ctx, st, owner, want.Contact)
		return
	}
	l := s.lock(owner)
	cur, _, err := s.getItem(ctx, owner, want.Contact)
	if err != nil {
		l.Unlock()
		s.r.ReplyError(ctx, st, s.storageError("roster set", owner, err))
		return
	}
	// The client sets only name and groups (§2.1.2.5: the subscription
	// attribute of a set is ignored unless it is "remove").
	cur.Contact, cur.Name, cur.Groups = want.Contact, want.Name, want.Groups
	ver, err := s.putItem(ctx, owner, cur, s.cfg.MaxRoster)
	l.Unlock()
	if err != nil {
		if errors.Is(err, storage.ErrQuota) {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.NotAllowed,
				Text: "the roster is full: at most " + strconv.Itoa(s.cfg.MaxRoster) + " contacts per account"})
			return
		}
		if errors.Is(err, storage.ErrInvalid) {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.NotAcceptable, Text: "the name or a group holds characters that cannot be stored"})
			return
		}
		s.r.ReplyError(ctx, st, s.storageError("roster set", owner, err))
		return
	}
	s.r.Route(ctx, st.Result())
	s.push(owner, ver, itemElement(cur))
}

// parseItem validates the single item of a roster set.
func parseItem(q *xml.Element, owner jid.JID) (it storage.RosterItem, remove bool, e *stanza.Error) {
	bad := func(c stanza.Condition, text string) (storage.RosterItem, bool, *stanza.Error) {
		return it, false, &stanza.Error{Condition: c, Text: text}
	}
	items := q.ChildrenNamed(stanza.NSRoster, "item")
	if len(items) != 1 {
		return bad(stanza.BadRequest, "a roster set holds exactly one item")
	}
	x := items[0]
	c, err := jid.Parse(x.Attr("jid"))
	if err != nil {
		return bad(stanza.JIDMalformed, "the item's jid is not a valid JID")
	}
	if !c.IsBare() {
		return bad(stanza.BadRequest, "roster items are bare JIDs")
	}
	if c == owner {
		return bad(stanza.NotAllowed, "you cannot add yourself to your roster")
	}
	it.Contact = c
	if x.Attr("subscription") == "remove" {
		return it, true, nil
	}
	it.Name = x.Attr("name")
	if len(it.Name) > MaxNameLen {
		return bad(stanza.NotAcceptable, "the item's name is longer than "+strconv.Itoa(MaxNameLen)+" bytes")
	}
	groups := x.ChildrenNamed(stanza.NSRoster, "group")
	if len(groups) > MaxGroups {
		return bad(stanza.NotAcceptable, "an item may be in at most "+strconv.Itoa(MaxGroups)+" groups")
	}
	for _, g := range groups {
		name := g.Text
		switch {
		case name == "":
			return bad(stanza.NotAcceptable, "a group name is empty")
		case len(name) > MaxGroupLen:
			return bad(stanza.NotAcceptable, "a group name is longer than "+strconv.Itoa(MaxGroupLen)+" bytes")
		case slices.Contains(it.Groups, name):
			return bad(stanza.BadRequest, "the item lists group "+strconv.Quote(name)+" twice")
		}
		it.Groups = append(it.Groups, name)
	}
	return it, false, nil
}

// removeItem deletes a contact and cancels the subscriptions both ways
// (RFC 6121 §2.5.2).
func (s *Service) removeItem(ctx context.Context, st *stanza.Stanza, owner, contact jid.JID) {
	l := s.lock(owner)
	cur, found, err := s.getItem(ctx, owner, contact)
	if err != nil {
		l.Unlock()
		s.r.ReplyError(ctx, st, s.storageError("roster remove", owner, err))
		return
	}
	pendingIn, err := s.hasRequest(ctx, owner, contact)
	if err != nil {
		l.Unlock()
		s.r.ReplyError(ctx, st, s.storageError("roster remove", owner, err))
		return
	}
	if !found && !pendingIn {
		l.Unlock()
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	var ver int64
	if found {
		if ver, err = s.deleteItem(ctx, owner, contact); err != nil {
			l.Unlock()
			s.r.ReplyError(ctx, st, s.storageError("roster remove", owner, err))
			return
		}
	}
	if pendingIn {
		if err := s.store.RemoveSubscriptionRequest(ctx, owner, contact); err != nil {
			l.Unlock()
			s.r.ReplyError(ctx, st, s.storageError("roster remove", owner, err))
			return
		}
	}
	l.Unlock()
	s.r.Route(ctx, st.Result())
	if found {
		s.push(owner, ver, removedElement(contact))
	}
	if cur.Subscription == storage.To || cur.Subscription == storage.Both || cur.Ask {
		s.r.Route(ctx, stanza.Build(stanza.Presence, owner, contact, "unsubscribe", ""))
	}
	if cur.Subscription == storage.From || cur.Subscription == storage.Both || pendingIn {
		s.r.Route(ctx, stanza.Build(stanza.Presence, owner, contact, "unsubscribed", ""))
	}
	if cur.Subscription == storage.From || cur.Subscription == storage.Both {
		s.sendUnavailableFrom(ctx, owner, contact)
	}
}

// hasRequest reports whether contact's subscription request to owner is
// pending.
func (s *Service) hasRequest(ctx context.Context, owner, contact jid.JID) (bool, error) {
	return s.store.HasSubscriptionRequest(ctx, owner, contact)
}

func itoa36(n uint64) string { return strconv.FormatUint(n, 36) }
