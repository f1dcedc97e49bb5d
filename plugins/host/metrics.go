package host

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's collectors (namespace extasis, subsystem plugin),
// labelled by catalog name.
type metrics struct {
	stanzas  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	restarts *prometheus.CounterVec
	calls    *prometheus.HistogramVec
	up       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		stanzas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "extasis", Subsystem: "plugin", Name: "stanzas_total",
			Help: "Stanzas by plugin and direction: in (to the plugin's address), out (routed from the plugin).",
		}, []string{"plugin", "direction"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "extasis", Subsystem: "plugin", Name: "errors_total",
			Help: "Problems by plugin and reason: unavailable (answered while down), busy (queue full), timeout (iq unanswered), " +
				"lost (in flight when it stopped), rejected (refused stanza from the plugin), unsolicited (iq response nobody awaited), event_dropped.",
		}, []string{"plugin", "reason"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "extasis", Subsystem: "plugin", Name: "restarts_total",
			Help: "Restarts after a crash or failed health check.",
		}, []string{"plugin"}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "extasis", Subsystem: "plugin", Name: "call_duration_seconds",
			Help:    "Latency by plugin and call: iq (request delivered to response routed), configure, health, send_iq, decide.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"plugin", "call"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "extasis", Subsystem: "plugin", Name: "up",
			Help: "1 while the plugin is running, 0 while it is down or restarting.",
		}, []string{"plugin"}),
	}
	// A config reload builds a second Host on the same registry: it takes
	// over the collectors already registered, so the series continue.
	var err error
	if m.stanzas, err = register(reg, m.stanzas); err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.restarts, err = register(reg, m.restarts); err != nil {
		return nil, err
	}
	if m.calls, err = register(reg, m.calls); err != nil {
		return nil, err
	}
	if m.up, err = register(reg, m.up); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}

// pluginMetrics are one plugin's collectors, resolved once so that the
// stanza path does no label lookups.
type pluginMetrics struct {
	m               *metrics
	name            string
	in, out         prometheus.Counter
	errUnavailable  prometheus.Counter
	errBusy         prometheus.Counter
	errTimeout      prometheus.Counter
	errLost         prometheus.Counter
	errRejected     prometheus.Counter
	errUnsolicited  prometheus.Counter
	errEventDropped prometheus.Counter
	restarts        prometheus.Counter
	iqLatency       prometheus.Observer
	up              prometheus.Gauge
}

func (m *metrics) forPlugin(name string) *pluginMetrics {
	e := func(reason string) prometheus.Counter { return m.errors.WithLabelValues(name, reason) }
	return &pluginMetrics{
		m: m, name: name,
		in:              m.stanzas.WithLabelValues(name, "in"),
		out:             m.stanzas.WithLabelValues(name, "out"),
		errUnavailable:  e("unavailable"),
		errBusy:         e("busy"),
		errTimeout:      e("timeout"),
		errLost:         e("lost"),
		errRejected:     e("rejected"),
		errUnsolicited:  e("unsolicited"),
		errEventDropped: e("event_dropped"),
		restarts:        m.restarts.WithLabelValues(name),
		iqLatency:       m.calls.WithLabelValues(name, "iq"),
		up:              m.up.WithLabelValues(name),
	}
}

func (pm *pluginMetrics) latency(call string) prometheus.Observer {
	return pm.m.calls.WithLabelValues(pm.name, call)
}
