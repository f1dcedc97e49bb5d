package provisioning

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Admin makes owners' and operators' changes directly in the store, for
// the CLI. A running broker picks them up through the store's change
// counter; the pushes things must get (clearCache, unfriend) are queued in
// the store and delivered by the broker.
type Admin struct {
	Store Store
	// Hosts are the hosted domains: pushes are queued for their things
	// only (a broker delivers them when the thing is online).
	Hosts []string
	Now   func() time.Time
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Admin) local(th jid.JID) bool {
	for _, h := range a.Hosts {
		if th.Domain() == h {
			return true
		}
	}
	return false
}

// queue stores a push for a local thing.
func (a *Admin) queue(ctx context.Context, th jid.JID, kind string, payload []byte) error {
	if !a.local(th) {
		return nil
	}
	_, err := a.Store.QueueNotice(ctx, storage.ProvisioningNotice{Thing: th, Kind: kind, Raw: payload, Queued: a.now()})
	return err
}

// PutPolicy compiles an owner's module in the sandbox and stores it.
// Errors are *PolicyError with file, line and column.
func (a *Admin) PutPolicy(ctx context.Context, owner jid.JID, file, module string) error {
	eng, err := NewEngine(time.Second)
	if err != nil {
		return err
	}
	if _, err := eng.Prepare(file, module); err != nil {
		return err
	}
	if err := a.Store.PutOwnerPolicy(ctx, storage.OwnerPolicy{Owner: owner, Module: module, Updated: a.now()}); err != nil {
		return err
	}
	return a.clearOwner(ctx, owner)
}

// DeletePolicy returns owner to the default policy.
func (a *Admin) DeletePolicy(ctx context.Context, owner jid.JID) error {
	if err := a.Store.DeleteOwnerPolicy(ctx, owner); err != nil {
		return err
	}
	return a.clearOwner(ctx, owner)
}

func (a *Admin) clearOwner(ctx context.Context, owner jid.JID) error {
	things, err := a.Store.OwnedThings(ctx, owner)
	if err != nil {
		return err
	}
	for _, t := range things {
		if err := a.queue(ctx, t.Thing.JID, "iq", clearCachePayload(famNF, nodeOf(t.Thing))); err != nil {
			return err
		}
	}
	return nil
}

// AddRule stores a rule of the thing's owner and queues its clearCache.
func (a *Admin) AddRule(ctx context.Context, r storage.ProvisioningRule) (int64, error) {
	if _, ok := ParseAction(r.Action); !ok {
		return 0, fmt.Errorf("provisioning: action %q: want friend, read or control", r.Action)
	}
	switch r.Origin {
	case "jid", "domain", "service", "device", "user", "all":
	default:
		return 0, fmt.Errorf("provisioning: origin %q: want jid, domain, service, device, user or all", r.Origin)
	}
	if (r.Origin == "all") != (r.Remote == "") {
		return 0, errors.New("provisioning: a remote party is needed, except for origin all")
	}
	owner, err := a.ownerOf(ctx, r.Thing)
	if err != nil {
		return 0, err
	}
	if owner.IsZero() {
		return 0, fmt.Errorf("provisioning: %s is not claimed: %w", r.Thing.JID, storage.ErrNotFound)
	}
	r.Owner = owner
	r.Created = a.now()
	id, err := a.Store.AddRule(ctx, r)
	if err != nil {
		return 0, err
	}
	if err := a.queue(ctx, r.Thing.JID, "iq", clearCachePayload(famNF, nodeOf(r.Thing))); err != nil {
		return id, err
	}
	if r.Action == Friend.String() && r.Allow && r.Origin == "jid" {
		return id, a.queue(ctx, r.Thing.JID, "message", friendPayload(famNF, "friend", r.Remote))
	}
	return id, nil
}

// ownerOf returns who owns ref (a node's own owner, else the thing's).
func (a *Admin) ownerOf(ctx context.Context, ref storage.ThingRef) (jid.JID, error) {
	all, err := a.Store.OwnedThings(ctx, jid.JID{})
	if err != nil {
		return jid.JID{}, err
	}
	var owner jid.JID
	for _, t := range all {
		if t.Thing.JID != ref.JID {
			continue
		}
		if t.Thing == ref {
			return t.Owner, nil
		}
		if !t.Thing.IsNode() {
			owner = t.Owner
		}
	}
	return owner, nil
}

// DeleteRules deletes rules and queues clearCache (and unfriend) pushes.
func (a *Admin) DeleteRules(ctx context.Context, f storage.RuleFilter) ([]storage.ProvisioningRule, error) {
	gone, err := a.Store.DeleteRules(ctx, f)
	if err != nil {
		return nil, err
	}
	seen := map[storage.ThingRef]bool{}
	for _, r := range gone {
		if !seen[r.Thing] {
			seen[r.Thing] = true
			if err := a.queue(ctx, r.Thing.JID, "iq", clearCachePayload(famNF, nodeOf(r.Thing))); err != nil {
				return gone, err
			}
		}
		if r.Action == Friend.String() && r.Allow && r.Origin == "jid" {
			if err := a.queue(ctx, r.Thing.JID, "message", friendPayload(famNF, "unfriend", r.Remote)); err != nil {
				return gone, err
			}
		}
	}
	return gone, nil
}

