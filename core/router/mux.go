package router

import (
	"context"

	"github.com/extasis/extasis/core/stanza"
)

type muxKey struct {
	typ, space, local string
}

// Mux dispatches iq requests by (type, payload namespace, payload name).
// Register handlers before serving; lookups take no lock.
type Mux struct {
	m     map[muxKey]Handler
	space map[string]Handler // by namespace only, any type and name
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{m: map[muxKey]Handler{}, space: map[string]Handler{}} }

// Handle registers h for iqs of type typ ("get" or "set") whose first child
// is {space}local.
func (m *Mux) Handle(typ, space, local string, h Handler) {
	m.m[muxKey{typ, space, local}] = h
}

// HandleFunc registers a function.
func (m *Mux) HandleFunc(typ, space, local string, f func(context.Context, *stanza.Stanza)) {
	m.Handle(typ, space, local, HandlerFunc(f))
}

// HandleNamespace registers h for every iq get and set whose payload is in
// namespace space (used for the IoT namespace families).
func (m *Mux) HandleNamespace(space string, h Handler) { m.space[space] = h }

func (m *Mux) lookup(s *stanza.Stanza) Handler {
	if h := m.m[muxKey{s.Type, s.Payload.Space, s.Payload.Local}]; h != nil {
		return h
	}
	return m.space[s.Payload.Space]
}

// Namespaces returns the payload namespaces with a handler (for disco).
func (m *Mux) Namespaces() []string {
	seen := map[string]bool{}
	var out []string
	for k := range m.m {
		if !seen[k.space] {
			seen[k.space] = true
			out = append(out, k.space)
		}
	}
	for s := range m.space {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
