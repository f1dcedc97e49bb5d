package provisioning

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/xml"
)

// askOwner sends the owner a question about req (once per situation while
// it is pending), as a message so that offline storage keeps it.
func (s *Service) askOwner(ctx context.Context, req *Request, owner jid.JID, d Decision) {
	node := Node{}
	granted := map[Node]bool{}
	for _, n := range d.Nodes {
		granted[n] = true
	}
	for _, n := range req.Nodes {
		if !granted[n] {
			node = n
			break
		}
	}
	ref := node.Ref(req.Thing)
	sit := situation(ref, req.Action, req.Requester)
	now := s.cfg.Now()
	s.qmu.Lock()
	if old := s.questions[sit]; old != nil && now.Sub(old.Asked) < s.cfg.QuestionTTL {
		s.qmu.Unlock()
		return
	}
	old := s.questions[sit]
	key := newKey()
	fam := s.family(owner)
	payload := questionPayload(fam, req, node, key)
	q := &storage.ProvisioningQuestion{Key: key, Owner: owner, Thing: ref, Action: req.Action.String(), Remote: req.Requester, Raw: payload, Asked: now}
	s.questions[sit] = q
	s.byKey[key] = sit
	if old != nil {
		delete(s.byKey, old.Key)
	}
	s.qmu.Unlock()
	if old != nil {
		if err := s.store.DeleteQuestion(ctx, old.Key); err != nil {
			s.log.Warn("expired question not deleted", "err", err)
		}
	}
	if err := s.store.PutQuestion(ctx, *q); err != nil && !errors.Is(err, storage.ErrExists) {
		// Asked anyway; it is asked again after a restart.
		s.log.Warn("question not stored", "owner", owner, "err", err)
	}
	s.metrics.Questions.Add(1)
	from := s.address(req.Thing.Domain())
	s.r.Route(ctx, stanza.Build(stanza.Message, from, owner, "normal", "q-"+key,
		payload, questionForm(req, node, key), questionBody(req, node)))
}

// questionPayload is the prov:o question element (digest §7.4).
func questionPayload(fam family, req *Request, node Node, key string) []byte {
	space := fam.ns("prov:o")
	name := map[Action]string{Friend: "isFriend", Read: "canRead", Control: "canControl"}[req.Action]
	e := xml.New(space, name, "jid", req.Thing.String(), "remoteJid", req.Requester.String(), "key", key)
	if req.Action != Friend {
		for _, t := range [...]struct {
			attr string
			v    []string
		}{{"st", req.Tokens.Service}, {"dt", req.Tokens.Device}, {"ut", req.Tokens.User}} {
			if len(t.v) > 0 {
				e.SetAttr(t.attr, strings.Join(t.v, " "))
			}
		}
	}
	if req.Action == Read {
		c := req.Categories
		if c == 0 {
			c = AllCategories
		}
		setCategoryAttrs(e, c, c == AllCategories, false)
	}
	if !node.IsZero() {
		e.Add(nodeElement(space, node, false))
	}
	for _, f := range req.Fields {
		e.Add(xml.New(space, "f", "n", f))
	}
	// Waher's owner code reads <p/> as direct children (digest §7.4).
	for _, p := range req.Params {
		e.Add(xml.New(space, "p", "n", p))
	}
	return e.Append(nil, "")
}

// questionBody is a line for clients that show neither element nor form.
func questionBody(req *Request, node Node) []byte {
	var b strings.Builder
	b.WriteString(req.Requester.String())
	switch req.Action {
	case Friend:
		b.WriteString(" asks to befriend ")
	case Read:
		b.WriteString(" asks to read ")
	case Control:
		b.WriteString(" asks to control ")
	}
	b.WriteString(req.Thing.String())
	if !node.IsZero() {
		b.WriteString(" (node " + node.String() + ")")
	}
	if len(req.Fields) > 0 {
		b.WriteString(": " + strings.Join(req.Fields, ", "))
	}
	if len(req.Params) > 0 {
		b.WriteString(": " + strings.Join(req.Params, ", "))
	}
	b.WriteString(". Answer with the form.")
	return xml.New(stanza.NSClient, "body").SetText(b.String()).Append(nil, stanza.NSClient)
}

func formField(typ, v, label string, values ...string) *xml.Element {
	f := xml.New(stanza.NSDataForms, "field", "var", v, "type", typ)
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, val := range values {
		f.Add(xml.New(stanza.NSDataForms, "value").SetText(val))
	}
	return f
}

