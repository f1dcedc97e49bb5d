package provisioning

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/policies"
)

// MaxModuleSize bounds an owner's uploaded Rego module.
const MaxModuleSize = 64 << 10

// deniedBuiltins are taken out of the capabilities every module is compiled
// with: no network, no runtime environment, no host side effects. A module
// that calls one of them does not compile.
var deniedBuiltins = []string{"http.send", "opa.runtime", "trace", "providers.aws.sign_req", "rego.parse_module"}

func deniedBuiltin(name string) bool {
	return slices.Contains(deniedBuiltins, name) || strings.HasPrefix(name, "net.")
}

// sandbox returns the capabilities modules compile with.
func sandbox() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	keep := make([]*ast.Builtin, 0, len(c.Builtins))
	for _, b := range c.Builtins {
		if !deniedBuiltin(b.Name) {
			keep = append(keep, b)
		}
	}
	c.Builtins = keep
	c.AllowNet = []string{}
	return c
}

// PolicyError is a Rego module that does not parse or compile, with the
// place of the first problem.
type PolicyError struct {
	File      string
	Line, Col int
	Msg       string
	Count     int // how many errors the compiler found
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("provisioning: %s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// asPolicyError turns an OPA parse or compile error into a PolicyError.
func asPolicyError(file string, err error) error {
	var errs ast.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		pe := &PolicyError{File: file, Msg: errs[0].Message, Count: len(errs)}
		if loc := errs[0].Location; loc != nil {
			pe.Line, pe.Col = loc.Row, loc.Col
			if loc.File != "" {
				pe.File = loc.File
			}
		}
		return pe
	}
	var ae *ast.Error
	if errors.As(err, &ae) {
		pe := &PolicyError{File: file, Msg: ae.Message, Count: 1}
		if ae.Location != nil {
			pe.Line, pe.Col = ae.Location.Row, ae.Location.Col
		}
		return pe
	}
	return fmt.Errorf("provisioning: %s: %w", file, err)
}

// Engine evaluates decisions with OPA: the default policy of package
// policies, prepared once, and one prepared query per owner who uploaded a
// module. It holds no rules: they arrive in the input of each evaluation.
type Engine struct {
	timeout time.Duration
	caps    *ast.Capabilities
	base    map[string]*ast.Module // the default policy, without tests
	def     *Policy
	never   topdown.Cancel // for the default policy
}

// Policy is a prepared decision query: the default policy alone, or with
// one owner's module.
type Policy struct {
	q      rego.PreparedEvalQuery
	source string // the owner's module, "" for the default
}

// NewEngine compiles the default policy. timeout bounds each evaluation.
func NewEngine(timeout time.Duration) (*Engine, error) {
	if timeout <= 0 {
		return nil, errors.New("provisioning: the evaluation timeout must be positive")
	}
	e := &Engine{timeout: timeout, caps: sandbox(), never: topdown.NewCancel()}
	base, err := defaultModules(false)
	if err != nil {
		return nil, err
	}
	e.base = base
	e.def, err = e.prepare(nil)
	if err != nil {
		return nil, fmt.Errorf("provisioning: default policy: %w", err)
	}
	return e, nil
}

// defaultModules parses the embedded default policy (with its tests when
// tests is true).
func defaultModules(tests bool) (map[string]*ast.Module, error) {
	out := map[string]*ast.Module{}
	fsys := policies.Provisioning()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		if !tests && strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		name := "policies/provisioning/" + path
		m, err := ast.ParseModuleWithOpts(name, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return asPolicyError(name, err)
		}
		out[name] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning: default policy: %w", err)
	}
	return out, nil
}

// ParseOwnerModule parses an owner's module and checks what may be
// checked before compiling: its size and its package (it may only define
// data.extasis.provisioning.owner, so it cannot touch the default policy
// or other owners').
func ParseOwnerModule(file, src string) (*ast.Module, error) {
	if len(src) > MaxModuleSize {
		return nil, &PolicyError{File: file, Line: 1, Col: 1, Msg: fmt.Sprintf("module larger than %d bytes", MaxModuleSize), Count: 1}
	}
	m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, asPolicyError(file, err)
	}
	if got := strings.TrimPrefix(m.Package.Path.String(), "data."); got != policies.ProvisioningOwnerPackage {
		line, col := 1, 1
		if m.Package.Location != nil {
			line, col = m.Package.Location.Row, m.Package.Location.Col
		}
		return nil, &PolicyError{File: file, Line: line, Col: col, Count: 1,
			Msg: fmt.Sprintf("package must be %s, not %s", policies.ProvisioningOwnerPackage, got)}
	}
	return m, nil
}

