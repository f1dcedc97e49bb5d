package app

import (
	"github.com/extasis/extasis/core/c2s"
	"github.com/extasis/extasis/core/register"
)

var _ c2s.Registrar = (*register.Service)(nil)

// wireRegister builds in-band registration (XEP-0077 signed with API keys,
// XEP-0348) and installs its logged-in handlers and disco features; the
// returned service is c2s's Registrar. secret is the node secret, from
// which the key sealing API key secrets is derived.
func (a *App) wireRegister(secret []byte) (*register.Service, error) {
	sealer, err := register.NewSealer(secret)
	if err != nil {
		return nil, err
	}
	rc := a.cfg.Register
	svc, err := register.New(register.Config{
		Log:               a.log,
		Store:             a.store,
		Router:            a.router,
		Events:            a.events,
		Metrics:           register.NewMetrics(a.reg),
		Sealer:            sealer,
		Enabled:           rc.Enabled,
		Open:              rc.Open,
		OpenRatePerIP:     rc.OpenRatePerIP,
		TimestampWindow:   rc.TimestampWindow.D(),
		NonceTTL:          rc.NonceTTL.D(),
		TokenTTL:          rc.TokenTTL.D(),
		MinPasswordLength: rc.MinPasswordLength,
		Iterations:        a.cfg.Auth.Iterations,
		AllowRemove:       rc.AllowRemove,
	})
	if err != nil {
		return nil, err
	}
	svc.Register(a.router.ServerMux(), a.router.AccountMux())
	for _, f := range svc.Features() {
		a.disco.AddFeature(f)
	}
	return svc, nil
}

// NodeSecret returns the node's secret (data_dir/secret), creating it on
// first use, for the CLI: `extasis apikey create` seals secrets with the
// key the broker derives from it.
func NodeSecret(dataDir string) ([]byte, error) { return loadSecret(dataDir) }
