package register

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the registration collectors (namespace extasis, subsystem
// register).
type Metrics struct {
	// Registrations counts account creation attempts by kind (signed,
	// open) and result (ok, or the reason of the refusal).
	Registrations *prometheus.CounterVec
	// Signatures counts valid signatures by variant (waher, xep), to see
	// which clients a fleet runs.
	Signatures *prometheus.CounterVec
	// Forms counts registration forms handed out.
	Forms prometheus.Counter
	// Changes counts password changes and account removals by logged-in
	// users, by action and result.
	Changes *prometheus.CounterVec
}

// NewMetrics creates and registers the collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Registrations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "register",
			Name: "registrations_total", Help: "In-band registrations by kind (signed, open) and result."}, []string{"kind", "result"}),
		Signatures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "register",
			Name: "signatures_total", Help: "Valid XEP-0348 signatures by variant (waher, xep)."}, []string{"variant"}),
		Forms: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "register",
			Name: "forms_total", Help: "Registration forms handed out."}),
		Changes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "extasis", Subsystem: "register",
			Name: "changes_total", Help: "Password changes and account removals by logged-in users, by action and result."}, []string{"action", "result"}),
	}
	reg.MustRegister(m.Registrations, m.Signatures, m.Forms, m.Changes)
	return m
}
