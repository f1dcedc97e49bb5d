package im

import (
	"context"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

var blockedApp = []byte("<blocked xmlns='" + stanza.NSBlockingErrors + "'/>")

// Filter is the XEP-0191 pre-route stage. It reads the block lists of
// online accounts from memory only; an offline recipient's list is checked
// where its stanza would be stored.
func (s *Service) Filter(ctx context.Context, st *stanza.Stanza) bool {
	to, from := st.To, st.From
	if to.IsZero() || from.IsZero() || to.Bare() == from.Bare() {
		return true
	}
	// Errors leave a blocking user freely: they are how a blocked contact
	// is told it cannot reach the user.
	if st.Type != "error" && s.isLocalUser(from) {
		if a := s.cached(from.Bare()); a != nil && a.blocks(to) {
			// §3.5: the user is told the contact is blocked, straight to the
			// session, since the answer comes from the blocked address.
			if sess := s.r.Sessions().Get(from); sess != nil && (st.Kind != stanza.IQ || st.IsIQRequest()) {
				s.r.Deliver(sess, st.ErrorReply(stanza.Error{Condition: stanza.NotAcceptable,
					Text: "you have blocked this contact", App: blockedApp}))
			}
			return false
		}
	}
	if s.isLocalUser(to) {
		if a := s.cached(to.Bare()); a != nil && a.blocks(from) {
			// §3.4: presence is dropped; messages and iq requests get
			// service-unavailable, as if the user did not exist.
			if st.Kind != stanza.Presence {
				s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
			}
			return false
		}
	}
	return true
}

func blockItems(tag string, items []jid.JID) []byte {
	e := xml.New(stanza.NSBlocking, tag)
	for _, j := range items {
		e.Add(xml.New(stanza.NSBlocking, "item", "jid", j.String()))
	}
	return e.Append(nil, "")
}

// blockListGet answers the block list (XEP-0191 §3.2) and makes the
// session interested in pushes.
func (s *Service) blockListGet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	owner := st.To.Bare()
	if sess := s.r.Sessions().Get(st.From); sess != nil {
		sess.SetBlockListRequested()
	}
	var list []jid.JID
	if a, err := s.ready(ctx, owner); a != nil && err == nil {
		a.mu.RLock()
		list = append(list, a.blocked...)
		a.mu.RUnlock()
	} else {
		var err error
		if list, err = s.store.BlockList(ctx, owner); err != nil {
			s.r.ReplyError(ctx, st, s.storageError("block list", owner, err))
			return
		}
	}
	s.r.Route(ctx, st.Result(blockItems("blocklist", list)))
}

// parseBlockItems reads the <item jid=”/> children of block or unblock.
func parseBlockItems(st *stanza.Stanza) ([]jid.JID, *stanza.Error) {
	q := query(st)
	if q == nil {
		return nil, &stanza.Error{Condition: stanza.BadRequest}
	}
	var out []jid.JID
	for _, it := range q.ChildrenNamed(stanza.NSBlocking, "item") {
		j, err := jid.Parse(it.Attr("jid"))
		if err != nil {
			return nil, &stanza.Error{Condition: stanza.JIDMalformed, Text: "an item's jid is not a valid JID"}
		}
		out = append(out, j)
	}
	return out, nil
}

// blockSet blocks JIDs (XEP-0191 §3.3): contacts that saw the user's
// presence see it go unavailable first.
func (s *Service) blockSet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	owner := st.To.Bare()
	items, e := parseBlockItems(st)
	if e == nil && len(items) == 0 {
		e = &stanza.Error{Condition: stanza.BadRequest, Text: "block at least one JID"}
	}
	if e != nil {
		s.r.ReplyError(ctx, st, *e)
		return
	}
	if err := s.store.Block(ctx, owner, items); err != nil {
		s.r.ReplyError(ctx, st, s.storageError("block", owner, err))
		return
	}
	// Before the list takes effect, so that the filter lets them out.
	for _, c := range s.presenceSeers(owner, items) {
		s.sendUnavailableFrom(ctx, owner, c)
	}
	if err := s.reloadBlocks(ctx, owner); err != nil {
		s.r.ReplyError(ctx, st, s.storageError("block", owner, err))
		return
	}
	s.r.Route(ctx, st.Result())
	s.pushBlocks(owner, blockItems("block", items))
}

// unblockSet unblocks JIDs, or everyone when no item is given (§3.4).
func (s *Service) unblockSet(ctx context.Context, st *stanza.Stanza) {
	if !s.ownAccount(ctx, st) {
		return
	}
	owner := st.To.Bare()
	items, e := parseBlockItems(st)
	if e != nil {
		s.r.ReplyError(ctx, st, *e)
		return
	}
	var was []jid.JID
	if a, err := s.ready(ctx, owner); a != nil && err == nil {
		a.mu.RLock()
		was = append(was, a.blocked...)
		a.mu.RUnlock()
	}
	if err := s.store.Unblock(ctx, owner, items); err != nil {
		s.r.ReplyError(ctx, st, s.storageError("unblock", owner, err))
		return
	}
	if err := s.reloadBlocks(ctx, owner); err != nil {
		s.r.ReplyError(ctx, st, s.storageError("unblock", owner, err))
		return
	}
	s.r.Route(ctx, st.Result())
	s.pushBlocks(owner, blockItems("unblock", items))
	// Subscribers get the current presence again, and the user theirs.
	freed := items
	if len(items) == 0 {
		freed = was
	}
	for _, c := range s.presenceSeers(owner, freed) {
		s.sendPresenceFrom(ctx, owner, c)
	}
	if a := s.cached(owner); a != nil {
		for _, c := range a.probeList() {
			if matchesAny(freed, c) {
				s.r.Route(ctx, stanza.Build(stanza.Presence, owner, c, "probe", ""))
			}
		}
	}
}

// presenceSeers returns the contacts of owner matched by items that
// receive owner's presence: subscribers, and where directed presence went.
func (s *Service) presenceSeers(owner jid.JID, items []jid.JID) []jid.JID {
	a := s.cached(owner)
	if a == nil || len(items) == 0 {
		return nil
	}
	var out []jid.JID
	a.mu.RLock()
	for c, it := range a.items {
		if (it.Subscription == storage.From || it.Subscription == storage.Both) && matchesAny(items, c) {
			out = append(out, c)
		}
	}
	a.mu.RUnlock()
	for _, sess := range s.r.Sessions().Resources(owner) {
		for _, d := range sess.TakeDirected() {
			if matchesAny(items, d) {
				out = append(out, d)
			} else {
				sess.AddDirected(d)
			}
		}
	}
	return out
}

func matchesAny(items []jid.JID, j jid.JID) bool {
	m := &account{}
	m.setBlocked(items)
	return m.blocksLocked(j)
}

// reloadBlocks re-reads owner's block list into memory under its lock.
func (s *Service) reloadBlocks(ctx context.Context, owner jid.JID) error {
	a := s.cached(owner)
	if a == nil {
		return nil
	}
	l := s.lock(owner)
	defer l.Unlock()
	list, err := s.store.BlockList(ctx, owner)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.setBlocked(list)
	a.probes = nil
	a.mu.Unlock()
	return nil
}

// pushBlocks sends a block or unblock push to every session that fetched
// the block list.
func (s *Service) pushBlocks(owner jid.JID, payload []byte) {
	for _, sess := range s.r.Sessions().Resources(owner) {
		if sess.BlockListRequested() {
			s.r.Deliver(sess, stanza.Build(stanza.IQ, jid.JID{}, sess.JID(), "set", "block"+itoa36(s.pushID.Add(1)), payload))
		}
	}
}
