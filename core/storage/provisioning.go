package storage

import (
	"context"
	"time"

	"github.com/extasis/extasis/core/jid"
)

// ThingRef names a thing (its bare JID) or one node behind it when the
// thing is a concentrator (XEP-0326 node id, source and partition; all
// empty for the thing itself).
type ThingRef struct {
	JID       jid.JID
	Node      string
	Source    string
	Partition string
}

// IsNode reports whether r names a node rather than the thing itself.
func (r ThingRef) IsNode() bool { return r.Node != "" || r.Source != "" || r.Partition != "" }

// Device returns the thing itself, without the node.
func (r ThingRef) Device() ThingRef { return ThingRef{JID: r.JID} }

// OwnedThing is a claimed thing (or node) as the provisioning service knows
// it from the registry's thing.claimed events.
type OwnedThing struct {
	Thing ThingRef
	Owner jid.JID // bare
	// Enforce asks the broker to check sensor-data, control and
	// subscription requests to the thing itself, for things that cannot
	// ask the provisioning service.
	Enforce bool
	Claimed time.Time
}

// ProvisioningRule is an owner's answer, learned as a rule. Categories,
// Fields and Params are nil when the rule does not restrict them, and a
// non-nil empty slice when it allows none.
type ProvisioningRule struct {
	ID     int64 // assigned by AddRule; larger is more recent
	Owner  jid.JID
	Thing  ThingRef // a node, or the whole thing
	Action string   // "friend", "read" or "control"
	// Origin is whom the rule is for: "jid" (Remote is a bare JID),
	// "domain" (Remote is a domain), "service", "device" or "user" (Remote
	// is a token) or "all" (Remote is empty).
	Origin     string
	Remote     string
	Allow      bool
	Categories []string
	Fields     []string
	Params     []string
	Created    time.Time
}

// RuleFilter selects rules. Zero fields match anything; Node selects the
// exact node (or the whole-thing rules when Node is set to a ThingRef
// without node) only when ByNode is true.
type RuleFilter struct {
	ID     int64
	Owner  jid.JID
	Thing  jid.JID
	ByNode bool
	Node   ThingRef
	Action string
}

// ProvisioningQuestion is a question sent to an owner and not yet
// answered. There is at most one per situation (thing or node, action,
// remote party).
type ProvisioningQuestion struct {
	Key    string
	Owner  jid.JID
	Thing  ThingRef
	Action string
	Remote jid.JID // the bare JID that asked the thing
	Raw    []byte  // the question element as sent, to re-send it
	Asked  time.Time
}

// OwnerPolicy is a Rego module an owner uploaded for their things.
type OwnerPolicy struct {
	Owner   jid.JID
	Module  string
	Updated time.Time
}

// ProvisioningDecision is one audited decision. It holds names (parties,
// categories, fields, parameters, nodes) and never a sensor value.
type ProvisioningDecision struct {
	ID        int64 // assigned by AppendDecisions; larger is more recent
	Time      time.Time
	Owner     jid.JID // zero for an unclaimed thing
	Thing     ThingRef
	Requester jid.JID
	Action    string
	// Via is "question" (the thing asked) or "broker" (enforcement).
	Via     string
	Allow   bool
	Reason  string
	Rules   []int64 // the rules that decided
	Request string  // what was asked, names only
	Granted string  // what was granted, names only
}

// DecisionFilter selects audited decisions, newest first.
type DecisionFilter struct {
	Owner  jid.JID // zero: every owner
	Thing  jid.JID // zero: every thing
	Before int64   // only IDs below this; 0: from the newest
	Limit  int     // <= 0: 100
}

// ProvisioningNotice is a push (clearCache iq, friend or unfriend
// message) waiting for a thing to come online.
type ProvisioningNotice struct {
	ID     int64
	Thing  jid.JID // bare
	Kind   string  // "iq" or "message"
	Raw    []byte  // the payload element
	Queued time.Time
}

