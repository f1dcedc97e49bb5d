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
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

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
	caches  ruleCaches
	metrics metrics.Metrics // counts nothing: nobody reads OPA's metrics
}

// Policy is a prepared decision query: the default policy alone, or with
// one owner's module.
//
// It is prepared by rego and evaluated by rego's own evaluator, topdown,
// directly: rego's Eval builds an evaluation context, options and a result
// set around each evaluation, a sixth of what a decision allocates.
type Policy struct {
	compiler *ast.Compiler
	query    ast.Body // decision = data.extasis.provisioning.decision, compiled
	store    storage.Store
	source   string // the owner's module, "" for the default
}

// decisionVar is the query variable the decision is bound to.
const decisionVar = ast.Var("decision")

// NewEngine compiles the default policy. timeout bounds each evaluation.
func NewEngine(timeout time.Duration) (*Engine, error) {
	if timeout <= 0 {
		return nil, errors.New("provisioning: the evaluation timeout must be positive")
	}
	e := &Engine{timeout: timeout, caps: sandbox(), never: topdown.NewCancel(), metrics: metrics.NoOp()}
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
	// rego.New configures its own compiler the same way, save the
	// capabilities, which it leaves to a compiler it is given.
	p := &Policy{
		compiler: ast.NewCompiler().
			WithCapabilities(e.caps).
			WithEnablePrintStatements(false).
			WithUseTypeCheckAnnotations(true).
			WithDefaultRegoVersion(ast.RegoV1),
		store: inmem.New(),
	}
	opts := []func(*rego.Rego){
		rego.Query(policies.ProvisioningQuery),
		rego.Compiler(p.compiler),
		rego.Store(p.store),
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
	if _, err := rego.New(opts...).PrepareForEval(ctx); err != nil {
		return nil, err
	}
	q, err := p.compiler.QueryCompiler().Compile(ast.Body{
		ast.Equality.Expr(ast.NewTerm(decisionVar), ast.MustParseTerm(policies.ProvisioningQuery)),
	})
	if err != nil {
		return nil, err
	}
	p.query = q
	return p, nil
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
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return Decision{Reason: "policy error"}, fmt.Errorf("provisioning: policy evaluation: %w", err)
	}
	defer p.store.Abort(ctx, txn)
	rc := e.caches.get()
	defer e.caches.put(rc)
	q := topdown.NewQuery(p.query).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithMetrics(e.metrics).
		WithVirtualCache(rc).
		WithBaseCache(noDataCache{}).
		WithStrictBuiltinErrors(true)
	if p == e.def {
		// Our own policy is bounded by construction (it iterates over the
		// input only): a cancel that never fires spares OPA the goroutine
		// it otherwise starts per evaluation to watch the context.
		q = q.WithCancel(e.never)
	} else {
		c := topdown.NewCancel()
		t := time.AfterFunc(e.timeout, c.Cancel)
		defer t.Stop()
		q = q.WithCancel(c)
	}
	var d *ast.Term
	err = q.Iter(ctx, func(qr topdown.QueryResult) error {
		d = qr[decisionVar]
		return nil
	})
	if err != nil {
		var te *topdown.Error
		if errors.As(err, &te) && te.Code == topdown.CancelErr {
			return Decision{Reason: "policy timeout"}, ErrTimeout
		}
		return Decision{Reason: "policy error"}, fmt.Errorf("provisioning: policy evaluation: %w", err)
	}
	if d == nil {
		return Decision{Reason: "policy undefined"}, errors.New("provisioning: the policy defines no decision")
	}
	return decodeDecision(d.Value)
}

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
