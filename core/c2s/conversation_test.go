package c2s_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/extasis/extasis/core/app/apptest"
)

// sharedConfig is the broker most scripts share. Failed logins do not back
// off here, so that scripts about wrong passwords do not lock out the
// others; the scripts about backoff bring their own config.
const sharedConfig = "limits:\n  auth_backoff: 0s\n"

// users are the accounts every broker of these tests has.
var users = map[string]string{"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}

// TestConversations runs every script of testdata/conversations against the
// real binary: scripts with the same config share one broker and run one
// after the other; brokers run in parallel.
func TestConversations(t *testing.T) {
	scripts := apptest.LoadScripts(t, "testdata/conversations")
	var configs []string
	byConfig := map[string][]*apptest.Script{}
	for _, s := range scripts {
		if _, ok := byConfig[s.Config]; !ok {
			configs = append(configs, s.Config)
		}
		byConfig[s.Config] = append(byConfig[s.Config], s)
	}
	for _, cfg := range configs {
		group := byConfig[cfg]
		name := "shared"
		if cfg != "" {
			name = group[0].Name
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			extra := cfg
			if extra == "" {
				extra = sharedConfig
			}
			b := apptest.Start(t, apptest.Options{Extra: extra})
			for _, u := range slices.Sorted(maps.Keys(users)) {
				b.AddUser(u+"@"+b.Domain, users[u])
			}
			cv := &apptest.Conversation{B: b, Users: users}
			for _, s := range group {
				for _, tr := range s.Transports {
					t.Run(s.Name+"/"+string(tr), func(t *testing.T) { cv.Run(t, s, tr) })
				}
			}
		})
	}
}