// ProvisioningToken is a token the provisioning service issued (digest §8)
// to a party that proved it holds the private key of Cert.
type ProvisioningToken struct {
	Token   string
	Holder  jid.JID // bare JID of the party that asked
	Cert    []byte  // the X.509 certificate, DER
	Created time.Time
}

// Provisioning keeps what the provisioning service learns: claimed things,
// owners' rules, pending questions, owners' policies, the decision audit
// and pushes queued for offline things. Writes to things, rules, policies
// and notices bump a version that every node of a cluster (and the CLI)
// can poll to know that its in-memory copy is stale.
type Provisioning interface {
	// ProvisioningVersion returns the change counter.
	ProvisioningVersion(ctx context.Context) (int64, error)

	// PutOwnedThing inserts or replaces the thing (keyed by Thing).
	PutOwnedThing(ctx context.Context, t OwnedThing) error
	// DeleteOwnedThing returns ErrNotFound if the thing is not known.
	DeleteOwnedThing(ctx context.Context, ref ThingRef) error
	// OwnedThings returns the things of owner (zero: all), ordered by thing.
	OwnedThings(ctx context.Context, owner jid.JID) ([]OwnedThing, error)

	// AddRule stores a rule and returns its ID.
	AddRule(ctx context.Context, r ProvisioningRule) (int64, error)
	// UpdateRule replaces the rule with r.ID owned by r.Owner; ErrNotFound.
	UpdateRule(ctx context.Context, r ProvisioningRule) error
	// DeleteRules deletes the rules f selects and returns them.
	DeleteRules(ctx context.Context, f RuleFilter) ([]ProvisioningRule, error)
	// Rules returns the rules f selects, oldest first.
	Rules(ctx context.Context, f RuleFilter) ([]ProvisioningRule, error)

	// PutQuestion returns ErrExists when a question for the same situation
	// is pending.
	PutQuestion(ctx context.Context, q ProvisioningQuestion) error
	// Questions returns the pending questions of owner (zero: all).
	Questions(ctx context.Context, owner jid.JID) ([]ProvisioningQuestion, error)
	// DeleteQuestion removes the question with key; no error if none.
	DeleteQuestion(ctx context.Context, key string) error
	// DeleteQuestionsOf removes the questions about the thing (all its
	// nodes) and returns how many.
	DeleteQuestionsOf(ctx context.Context, thing jid.JID) (int, error)

	// PutOwnerPolicy inserts or replaces the owner's module.
	PutOwnerPolicy(ctx context.Context, p OwnerPolicy) error
	// OwnerPolicies returns the module of owner (zero: every owner's).
	OwnerPolicies(ctx context.Context, owner jid.JID) ([]OwnerPolicy, error)
	// DeleteOwnerPolicy returns ErrNotFound if the owner has none.
	DeleteOwnerPolicy(ctx context.Context, owner jid.JID) error

	// AppendDecisions stores audited decisions in one transaction.
	AppendDecisions(ctx context.Context, ds []ProvisioningDecision) error
	// Decisions returns audited decisions, newest first.
	Decisions(ctx context.Context, f DecisionFilter) ([]ProvisioningDecision, error)
	// PruneDecisions deletes decisions older than before.
	PruneDecisions(ctx context.Context, before time.Time) (int64, error)

	// QueueNotice stores a push for a thing and returns its ID.
	QueueNotice(ctx context.Context, n ProvisioningNotice) (int64, error)
	// Notices returns the queued pushes for thing (zero: all), oldest first.
	Notices(ctx context.Context, thing jid.JID) ([]ProvisioningNotice, error)
	// DeleteNotice removes a delivered push; no error if it is gone.
	DeleteNotice(ctx context.Context, id int64) error

	// PutToken stores an issued token; ErrExists if the token is taken.
	PutToken(ctx context.Context, t ProvisioningToken) error
	// Token returns the token; ErrNotFound if it was never issued.
	Token(ctx context.Context, token string) (ProvisioningToken, error)
}
