package router

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/extasis/extasis/core/stanza"
)

// Metrics are the router's Prometheus collectors (namespace extasis,
// subsystem router).
type Metrics struct {
	Stanzas *prometheus.CounterVec // by kind and outcome
}

// NewMetrics creates and registers the router's collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Stanzas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "extasis", Subsystem: "router", Name: "stanzas_total",
			Help: "Stanzas by kind and outcome: in (from clients), delivered, dropped, error (answered with an error).",
		}, []string{"kind", "outcome"}),
	}
	reg.MustRegister(m.Stanzas)
	return m
}

// metrics holds the counters resolved once, so the hot path does no label
// lookups.
type metrics struct {
	c [4][4]prometheus.Counter // [kind][outcome]
}

const (
	outIn = iota
	outDelivered
	outDropped
	outError
)

func (m *Metrics) forRouter() *metrics {
	if m == nil {
		return nil
	}
	r := &metrics{}
	outs := [...]string{"in", "delivered", "dropped", "error"}
	for k := stanza.Other; k <= stanza.IQ; k++ {
		for o, name := range outs {
			r.c[k][o] = m.Stanzas.WithLabelValues(k.String(), name)
		}
	}
	return r
}

func (m *metrics) inc(k stanza.Kind, o int) {
	if m != nil {
		m.c[k][o].Inc()
	}
}

func (m *metrics) in(k stanza.Kind)        { m.inc(k, outIn) }
func (m *metrics) delivered(k stanza.Kind) { m.inc(k, outDelivered) }
func (m *metrics) dropped(k stanza.Kind)   { m.inc(k, outDropped) }
func (m *metrics) errored(k stanza.Kind)   { m.inc(k, outError) }
