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
#   applicable  the owner's learned rules for this thing and this action that
#               name the requester: its JID, a token it holds, its domain, or
#               everyone (the latest answer per origin and key):
#               {"thing": scope, "nodes": [scope, ...]} where "nodes" has one
#               scope per node asked about, in the order of input.nodes;
#               scope = {"jid": rule, "user": [rule, ...], "device": [rule, ...],
#                        "service": [rule, ...], "domain": rule, "all": rule};
#               an origin, a scope or both keys are absent when no rule of
#               theirs applies ({} when none does)
#               rule = {"id", "allow", "remote": JID, token, domain or "",
#                       "categories": set, "fields": set | null,
#                       "params": set | null}
#               (null: not restricted; an unrestricted rule has all six
#               categories)
#   rules       only for an owner's module: all the owner's learned rules for
#               this thing and this action, indexed (the latest answer per key):
#               {"thing": scope, "nodes": {[id, src, pt]: scope}} where
#               scope = {"jid": {bare JID: rule}, "user": {token: rule},
#                        "device": {token: rule}, "service": {token: rule},
#                        "domain": {domain: rule}, "all": rule}
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
# The broker evaluates this for every question a thing asks, and OPA's cost
# is per evaluation step: every rule or function evaluated, every built-in
# called and every object built counts, the else branches of one rule that
# fail on a comparison with the input hardly do. So the broker passes only the
# rules that can apply, under fixed keys (a lookup by a computed key costs a
# step even when it finds nothing), and the common question - about the thing
# or one node, decided by one rule - is decided by the branches of decision
# itself; grant_of, pick and learned are the general case.
package extasis.provisioning

import rego.v1

decision := {"allow": false, "reason": "unclaimed", "ask": false, "rules": []} if {
	input.owner == ""
} else := {
	"allow": true, "reason": "owner", "ask": false, "rules": [],
	"nodes": input.nodes, "categories": input.categories,
	"fields": input.fields, "params": input.params,
} if {
	input.requester == input.owner
} else := data.extasis.provisioning.owner.decision if {
	is_object(data.extasis.provisioning.owner.decision)
} else := {"allow": false, "reason": "no rule", "ask": true, "rules": []} if {
	input.applicable == {}
} else := learned if {
	input.nodes[1]
} else := {
	# The branches below are grant_of for one rule, written out.
	"allow": true, "reason": "rule", "ask": false, "rules": [r.id], "nodes": input.nodes,
	"categories": input.categories, "fields": input.fields, "params": input.params,
} if {
	input.action == "friend"
	[r] := deciding
	r.allow
} else := {
	"allow": true, "reason": "rule", "ask": false, "rules": [r.id], "nodes": input.nodes,
	"categories": cats, "fields": fields, "params": input.params,
} if {
	input.action == "read"
	[r] := deciding
	r.allow
	cats := input.categories & r.categories
	not cats == set()
	fields := narrow(input.fields, r.fields)
	not fields == set()
} else := {
	"allow": true, "reason": "rule", "ask": false, "rules": [r.id], "nodes": input.nodes,
	"categories": input.categories, "fields": input.fields, "params": params,
} if {
	input.action == "control"
	[r] := deciding
	r.allow
	params := narrow(input.params, r.params)
	not params == set()
} else := {
	"allow": true, "reason": "rule", "ask": false, "rules": ids, "nodes": input.nodes,
	"categories": cats, "fields": fields, "params": params,
} if {
	deciding[1]
	[ids, cats, fields, params] := grant_of(deciding)
} else := {"allow": false, "reason": "denied by rule", "ask": false, "rules": [r.id]} if {
	[r] := deciding
} else := {"allow": false, "reason": "denied by rule", "ask": false, "rules": [r.id | some r in deciding]} if {
	deciding
} else := {"allow": false, "reason": "no rule", "ask": true, "rules": []}

# The most specific rule wins: a rule for the node beats one for the whole
# thing; then the origin: the exact JID, then tokens (user, device, service),
# the domain, and anyone. Rules for different tokens the requester holds add
# up (most forgiving). A rule counts only if it names the requester.
#
# deciding is the rules that decide a question about the thing itself or
# one node: pick of the node's scope, else of the thing's, written out.
deciding := [r] if {
	[s] := input.applicable.nodes
	r := s.jid
	r.remote == input.requester
} else := rs if {
	[s] := input.applicable.nodes
	ts := s.user
	rs := [r | some r in ts; r.remote in input.tokens.user]
	rs != []
} else := rs if {
	[s] := input.applicable.nodes
	ts := s.device
	rs := [r | some r in ts; r.remote in input.tokens.device]
	rs != []
} else := rs if {
	[s] := input.applicable.nodes
	ts := s.service
	rs := [r | some r in ts; r.remote in input.tokens.service]
	rs != []
} else := [r] if {
	[s] := input.applicable.nodes
	r := s.domain
	r.remote == input.domain
} else := [r] if {
	[s] := input.applicable.nodes
	r := s.all
} else := [r] if {
	r := input.applicable.thing.jid
	r.remote == input.requester
} else := rs if {
	ts := input.applicable.thing.user
	rs := [r | some r in ts; r.remote in input.tokens.user]
	rs != []
} else := rs if {
	ts := input.applicable.thing.device
	rs := [r | some r in ts; r.remote in input.tokens.device]
	rs != []
} else := rs if {
	ts := input.applicable.thing.service
	rs := [r | some r in ts; r.remote in input.tokens.service]
	rs != []
} else := [r] if {
	r := input.applicable.thing.domain
	r.remote == input.domain
} else := [r] if {
	r := input.applicable.thing.all
}

