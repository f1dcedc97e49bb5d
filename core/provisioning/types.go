package provisioning

import (
	"strings"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

// Action is what a party wants to do with a thing.
type Action uint8

// Actions, with the names used in rules, Rego input and the audit.
const (
	Friend  Action = iota + 1 // become a presence friend (isFriend)
	Read                      // read sensor data or subscribe to events (canRead)
	Control                   // set control parameters (canControl)
)

var actionNames = [...]string{Friend: "friend", Read: "read", Control: "control"}

func (a Action) String() string {
	if int(a) < len(actionNames) && a > 0 {
		return actionNames[a]
	}
	return "invalid"
}

// ParseAction is the inverse of String.
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if i > 0 && n == s {
			return Action(i), true
		}
	}
	return 0, false
}

// Categories is a set of sensor-data field categories (XEP-0323 / sd).
type Categories uint8

// Field categories in the order of the sd attributes m p s c i h.
const (
	Momentary Categories = 1 << iota
	Peak
	Status
	Computed
	Identity
	Historical

	AllCategories = Momentary | Peak | Status | Computed | Identity | Historical
)

// categoryAttrs are the NF/IEEE attribute names, in bit order.
var categoryAttrs = [...]string{"m", "p", "s", "c", "i", "h"}

// legacyCategoryAttrs are XEP-0323's attribute names, in bit order.
var legacyCategoryAttrs = [...]string{"momentary", "peak", "status", "computed", "identity", "historical"}

// Names returns the NF/IEEE letters of the set, in order.
func (c Categories) Names() []string {
	out := make([]string, 0, 6)
	for i, n := range categoryAttrs {
		if c&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ParseCategories reads letters (m p s c i h, or "all"); unknown names are
// ignored.
func ParseCategories(names []string) Categories {
	var c Categories
	for _, n := range names {
		if n == "all" {
			return AllCategories
		}
		for i, a := range categoryAttrs {
			if a == n || legacyCategoryAttrs[i] == n {
				c |= 1 << i
			}
		}
	}
	return c
}

// Node is a node behind a concentrator (XEP-0326); the zero Node is the
// thing itself.
type Node struct {
	ID, Source, Partition string
}

// IsZero reports whether n means the thing itself.
func (n Node) IsZero() bool { return n.ID == "" && n.Source == "" && n.Partition == "" }

// Ref returns the storage reference of node n of thing.
func (n Node) Ref(thing jid.JID) storage.ThingRef {
	return storage.ThingRef{JID: thing, Node: n.ID, Source: n.Source, Partition: n.Partition}
}

func nodeOf(r storage.ThingRef) Node {
	return Node{ID: r.Node, Source: r.Source, Partition: r.Partition}
}

func (n Node) String() string {
	if n.IsZero() {
		return ""
	}
	s := n.ID
	if n.Source != "" {
		s += "@" + n.Source
	}
	if n.Partition != "" {
		s += "/" + n.Partition
	}
	return s
}

// Tokens are the service, device and user tokens a request carries (§8).
type Tokens struct {
	Service, Device, User []string
}

// Request is one question to decide.
type Request struct {
	Action    Action
	Thing     jid.JID // bare
	Requester jid.JID // bare
	Tokens    Tokens
	// Nodes asked about; empty is the thing itself.
	Nodes []Node
	// Categories asked for (Read); zero is treated as all.
	Categories Categories
	// Fields asked for (Read); empty is all.
	Fields []string
	// Params asked for (Control); empty is all.
	Params []string
}

// Decision is the answer to a Request.
type Decision struct {
	Allow  bool
	Reason string // "owner", "rule", "no rule", "denied by rule", "unclaimed", or a policy's word
	// Ask is true when no rule covers (part of) the request: the owner is
	// asked.
	Ask   bool
	Rules []int64 // the rules that decided
	// What is granted when Allow: the nodes (empty: the thing itself), the
	// categories, and the fields and parameters (nil: all of them).
	Nodes      []Node
	Categories Categories
	Fields     []string
	Params     []string
}

// summary renders names only (never a value) for the audit.
func summary(nodes []Node, cats Categories, fields, params []string, action Action) string {
	var b strings.Builder
	if len(nodes) > 0 {
		b.WriteString("nodes=")
		for i, n := range nodes {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.String())
		}
	}
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	switch action {
	case Read:
		sep()
		b.WriteString("categories=" + strings.Join(cats.Names(), ","))
		sep()
		if fields == nil {
			b.WriteString("fields=*")
		} else {
			b.WriteString("fields=" + strings.Join(fields, ","))
		}
	case Control:
		sep()
		if params == nil {
			b.WriteString("params=*")
		} else {
			b.WriteString("params=" + strings.Join(params, ","))
		}
	}
	return b.String()
}
