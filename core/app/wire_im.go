package app

import (
	"context"
	"errors"

	"github.com/extasis/extasis/core/c2s"
	"github.com/extasis/extasis/core/im"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

var _ c2s.Lifecycle = (*im.Service)(nil)

// wireIM installs the instant-messaging layer (RFC 6121): delivery to local
// accounts, the blocking filter, the roster, blocking and carbons iqs, and
// the session lifecycle that c2s reports to (a.im, given to c2s.Config).
func (a *App) wireIM() error {
	svc, err := im.New(im.Config{
		Log:        a.log,
		Store:      a.store,
		Router:     a.router,
		Events:     a.events,
		MaxRoster:  a.cfg.IM.MaxRoster,
		MaxOffline: a.cfg.IM.MaxOffline,
	})
	if err != nil {
		return err
	}
	svc.Register(a.router.AccountMux())
	a.router.SetUsers(svc)
	a.router.SetAccountExists(func(ctx context.Context, bare jid.JID) (bool, error) {
		_, err := a.store.Account(ctx, bare)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	a.router.AddFilter(svc)
	for _, f := range svc.Features() {
		a.disco.AddFeature(f)
	}
	a.im = svc
	return nil
}