// Prepare compiles an owner's module with the default policy in the
// sandbox. Errors are *PolicyError with file, line and column.
func (e *Engine) Prepare(file, src string) (*Policy, error) {
	m, err := ParseOwnerModule(file, src)
	if err != nil {
		return nil, err
	}
	p, err := e.prepare(map[string]*ast.Module{file: m})
	if err != nil {
		return nil, asPolicyError(file, err)
	}
	p.source = src
	return p, nil
}

func (e *Engine) prepare(extra map[string]*ast.Module) (*Policy, error) {
	opts := []func(*rego.Rego){
		rego.Query(policies.ProvisioningQuery),
		rego.Capabilities(e.caps),
		rego.SetRegoVersion(ast.RegoV1),
		rego.StrictBuiltinErrors(true),
	}
	for _, m := range e.base {
		opts = append(opts, rego.ParsedModule(m))
	}
	for _, m := range extra {
		opts = append(opts, rego.ParsedModule(m))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &Policy{q: q}, nil
}

// Default returns the prepared default policy.
func (e *Engine) Default() *Policy { return e.def }

// ErrTimeout is returned when a policy did not decide within the bound.
var ErrTimeout = errors.New("provisioning: policy evaluation timed out")

// Decide evaluates p (nil: the default) on input, within the engine's
// timeout.
func (e *Engine) Decide(ctx context.Context, p *Policy, input ast.Value) (Decision, error) {
	if p == nil {
		p = e.def
	}
	opts := []rego.EvalOption{rego.EvalParsedInput(input), rego.EvalGenerateJSON(keepTerm)}
	if p == e.def {
		// Our own policy is bounded by construction (it iterates over the
		// input only): a cancel that never fires spares OPA the goroutine
		// it otherwise starts per evaluation to watch the context.
		opts = append(opts, rego.EvalExternalCancel(e.never))
	} else {
		c := topdown.NewCancel()
		t := time.AfterFunc(e.timeout, c.Cancel)
		defer t.Stop()
		opts = append(opts, rego.EvalExternalCancel(c))
	}
	rs, err := p.q.Eval(ctx, opts...)
	if err != nil {
		var te *topdown.Error
		if errors.As(err, &te) && te.Code == topdown.CancelErr {
			return Decision{Reason: "policy timeout"}, ErrTimeout
		}
		return Decision{Reason: "policy error"}, fmt.Errorf("provisioning: policy evaluation: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{Reason: "policy undefined"}, errors.New("provisioning: the policy defines no decision")
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return Decision{Reason: "policy error"}, errors.New("provisioning: unexpected result type")
	}
	return decodeDecision(t.Value)
}

// keepTerm hands evaluation results over as terms, skipping OPA's
// conversion to Go maps.
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

var (
	kAllow      = ast.StringTerm("allow")
	kReason     = ast.StringTerm("reason")
	kAsk        = ast.StringTerm("ask")
	kRules      = ast.StringTerm("rules")
	kNodes      = ast.StringTerm("nodes")
	kCategories = ast.StringTerm("categories")
	kFields     = ast.StringTerm("fields")
	kParams     = ast.StringTerm("params")
	kID         = ast.StringTerm("id")
	kSrc        = ast.StringTerm("src")
	kPt         = ast.StringTerm("pt")
)

func decodeDecision(v ast.Value) (Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return Decision{Reason: "policy error"}, errors.New("provisioning: the decision is not an object")
	}
	var d Decision
	if b, ok := getValue(obj, kAllow).(ast.Boolean); ok {
		d.Allow = bool(b)
	}
	if s, ok := getValue(obj, kReason).(ast.String); ok {
		d.Reason = string(s)
	}
	if b, ok := getValue(obj, kAsk).(ast.Boolean); ok {
		d.Ask = bool(b)
	}
	eachTerm(getValue(obj, kRules), func(t *ast.Term) {
		if n, ok := t.Value.(ast.Number); ok {
			if i, ok := n.Int64(); ok {
				d.Rules = append(d.Rules, i)
			}
		}
	})
	if !d.Allow {
		return d, nil
	}
	eachTerm(getValue(obj, kNodes), func(t *ast.Term) {
		if o, ok := t.Value.(ast.Object); ok {
			d.Nodes = append(d.Nodes, Node{ID: str(o, kID), Source: str(o, kSrc), Partition: str(o, kPt)})
		}
	})
	var cats []string
	eachTerm(getValue(obj, kCategories), func(t *ast.Term) {
		if s, ok := t.Value.(ast.String); ok {
			cats = append(cats, string(s))
		}
	})
	d.Categories = ParseCategories(cats)
	d.Fields = stringList(getValue(obj, kFields))
	d.Params = stringList(getValue(obj, kParams))
	return d, nil
}

func getValue(o ast.Object, k *ast.Term) ast.Value {
	if t := o.Get(k); t != nil {
		return t.Value
	}
	return nil
}

func str(o ast.Object, k *ast.Term) string {
	if s, ok := getValue(o, k).(ast.String); ok {
		return string(s)
	}
	return ""
}

func eachTerm(v ast.Value, f func(*ast.Term)) {
	switch x := v.(type) {
	case *ast.Array:
		x.Foreach(f)
	case ast.Set:
		x.Foreach(f)
	}
}

// stringList is nil for null or absent (all), else the names.
func stringList(v ast.Value) []string {
	switch v.(type) {
	case nil, ast.Null:
		return nil
	}
	out := []string{}
	eachTerm(v, func(t *ast.Term) {
		if s, ok := t.Value.(ast.String); ok {
			out = append(out, string(s))
		}
	})
	slices.Sort(out)
	return out
}

// Input building. Everything the policy reads is built as OPA terms
// directly: no JSON round trip on the hot path.

var (
	kAction    = ast.StringTerm("action")
	kThing     = ast.StringTerm("thing")
	kOwner     = ast.StringTerm("owner")
	kRequester = ast.StringTerm("requester")
	kDomain    = ast.StringTerm("domain")
	kTokens    = ast.StringTerm("tokens")
	kService   = ast.StringTerm("service")
	kDevice    = ast.StringTerm("device")
	kUser      = ast.StringTerm("user")
	actionTerm = [...]*ast.Term{Friend: ast.StringTerm("friend"), Read: ast.StringTerm("read"), Control: ast.StringTerm("control")}
	emptyArray = ast.ArrayTerm()
	nullTerm   = ast.NullTerm()
)

func stringsTerm(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyArray
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

// setOrNull is a set of names, or null for a nil list (unrestricted).
func setOrNull(ss []string) *ast.Term {
	if ss == nil {
		return nullTerm
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.SetTerm(ts...)
}

// categorySets are the 64 possible category sets, built once.
var categorySets = func() (out [64]*ast.Term) {
	for c := range out {
		var ts []*ast.Term
		for _, n := range Categories(c).Names() {
			ts = append(ts, ast.StringTerm(n))
		}
		out[c] = ast.SetTerm(ts...)
	}
	return out
}()

func categoriesTerm(c Categories) *ast.Term { return categorySets[c&AllCategories] }

func nodeTerm(n Node) *ast.Term {
	return ast.ObjectTerm(
		ast.Item(kID, ast.StringTerm(n.ID)),
		ast.Item(kSrc, ast.StringTerm(n.Source)),
		ast.Item(kPt, ast.StringTerm(n.Partition)),
	)
}

// ruleIndex is a thing's rules as the policy reads them, one term per
// action. It is built when the rules change, never per decision.
type ruleIndex [4]*ast.Term

// scopeBuilder collects the latest rule per origin and remote of one scope
// (the thing, or one node).
type scopeBuilder struct {
	byOrigin map[string]map[string]*ast.Term
	all      *ast.Term
}

func (b *scopeBuilder) add(r *storage.ProvisioningRule, t *ast.Term) {
	if r.Origin == "all" {
		b.all = t
		return
	}
	if b.byOrigin == nil {
		b.byOrigin = map[string]map[string]*ast.Term{}
	}
	m := b.byOrigin[r.Origin]
	if m == nil {
		m = map[string]*ast.Term{}
		b.byOrigin[r.Origin] = m
	}
	m[r.Remote] = t // rules come oldest first: the latest answer stays
}

func (b *scopeBuilder) term() *ast.Term {
	items := make([][2]*ast.Term, 0, len(b.byOrigin)+1)
	for o, m := range b.byOrigin {
		kv := make([][2]*ast.Term, 0, len(m))
		for k, v := range m {
			kv = append(kv, ast.Item(ast.StringTerm(k), v))
		}
		items = append(items, ast.Item(ast.StringTerm(o), ast.ObjectTerm(kv...)))
	}
	if b.all != nil {
		items = append(items, ast.Item(kAll, b.all))
	}
	return ast.ObjectTerm(items...)
}

var (
	kAll        = ast.StringTerm("all")
	emptyScopes = ast.ObjectTerm(ast.Item(kThing, ast.ObjectTerm()), ast.Item(kNodes, ast.ObjectTerm()))
)

// indexAction builds the policy's view of owner's rules about action a
// (rules sorted by ID, oldest first).
func indexAction(rules []storage.ProvisioningRule, owner jid.JID, a Action) *ast.Term {
	var thing scopeBuilder
	var nodes map[Node]*scopeBuilder
	var order []Node
	name := a.String()
	for i := range rules {
		r := &rules[i]
		if r.Action != name || r.Owner != owner {
			continue
		}
		cats := AllCategories
		if r.Categories != nil {
			cats = ParseCategories(r.Categories)
		}
		t := ast.ObjectTerm(
			ast.Item(kID, ast.IntNumberTerm(int(r.ID))),
			ast.Item(kAllow, ast.BooleanTerm(r.Allow)),
			ast.Item(kCategories, categoriesTerm(cats)),
			ast.Item(kFields, setOrNull(r.Fields)),
			ast.Item(kParams, setOrNull(r.Params)),
		)
		if !r.Thing.IsNode() {
			thing.add(r, t)
			continue
		}
		n := nodeOf(r.Thing)
		if nodes == nil {
			nodes = map[Node]*scopeBuilder{}
		}
		b := nodes[n]
		if b == nil {
			b = &scopeBuilder{}
			nodes[n] = b
			order = append(order, n)
		}
		b.add(r, t)
	}
	if thing.byOrigin == nil && thing.all == nil && nodes == nil {
		return emptyScopes
	}
	nkv := make([][2]*ast.Term, 0, len(order))
	for _, n := range order {
		key := ast.ArrayTerm(ast.StringTerm(n.ID), ast.StringTerm(n.Source), ast.StringTerm(n.Partition))
		nkv = append(nkv, ast.Item(key, nodes[n].term()))
	}
	return ast.ObjectTerm(ast.Item(kThing, thing.term()), ast.Item(kNodes, ast.ObjectTerm(nkv...)))
}

// buildInput is the policy input for req about a thing owned by owner (zero:
// unclaimed) with the owner's indexed rules for req.Action (nil: none).
func buildInput(req *Request, owner jid.JID, rules *ast.Term) ast.Value {
	nodes := emptyArray
	if len(req.Nodes) > 0 {
		ts := make([]*ast.Term, len(req.Nodes))
		for i, n := range req.Nodes {
			ts[i] = nodeTerm(n)
		}
		nodes = ast.ArrayTerm(ts...)
	}
	var c Categories
	if req.Action == Read {
		c = req.Categories
		if c == 0 {
			c = AllCategories
		}
	}
	fields, params := nullTerm, nullTerm
	if len(req.Fields) > 0 {
		fields = setOrNull(req.Fields)
	}
	if len(req.Params) > 0 {
		params = setOrNull(req.Params)
	}
	if rules == nil {
		rules = emptyScopes
	}
	action := nullTerm
	if int(req.Action) < len(actionTerm) && req.Action > 0 {
		action = actionTerm[req.Action]
	}
	return ast.NewObject(
		ast.Item(kAction, action),
		ast.Item(kThing, ast.StringTerm(req.Thing.String())),
		ast.Item(kOwner, ast.StringTerm(owner.String())),
		ast.Item(kRequester, ast.StringTerm(req.Requester.String())),
		ast.Item(kDomain, ast.StringTerm(req.Requester.Domain())),
		ast.Item(kTokens, ast.ObjectTerm(
			ast.Item(kService, stringsTerm(req.Tokens.Service)),
			ast.Item(kDevice, stringsTerm(req.Tokens.Device)),
			ast.Item(kUser, stringsTerm(req.Tokens.User)),
		)),
		ast.Item(kNodes, nodes),
		ast.Item(kCategories, categoriesTerm(c)),
		ast.Item(kFields, fields),
		ast.Item(kParams, params),
		ast.Item(kRules, rules),
	)
}