// Own records owner as the owner of ref (for things claimed outside the
// registry); a previous owner's rules are deleted.
func (a *Admin) Own(ctx context.Context, ref storage.ThingRef, owner jid.JID) error {
	prev, err := a.ownerOf(ctx, ref)
	if err != nil {
		return err
	}
	if !prev.IsZero() && prev != owner {
		f := storage.RuleFilter{Owner: prev, Thing: ref.JID}
		if ref.IsNode() {
			f.ByNode, f.Node = true, ref
		}
		if _, err := a.DeleteRules(ctx, f); err != nil {
			return err
		}
	}
	if err := a.Store.PutOwnedThing(ctx, storage.OwnedThing{Thing: ref, Owner: owner, Claimed: a.now()}); err != nil {
		return err
	}
	return a.queue(ctx, ref.JID, "iq", clearCachePayload(famNF, nodeOf(ref)))
}

// Disown forgets the owner of ref and the rules about it.
func (a *Admin) Disown(ctx context.Context, ref storage.ThingRef) error {
	f := storage.RuleFilter{Thing: ref.JID}
	if ref.IsNode() {
		f.ByNode, f.Node = true, ref
	}
	if _, err := a.DeleteRules(ctx, f); err != nil {
		return err
	}
	if err := a.Store.DeleteOwnedThing(ctx, ref); err != nil {
		return err
	}
	if !ref.IsNode() {
		if _, err := a.Store.DeleteQuestionsOf(ctx, ref.JID); err != nil {
			return err
		}
	}
	return a.queue(ctx, ref.JID, "iq", clearCachePayload(famNF, nodeOf(ref)))
}

// SetEnforce turns broker-side enforcement on or off for a claimed thing.
func (a *Admin) SetEnforce(ctx context.Context, th jid.JID, on bool) error {
	all, err := a.Store.OwnedThings(ctx, jid.JID{})
	if err != nil {
		return err
	}
	for _, t := range all {
		if t.Thing == (storage.ThingRef{JID: th}) {
			t.Enforce = on
			return a.Store.PutOwnedThing(ctx, t)
		}
	}
	return fmt.Errorf("provisioning: %s is not claimed: %w", th, storage.ErrNotFound)
}

// TestResult is one Rego unit test's outcome.
type TestResult struct {
	Name     string // package and rule, e.g. data.x_test.test_y
	Location string
	Pass     bool
	Err      error
	Duration time.Duration
	Output   string // what the test printed
}

// RunTests runs the Rego unit tests (test_ rules) of the .rego files under
// dir, as `opa test` does, compiled in the same sandbox as owners'
// modules. The default provisioning policy is loaded too unless dir
// defines package extasis.provisioning itself, so an owner's tests can use
// it. Parse and compile errors are *PolicyError.
func RunTests(ctx context.Context, dir string) ([]TestResult, error) {
	modules := map[string]*ast.Module{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return asPolicyError(path, err)
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("provisioning: no .rego files under %s", dir)
	}
	own := false
	for _, m := range modules {
		if strings.TrimPrefix(m.Package.Path.String(), "data.") == "extasis.provisioning" {
			own = true
		}
	}
	if !own {
		base, err := defaultModules(false)
		if err != nil {
			return nil, err
		}
		for k, m := range base {
			modules[k] = m
		}
	}
	compiler := ast.NewCompiler().WithCapabilities(sandbox()).WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().SetCompiler(compiler).SetModules(modules).CapturePrintOutput(true).
		RaiseBuiltinErrors(true).SetTimeout(30*time.Second).Run(ctx, modules)
	if err != nil {
		return nil, asPolicyError(dir, err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Name: r.Package + "." + r.Name, Pass: !r.Fail && r.Error == nil, Err: r.Error, Duration: r.Duration, Output: string(r.Output)}
		if r.Location != nil {
			tr.Location = r.Location.String()
		}
		out = append(out, tr)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PrintTests writes results the way `opa test` does and reports whether all
// passed.
func PrintTests(w io.Writer, rs []TestResult, verbose bool) bool {
	pass := 0
	for _, r := range rs {
		if r.Pass {
			pass++
			if verbose {
				fmt.Fprintf(w, "%s: PASS (%s)\n", r.Name, r.Duration.Round(time.Microsecond))
			}
			continue
		}
		status := "FAIL"
		if r.Err != nil {
			status = "ERROR: " + r.Err.Error()
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", r.Name, status, r.Location)
		if r.Output != "" {
			fmt.Fprintf(w, "  output: %s\n", strings.TrimSpace(r.Output))
		}
	}
	if pass == len(rs) {
		fmt.Fprintf(w, "PASS: %d/%d\n", pass, len(rs))
		return true
	}
	fmt.Fprintf(w, "FAIL: %d/%d\n", len(rs)-pass, len(rs))
	return false
}
