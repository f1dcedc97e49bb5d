package provisioning

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// extasis serves our own namespace (NSExtasis), for owners:
//
//	get <policy/>                       the owner's Rego module
//	set <policy>MODULE</policy>         compile (sandboxed) and use it; a
//	                                    compile error is bad-request with
//	                                    <policy-error file line col/>
//	set <deletePolicy/>                 back to the default policy
//	set <enforce jid value='true'/>     broker-side enforcement for a thing
//	get <rules jid?/>                   the owner's rules (of one thing)
//	set <rule id ...>                   change a rule (as listed)
//	set <deleteRule id/>                delete one rule
//	get <audit jid? before? max?/>      the decisions about the owner's things
func (s *Service) extasis(ctx context.Context, st *stanza.Stanza, p *xml.Element) {
	owner := st.From.Bare()
	var err error
	switch st.Type + " " + p.Name.Local {
	case "get policy":
		err = s.getPolicy(ctx, st, owner)
	case "set policy":
		if err = s.mayUpload(owner); err != nil {
			break
		}
		err = s.PutPolicy(ctx, owner, p.Text)
		if err == nil {
			s.r.Route(ctx, st.Result())
		}
	case "set deletePolicy":
		err = s.DeletePolicy(ctx, owner)
		if err == nil {
			s.r.Route(ctx, st.Result())
		}
	case "set enforce":
		err = s.setEnforce(ctx, owner, p)
		if err == nil {
			s.r.Route(ctx, st.Result())
		}
	case "get rules":
		err = s.listRules(ctx, st, owner, p)
	case "set rule":
		err = s.changeRule(ctx, owner, p)
		if err == nil {
			s.r.Route(ctx, st.Result())
		}
	case "set deleteRule":
		id, perr := strconv.ParseInt(p.Attr("id"), 10, 64)
		if perr != nil {
			err = refuse(stanza.BadRequest, "invalid id")
			break
		}
		if rs, _ := s.store.Rules(ctx, storage.RuleFilter{ID: id, Owner: owner}); len(rs) == 0 {
			err = refuse(stanza.ItemNotFound, "")
			break
		}
		err = s.deleteRules(ctx, storage.RuleFilter{ID: id, Owner: owner})
		if err == nil {
			s.r.Route(ctx, st.Result())
		}
	case "get audit":
		err = s.auditIQ(ctx, st, owner, p)
	default:
		err = refuse(stanza.FeatureNotImplemented, "")
	}
	if err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			app := xml.New(NSExtasis, "policy-error", "file", pe.File, "line", strconv.Itoa(pe.Line), "col", strconv.Itoa(pe.Col)).SetText(pe.Msg)
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest,
				Text: strings.TrimPrefix(pe.Error(), "provisioning: "), App: app.Append(nil, "")})
			return
		}
		s.replyErr(ctx, st, err)
	}
}

// uploadsPerMinute bounds policy uploads per owner: compiling costs tens
// of milliseconds.
const uploadsPerMinute = 20

// mayUpload lets local accounts upload modules, uploadsPerMinute at most.
func (s *Service) mayUpload(owner jid.JID) error {
	if owner.Local() == "" || !s.r.IsHost(owner.Domain()) {
		return refuse(stanza.Forbidden, "only local accounts may upload a policy")
	}
	now := s.cfg.Now()
	s.ownersMu.Lock()
	defer s.ownersMu.Unlock()
	u := s.uploads[owner]
	if now.Sub(u.since) > time.Minute {
		u = uploadWindow{since: now}
	}
	if u.count >= uploadsPerMinute {
		return refuse(stanza.ResourceConstraint, "too many policy uploads; wait a minute")
	}
	u.count++
	if len(s.uploads) > 100_000 {
		s.uploads = map[jid.JID]uploadWindow{}
	}
	s.uploads[owner] = u
	return nil
}

type uploadWindow struct {
	since time.Time
	count int
}

func (s *Service) getPolicy(ctx context.Context, st *stanza.Stanza, owner jid.JID) error {
	ps, err := s.store.OwnerPolicies(ctx, owner)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return refuse(stanza.ItemNotFound, "no policy; the default policy applies")
	}
	e := xml.New(NSExtasis, "policy", "updated", ps[0].Updated.UTC().Format(time.RFC3339)).SetText(ps[0].Module)
	s.r.Route(ctx, st.Result(e.Append(nil, "")))
	return nil
}

// PutPolicy compiles owner's module in the sandbox and, if it compiles,
// stores it and uses it for the owner's things. Errors are *PolicyError.
func (s *Service) PutPolicy(ctx context.Context, owner jid.JID, module string) error {
	p, err := s.engine.Prepare(policyFile(owner), module)
	if err != nil {
		return err
	}
	if err := s.store.PutOwnerPolicy(ctx, storage.OwnerPolicy{Owner: owner, Module: module, Updated: s.cfg.Now()}); err != nil {
		return err
	}
	s.setPolicy(owner, p)
	s.wrote(ctx)
	s.clearOwnerCaches(ctx, owner)
	return nil
}

