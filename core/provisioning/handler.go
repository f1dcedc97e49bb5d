package provisioning

import (
	"context"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// HandleStanza serves everything addressed to the provisioning component.
func (s *Service) HandleStanza(ctx context.Context, st *stanza.Stanza) {
	switch st.Kind {
	case stanza.IQ:
		if !st.IsIQRequest() {
			s.iqResponse(ctx, st)
			return
		}
		s.iq(ctx, st)
	case stanza.Message:
		s.message(ctx, st)
	}
	// Presence to the component: it keeps no roster and needs no
	// friendship (digest §2.5); nothing to answer.
}

func (s *Service) iq(ctx context.Context, st *stanza.Stanza) {
	if st.To.Local() != "" {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	el, err := st.Element()
	if err != nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest})
		return
	}
	p := el.Child(st.Payload.Space, st.Payload.Local)
	if p == nil {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "no payload"})
		return
	}
	ns := p.Name.Space
	switch {
	case ns == stanza.NSDiscoInfo && st.Type == "get":
		s.discoInfo(ctx, st, p)
		return
	case ns == stanza.NSDiscoItems && st.Type == "get":
		s.r.Route(ctx, st.Result([]byte("<query xmlns='"+stanza.NSDiscoItems+"'/>")))
		return
	case ns == stanza.NSPing && st.Type == "get":
		s.r.Route(ctx, st.Result())
		return
	case ns == NSExtasis:
		s.extasis(ctx, st, p)
		return
	case ns == stanza.NSDataForms && st.Type == "set":
		s.formAnswer(ctx, st, p)
		return
	}
	fam, area, ok := familyOf(ns)
	switch {
	case ok && (area == "prov:d" || fam == famLegacy && isDeviceQuestion(p.Name.Local)):
		if st.Type != "get" {
			s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.FeatureNotImplemented})
			return
		}
		s.deviceQuestion(ctx, st, p, fam)
	case ok && area == "prov:o":
		s.setFamily(st.From.Bare(), fam)
		s.ownerRequest(ctx, st, p, fam)
	case ok && area == "prov:t" && fam != famLegacy:
		s.tokenRequest(ctx, st, p, fam)
	default:
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ServiceUnavailable})
	}
}

func isDeviceQuestion(name string) bool {
	return name == "isFriend" || name == "canRead" || name == "canControl"
}

func (s *Service) discoInfo(ctx context.Context, st *stanza.Stanza, q *xml.Element) {
	if q.Attr("node") != "" {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.ItemNotFound})
		return
	}
	res := xml.New(stanza.NSDiscoInfo, "query")
	res.Add(xml.New(stanza.NSDiscoInfo, "identity", "category", "component", "type", "generic", "name", "Provisioning"))
	res.Add(xml.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoInfo))
	for _, f := range Features() {
		res.Add(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	s.r.Route(ctx, st.Result(res.Append(nil, "")))
}

func (s *Service) message(ctx context.Context, st *stanza.Stanza) {
	if st.Type == "error" {
		return
	}
	el, err := st.Element()
	if err != nil {
		return
	}
	for _, c := range el.Children {
		if c.Name.Space == stanza.NSDataForms && c.Name.Local == "x" {
			s.formAnswer(ctx, st, c)
			return
		}
		if fam, area, ok := familyOf(c.Name.Space); ok && area == "prov:o" && strings.HasSuffix(c.Name.Local, "Rule") {
			// The requirements table lists owner rules as messages; the
			// prose, schema and clients use iq. Accept both.
			s.setFamily(st.From.Bare(), fam)
			if _, err := s.ownerRule(ctx, st.From.Bare(), c); err != nil {
				s.log.Debug("owner rule by message refused", "owner", st.From.Bare(), "err", err)
			}
			return
		}
	}
}

// deviceQuestion answers isFriend, canRead and canControl at once, then
// asks the owner when no rule covered the question.
func (s *Service) deviceQuestion(ctx context.Context, st *stanza.Stanza, p *xml.Element, fam family) {
	q, ok := parseQuestion(p, fam)
	if !ok {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.FeatureNotImplemented})
		return
	}
	remote, err := jid.Parse(q.remote)
	if err != nil || q.remote == "" {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.BadRequest, Text: "missing or invalid jid"})
		return
	}
	q.req.Thing = st.From.Bare()
	q.req.Requester = remote.Bare()
	s.setFamily(q.req.Thing, fam)
	d, owner := s.Decide(ctx, &q.req, "question")
	s.r.Route(ctx, st.Result(q.answer(d)))
	if d.Ask && !owner.IsZero() {
		s.askOwner(ctx, &q.req, owner, d)
	}
}