func formOptions(f *xml.Element, opts ...[2]string) *xml.Element {
	for _, o := range opts {
		f.Add(xml.New(stanza.NSDataForms, "option", "label", o[1]).Add(xml.New(stanza.NSDataForms, "value").SetText(o[0])))
	}
	return f
}

// questionForm is the XEP-0004 form of a question, for owners whose
// client speaks no prov:o; they submit it back to the service.
func questionForm(req *Request, node Node, key string) []byte {
	x := xml.New(stanza.NSDataForms, "x", "type", "form")
	x.Add(xml.New(stanza.NSDataForms, "title").SetText("Provisioning question"))
	x.Add(formField("hidden", "FORM_TYPE", "", FormType))
	x.Add(formField("hidden", "key", "", key))
	x.Add(formField("jid-single", "thing", "Thing", req.Thing.String()))
	x.Add(formField("jid-single", "remote", "Asked by", req.Requester.String()))
	x.Add(formField("hidden", "action", "", req.Action.String()))
	if !node.IsZero() {
		x.Add(formField("text-single", "node", "Node", node.String()))
	}
	x.Add(formOptions(formField("list-single", "result", "Answer", "deny"), [2]string{"allow", "Allow"}, [2]string{"deny", "Deny"}))
	rng := formOptions(formField("list-single", "range", "For", "caller"),
		[2]string{"caller", "This party"}, [2]string{"domain", "Everyone at " + req.Requester.Domain()}, [2]string{"all", "Everyone"})
	for _, t := range req.Tokens.User {
		formOptions(rng, [2]string{"user:" + t, "This user token"})
	}
	for _, t := range req.Tokens.Device {
		formOptions(rng, [2]string{"device:" + t, "This device token"})
	}
	for _, t := range req.Tokens.Service {
		formOptions(rng, [2]string{"service:" + t, "This service token"})
	}
	x.Add(rng)
	if req.Action == Read {
		c := req.Categories
		if c == 0 {
			c = AllCategories
		}
		f := formField("list-multi", "categories", "Categories", c.Names()...)
		for _, n := range c.Names() {
			formOptions(f, [2]string{n, n})
		}
		x.Add(f)
		if len(req.Fields) > 0 {
			f := formField("list-multi", "fields", "Fields", req.Fields...)
			for _, n := range req.Fields {
				formOptions(f, [2]string{n, n})
			}
			x.Add(f)
		}
	}
	if req.Action == Control && len(req.Params) > 0 {
		f := formField("list-multi", "params", "Parameters", req.Params...)
		for _, n := range req.Params {
			formOptions(f, [2]string{n, n})
		}
		x.Add(f)
	}
	return x.Append(nil, stanza.NSClient)
}

// errRule is an owner request the service refuses, with its stanza error.
type errRule struct{ e stanza.Error }

func (e errRule) Error() string { return "provisioning: " + e.e.Error() }

func refuse(cond stanza.Condition, text string) error {
	return errRule{stanza.Error{Condition: cond, Text: text}}
}

func (s *Service) replyErr(ctx context.Context, st *stanza.Stanza, err error) {
	var er errRule
	if errors.As(err, &er) {
		s.r.ReplyError(ctx, st, er.e)
		return
	}
	s.r.ReplyError(ctx, st, s.storageError("owner request", err))
}

// ownerRequest serves the prov:o iqs.
func (s *Service) ownerRequest(ctx context.Context, st *stanza.Stanza, p *xml.Element, fam family) {
	owner := st.From.Bare()
	switch {
	case st.Type == "set" && strings.HasSuffix(p.Name.Local, "Rule"):
		if _, err := s.ownerRule(ctx, owner, p); err != nil {
			s.replyErr(ctx, st, err)
			return
		}
		s.r.Route(ctx, st.Result())
	case st.Type == "set" && p.Name.Local == "clearCache":
		refs, err := s.ownerTargets(owner, p)
		if err != nil {
			s.replyErr(ctx, st, err)
			return
		}
		s.r.Route(ctx, st.Result())
		for _, r := range refs {
			s.clearCache(ctx, r)
		}
	case st.Type == "set" && p.Name.Local == "deleteRules":
		refs, err := s.ownerTargets(owner, p)
		if err != nil {
			s.replyErr(ctx, st, err)
			return
		}
		for _, r := range refs {
			f := storage.RuleFilter{Owner: owner, Thing: r.JID}
			if r.IsNode() {
				f.ByNode, f.Node = true, r
			}
			if err := s.deleteRules(ctx, f); err != nil {
				s.replyErr(ctx, st, err)
				return
			}
		}
		s.r.Route(ctx, st.Result())
	case st.Type == "get" && p.Name.Local == "getDevices":
		s.getDevices(ctx, st, owner, p, fam)
	default:
		s.r.ReplyError(ctx, st, stanza.Error{Condition: stanza.FeatureNotImplemented})
	}
}

