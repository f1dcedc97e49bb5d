# The default provisioning policy: who may befriend, read and control a thing.
#
# The broker evaluates data.extasis.provisioning.decision once per question
# (isFriend, canRead, canControl) and once per sensor-data, control or
# subscription request it checks itself for things in enforcement mode.
#
# input (built by core/provisioning):
#   action      "friend" | "read" | "control"
#   thing       bare JID of the thing
#   owner       bare JID of its owner, "" when the thing is not claimed
#   requester   bare JID of the party asking
#   domain      the requester's domain
#   tokens      {"service": [...], "device": [...], "user": [...]}
#   nodes       [{"id", "src", "pt"}]: the nodes asked about; [] is the thing itself
#   categories  set of field categories asked for (read): subset of m p s c i h
#   fields      set of field names asked for (read), null for all fields
#   params      set of control parameters asked for (control), null for all
#   rules       the owner's learned rules for this thing and this action,
#               indexed by the broker (the latest answer per key):
#               {"thing": scope, "nodes": {[id, src, pt]: scope}} where
#               scope = {"jid": {bare JID: rule}, "user": {token: rule},
#                        "device": {token: rule}, "service": {token: rule},
#                        "domain": {domain: rule}, "all": rule}
#               rule = {"id", "allow", "categories": set,
#                       "fields": set | null, "params": set | null}
#               (null: not restricted; an unrestricted rule has all six
#               categories)
#
# decision:
#   allow       the answer
#   reason      "owner", "rule", "no rule", "denied by rule", "unclaimed" or
#               a policy's own word
#   ask         true when no rule covers (part of) the question: the broker
#               then asks the owner
#   rules       ids of the rules that decided
#   nodes, categories, fields, params (when allow): exactly what is granted;
#               fields or params null means "all of them"
#
# Order: the owner may do anything with their thing; an unclaimed thing
# answers no one; an owner's own uploaded module (package
# extasis.provisioning.owner) decides next if it defines decision; then the
# learned rules; no rule means no (data protection by default).
#
# The broker evaluates this for every question a thing asks: it is written
# with set operations and lookups rather than loops over rules.
package extasis.provisioning

import rego.v1

decision := {"allow": false, "reason": "unclaimed", "ask": false, "rules": []} if {
	input.owner == ""
} else := grant_all("owner") if {
	input.requester == input.owner
} else := data.extasis.provisioning.owner.decision if {
	is_object(data.extasis.provisioning.owner.decision)
} else := thing_decision if {
	count(input.nodes) == 0
} else := learned

grant_all(reason) := {
	"allow": true, "reason": reason, "ask": false, "rules": [],
	"nodes": input.nodes, "categories": input.categories,
	"fields": input.fields, "params": input.params,
}

targets := input.nodes if {
	count(input.nodes) > 0
} else := [null]

# The most specific rule wins: a rule for the node beats one for the whole
# thing; then the origin: the exact JID, then tokens (user, device, service),
# the domain, and anyone. Rules for different tokens the requester holds add
# up (most forgiving). At one key the owner's latest answer is the only one
# the broker passes in.
#
# pick returns the rules of scope s that apply to the requester at the
# most specific origin, or is undefined when none does.
pick(s) := [r] if {
	r := s.jid[input.requester]
} else := rs if {
	rs := [r | some t in input.tokens.user; r := s.user[t]]
	count(rs) > 0
} else := rs if {
	rs := [r | some t in input.tokens.device; r := s.device[t]]
	count(rs) > 0
} else := rs if {
	rs := [r | some t in input.tokens.service; r := s.service[t]]
	count(rs) > 0
} else := [r] if {
	r := s.domain[input.domain]
} else := [r] if {
	r := s.all
}

# The thing itself (no nodes asked about) is the common question: it is
# decided by rules without function calls where possible, as each costs
# an evaluation step.

