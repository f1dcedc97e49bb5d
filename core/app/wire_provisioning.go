package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/disco"
	"github.com/extasis/extasis/core/provisioning"
)

// wireProvisioning builds the decision-support service, registers it at
// provisioning.D for every hosted domain (listed in the domain's
// disco#items), installs its enforcement filter after the IM layer's
// blocking filter, exports its counters and starts it: it loads owners,
// rules, policies and queued pushes from storage and subscribes to the
// registry's thing.claimed / thing.disowned and to session.online.
func (a *App) wireProvisioning(ctx context.Context) error {
	pc := a.cfg.Provisioning
	if !pc.Enabled {
		return nil
	}
	svc, err := provisioning.New(provisioning.Config{
		Log:              a.log,
		Store:            a.store,
		Router:           a.router,
		Events:           a.events,
		Domains:          a.cfg.DomainNames(),
		Subdomain:        pc.Subdomain,
		PolicyTimeout:    pc.PolicyTimeout.D(),
		QuestionTTL:      pc.QuestionTTL.D(),
		AuditRetention:   pc.AuditRetention.D(),
		AuditQueue:       pc.AuditQueue,
		ReloadInterval:   pc.ReloadInterval.D(),
		MaxRulesPerOwner: pc.MaxRulesPerOwner,
	})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	a.prov = svc
	for _, addr := range svc.Addresses() {
		if _, err := a.router.RegisterComponent(addr, svc); err != nil {
			return fmt.Errorf("app: provisioning at %s: %w", addr, err)
		}
		a.disco.AddItem(disco.Item{JID: addr, Name: "Provisioning"})
	}
	a.router.AddFilter(svc)
	m := svc.Metrics()
	counter := func(name, help string, v func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "provisioning", Name: name, Help: help},
			func() float64 { return float64(v()) })
	}
	a.reg.MustRegister(
		counter("decisions_total", "Decisions made (questions and enforcement).", m.Decisions.Load),
		counter("decision_cache_hits_total", "Decisions answered from the per-thing decision cache.", m.CacheHits.Load),
		counter("questions_total", "Questions sent to owners.", m.Questions.Load),
		counter("enforced_total", "Requests checked by broker-side enforcement.", m.Enforced.Load),
		counter("audit_dropped_total", "Decisions not written to the audit (queue full or storage failure).", m.AuditDropped.Load),
		counter("policy_errors_total", "Policy evaluations that failed (denied).", m.PolicyErrors.Load),
		counter("policy_timeouts_total", "Policy evaluations stopped by the time bound (denied).", m.PolicyTimeout.Load),
	)
	return nil
}
