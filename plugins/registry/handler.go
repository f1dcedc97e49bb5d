package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/extasis/extasis/plugins/registry/store"
	"github.com/extasis/extasis/sdk/iotdisco"
	"github.com/extasis/extasis/sdk/plugin"
)

// registry is the plugin: it turns requests into store calls and store
// outcomes into replies and notifications.
type registry struct {
	cfg      config
	st       *store.Store
	address  string
	claims   *limiter
	searches *limiter

	// locks serialise notification delivery per thing (striped, so that
	// their number is fixed).
	locks [64]sync.Mutex
	seed  maphash.Seed
	// pending holds bare JIDs with queued notifications, so that presence
	// events for everyone else cost no query.
	mu      sync.Mutex
	pending map[string]bool
	pubMu   sync.Mutex
	// flushed: the outbox of a previous run was delivered once a broker
	// connection existed.
	flushed sync.Once
}

var (
	_ plugin.Handler      = (*registry)(nil)
	_ plugin.EventHandler = (*registry)(nil)
)

func newRegistry() *registry { return &registry{pending: map[string]bool{}, seed: maphash.MakeSeed()} }

// bare strips the resource of a JID.
func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// HandleStanza answers the registry's requests in any of its namespaces;
// other iq requests get service-unavailable; messages and presence are
// ignored.
func (r *registry) HandleStanza(ctx context.Context, b plugin.Broker, s *plugin.Stanza) {
	r.startup(b)
	if !s.IsIQRequest() {
		return
	}
	ns := s.Payload.Space
	var reply *plugin.Stanza
	switch {
	case ns == nsDisco && s.Payload.Local == "query":
		reply = r.discoInfo(s)
	case !served(ns):
		reply = s.Error("service-unavailable", "")
	default:
		reply = r.request(ctx, b, s, ns)
	}
	if err := b.Send(ctx, reply); err != nil {
		b.Log().Warn("registry: reply not sent", "error", err.Error())
	}
}

// discoInfo answers disco#info when the broker does not (it answers it
// from Info itself, even while the plugin restarts).
func (r *registry) discoInfo(s *plugin.Stanza) *plugin.Stanza {
	var b out
	b.open("query", nsDisco)
	b.WriteByte('>')
	b.empty("identity", "", "category", "component", "type", "generic", "name", "Thing Registry")
	for _, f := range []string{nsDisco, nsNF, nsIEEE, nsNFI, nsLegacy} {
		b.empty("feature", "", "var", f)
	}
	b.WriteString("</query>")
	return s.Result(b.Bytes())
}

func (r *registry) request(ctx context.Context, b plugin.Broker, s *plugin.Stanza, ns string) *plugin.Stanza {
	e, err := payload(s.Raw)
	if err != nil {
		return s.Error("bad-request", err.Error())
	}
	from := s.From
	if from == "" || bare(from) == from && !strings.Contains(from, "@") {
		// A server or component: things and owners are accounts.
		return s.Error("forbidden", "registry: requests come from accounts")
	}
	var payloadOut []byte
	switch s.Payload.Local + "/" + s.Type {
	case "register/set":
		payloadOut, err = r.register(ctx, b, from, e, ns)
	case "mine/set":
		payloadOut, err = r.mine(ctx, b, from, e, ns)
	case "update/set":
		payloadOut, err = r.update(ctx, b, from, e, ns)
	case "remove/set":
		err = r.remove(ctx, b, from, e, ns)
	case "unregister/set":
		err = r.unregister(ctx, b, from, e, ns)
	case "disown/set":
		err = r.disown(ctx, b, from, e, ns)
	case "search/get":
		payloadOut, err = r.search(ctx, from, e, ns)
	default:
		return s.Error("feature-not-implemented", "")
	}
	if err != nil {
		return r.errorReply(b, s, err)
	}
	return s.Result(payloadOut)
}

// errNotAllowed: a disown the thing did not acknowledge.
var errNotAllowed = errors.New("registry: the thing did not accept")

