package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extasis/extasis/core/app/apptest"
)

// TestBuiltinRegistry builds the broker the way make build does (the
// registry binary in plugins/ next to it, its sha256 linked into the
// broker) and checks that the registry then runs with no catalog entry,
// listed in the domain's disco#items; and that a swapped binary is refused.
func TestBuiltinRegistry(t *testing.T) {
	t.Parallel()
	root := apptest.ModuleRoot(t)
	dir := t.TempDir()
	reg := filepath.Join(dir, "plugins", "extasis-registry")
	build := func(out string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", out, err, b)
		}
	}
	build(reg, "./plugins/registry")
	raw, err := os.ReadFile(reg)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	bin := filepath.Join(dir, "extasis")
	build(bin, "-ldflags", "-X github.com/extasis/extasis/core/app.builtinPins=registry="+hex.EncodeToString(sum[:]), "./cmd/extasis")

	b := apptest.Start(t, apptest.Options{Binary: bin})
	b.AddUser("alice@localhost", "alice-secret")
	c := b.Dial(t, "alice@localhost", "alice-secret", apptest.DialOptions{})
	if err := c.SendRaw(t.Context(), "<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, 10*time.Second, "<iq type='result' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='registry.localhost'/></query></iq>")
	if err := c.SendRaw(t.Context(), "<iq type='get' id='i2' to='registry.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"); err != nil {
		t.Fatal(err)
	}
	c.Expect(t, 10*time.Second, "<iq type='result' id='i2'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:nf:iot:disco:1.0'/></query></iq>")
	b.Stop()

	// A binary that is not the one the broker was built with never runs.
	if err := os.WriteFile(reg, append(raw, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--config", b.Config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "registry") || !strings.Contains(strings.ToLower(string(out)), "sha256") {
		t.Fatalf("serve with a swapped registry binary: err=%v, want a refusal naming the plugin and its checksum\n%s", err, out)
	}
}