// DeletePolicy returns the owner to the default policy.
func (s *Service) DeletePolicy(ctx context.Context, owner jid.JID) error {
	if err := s.store.DeleteOwnerPolicy(ctx, owner); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return refuse(stanza.ItemNotFound, "no policy")
		}
		return err
	}
	s.setPolicy(owner, nil)
	s.wrote(ctx)
	s.clearOwnerCaches(ctx, owner)
	return nil
}

func (s *Service) setPolicy(owner jid.JID, p *Policy) {
	old := *s.policies.Load()
	m := make(map[jid.JID]*Policy, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if p == nil {
		delete(m, owner)
	} else {
		m[owner] = p
	}
	s.policies.Store(&m)
	s.polGen.Add(1)
}

// clearOwnerCaches makes every thing of owner forget its cached answers
// (after a policy change).
func (s *Service) clearOwnerCaches(ctx context.Context, owner jid.JID) {
	var refs []storage.ThingRef
	s.things.each(func(t *thing) {
		if t.owner == owner {
			refs = append(refs, storage.ThingRef{JID: t.jid})
		}
		for n, o := range t.nodes {
			if o == owner {
				refs = append(refs, n.Ref(t.jid))
			}
		}
	})
	for _, r := range refs {
		s.clearCache(ctx, r)
	}
}

func (s *Service) setEnforce(ctx context.Context, owner jid.JID, p *xml.Element) error {
	th, err := jid.Parse(p.Attr("jid"))
	if err != nil {
		return refuse(stanza.BadRequest, "invalid jid")
	}
	on := boolAttr(p, "value")
	return s.SetEnforce(ctx, owner, th.Bare(), on)
}

// SetEnforce turns broker-side enforcement on or off for a thing of owner.
func (s *Service) SetEnforce(ctx context.Context, owner, th jid.JID, on bool) error {
	if !s.owns(owner, th, Node{}) {
		return refuse(stanza.ItemNotFound, "")
	}
	if err := s.store.PutOwnedThing(ctx, storage.OwnedThing{Thing: storage.ThingRef{JID: th}, Owner: owner, Enforce: on, Claimed: s.cfg.Now()}); err != nil {
		return err
	}
	s.things.update(th, func(t *thing) *thing {
		t.enforce = on
		return t
	})
	s.rebuildEnforced()
	s.wrote(ctx)
	return nil
}

// ruleElement renders a rule for listing; changeRule reads the same form.
func ruleElement(r storage.ProvisioningRule) *xml.Element {
	e := xml.New(NSExtasis, "rule", "id", strconv.FormatInt(r.ID, 10), "jid", r.Thing.JID.String(),
		"action", r.Action, "origin", r.Origin, "allow", strconv.FormatBool(r.Allow),
		"created", r.Created.UTC().Format(time.RFC3339))
	if r.Remote != "" {
		e.SetAttr("remote", r.Remote)
	}
	if r.Thing.IsNode() {
		e.Add(nodeElement(NSExtasis, nodeOf(r.Thing), false))
	}
	if r.Categories != nil {
		setCategoryAttrs(e, ParseCategories(r.Categories), false, false)
		e.SetAttr("categories", "restricted")
	}
	if r.Fields != nil {
		fs := xml.New(NSExtasis, "fields")
		for _, f := range r.Fields {
			fs.Add(xml.New(NSExtasis, "f", "n", f))
		}
		e.Add(fs)
	}
	if r.Params != nil {
		ps := xml.New(NSExtasis, "params")
		for _, p := range r.Params {
			ps.Add(xml.New(NSExtasis, "p", "n", p))
		}
		e.Add(ps)
	}
	return e
}

func (s *Service) listRules(ctx context.Context, st *stanza.Stanza, owner jid.JID, p *xml.Element) error {
	f := storage.RuleFilter{Owner: owner}
	if v := p.Attr("jid"); v != "" {
		th, err := jid.Parse(v)
		if err != nil {
			return refuse(stanza.BadRequest, "invalid jid")
		}
		f.Thing = th.Bare()
	}
	rs, err := s.store.Rules(ctx, f)
	if err != nil {
		return err
	}
	out := xml.New(NSExtasis, "rules")
	for _, r := range rs {
		out.Add(ruleElement(r))
	}
	s.r.Route(ctx, st.Result(out.Append(nil, "")))
	return nil
}

// changeRule replaces one of the owner's rules with the one sent (the
// listed form), keeping its id.
func (s *Service) changeRule(ctx context.Context, owner jid.JID, p *xml.Element) error {
	id, err := strconv.ParseInt(p.Attr("id"), 10, 64)
	if err != nil {
		return refuse(stanza.BadRequest, "invalid id")
	}
	old, err := s.store.Rules(ctx, storage.RuleFilter{ID: id, Owner: owner})
	if err != nil {
		return err
	}
	if len(old) == 0 {
		return refuse(stanza.ItemNotFound, "")
	}
	r := old[0]
	if v := p.Attr("action"); v != "" {
		if _, ok := ParseAction(v); !ok {
			return refuse(stanza.BadRequest, "action must be friend, read or control")
		}
		r.Action = v
	}
	if v := p.Attr("origin"); v != "" {
		switch v {
		case "jid", "domain", "service", "device", "user", "all":
			r.Origin = v
		default:
			return refuse(stanza.BadRequest, "unknown origin")
		}
		r.Remote = p.Attr("remote")
	}
	if v := p.Attr("allow"); v != "" {
		r.Allow = v == "true" || v == "1"
	}
	if p.Attr("categories") == "restricted" {
		c, _ := parseCategoryAttrs(p, false)
		r.Categories = c.Names()
	} else if p.Attr("categories") == "all" {
		r.Categories = nil
	}
	if fs := p.Child(NSExtasis, "fields"); fs != nil {
		r.Fields = []string{}
		for _, f := range fs.ChildrenNamed(NSExtasis, "f") {
			r.Fields = append(r.Fields, f.Attr("n"))
		}
	} else if p.Attr("fields") == "all" {
		r.Fields = nil
	}
	if ps := p.Child(NSExtasis, "params"); ps != nil {
		r.Params = []string{}
		for _, x := range ps.ChildrenNamed(NSExtasis, "p") {
			r.Params = append(r.Params, x.Attr("n"))
		}
	} else if p.Attr("params") == "all" {
		r.Params = nil
	}
	if (r.Origin == "all") != (r.Remote == "") {
		return refuse(stanza.BadRequest, "remote must be empty exactly for origin all")
	}
	return s.ChangeRule(ctx, r)
}

// ChangeRule stores a changed rule (same id and owner) and clears the
// thing's cache.
func (s *Service) ChangeRule(ctx context.Context, r storage.ProvisioningRule) error {
	r.Created = s.cfg.Now()
	if err := s.store.UpdateRule(ctx, r); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return refuse(stanza.ItemNotFound, "")
		}
		return err
	}
	s.things.update(r.Thing.JID, func(t *thing) *thing {
		rules := make([]storage.ProvisioningRule, len(t.rules))
		copy(rules, t.rules)
		for i := range rules {
			if rules[i].ID == r.ID {
				rules[i] = r
			}
		}
		t.rules = rules
		return t
	})
	s.wrote(ctx)
	s.clearCache(ctx, r.Thing)
	return nil
}

