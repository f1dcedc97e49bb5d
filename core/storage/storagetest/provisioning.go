package storagetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/extasis/extasis/core/storage"
)

// testProvisioning checks storage.Provisioning on stores that implement it.
func testProvisioning(t *testing.T, st storage.Store) {
	s, ok := st.(storage.Provisioning)
	if !ok {
		t.Skip("store does not implement storage.Provisioning")
	}
	c := ctx(t)
	alice := mustJID(t, "alice@prov.test")
	bob := mustJID(t, "bob@prov.test")
	meter := mustJID(t, "meter@prov.test")
	gw := mustJID(t, "gw@prov.test")
	lamp := storage.ThingRef{JID: gw, Node: "lamp-3", Source: "Lighting"}
	claimed := time.Date(2026, 3, 1, 10, 0, 0, 123000, time.UTC)

	v0, err := s.ProvisioningVersion(c)
	noErr(t, "ProvisioningVersion", err)

	t.Run("Things", func(t *testing.T) {
		noErr(t, "PutOwnedThing", s.PutOwnedThing(c, storage.OwnedThing{Thing: storage.ThingRef{JID: meter}, Owner: alice, Claimed: claimed}))
		noErr(t, "PutOwnedThing node", s.PutOwnedThing(c, storage.OwnedThing{Thing: lamp, Owner: bob, Enforce: true, Claimed: claimed}))
		all, err := s.OwnedThings(c, mustJID(t, "x@other.test").DomainJID())
		noErr(t, "OwnedThings of unknown", err)
		if len(all) != 0 {
			t.Fatalf("things of an owner without things: %v", all)
		}
		mine, err := s.OwnedThings(c, alice)
		noErr(t, "OwnedThings", err)
		if len(mine) != 1 || mine[0].Thing.JID != meter || mine[0].Thing.IsNode() || mine[0].Owner != alice || !mine[0].Claimed.Equal(claimed) || mine[0].Enforce {
			t.Fatalf("OwnedThings(alice) = %+v", mine)
		}
		bobs, err := s.OwnedThings(c, bob)
		noErr(t, "OwnedThings", err)
		if len(bobs) != 1 || bobs[0].Thing != lamp || !bobs[0].Enforce {
			t.Fatalf("OwnedThings(bob) = %+v", bobs)
		}
		// Replace: a new owner claims the meter.
		noErr(t, "PutOwnedThing again", s.PutOwnedThing(c, storage.OwnedThing{Thing: storage.ThingRef{JID: meter}, Owner: bob, Enforce: true}))
		if mine, _ := s.OwnedThings(c, alice); len(mine) != 0 {
			t.Fatalf("alice still owns %v", mine)
		}
		wantErr(t, "DeleteOwnedThing unknown", s.DeleteOwnedThing(c, storage.ThingRef{JID: alice}), storage.ErrNotFound)
		noErr(t, "DeleteOwnedThing", s.DeleteOwnedThing(c, storage.ThingRef{JID: meter}))
		wantErr(t, "PutOwnedThing NUL", s.PutOwnedThing(c, storage.OwnedThing{Thing: storage.ThingRef{JID: meter, Node: "a\x00b"}, Owner: alice}), storage.ErrInvalid)
		v1, err := s.ProvisioningVersion(c)
		noErr(t, "ProvisioningVersion", err)
		if v1 <= v0 {
			t.Fatalf("version did not move: %d -> %d", v0, v1)
		}
	})

	t.Run("Rules", func(t *testing.T) {
		r1 := storage.ProvisioningRule{Owner: alice, Thing: storage.ThingRef{JID: meter}, Action: "read", Origin: "jid", Remote: "carol@x.test",
			Allow: true, Categories: []string{"m"}, Fields: []string{"Power", "Énergie"}, Created: claimed}
		id1, err := s.AddRule(c, r1)
		noErr(t, "AddRule", err)
		r2 := storage.ProvisioningRule{Owner: alice, Thing: storage.ThingRef{JID: meter}, Action: "friend", Origin: "all"}
		id2, err := s.AddRule(c, r2)
		noErr(t, "AddRule", err)
		r3 := storage.ProvisioningRule{Owner: bob, Thing: lamp, Action: "control", Origin: "domain", Remote: "x.test", Allow: true, Params: []string{}}
		id3, err := s.AddRule(c, r3)
		noErr(t, "AddRule", err)
		if !(id1 < id2 && id2 < id3) {
			t.Fatalf("ids not increasing: %d %d %d", id1, id2, id3)
		}
		got, err := s.Rules(c, storage.RuleFilter{Thing: meter})
		noErr(t, "Rules", err)
		if len(got) != 2 || got[0].ID != id1 || got[1].ID != id2 {
			t.Fatalf("Rules(meter) = %+v", got)
		}
		g := got[0]
		if g.Owner != alice || g.Action != "read" || g.Origin != "jid" || g.Remote != "carol@x.test" || !g.Allow ||
			!slices.Equal(g.Categories, []string{"m"}) || !slices.Equal(g.Fields, []string{"Power", "Énergie"}) || g.Params != nil || !g.Created.Equal(claimed) {
			t.Fatalf("rule read back as %+v", g)
		}
		if got[1].Categories != nil || got[1].Fields != nil || got[1].Allow {
			t.Fatalf("unrestricted rule read back as %+v", got[1])
		}
		n, err := s.Rules(c, storage.RuleFilter{Owner: bob, ByNode: true, Node: lamp})
		noErr(t, "Rules by node", err)
		if len(n) != 1 || n[0].Thing != lamp || n[0].Params == nil || len(n[0].Params) != 0 {
			t.Fatalf("Rules(bob, lamp) = %+v", n)
		}
		if n, _ := s.Rules(c, storage.RuleFilter{Thing: gw, ByNode: true, Node: storage.ThingRef{JID: gw}}); len(n) != 0 {
			t.Fatalf("whole-thing rules of gw: %+v", n)
		}
		r1.ID, r1.Allow, r1.Fields = id1, false, nil
		noErr(t, "UpdateRule", s.UpdateRule(c, r1))
		r1.Owner = bob
		wantErr(t, "UpdateRule of another owner", s.UpdateRule(c, r1), storage.ErrNotFound)
		got, _ = s.Rules(c, storage.RuleFilter{ID: id1})
		if len(got) != 1 || got[0].Allow || got[0].Fields != nil {
			t.Fatalf("updated rule = %+v", got)
		}
		del, err := s.DeleteRules(c, storage.RuleFilter{Owner: alice, Action: "friend"})
		noErr(t, "DeleteRules", err)
		if len(del) != 1 || del[0].ID != id2 {
			t.Fatalf("deleted %+v", del)
		}
		del, err = s.DeleteRules(c, storage.RuleFilter{Owner: alice})
		noErr(t, "DeleteRules all", err)
		if len(del) != 1 || del[0].ID != id1 {
			t.Fatalf("deleted %+v", del)
		}
		if all, _ := s.Rules(c, storage.RuleFilter{Owner: alice}); len(all) != 0 {
			t.Fatalf("rules left: %+v", all)
		}
		_, err = s.AddRule(c, storage.ProvisioningRule{Owner: alice, Thing: storage.ThingRef{JID: meter}, Action: "read", Origin: "jid", Fields: []string{"\x01"}})
		wantErr(t, "AddRule control char", err, storage.ErrInvalid)
		_, err = s.AddRule(c, storage.ProvisioningRule{Owner: alice, Thing: storage.ThingRef{JID: meter}})
		wantErr(t, "AddRule without action", err, storage.ErrInvalid)
	})

	t.Run("Questions", func(t *testing.T) {
		q := storage.ProvisioningQuestion{Key: "k1", Owner: alice, Thing: lamp, Action: "read", Remote: mustJID(t, "carol@x.test"),
			Raw: []byte("<canRead xmlns='urn:nf:iot:prov:o:1.0'/>"), Asked: claimed}
		noErr(t, "PutQuestion", s.PutQuestion(c, q))
		q2 := q
		q2.Key = "k2"
		wantErr(t, "PutQuestion same situation", s.PutQuestion(c, q2), storage.ErrExists)
		q2.Action = "control"
		noErr(t, "PutQuestion other action", s.PutQuestion(c, q2))
		got, err := s.Questions(c, alice)
		noErr(t, "Questions", err)
		if len(got) != 2 || got[0].Key != "k1" || got[0].Thing != lamp || got[0].Remote != q.Remote || string(got[0].Raw) != string(q.Raw) || !got[0].Asked.Equal(claimed) {
			t.Fatalf("Questions = %+v", got)
		}
		noErr(t, "DeleteQuestion", s.DeleteQuestion(c, "k1"))
		noErr(t, "DeleteQuestion again", s.DeleteQuestion(c, "k1"))
		n, err := s.DeleteQuestionsOf(c, gw)
		noErr(t, "DeleteQuestionsOf", err)
		if n != 1 {
			t.Fatalf("DeleteQuestionsOf = %d", n)
		}
		if got, _ := s.Questions(c, alice); len(got) != 0 {
			t.Fatalf("questions left: %+v", got)
		}
	})

	t.Run("Policies", func(t *testing.T) {
		mod := "package extasis.provisioning.owner\n\nimport rego.v1\n\ndecision := {\"allow\": false, \"reason\": \"mine\"}\n"
		noErr(t, "PutOwnerPolicy", s.PutOwnerPolicy(c, storage.OwnerPolicy{Owner: alice, Module: mod, Updated: claimed}))
		noErr(t, "PutOwnerPolicy replace", s.PutOwnerPolicy(c, storage.OwnerPolicy{Owner: alice, Module: mod + "# v2\n", Updated: claimed}))
		got, err := s.OwnerPolicies(c, alice)
		noErr(t, "OwnerPolicies", err)
		if len(got) != 1 || got[0].Module != mod+"# v2\n" || !got[0].Updated.Equal(claimed) {
			t.Fatalf("OwnerPolicies = %+v", got)
		}
		noErr(t, "DeleteOwnerPolicy", s.DeleteOwnerPolicy(c, alice))
		wantErr(t, "DeleteOwnerPolicy again", s.DeleteOwnerPolicy(c, alice), storage.ErrNotFound)
	})

	t.Run("Decisions", func(t *testing.T) {
		old := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Microsecond)
		ds := []storage.ProvisioningDecision{
			{Time: old, Owner: alice, Thing: storage.ThingRef{JID: meter}, Requester: bob, Action: "read", Via: "question", Reason: "no rule"},
			{Owner: alice, Thing: lamp, Requester: bob, Action: "control", Via: "broker", Allow: true, Reason: "rule", Rules: []int64{7, 9},
				Request: "params=On,Brightness", Granted: "params=On"},
			{Owner: bob, Thing: storage.ThingRef{JID: gw}, Requester: alice, Action: "friend", Via: "question", Reason: "rule"},
		}
		noErr(t, "AppendDecisions", s.AppendDecisions(c, ds))
		got, err := s.Decisions(c, storage.DecisionFilter{Owner: alice})
		noErr(t, "Decisions", err)
		if len(got) != 2 || got[0].Thing != lamp || !got[0].Allow || !slices.Equal(got[0].Rules, []int64{7, 9}) ||
			got[0].Granted != "params=On" || got[0].Via != "broker" || got[1].Time != old || got[1].Rules != nil {
			t.Fatalf("Decisions(alice) = %+v", got)
		}
		page, err := s.Decisions(c, storage.DecisionFilter{Owner: alice, Before: got[0].ID, Limit: 5})
		noErr(t, "Decisions page", err)
		if len(page) != 1 || page[0].ID != got[1].ID {
			t.Fatalf("second page = %+v", page)
		}
		byThing, _ := s.Decisions(c, storage.DecisionFilter{Thing: gw})
		if len(byThing) != 2 {
			t.Fatalf("Decisions(thing gw) = %+v", byThing)
		}
		n, err := s.PruneDecisions(c, time.Now().Add(-time.Hour))
		noErr(t, "PruneDecisions", err)
		if n != 1 {
			t.Fatalf("pruned %d", n)
		}
		err = s.AppendDecisions(c, []storage.ProvisioningDecision{{Owner: alice, Thing: storage.ThingRef{JID: meter}, Requester: bob, Reason: "a\x00"}})
		wantErr(t, "AppendDecisions NUL", err, storage.ErrInvalid)
	})

	t.Run("Notices", func(t *testing.T) {
		id1, err := s.QueueNotice(c, storage.ProvisioningNotice{Thing: meter, Kind: "iq", Raw: []byte("<clearCache xmlns='urn:nf:iot:prov:d:1.0'/>")})
		noErr(t, "QueueNotice", err)
		_, err = s.QueueNotice(c, storage.ProvisioningNotice{Thing: gw, Kind: "message", Raw: []byte("<friend xmlns='urn:nf:iot:prov:d:1.0' jid='bob@prov.test'/>")})
		noErr(t, "QueueNotice", err)
		_, err = s.QueueNotice(c, storage.ProvisioningNotice{Thing: gw, Kind: "presence", Raw: []byte("<x/>")})
		wantErr(t, "QueueNotice bad kind", err, storage.ErrInvalid)
		got, err := s.Notices(c, meter)
		noErr(t, "Notices", err)
		if len(got) != 1 || got[0].ID != id1 || got[0].Kind != "iq" || got[0].Thing != meter || got[0].Queued.IsZero() {
			t.Fatalf("Notices(meter) = %+v", got)
		}
		all, _ := s.Notices(c, meter.DomainJID())
		if len(all) != 0 {
			t.Fatalf("notices of a domain JID: %+v", all)
		}
		noErr(t, "DeleteNotice", s.DeleteNotice(c, id1))
		if got, _ := s.Notices(c, meter); len(got) != 0 {
			t.Fatalf("notices left: %+v", got)
		}
		if err := s.DeleteNotice(c, id1); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("DeleteNotice again: %v", err)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		cert := []byte{0x30, 0x82, 0x01, 0x00, 0xff, 0x00} // opaque bytes, kept as given
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		tok := storage.ProvisioningToken{Token: "provisioning.prov.test:9f2c", Holder: bob, Cert: cert, Created: at}
		noErr(t, "PutToken", s.PutToken(c, tok))
		got, err := s.Token(c, tok.Token)
		noErr(t, "Token", err)
		if got.Token != tok.Token || got.Holder != bob || !bytes.Equal(got.Cert, cert) || !got.Created.Equal(at) {
			t.Fatalf("Token = %+v, want %+v", got, tok)
		}
		wantErr(t, "PutToken taken", s.PutToken(c, tok), storage.ErrExists)
		_, err = s.Token(c, "provisioning.prov.test:other")
		wantErr(t, "Token unknown", err, storage.ErrNotFound)
		wantErr(t, "PutToken without certificate", s.PutToken(c, storage.ProvisioningToken{Token: "x", Holder: bob}), storage.ErrInvalid)
		wantErr(t, "PutToken NUL", s.PutToken(c, storage.ProvisioningToken{Token: "x\x00", Holder: bob, Cert: cert}), storage.ErrInvalid)
	})
}