// ownerTargets reads jid/id/src/pt of clearCache and deleteRules: one
// thing or node of the owner, or all of the owner's things when jid is
// absent.
func (s *Service) ownerTargets(owner jid.JID, p *xml.Element) ([]storage.ThingRef, error) {
	if p.Attr("jid") == "" {
		var out []storage.ThingRef
		s.things.each(func(t *thing) {
			if t.owner == owner {
				out = append(out, storage.ThingRef{JID: t.jid})
			}
			for n, o := range t.nodes {
				if o == owner {
					out = append(out, n.Ref(t.jid))
				}
			}
		})
		return out, nil
	}
	th, err := jid.Parse(p.Attr("jid"))
	if err != nil {
		return nil, refuse(stanza.BadRequest, "invalid jid")
	}
	n := Node{ID: p.Attr("id"), Source: p.Attr("src"), Partition: p.Attr("pt")}
	if n.ID == "" {
		n = Node{} // Waher always writes id='': the whole thing
	}
	if !s.owns(owner, th.Bare(), n) {
		return nil, refuse(stanza.ItemNotFound, "")
	}
	return []storage.ThingRef{n.Ref(th.Bare())}, nil
}

// owns reports whether owner owns node n of th (zero n: the thing).
func (s *Service) owns(owner, th jid.JID, n Node) bool {
	t := s.things.get(th)
	return t != nil && !owner.IsZero() && t.ownerOf(n) == owner
}

// ownerRule learns isFriendRule, canReadRule or canControlRule.
func (s *Service) ownerRule(ctx context.Context, owner jid.JID, p *xml.Element) (int64, error) {
	var r storage.ProvisioningRule
	switch p.Name.Local {
	case "isFriendRule":
		r.Action = Friend.String()
	case "canReadRule":
		r.Action = Read.String()
	case "canControlRule":
		r.Action = Control.String()
	default:
		return 0, refuse(stanza.FeatureNotImplemented, "")
	}
	th, err := jid.Parse(p.Attr("jid"))
	if err != nil {
		return 0, refuse(stanza.BadRequest, "invalid jid")
	}
	remoteStr := p.Attr("remoteJid")
	var remote jid.JID
	if remoteStr != "" {
		if remote, err = jid.Parse(remoteStr); err != nil {
			return 0, refuse(stanza.BadRequest, "invalid remoteJid")
		}
		remote = remote.Bare()
	}
	r.Owner = owner
	r.Allow = boolAttr(p, "result")
	space := p.Name.Space
	node := Node{}
	if nd := p.Child(space, "nd"); nd != nil && nd.Attr("id") != "" {
		node = Node{ID: nd.Attr("id"), Source: nd.Attr("src"), Partition: nd.Attr("pt")}
	}
	r.Thing = node.Ref(th.Bare())
	if r.Action == Friend.String() {
		switch p.Attr("range") {
		case "", "Caller":
			r.Origin, r.Remote = "jid", remote.String()
		case "Domain":
			r.Origin, r.Remote = "domain", remote.Domain()
		case "All":
			r.Origin = "all"
		default:
			return 0, refuse(stanza.BadRequest, "range must be Caller, Domain or All")
		}
	} else {
		if err := ruleOrigin(&r, p, remote); err != nil {
			return 0, err
		}
		if part := p.Child(space, "partial"); part != nil && r.Allow {
			readPartial(&r, part)
		}
	}
	if (r.Origin == "jid" || r.Origin == "domain") && remote.IsZero() {
		return 0, refuse(stanza.BadRequest, "remoteJid is required for this origin")
	}
	return s.learn(ctx, r, p.Attr("key"), remote)
}

// ruleOrigin reads the origin element (exactly one; fromJid if none).
func ruleOrigin(r *storage.ProvisioningRule, p *xml.Element, remote jid.JID) error {
	r.Origin, r.Remote = "jid", remote.String()
	for _, c := range p.Children {
		if c.Name.Space != p.Name.Space {
			continue
		}
		switch c.Name.Local {
		case "fromJid":
			r.Origin, r.Remote = "jid", remote.String()
		case "fromDomain":
			r.Origin, r.Remote = "domain", remote.Domain()
		case "fromService", "fromDevice", "fromUser":
			tok := c.Attr("token")
			if tok == "" {
				return refuse(stanza.BadRequest, c.Name.Local+" needs a token")
			}
			r.Origin = strings.ToLower(strings.TrimPrefix(c.Name.Local, "from"))
			r.Remote = tok
		case "all":
			r.Origin, r.Remote = "all", ""
		}
	}
	return nil
}