func (s *Service) auditIQ(ctx context.Context, st *stanza.Stanza, owner jid.JID, p *xml.Element) error {
	f := storage.DecisionFilter{Owner: owner, Limit: 50}
	if v := p.Attr("jid"); v != "" {
		th, err := jid.Parse(v)
		if err != nil {
			return refuse(stanza.BadRequest, "invalid jid")
		}
		f.Thing = th.Bare()
	}
	if v, err := strconv.ParseInt(p.Attr("before"), 10, 64); err == nil {
		f.Before = v
	}
	if v, err := strconv.Atoi(p.Attr("max")); err == nil && v > 0 && v <= 1000 {
		f.Limit = v
	}
	ds, err := s.store.Decisions(ctx, f)
	if err != nil {
		return err
	}
	out := xml.New(NSExtasis, "audit")
	for _, d := range ds {
		out.Add(decisionElement(d))
	}
	s.r.Route(ctx, st.Result(out.Append(nil, "")))
	return nil
}

func decisionElement(d storage.ProvisioningDecision) *xml.Element {
	ids := make([]string, len(d.Rules))
	for i, id := range d.Rules {
		ids[i] = strconv.FormatInt(id, 10)
	}
	e := xml.New(NSExtasis, "decision", "id", strconv.FormatInt(d.ID, 10), "at", d.Time.UTC().Format(time.RFC3339Nano),
		"jid", d.Thing.JID.String(), "requester", d.Requester.String(), "action", d.Action, "via", d.Via,
		"allow", strconv.FormatBool(d.Allow), "reason", d.Reason)
	if len(ids) > 0 {
		e.SetAttr("rules", strings.Join(ids, " "))
	}
	if d.Thing.IsNode() {
		e.Add(nodeElement(NSExtasis, nodeOf(d.Thing), false))
	}
	if d.Request != "" {
		e.Add(xml.New(NSExtasis, "request").SetText(d.Request))
	}
	if d.Granted != "" {
		e.Add(xml.New(NSExtasis, "granted").SetText(d.Granted))
	}
	return e
}
