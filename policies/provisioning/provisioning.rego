# The default provisioning policy: who may befriend, read and control a thing.
#
# The broker evaluates data.extasis.provisioning.decision once per question
# (isFriend, canRead, canControl) and once per sensor-data, control or
# subscription request it checks itself for things in enforcement mode.
#
# input (built by core/provisioning; every list is present, maybe empty):
#   action      "friend" | "read" | "control"
#   thing       bare JID of the thing
#   owner       bare JID of its owner, "" when the thing is not claimed
#   requester   bare JID of the party asking
#   domain      the requester's domain
#   tokens      {"service": [...], "device": [...], "user": [...]}
#   nodes       [{"id", "src", "pt"}]: the nodes asked about; [] is the thing itself
#   categories  field categories asked for (read): subset of m p s c i h
#   fields      field names asked for (read); [] means all fields
#   params      control parameters asked for (control); [] means all
#   rules       the owner's learned rules for this thing, oldest first:
#               {"id", "action", "node": {"id","src","pt"} | null,
#                "origin": "jid"|"user"|"device"|"service"|"domain"|"all",
#                "remote": the JID, domain or token the origin names,
#                "allow", "categories" | null, "fields" | null, "params" | null}
#               (null: the rule does not restrict that dimension)
#
# decision:
#   allow       the answer
#   reason      "owner", "rule", "no rule", "unclaimed" or a policy's own word
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
package extasis.provisioning

import rego.v1

all_categories := {"m", "p", "s", "c", "i", "h"}

# The most specific rule wins: a rule for the node beats one for the whole
# thing, then the origin: the exact JID, then tokens (user, device, service),
# the domain, and anyone. At one level the owner's latest answer wins;
# rules for different tokens the requester holds add up (most forgiving).
origin_rank := {"jid": 5, "user": 4, "device": 3, "service": 2, "domain": 1, "all": 0}

decision := {"allow": false, "reason": "unclaimed", "ask": false, "rules": []} if {
	input.owner == ""
} else := grant_all("owner") if {
	input.requester == input.owner
} else := data.extasis.provisioning.owner.decision if {
	is_object(data.extasis.provisioning.owner.decision)
} else := learned

# requested_fields and requested_params are null for "all".
requested_fields := null if {
	count(input.fields) == 0
} else := input.fields

requested_params := null if {
	count(input.params) == 0
} else := input.params

grant_all(reason) := {
	"allow": true, "reason": reason, "ask": false, "rules": [],
	"nodes": input.nodes, "categories": input.categories,
	"fields": requested_fields, "params": requested_params,
}

targets := input.nodes if {
	count(input.nodes) > 0
} else := [null]

node_applies(rn, _) if rn == null

node_applies(rn, n) if {
	rn != null
	rn == n
}

origin_applies(r) if r.origin == "all"

origin_applies(r) if {
	r.origin == "jid"
	r.remote == input.requester
}

origin_applies(r) if {
	r.origin == "domain"
	r.remote == input.domain
}

origin_applies(r) if {
	r.origin in {"service", "device", "user"}
	r.remote in input.tokens[r.origin]
}

rank(r) := origin_rank[r.origin] + 10 if r.node != null

rank(r) := origin_rank[r.origin] if r.node == null

# grant_list intersects what was asked (null: all) with what a rule set
# allows (null: all).
grant_list(asked, allowed) := asked if allowed == null

grant_list(asked, allowed) := sort(allowed) if {
	allowed != null
	asked == null
}

grant_list(asked, allowed) := [x | some x in asked; x in allowed] if {
	allowed != null
	asked != null
}

# union_of(rules, key) is null when one of the rules allows all of key.
union_of(rs, key) := null if {
	some r in rs
	r[key] == null
} else := {x | some r in rs; some x in r[key]}

rule_categories(r) := all_categories if r.categories == null

rule_categories(r) := {c | some c in r.categories} if r.categories != null

# node_grant decides one target (a node, or null for the thing itself).
node_grant(n) := g if {
	cands := [r | some r in input.rules; r.action == input.action; node_applies(r.node, n); origin_applies(r)]
	count(cands) > 0
	best := max([rank(r) | some r in cands])
	top := [r | some r in cands; rank(r) == best]
	latest := [r | some r in top; r.id == max([x.id | some x in top; x.remote == r.remote])]
	g := combine(latest, n)
} else := {"allow": false, "covered": false, "node": n, "rules": []}

combine(latest, n) := g if {
	allowed := [r | some r in latest; r.allow]
	count(allowed) > 0
	cats := {c | some c in input.categories; some r in allowed; c in rule_categories(r)}
	fields := grant_list(requested_fields, union_of(allowed, "fields"))
	params := grant_list(requested_params, union_of(allowed, "params"))
	non_empty(cats, fields, params)
	g := {
		"allow": true, "covered": true, "node": n, "rules": [r.id | some r in allowed],
		"categories": cats, "fields": fields, "params": params,
	}
} else := {"allow": false, "covered": true, "node": n, "rules": [r.id | some r in latest]}

# A grant that leaves nothing to read or control is a refusal.
non_empty(cats, fields, params) if {
	input.action == "friend"
}

non_empty(cats, fields, params) if {
	input.action == "read"
	count(cats) > 0
	not empty_list(fields)
}

non_empty(cats, fields, params) if {
	input.action == "control"
	not empty_list(params)
}

empty_list(l) if {
	l != null
	count(l) == 0
}

node_grants := [node_grant(n) | some n in targets]

granted := [g | some g in node_grants; g.allow]

uncovered if {
	some g in node_grants
	not g.covered
}

decided_by := [id | some g in node_grants; some id in g.rules]

# Several nodes in one request get one answer: what every granted node
# allows (the answer cannot say "these fields here, those there").
learned := d if {
	count(granted) > 0
	cats := {c | some c in granted[0].categories; every g in granted { c in g.categories }}
	fields := intersect_lists([g.fields | some g in granted])
	params := intersect_lists([g.params | some g in granted])
	non_empty(cats, fields, params)
	d := {
		"allow": true, "reason": "rule", "ask": uncovered_or_false, "rules": decided_by,
		"nodes": [g.node | some g in granted; g.node != null],
		"categories": sort(cats), "fields": fields, "params": params,
	}
} else := {"allow": false, "reason": deny_reason, "ask": uncovered_or_false, "rules": decided_by}

uncovered_or_false := true if uncovered else := false

deny_reason := "no rule" if uncovered else := "denied by rule"

intersect_lists(ls) := null if {
	every l in ls { l == null }
} else := r if {
	lists := [l | some l in ls; l != null]
	r := [x | some x in lists[0]; every l in lists { x in l }]
}
