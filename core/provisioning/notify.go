package provisioning

import (
	"context"
	"time"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
)

// clearCache tells a thing to forget its cached answers (about one node
// when ref names one).
func (s *Service) clearCache(ctx context.Context, ref storage.ThingRef) {
	s.push(ctx, ref.JID, "iq", clearCachePayload(s.family(ref.JID), nodeOf(ref)))
}

// push sends a clearCache iq or a friend/unfriend message to every online
// resource of a local thing, from the component address it trusts, and
// queues it (persisted) when the thing is offline.
func (s *Service) push(ctx context.Context, th jid.JID, kind string, payload []byte) {
	if !s.r.IsHost(th.Domain()) {
		// A thing on another server: its server delivers to the bare JID
		// as it can; there is nobody here to queue for.
		s.send(ctx, th, kind, payload)
		return
	}
	if sessions := s.r.Sessions().Resources(th); len(sessions) > 0 {
		for _, sess := range sessions {
			s.send(ctx, sess.JID(), kind, payload)
		}
		return
	}
	n := storage.ProvisioningNotice{Thing: th, Kind: kind, Raw: payload, Queued: s.cfg.Now()}
	id, err := s.store.QueueNotice(ctx, n)
	if err != nil {
		s.log.Warn("push for an offline thing not queued", "thing", th, "err", err)
		return
	}
	n.ID = id
	s.nmu.Lock()
	s.notices[th] = append(s.notices[th], n)
	s.nmu.Unlock()
	s.wrote(ctx)
	// The thing may have come online meanwhile.
	if len(s.r.Sessions().Resources(th)) > 0 {
		s.deliverQueued(ctx, th)
	}
}

func (s *Service) send(ctx context.Context, to jid.JID, kind string, payload []byte) {
	from := s.address(to.Domain())
	if kind == "iq" {
		s.r.Route(ctx, stanza.Build(stanza.IQ, from, to, "set", "prov-"+newKey(), payload))
		return
	}
	s.r.Route(ctx, stanza.Build(stanza.Message, from, to, "normal", "prov-"+newKey(), payload))
}

// onOnline delivers what was queued for a thing that just bound a
// resource. It runs on the publisher's goroutine: a map lookup, then the
// work goes to the worker.
func (s *Service) onOnline(_ context.Context, e event.Event) {
	ev, ok := e.(event.SessionOnline)
	if !ok {
		return
	}
	bare := ev.JID.Bare()
	s.nmu.Lock()
	n := len(s.notices[bare])
	s.nmu.Unlock()
	if n == 0 {
		return
	}
	full := ev.JID
	s.enqueue(func(ctx context.Context) { s.deliverTo(ctx, bare, full) })
}

// deliverQueued delivers queued pushes to the thing's online resources.
func (s *Service) deliverQueued(ctx context.Context, th jid.JID) {
	for _, sess := range s.r.Sessions().Resources(th) {
		s.deliverTo(ctx, th, sess.JID())
	}
}

// deliverTo sends every push queued for th to the full JID to, then
// forgets them.
func (s *Service) deliverTo(ctx context.Context, th, to jid.JID) {
	s.nmu.Lock()
	list := s.notices[th]
	delete(s.notices, th)
	s.nmu.Unlock()
	if len(list) == 0 {
		return
	}
	// The session's stream is negotiated by now (the event follows bind);
	// the pushes go out in the order they were queued.
	for _, n := range list {
		s.send(ctx, to, n.Kind, n.Raw)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, n := range list {
		if err := s.store.DeleteNotice(dctx, n.ID); err != nil {
			s.log.Warn("delivered push not deleted", "thing", th, "err", err)
		}
	}
}
