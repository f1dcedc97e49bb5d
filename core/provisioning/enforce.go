package provisioning

import (
	"context"
	"strings"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// Legacy XEP-0323 and XEP-0325 namespaces, checked in enforcement mode.
const (
	nsLegacySensorData = "urn:xmpp:iot:sensordata"
	nsLegacyControl    = "urn:xmpp:iot:control"
)

// Filter is the pre-route stage of enforcement mode: sensor-data
// read-outs, event subscriptions, control requests and presence
// subscriptions addressed to a thing whose owner turned enforcement on are
// decided by the broker before delivery; refused ones are answered with
// forbidden, partly granted ones are cut down to what is granted.
//
// Everything else costs one map lookup (an empty-map check when no thing
// is enforced).
func (s *Service) Filter(ctx context.Context, st *stanza.Stanza) bool {
	if st.Kind == stanza.Message {
		return true
	}
	m := *s.enforced.Load()
	if len(m) == 0 {
		return true
	}
	to := st.To.Bare()
	if _, ok := m[to]; !ok {
		return true
	}
	from := st.From.Bare()
	if from.IsZero() || from == to || s.isOwnAddress(from) {
		return true
	}
	switch st.Kind {
	case stanza.Presence:
		if st.Type != "subscribe" {
			return true
		}
		req := Request{Action: Friend, Thing: to, Requester: from}
		return s.enforce(ctx, st, &req, nil, nil)
	case stanza.IQ:
		if !st.IsIQRequest() {
			return true
		}
		return s.enforceIQ(ctx, st, to, from)
	}
	return true
}

// isOwnAddress reports whether j is one of the component addresses.
func (s *Service) isOwnAddress(j jid.JID) bool {
	if j.Local() != "" {
		return false
	}
	d := j.Domain()
	rest, ok := strings.CutPrefix(d, s.cfg.Subdomain+".")
	return ok && s.r.IsHost(rest)
}

// enforceIQ checks sd req, events subscribe and ctr set (and their legacy
// forms); other iqs pass.
func (s *Service) enforceIQ(ctx context.Context, st *stanza.Stanza, to, from jid.JID) bool {
	ns, name := st.Payload.Space, st.Payload.Local
	legacy := false
	var action Action
	switch {
	case ns == nsLegacySensorData && name == "req":
		action, legacy = Read, true
	case ns == nsLegacyControl && name == "set":
		action, legacy = Control, true
	default:
		_, area, ok := familyOf(ns)
		if !ok {
			return true
		}
		switch {
		case (area == "sd" && name == "req") || (area == "events" && name == "subscribe"):
			action = Read
		case area == "ctr" && name == "set":
			action = Control
		default:
			return true
		}
	}
	el, err := st.Element()
	if err != nil {
		return true // the recipient will reject it
	}
	p := el.Child(ns, name)
	if p == nil {
		return true
	}
	req := Request{Action: action, Thing: to, Requester: from, Tokens: parseTokens(p, legacy)}
	if action == Read {
		req.Categories, _ = parseCategoryAttrs(p, legacy)
	}
	fieldTag, fieldAttr := "f", "n"
	if legacy {
		fieldTag, fieldAttr = "field", "name"
	}
	for _, c := range p.Children {
		if n, ok := parseNode(c, legacy); ok {
			if !n.IsZero() {
				req.Nodes = append(req.Nodes, n)
			}
			continue
		}
		switch {
		case action == Read && c.Name.Local == fieldTag:
			if v := c.Attr(fieldAttr); v != "" {
				req.Fields = append(req.Fields, v)
			}
		case action == Control:
			req.Params = append(req.Params, controlParams(c, legacy)...)
		}
	}
	return s.enforce(ctx, st, &req, el, p)
}

// controlParams are the parameter names a child of a control set names:
// a typed parameter (n, or legacy name) or the fields of a submitted form.
func controlParams(c *xml.Element, legacy bool) []string {
	if c.Name.Space == stanza.NSDataForms && c.Name.Local == "x" {
		var out []string
		for _, f := range c.ChildrenNamed(stanza.NSDataForms, "field") {
			if v := f.Attr("var"); v != "" && v != "FORM_TYPE" {
				out = append(out, v)
			}
		}
		return out
	}
	attr := "n"
	if legacy {
		attr = "name"
	}
	if v := c.Attr(attr); v != "" {
		return []string{v}
	}
	return nil
}

// enforce decides req for st; a refusal is answered with forbidden, a
// partial grant rewrites the request to what is granted.
func (s *Service) enforce(ctx context.Context, st *stanza.Stanza, req *Request, el, p *xml.Element) bool {
	s.metrics.Enforced.Add(1)
	asked := *req
	d, owner := s.Decide(ctx, req, "broker")
	if d.Ask && !owner.IsZero() {
		// Asking writes to storage: not on the routing path.
		q := *req
		s.enqueue(func(ctx context.Context) { s.askOwner(ctx, &q, owner, d) })
	}
	if !d.Allow {
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.Forbidden, Text: "Access denied."})
		return false
	}
	if p == nil || !s.narrow(&asked, d, p) {
		return true
	}
	// The tree is the stanza's own cached parse: it now says what Raw
	// says. Top attributes (to, from, type, id) are unchanged.
	st.Raw = el.Append(nil, stanza.NSClient)
	return true
}