// Decide decides req and records the decision in the audit (via is
// "question" or "broker"). It returns the owner who decides (zero for an
// unclaimed thing).
func (s *Service) Decide(ctx context.Context, req *Request, via string) (Decision, jid.JID) {
	s.metrics.Decisions.Add(1)
	t := s.things.get(req.Thing)
	var owner jid.JID
	if t != nil {
		owner = t.owner
		if len(req.Nodes) > 0 {
			// One owner decides a request; nodes someone else owns are
			// not part of it (never granted by another owner's rules).
			owner = t.ownerOf(req.Nodes[0])
			if len(t.nodes) > 0 {
				kept := req.Nodes[:0:0]
				for _, n := range req.Nodes {
					if t.ownerOf(n) == owner {
						kept = append(kept, n)
					}
				}
				req.Nodes = kept
			}
		}
	}
	pol := (*s.policies.Load())[owner]
	var key string
	if t != nil && !s.noCache {
		key = strconv.FormatUint(s.polGen.Load(), 36) + "\x00" + cacheKey(req)
		if d, ok := t.cached(key); ok {
			s.metrics.CacheHits.Add(1)
			s.record(req, owner, d, via)
			return d, owner
		}
	}
	var applicable, rules *ast.Term
	if t != nil {
		applicable = t.applicable(owner, req)
		if pol != nil {
			rules = t.indexFor(owner, req.Action)
		}
	}
	d, err := s.engine.Decide(ctx, pol, buildInput(req, t, owner, applicable, rules))
	if err != nil {
		if err == ErrTimeout {
			s.metrics.PolicyTimeout.Add(1)
		} else {
			s.metrics.PolicyErrors.Add(1)
		}
		s.log.Debug("policy failed; denied", "thing", req.Thing, "owner", owner, "err", err)
		d = Decision{Reason: d.Reason}
	} else if t != nil && !s.noCache {
		t.remember(key, d)
	}
	s.record(req, owner, d, via)
	return d, owner
}

// record queues the audit entry of a decision.
func (s *Service) record(req *Request, owner jid.JID, d Decision, via string) {
	ref := storage.ThingRef{JID: req.Thing}
	if len(req.Nodes) == 1 {
		ref = req.Nodes[0].Ref(req.Thing)
	}
	e := storage.ProvisioningDecision{
		Time: s.cfg.Now(), Owner: owner, Thing: ref, Requester: req.Requester, Action: req.Action.String(),
		Via: via, Allow: d.Allow, Reason: d.Reason, Rules: d.Rules,
		Request: summary(req.Nodes, req.Categories, req.Fields, req.Params, req.Action),
	}
	if d.Allow {
		e.Granted = summary(d.Nodes, d.Categories, d.Fields, d.Params, req.Action)
	}
	select {
	case s.audit <- e:
	default:
		s.metrics.AuditDropped.Add(1)
	}
}

// iqResponse handles answers to our pushes (clearCache results).
func (s *Service) iqResponse(ctx context.Context, st *stanza.Stanza) {
	if st.Type == "error" {
		if e, ok := stanza.ParseError(st); ok {
			s.log.Debug("push refused", "to", st.From, "condition", string(e.Condition))
		}
	}
}