// errRate: a sender over its limit.
var errRate = errors.New("registry: too many requests; try again in a minute")

func (r *registry) errorReply(b plugin.Broker, s *plugin.Stanza, err error) *plugin.Stanza {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		return s.Error("bad-request", br.msg)
	case errors.Is(err, store.ErrNotFound):
		return s.Error("item-not-found", "") // deliberately uninformative
	case errors.Is(err, errNotAllowed):
		return s.Error("not-allowed", "")
	case errors.Is(err, errRate):
		return s.Error("resource-constraint", err.Error())
	case errors.Is(err, store.ErrConflict):
		return s.Error("conflict", "another thing registered exactly these tags; use a different KEY")
	case errors.Is(err, store.ErrLimit):
		return s.Error("bad-request", "too many tags: at most "+strconv.Itoa(r.cfg.MaxTags)+" per thing")
	case errors.Is(err, store.ErrBadSearch):
		return s.Error("bad-request", strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, store.ErrTooBroad):
		return s.Error("resource-constraint", "search too broad: add an indexed condition such as strEq")
	case errors.Is(err, store.ErrNotReady):
		return s.Error("resource-constraint", "the registry is loading its search index; try again shortly")
	}
	b.Log().Error("registry: request failed", "request", s.Payload.Local, "error", err.Error())
	return s.Error("internal-server-error", "")
}

func (r *registry) register(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) ([]byte, error) {
	tags, err := tags(e, r.cfg.MaxTags)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if iotdisco.Fold(t.Name) == iotdisco.RegistryTag {
			return nil, bad("R is the registry's address in iotdisco URIs, not a tag to register")
		}
	}
	self, err := boolAttr(e, "selfOwned", false)
	if err != nil {
		return nil, err
	}
	ref := store.Ref{JID: bare(from), Node: node(e, ns)}
	t, owned, err := r.st.Register(ctx, ref, tags, self, ns)
	if err != nil {
		return nil, err
	}
	r.seen(ctx, b, from)
	if self && !owned {
		r.afterChange(b, "")
	}
	if owned {
		return claimedElem(ns, t.Owner, store.Node{}, t.Public, true), nil
	}
	return nil, nil
}

func (r *registry) mine(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) ([]byte, error) {
	owner := bare(from)
	if !r.claims.allow(owner) {
		return nil, errRate
	}
	public, err := boolAttr(e, "public", true)
	if err != nil {
		return nil, err
	}
	all, err := tags(e, r.cfg.MaxTags+1)
	if err != nil {
		return nil, err
	}
	// Owner apps strip R (the registry's address) from a claim URI; some
	// may not.
	tags := all[:0:0]
	for _, t := range all {
		if iotdisco.Fold(t.Name) != iotdisco.RegistryTag {
			tags = append(tags, t)
		}
	}
	t, changed, err := r.st.Claim(ctx, owner, tags, public)
	if err != nil {
		return nil, err
	}
	if changed {
		if r.cfg.CrashAfterClaim && t.State == store.Claimed && !r.crashed() {
			os.Exit(3)
		}
		r.markPending(t.JID)
		r.afterChange(b, t.JID)
	}
	return claimedElem(ns, t.JID, t.Node, t.Public, false), nil
}

// crashed reports whether the crash test already ran against this data
// directory, so that the restarted plugin serves normally. The marker is
// created before exiting.
func (r *registry) crashed() bool {
	f, err := os.OpenFile("crashed-after-claim", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return true
	}
	f.Close()
	return false
}

func (r *registry) update(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) ([]byte, error) {
	tags, err := tags(e, r.cfg.MaxTags)
	if err != nil {
		return nil, err
	}
	ref := store.Ref{JID: bare(from), Node: node(e, ns)}
	owner := ""
	if j, ok := e.attr("jid"); ok {
		ref.JID, owner = bare(j), bare(from)
	}
	_, disowned, err := r.st.Update(ctx, ref, tags, owner, ifThing(owner, ns))
	if owner == "" {
		r.seen(ctx, b, from)
	}
	if err != nil {
		return nil, err
	}
	if disowned {
		var o out
		o.empty("disowned", ns)
		return o.Bytes(), nil
	}
	return nil, nil
}

