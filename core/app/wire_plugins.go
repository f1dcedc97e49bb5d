package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/extasis/extasis/core/config"

	"github.com/extasis/extasis/core/disco"
	"github.com/extasis/extasis/plugins/host"
)

// wirePlugins builds the plugin host from the catalog (plugins: in the
// config). New only validates: binaries inside plugins.dir, sha256 pins,
// unique names and addresses. Nothing starts before Start.
func (a *App) wirePlugins() error {
	h, err := host.New(a.pluginCatalog(), host.Deps{
		Log:     a.log,
		Router:  a.router,
		Events:  a.events,
		DataDir: a.cfg.DataDir,
		Domain:  a.cfg.Domains[0].Name,
		Metrics: a.reg,
		Version: Version,
		Tuning:  host.Tuning{MaxStanza: int(a.cfg.Limits.MaxStanza)},
	})
	if err != nil {
		return err
	}
	a.plugins = h
	return nil
}

// builtinPins is set by make build (-ldflags -X): comma-separated
// name=sha256 pairs of the plugin binaries built with this broker. A broker
// built without make has none, and its built-in plugins stay off.
var builtinPins = ""

// pluginCatalog is the configured catalog plus the built-in plugins whose
// binaries are present and pinned.
func (a *App) pluginCatalog() config.Plugins {
	p := a.cfg.Plugins
	p.List = slices.Clone(p.List)
	if p.Dir == "" {
		exe, err := os.Executable()
		if err == nil {
			p.Dir = filepath.Join(filepath.Dir(exe), "plugins")
		}
	}
	pins := map[string]string{}
	for _, kv := range strings.Split(builtinPins, ",") {
		if name, sum, ok := strings.Cut(kv, "="); ok {
			pins[name] = sum
		}
	}
	for _, name := range p.Builtin {
		if slices.ContainsFunc(p.List, func(e config.Plugin) bool { return e.Name == name }) {
			continue // the catalog's own entry replaces the built-in
		}
		bin := "extasis-" + name
		sum := pins[name]
		if sum == "" {
			a.log.Warn("built-in plugin off: this extasis was not built with make build, which pins it", "plugin", name)
			continue
		}
		if _, err := os.Stat(filepath.Join(p.Dir, bin)); err != nil {
			a.log.Warn("built-in plugin off: binary not found", "plugin", name, "path", filepath.Join(p.Dir, bin))
			continue
		}
		entry := config.Plugin{Name: name, Path: bin, SHA256: sum}
		if strings.HasPrefix(a.cfg.Storage, "postgres") {
			// The registry keeps its own registry_* tables in the
			// broker's database, over its own connections.
			entry.Storage = a.cfg.Storage
		}
		p.List = append(p.List, entry)
	}
	return p
}

// startPlugins starts every plugin and lists each served address in the
// domain's disco#items.
func (a *App) startPlugins(ctx context.Context) error {
	if err := a.plugins.Start(ctx); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	for _, st := range a.plugins.Plugins() {
		if st.Address == "" {
			continue
		}
		name := st.Info.Name
		if len(st.Info.Identities) > 0 && st.Info.Identities[0].Name != "" {
			name = st.Info.Identities[0].Name
		}
		a.disco.AddItem(disco.Item{JID: st.Address, Name: name})
	}
	return nil
}
