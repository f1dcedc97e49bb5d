package core

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/extasis/extasis"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// TestImportTiers enforces DESIGN.md's import rules on the whole module:
// core never imports plugins (except core/app, the composition root); the
// low packages use the standard library
// (and each other) only; only cmd/ imports core/app; plugin binaries reach
// the broker only through the sdk; go-ethereum stays in the ledger plugin.
func TestImportTiers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	std := func(imp string) bool { return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }
	low := map[string][]string{
		mod + "/core/xml":    {},
		mod + "/core/jid":    {"mellium.im/xmpp/jid"},
		mod + "/core/stanza": {mod + "/core/xml", mod + "/core/jid"},
		mod + "/core/event":  {mod + "/core/jid"},
	}
	for _, p := range pkgs {
		path := p.ImportPath
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(path, mod+"/core/") && !strings.HasPrefix(path, mod+"/core/app") && strings.HasPrefix(imp, mod+"/plugins/"):
				t.Errorf("%s imports %s: core never imports plugins (only core/app, the composition root)", path, imp)
			case imp == mod+"/core/app" && !strings.HasPrefix(path, mod+"/cmd/"):
				t.Errorf("%s imports core/app: only cmd/ may", path)
			case strings.HasPrefix(path, mod+"/plugins/") && !strings.HasPrefix(path, mod+"/plugins/host") &&
				strings.HasPrefix(imp, mod+"/core/"):
				t.Errorf("%s imports %s: plugin binaries reach the broker only through the sdk", path, imp)
			case strings.HasPrefix(imp, "github.com/ethereum/go-ethereum") && !strings.HasPrefix(path, mod+"/plugins/ledger"):
				t.Errorf("%s imports go-ethereum: only the ledger plugin may", path)
			}
			if allowed, ok := low[path]; ok && !std(imp) {
				found := false
				for _, a := range allowed {
					if imp == a {
						found = true
					}
				}
				if !found {
					t.Errorf("%s imports %s: low packages use the standard library only (allowed: %v)", path, imp, allowed)
				}
			}
		}
	}
}
