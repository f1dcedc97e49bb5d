package services

import (
	"context"
	"runtime"
	"time"

	"github.com/extasis/extasis/core/router"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/core/xml"
)

// Router is what the services need from the router.
type Router interface {
	Route(ctx context.Context, s *stanza.Stanza)
}

// Features the services add to disco.
var Features = []string{stanza.NSPing, stanza.NSVersion, stanza.NSTime}

// Config configures the services.
type Config struct {
	Version string // software version reported by XEP-0092
	HideOS  bool
}

// Register installs ping, version and time.
func Register(r Router, server, account *router.Mux, cfg Config) {
	pong := func(ctx context.Context, s *stanza.Stanza) { r.Route(ctx, s.Result()) }
	server.HandleFunc("get", stanza.NSPing, "ping", pong)
	account.HandleFunc("get", stanza.NSPing, "ping", pong)

	server.HandleFunc("get", stanza.NSVersion, "query", func(ctx context.Context, s *stanza.Stanza) {
		q := xml.New(stanza.NSVersion, "query")
		q.Add(xml.New(stanza.NSVersion, "name").SetText("Extasis"))
		q.Add(xml.New(stanza.NSVersion, "version").SetText(cfg.Version))
		if !cfg.HideOS {
			q.Add(xml.New(stanza.NSVersion, "os").SetText(runtime.GOOS + "/" + runtime.GOARCH))
		}
		r.Route(ctx, s.Result(q.Append(nil, "")))
	})
	server.HandleFunc("get", stanza.NSTime, "time", func(ctx context.Context, s *stanza.Stanza) {
		now := time.Now().UTC()
		q := xml.New(stanza.NSTime, "time")
		q.Add(xml.New(stanza.NSTime, "tzo").SetText("+00:00"))
		q.Add(xml.New(stanza.NSTime, "utc").SetText(now.Format("2006-01-02T15:04:05.000Z")))
		r.Route(ctx, s.Result(q.Append(nil, "")))
	})
}