// readPartial reads the partial grant of a canReadRule or canControlRule.
func readPartial(r *storage.ProvisioningRule, part *xml.Element) {
	space := part.Name.Space
	if r.Action == Read.String() {
		c, all := parseCategoryAttrs(part, false)
		if !all {
			r.Categories = c.Names()
		}
		for _, f := range part.ChildrenNamed(space, "f") {
			if n := f.Attr("n"); n != "" {
				r.Fields = append(r.Fields, n)
			}
		}
		return
	}
	for _, c := range part.Children {
		switch {
		case c.Name.Local == "p" && c.Attr("n") != "":
			r.Params = append(r.Params, c.Attr("n"))
		case c.Name.Local == "parameter" && c.Attr("name") != "":
			r.Params = append(r.Params, c.Attr("name"))
		}
	}
}

// learn stores a rule from the owner (answering question key, if any),
// then makes the thing forget its cached answers.
func (s *Service) learn(ctx context.Context, r storage.ProvisioningRule, key string, remote jid.JID) (int64, error) {
	n := nodeOf(r.Thing)
	if !s.owns(r.Owner, r.Thing.JID, n) {
		return 0, refuse(stanza.ItemNotFound, "")
	}
	s.ownersMu.Lock()
	count := s.ruleCount[r.Owner]
	s.ownersMu.Unlock()
	if count >= s.cfg.MaxRulesPerOwner {
		return 0, refuse(stanza.ResourceConstraint, "too many rules; delete some first")
	}
	r.Created = s.cfg.Now()
	id, err := s.store.AddRule(ctx, r)
	if err != nil {
		return 0, err
	}
	r.ID = id
	s.ownersMu.Lock()
	s.ruleCount[r.Owner]++
	s.ownersMu.Unlock()
	s.things.update(r.Thing.JID, func(t *thing) *thing {
		t.rules = append(append([]storage.ProvisioningRule(nil), t.rules...), r)
		return t
	})
	s.wrote(ctx)
	s.answered(ctx, key, r, remote)
	s.clearCache(ctx, r.Thing)
	if r.Action == Friend.String() && r.Allow && r.Origin == "jid" {
		// The thing declined the subscription before: ask it to send one.
		s.push(ctx, r.Thing.JID, "message", friendPayload(s.family(r.Thing.JID), "friend", r.Remote))
	}
	return id, nil
}

// answered forgets the question the rule answers.
func (s *Service) answered(ctx context.Context, key string, r storage.ProvisioningRule, remote jid.JID) {
	a, _ := ParseAction(r.Action)
	s.qmu.Lock()
	var keys []string
	if sit, ok := s.byKey[key]; ok && key != "" {
		delete(s.byKey, key)
		delete(s.questions, sit)
		keys = append(keys, key)
	}
	if !remote.IsZero() {
		sit := situation(r.Thing, a, remote)
		if q := s.questions[sit]; q != nil {
			delete(s.questions, sit)
			delete(s.byKey, q.Key)
			keys = append(keys, q.Key)
		}
	}
	s.qmu.Unlock()
	for _, k := range keys {
		if err := s.store.DeleteQuestion(ctx, k); err != nil {
			s.log.Warn("answered question not deleted", "err", err)
		}
	}
}

// deleteRules deletes rules, clears the caches of the things concerned
// and unfriends the parties no longer allowed.
func (s *Service) deleteRules(ctx context.Context, f storage.RuleFilter) error {
	gone, err := s.store.DeleteRules(ctx, f)
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return nil
	}
	ids := map[int64]bool{}
	touched := map[storage.ThingRef]bool{}
	for _, r := range gone {
		ids[r.ID] = true
		touched[r.Thing] = true
	}
	s.ownersMu.Lock()
	for _, r := range gone {
		s.ruleCount[r.Owner]--
	}
	s.ownersMu.Unlock()
	things := map[jid.JID]bool{}
	for ref := range touched {
		things[ref.JID] = true
	}
	for th := range things {
		s.things.update(th, func(t *thing) *thing {
			kept := make([]storage.ProvisioningRule, 0, len(t.rules))
			for _, r := range t.rules {
				if !ids[r.ID] {
					kept = append(kept, r)
				}
			}
			t.rules = kept
			return t
		})
	}
	s.wrote(ctx)
	for ref := range touched {
		s.clearCache(ctx, ref)
	}
	for _, r := range gone {
		if r.Action == Friend.String() && r.Allow && r.Origin == "jid" {
			s.push(ctx, r.Thing.JID, "message", friendPayload(s.family(r.Thing.JID), "unfriend", r.Remote))
		}
	}
	return nil
}

