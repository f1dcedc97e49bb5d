package provisioning

import (
	"context"
	"errors"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// claimRef reads the thing and owner of a registry event (attrs "thing",
// "owner", "node", "source", "partition"; see core/event).
func claimRef(e event.Event) (storage.ThingRef, jid.JID, bool) {
	c, ok := e.(event.Custom)
	if !ok {
		return storage.ThingRef{}, jid.JID{}, false
	}
	th, err := jid.Parse(c.Attrs["thing"])
	if err != nil {
		return storage.ThingRef{}, jid.JID{}, false
	}
	owner, _ := jid.Parse(c.Attrs["owner"])
	ref := storage.ThingRef{JID: th.Bare(), Node: c.Attrs["node"], Source: c.Attrs["source"], Partition: c.Attrs["partition"]}
	return ref, owner.Bare(), true
}

// onClaimed learns the owner of a thing. Events come on the publisher's
// goroutine: the work is queued.
func (s *Service) onClaimed(_ context.Context, e event.Event) {
	ref, owner, ok := claimRef(e)
	if !ok || owner.IsZero() {
		s.log.Warn("thing.claimed without a valid thing and owner; ignored")
		return
	}
	s.enqueue(func(ctx context.Context) {
		if err := s.Claim(ctx, ref, owner); err != nil {
			s.log.Warn("claim not recorded", "thing", ref.JID, "err", err)
		}
	})
}

// onDisowned forgets the owner of a thing and its rules.
func (s *Service) onDisowned(_ context.Context, e event.Event) {
	ref, _, ok := claimRef(e)
	if !ok {
		s.log.Warn("thing.disowned without a valid thing; ignored")
		return
	}
	s.enqueue(func(ctx context.Context) {
		if err := s.Disown(ctx, ref); err != nil {
			s.log.Warn("disown not recorded", "thing", ref.JID, "err", err)
		}
	})
}

// Claim records that owner owns ref. A new owner starts from nothing: the
// rules the previous owner taught are deleted (digest §7.5 step 8), and
// the thing forgets its cached answers.
func (s *Service) Claim(ctx context.Context, ref storage.ThingRef, owner jid.JID) error {
	n := nodeOf(ref)
	var prev jid.JID
	enforce := false
	if t := s.things.get(ref.JID); t != nil {
		if n.IsZero() {
			prev, enforce = t.owner, t.enforce
		} else {
			prev = t.nodes[n]
		}
	}
	if prev == owner {
		return nil
	}
	if !prev.IsZero() {
		if err := s.forget(ctx, ref, prev); err != nil {
			return err
		}
		enforce = false
	}
	if err := s.store.PutOwnedThing(ctx, storage.OwnedThing{Thing: ref, Owner: owner, Enforce: enforce, Claimed: s.cfg.Now()}); err != nil {
		return err
	}
	s.things.update(ref.JID, func(t *thing) *thing {
		if n.IsZero() {
			t.owner, t.enforce = owner, enforce
			return t
		}
		if t.nodes == nil {
			t.nodes = map[Node]jid.JID{}
		}
		t.nodes[n] = owner
		return t
	})
	s.rebuildEnforced()
	s.wrote(ctx)
	s.clearCache(ctx, ref)
	return nil
}

// Disown forgets the owner of ref with the rules and questions about it.
func (s *Service) Disown(ctx context.Context, ref storage.ThingRef) error {
	var prev jid.JID
	if t := s.things.get(ref.JID); t != nil {
		prev = t.owner
		if ref.IsNode() {
			prev = t.nodes[nodeOf(ref)]
		}
	}
	if err := s.forget(ctx, ref, prev); err != nil {
		return err
	}
	if err := s.store.DeleteOwnedThing(ctx, ref); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	n := nodeOf(ref)
	s.things.update(ref.JID, func(t *thing) *thing {
		if n.IsZero() {
			t.owner, t.enforce = jid.JID{}, false
			return t
		}
		delete(t.nodes, n)
		return t
	})
	s.rebuildEnforced()
	s.wrote(ctx)
	s.clearCache(ctx, ref)
	return nil
}

// forget deletes what owner taught about ref and the questions about it.
func (s *Service) forget(ctx context.Context, ref storage.ThingRef, owner jid.JID) error {
	if !owner.IsZero() {
		f := storage.RuleFilter{Owner: owner, Thing: ref.JID}
		if ref.IsNode() {
			f.ByNode, f.Node = true, ref
		}
		if err := s.deleteRules(ctx, f); err != nil {
			return err
		}
	}
	if !ref.IsNode() {
		if _, err := s.store.DeleteQuestionsOf(ctx, ref.JID); err != nil {
			return err
		}
		s.qmu.Lock()
		for sit, q := range s.questions {
			if q.Thing.JID == ref.JID {
				delete(s.questions, sit)
				delete(s.byKey, q.Key)
			}
		}
		s.qmu.Unlock()
	}
	return nil
}