# thing_picked is pick(input.rules.thing), written out.
thing_picked := [r] if {
	r := input.rules.thing.jid[input.requester]
} else := rs if {
	rs := [r | some t in input.tokens.user; r := input.rules.thing.user[t]]
	count(rs) > 0
} else := rs if {
	rs := [r | some t in input.tokens.device; r := input.rules.thing.device[t]]
	count(rs) > 0
} else := rs if {
	rs := [r | some t in input.tokens.service; r := input.rules.thing.service[t]]
	count(rs) > 0
} else := [r] if {
	r := input.rules.thing.domain[input.domain]
} else := [r] if {
	r := input.rules.thing.all
}

thing_decision := d if {
	allowed := [r | some r in thing_picked; r.allow]
	count(allowed) > 0
	cats := input.categories & union({r.categories | some r in allowed})
	fields := grant(input.fields, [r.fields | some r in allowed])
	params := grant(input.params, [r.params | some r in allowed])
	non_empty(cats, fields, params)
	d := {
		"allow": true, "reason": "rule", "ask": false, "rules": [r.id | some r in allowed],
		"nodes": [], "categories": cats, "fields": fields, "params": params,
	}
} else := {"allow": false, "reason": "denied by rule", "ask": false, "rules": [r.id | some r in thing_picked]} if {
	count(thing_picked) > 0
} else := {"allow": false, "reason": "no rule", "ask": true, "rules": []}

# node_grant decides one target (a node, or null for the thing itself).
node_grant(n) := combine(rs, n) if {
	n != null
	rs := pick(input.rules.nodes[[n.id, n.src, n.pt]])
} else := combine(rs, n) if {
	rs := pick(input.rules.thing)
} else := {"allow": false, "covered": false, "node": n, "rules": []}

combine(rs, n) := g if {
	allowed := [r | some r in rs; r.allow]
	count(allowed) > 0
	cats := input.categories & union({r.categories | some r in allowed})
	fields := grant(input.fields, [r.fields | some r in allowed])
	params := grant(input.params, [r.params | some r in allowed])
	non_empty(cats, fields, params)
	g := {
		"allow": true, "covered": true, "node": n, "rules": [r.id | some r in allowed],
		"categories": cats, "fields": fields, "params": params,
	}
} else := {"allow": false, "covered": true, "node": n, "rules": [r.id | some r in rs]}

# grant intersects what was asked (null: all) with what the rules allow
# together (a null among them: all).
grant(asked, allowed) := asked if {
	null in allowed
} else := union({x | some x in allowed}) if {
	asked == null
} else := asked & union({x | some x in allowed})

# A grant that leaves nothing to read or control is a refusal.
non_empty(_, _, _) if input.action == "friend"

non_empty(cats, fields, _) if {
	input.action == "read"
	count(cats) > 0
	not empty(fields)
}

non_empty(_, _, params) if {
	input.action == "control"
	not empty(params)
}

empty(s) if {
	s != null
	count(s) == 0
}

node_grants := [node_grant(n) | some n in targets]

granted := [g | some g in node_grants; g.allow]

uncovered if {
	some g in node_grants
	not g.covered
}

ask := true if uncovered else := false

decided_by := [id | some g in node_grants; some id in g.rules]

# Several nodes in one request get one answer: what every granted node
# allows (the answer cannot say "these fields here, those there").
learned := d if {
	count(granted) == 1
	g := granted[0]
	d := {
		"allow": true, "reason": "rule", "ask": ask, "rules": decided_by,
		"nodes": [g.node | g.node != null],
		"categories": g.categories, "fields": g.fields, "params": g.params,
	}
} else := d if {
	count(granted) > 1
	cats := intersection({g.categories | some g in granted})
	fields := common([g.fields | some g in granted])
	params := common([g.params | some g in granted])
	non_empty(cats, fields, params)
	d := {
		"allow": true, "reason": "rule", "ask": ask, "rules": decided_by,
		"nodes": [g.node | some g in granted],
		"categories": cats, "fields": fields, "params": params,
	}
} else := {"allow": false, "reason": deny_reason, "ask": ask, "rules": decided_by}

deny_reason := "no rule" if uncovered else := "denied by rule"

# common intersects sets, null meaning "all".
common(ss) := null if {
	every s in ss { s == null }
} else := intersection({s | some s in ss; s != null})
