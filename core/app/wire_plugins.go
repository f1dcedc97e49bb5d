package app

import (
	"context"
	"fmt"

	"github.com/extasis/extasis/core/disco"
	"github.com/extasis/extasis/plugins/host"
)

// wirePlugins builds the plugin host from the catalog (plugins: in the
// config). New only validates: binaries inside plugins.dir, sha256 pins,
// unique names and addresses. Nothing starts before Start.
func (a *App) wirePlugins() error {
	h, err := host.New(a.cfg.Plugins, host.Deps{
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
		name := st.Info.Description
		if name == "" {
			name = st.Info.Name
		}
		a.disco.AddItem(disco.Item{JID: st.Address, Name: name})
	}
	return nil
}