// narrow cuts the request payload p down to the grant d; it reports
// whether anything changed.
func (s *Service) narrow(asked *Request, d Decision, p *xml.Element) bool {
	changed := false
	legacy := p.Name.Space == nsLegacySensorData || p.Name.Space == nsLegacyControl
	grantedNodes := map[Node]bool{}
	for _, n := range d.Nodes {
		grantedNodes[n] = true
	}
	fields := map[string]bool{}
	for _, f := range d.Fields {
		fields[f] = true
	}
	params := map[string]bool{}
	for _, x := range d.Params {
		params[x] = true
	}
	kept := p.Children[:0:0]
	for _, c := range p.Children {
		if n, ok := parseNode(c, legacy); ok && !n.IsZero() {
			if len(asked.Nodes) > 0 && !grantedNodes[n] {
				changed = true
				continue
			}
			kept = append(kept, c)
			continue
		}
		if asked.Action == Read && d.Fields != nil {
			tag, attr := "f", "n"
			if legacy {
				tag, attr = "field", "name"
			}
			if c.Name.Local == tag && !fields[c.Attr(attr)] {
				changed = true
				continue
			}
		}
		if asked.Action == Control && d.Params != nil {
			if c.Name.Space == stanza.NSDataForms && c.Name.Local == "x" {
				fk := c.Children[:0:0]
				for _, f := range c.Children {
					if f.Name.Local == "field" && f.Attr("var") != "FORM_TYPE" && !params[f.Attr("var")] {
						changed = true
						continue
					}
					fk = append(fk, f)
				}
				c.Children = fk
			} else if names := controlParams(c, legacy); len(names) == 1 && !params[names[0]] {
				changed = true
				continue
			}
		}
		kept = append(kept, c)
	}
	p.Children = kept
	if asked.Action == Read && asked.Fields == nil && d.Fields != nil {
		// All fields were asked for, some are granted: name them.
		tag, attr := "f", "n"
		if legacy {
			tag, attr = "field", "name"
		}
		for _, f := range d.Fields {
			p.Add(xml.New(p.Name.Space, tag, attr, f))
		}
		changed = true
	}
	if asked.Action == Read {
		want := asked.Categories
		if want == 0 {
			want = AllCategories
		}
		if d.Categories != want {
			names := categoryAttrs[:]
			if legacy {
				names = legacyCategoryAttrs[:]
			}
			attrs := p.Attrs[:0:0]
			for _, a := range p.Attrs {
				isCat := a.Name.Space == "" && a.Name.Local == "all"
				for _, n := range names {
					if a.Name.Space == "" && a.Name.Local == n {
						isCat = true
					}
				}
				if !isCat {
					attrs = append(attrs, a)
				}
			}
			p.Attrs = attrs
			setCategoryAttrs(p, d.Categories, false, legacy)
			changed = true
		}
	}
	return changed
}
