package im_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSlixmpp runs the scenarios of testdata/*.py with Debian's slixmpp:
// the same rules as the raw-client tests, through a real client library.
func TestSlixmpp(t *testing.T) {
	b := startBroker(t, "", "")
	users(b, "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory")
	script := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
	}{
		{"subscribe.py", []string{"alice", "bob", "carol", "-password"}},
		{"offline.py", []string{"dave", "erin", "-password"}},
		{"carbons.py", []string{"frank", "grace", "-password"}},
		{"blocking.py", []string{"heidi", "ivan", "-password"}},
		{"sm.py", []string{"judy", "mallory", "-password"}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.name, ".py"), func(t *testing.T) {
			out := b.Slixmpp(t, script(tt.name), tt.args...)
			if !strings.Contains(out, "OK") {
				t.Fatalf("%s:\n%s", tt.name, out)
			}
		})
	}
	t.Run("presence when slixmpp's socket is killed", func(t *testing.T) {
		watcher := login(t, b, "alice", xcOptions{Resource: "watch"})
		bob := login(t, b, "bob", xcOptions{Resource: "other"})
		// After subscribe.py alice no longer receives bob's presence.
		watcher.send("<presence type='subscribe' to='bob@localhost'/>")
		bob.expect(wait, "type='subscribe'")
		bob.send("<presence type='subscribed' to='alice@localhost'/>")
		watcher.expect(wait, "type='subscribed'")
		b.Slixmpp(t, script("abort.py"), "bob", "bob-password", "sx-dies")
		watcher.expect(wait, "from='bob@localhost/sx-dies'", "type='unavailable'")
	})
}