// ifThing is the namespace to remember: only the thing's own requests
// say what it understands.
func ifThing(owner, ns string) string {
	if owner != "" {
		return ""
	}
	return ns
}

func (r *registry) remove(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) error {
	j, ok := e.attr("jid")
	if !ok || j == "" {
		return bad("remove needs the thing's jid")
	}
	t, err := r.st.Remove(ctx, store.Ref{JID: bare(j), Node: node(e, ns)}, bare(from))
	if err != nil {
		return err
	}
	r.markPending(t.JID)
	r.afterChange(b, t.JID)
	return nil
}

func (r *registry) unregister(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) error {
	existed, err := r.st.Unregister(ctx, store.Ref{JID: bare(from), Node: node(e, ns)})
	if err != nil {
		return err
	}
	if existed {
		r.afterChange(b, "")
	}
	return nil
}

// disown asks the thing first (digest §5.2): only after its empty result
// is the record wiped; offline, error or timeout is not-allowed.
func (r *registry) disown(ctx context.Context, b plugin.Broker, from string, e *elem, ns string) error {
	j, ok := e.attr("jid")
	if !ok || j == "" {
		return bad("disown needs the thing's jid")
	}
	owner := bare(from)
	ref := store.Ref{JID: bare(j), Node: node(e, ns)}
	t, err := r.st.Owned(ctx, ref, owner)
	if err != nil {
		return err
	}
	tns := t.NS
	if tns == "" {
		tns = nsNF
	}
	var p out
	p.empty("disowned", tns, nodeAttrs(t.Node, tns)...)
	acked := false
	for _, full := range r.online(ctx, b, t.JID) {
		dctx, cancel := context.WithTimeout(ctx, r.cfg.disownTimeout)
		reply, err := b.SendIQ(dctx, plugin.NewStanza(plugin.KindIQ, r.address, full, "set", newID(), p.Bytes()))
		cancel()
		if err == nil && reply.Type == "result" {
			acked = true
			break
		}
	}
	if !acked {
		return errNotAllowed
	}
	if _, err := r.st.Disown(ctx, ref, owner, false); err != nil {
		return err
	}
	r.afterChange(b, "")
	return nil
}

func (r *registry) search(ctx context.Context, from string, e *elem, ns string) ([]byte, error) {
	if !r.searches.allow(bare(from)) {
		return nil, errRate
	}
	offset, err := intAttr(e, "offset", 0)
	if err != nil {
		return nil, err
	}
	max, err := intAttr(e, "maxCount", r.cfg.MaxCount)
	if err != nil {
		return nil, err
	}
	max = min(max, r.cfg.MaxCount)
	ops, err := operators(e, ns)
	if err != nil {
		return nil, err
	}
	f, err := r.st.Search(ctx, ops, offset, max)
	if err != nil {
		return nil, err
	}
	var o out
	o.open("found", ns, "more", boolStr(f.More))
	if len(f.Things) == 0 {
		o.WriteString("/>")
		return o.Bytes(), nil
	}
	o.WriteByte('>')
	for _, t := range f.Things {
		attrs := []string{"jid", t.JID}
		if ns == nsLegacy && r.cfg.legacyOwner {
			attrs = append(attrs, "owner", t.Owner)
		}
		o.open("thing", "", append(attrs, nodeAttrs(t.Node, ns)...)...)
		if len(t.Tags) == 0 {
			o.WriteString("/>")
			continue
		}
		o.WriteByte('>')
		o.tagElems(t.Tags)
		o.WriteString("</thing>")
	}
	o.WriteString("</found>")
	return o.Bytes(), nil
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "reg-" + hex.EncodeToString(b)
}