// getDevices lists the owner's things (a registry-style found element;
// tags live in the registry, not here).
func (s *Service) getDevices(ctx context.Context, st *stanza.Stanza, owner jid.JID, p *xml.Element, fam family) {
	offset, _ := strconv.Atoi(p.Attr("offset"))
	max, err := strconv.Atoi(p.Attr("maxCount"))
	if err != nil || max <= 0 || max > 1000 {
		max = 1000
	}
	if offset < 0 {
		offset = 0
	}
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
	sortRefs(refs)
	space := fam.ns("prov:o")
	more := false
	if offset > len(refs) {
		offset = len(refs)
	}
	refs = refs[offset:]
	if len(refs) > max {
		refs, more = refs[:max], true
	}
	found := xml.New(space, "found", "more", strconv.FormatBool(more))
	for _, r := range refs {
		e := xml.New(space, "thing", "owner", owner.String(), "jid", r.JID.String())
		if r.IsNode() {
			e.SetAttr("id", r.Node)
			if r.Source != "" {
				e.SetAttr("src", r.Source)
			}
			if r.Partition != "" {
				e.SetAttr("pt", r.Partition)
			}
		}
		found.Add(e)
	}
	s.r.Route(ctx, st.Result(found.Append(nil, "")))
}

func sortRefs(refs []storage.ThingRef) {
	key := func(r storage.ThingRef) string {
		return r.JID.String() + "\x00" + r.Node + "\x00" + r.Source + "\x00" + r.Partition
	}
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && key(refs[j]) < key(refs[j-1]); j-- {
			refs[j], refs[j-1] = refs[j-1], refs[j]
		}
	}
}

// formAnswer learns a rule from a submitted question form.
func (s *Service) formAnswer(ctx context.Context, st *stanza.Stanza, x *xml.Element) {
	reply := func(err error) {
		if st.Kind != stanza.IQ {
			if err != nil {
				s.log.Debug("form answer refused", "owner", st.From.Bare(), "err", err)
			}
			return
		}
		if err != nil {
			s.replyErr(ctx, st, err)
			return
		}
		s.r.Route(ctx, st.Result())
	}
	if x.Attr("type") != "submit" {
		reply(refuse(stanza.BadRequest, "expected a submitted form"))
		return
	}
	vals := map[string][]string{}
	for _, f := range x.ChildrenNamed(stanza.NSDataForms, "field") {
		for _, v := range f.ChildrenNamed(stanza.NSDataForms, "value") {
			vals[f.Attr("var")] = append(vals[f.Attr("var")], v.Text)
		}
	}
	one := func(k string) string {
		if v := vals[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if one("FORM_TYPE") != FormType {
		reply(refuse(stanza.BadRequest, "unknown FORM_TYPE"))
		return
	}
	key := one("key")
	s.qmu.Lock()
	var q *storage.ProvisioningQuestion
	if sit, ok := s.byKey[key]; ok {
		q = s.questions[sit]
	}
	s.qmu.Unlock()
	owner := st.From.Bare()
	if q == nil || q.Owner != owner {
		reply(refuse(stanza.ItemNotFound, "no such question"))
		return
	}
	r := storage.ProvisioningRule{Owner: owner, Thing: q.Thing, Action: q.Action, Allow: one("result") == "allow"}
	switch rng := one("range"); {
	case rng == "" || rng == "caller":
		r.Origin, r.Remote = "jid", q.Remote.String()
	case rng == "domain":
		r.Origin, r.Remote = "domain", q.Remote.Domain()
	case rng == "all":
		r.Origin = "all"
	default:
		kind, tok, ok := strings.Cut(rng, ":")
		if !ok || (kind != "user" && kind != "device" && kind != "service") || tok == "" {
			reply(refuse(stanza.BadRequest, "unknown range"))
			return
		}
		r.Origin, r.Remote = kind, tok
	}
	if r.Allow {
		if v, ok := vals["categories"]; ok {
			if c := ParseCategories(v); c != AllCategories {
				r.Categories = c.Names()
			}
		}
		if v, ok := vals["fields"]; ok {
			r.Fields = append([]string{}, v...)
		}
		if v, ok := vals["params"]; ok {
			r.Params = append([]string{}, v...)
		}
	}
	_, err := s.learn(ctx, r, key, q.Remote)
	reply(err)
}