# pick returns the rules of scope s that apply to the requester at the
# most specific origin, or is undefined when none does.
pick(s) := [r] if {
	r := s.jid
	r.remote == input.requester
} else := rs if {
	ts := s.user
	rs := [r | some r in ts; r.remote in input.tokens.user]
	rs != []
} else := rs if {
	ts := s.device
	rs := [r | some r in ts; r.remote in input.tokens.device]
	rs != []
} else := rs if {
	ts := s.service
	rs := [r | some r in ts; r.remote in input.tokens.service]
	rs != []
} else := [r] if {
	r := s.domain
	r.remote == input.domain
} else := [r] if {
	r := s.all
}

# grant_of(rs) is what the allowing rules among rs grant together:
# [rule ids, categories, fields, params], where categories are those asked
# and allowed, fields (read) and parameters (control) those asked (null:
# all) and allowed (null: all), several rules granting the union of what
# each allows. It is undefined when none allows, or when the grant leaves
# nothing to read or control (a refusal). Befriending grants nothing more.
grant_of([r]) := [[r.id], input.categories, input.fields, input.params] if {
	input.action == "friend"
	r.allow
}

grant_of([r]) := [[r.id], cats, fields, input.params] if {
	input.action == "read"
	r.allow
	cats := input.categories & r.categories
	not cats == set()
	fields := narrow(input.fields, r.fields)
	not fields == set()
}

grant_of([r]) := [[r.id], input.categories, input.fields, params] if {
	input.action == "control"
	r.allow
	params := narrow(input.params, r.params)
	not params == set()
}

grant_of(rs) := [[r.id | some r in allowed], input.categories, input.fields, input.params] if {
	input.action == "friend"
	rs[1]
	allowed := [r | some r in rs; r.allow]
	allowed != []
}

grant_of(rs) := [[r.id | some r in allowed], cats, fields, input.params] if {
	input.action == "read"
	rs[1]
	allowed := [r | some r in rs; r.allow]
	cats := input.categories & union({r.categories | some r in allowed})
	not cats == set()
	fields := widen(input.fields, [r.fields | some r in allowed])
	not fields == set()
}

grant_of(rs) := [[r.id | some r in allowed], input.categories, input.fields, params] if {
	input.action == "control"
	rs[1]
	allowed := [r | some r in rs; r.allow]
	params := widen(input.params, [r.params | some r in allowed])
	not params == set()
}

# narrow intersects what was asked (null: all) with what a rule allows
# (null: all).
narrow(asked, allowed) := asked if {
	allowed == null
} else := allowed if {
	asked == null
} else := asked & allowed

# widen intersects what was asked (null: all) with what several rules allow
# together (a null among them: all).
widen(asked, allowed) := asked if {
	null in allowed
} else := union({x | some x in allowed}) if {
	asked == null
} else := asked & union({x | some x in allowed})

# thing_decision is what the thing's own rules decide, whatever nodes were
# asked about (for owners' modules).
thing_decision := {
	"allow": true, "reason": "rule", "ask": false, "rules": ids,
	"nodes": [], "categories": cats, "fields": fields, "params": params,
} if {
	[ids, cats, fields, params] := grant_of(pick(input.applicable.thing))
} else := {"allow": false, "reason": "denied by rule", "ask": false, "rules": [r.id | some r in rs]} if {
	rs := pick(input.applicable.thing)
} else := {"allow": false, "reason": "no rule", "ask": true, "rules": []}

# learned decides any question from the learned rules, each node by its own
# rules, else the thing's; the default policy uses it for questions about
# several nodes. Several nodes in one request get one answer: what every
# granted node allows (the answer cannot say "these fields here, those
# there").
node_grants := [node_grant(n, i) | some i, n in input.nodes] if {
	input.nodes != []
} else := [node_grant(null, -1)]

# node_grant decides one target: node n, at index i of input.nodes, or the
# thing itself (n null).
node_grant(n, i) := combine(rs, n) if {
	rs := pick(input.applicable.nodes[i])
} else := combine(rs, n) if {
	rs := pick(input.applicable.thing)
} else := {"allow": false, "covered": false, "node": n, "rules": []}

combine(rs, n) := {
	"allow": true, "covered": true, "node": n, "rules": ids,
	"categories": cats, "fields": fields, "params": params,
} if {
	[ids, cats, fields, params] := grant_of(rs)
} else := {"allow": false, "covered": true, "node": n, "rules": [r.id | some r in rs]}

granted := [g | some g in node_grants; g.allow]

uncovered if {
	some g in node_grants
	not g.covered
}

ask := true if uncovered else := false

decided_by := [id | some g in node_grants; some id in g.rules]

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

# What several nodes have in common may leave nothing to read or control:
# a refusal.
non_empty(_, _, _) if input.action == "friend"

non_empty(cats, fields, _) if {
	input.action == "read"
	count(cats) > 0
	not fields == set()
}

non_empty(_, _, params) if {
	input.action == "control"
	not params == set()
}
