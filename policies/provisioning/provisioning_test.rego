package extasis.provisioning_test

import rego.v1

import data.extasis.provisioning

base := {
	"action": "read", "thing": "meter@d", "owner": "alice@d",
	"requester": "bob@o", "domain": "o",
	"tokens": {"service": [], "device": [], "user": []},
	"nodes": [], "categories": {"m", "i"}, "fields": null, "params": null,
}

# req builds an input as the broker does: of the rules for the action asked
# about, only those that name the requester (by JID, a token it holds, its
# domain, or everyone), by scope and origin.
req(patch) := object.union(q, {"applicable": applicable(q, [x | some x in object.get(patch, "rules", []); x.action == q.action])}) if {
	q := object.union(base, patch)
}

applicable(q, rs) := object.union(thing_part(q, rs), nodes_part(q, rs))

thing_part(q, rs) := {"thing": s} if {
	s := scope(q, [x | some x in rs; x.node == null])
	s != {}
} else := {}

nodes_part(q, rs) := {"nodes": ss} if {
	ss := [scope(q, [x | some x in rs; x.node == n]) | some n in q.nodes]
	some s in ss
	s != {}
} else := {}

# scope keeps the latest rule (the last in the list) per origin and key;
# the tests never repeat a token.
scope(q, rs) := object.union_n([
	latest("jid", [x | some x in rs; x.origin == "jid"; x.remote == q.requester]),
	every_one("user", [x | some x in rs; x.origin == "user"; x.remote in q.tokens.user]),
	every_one("device", [x | some x in rs; x.origin == "device"; x.remote in q.tokens.device]),
	every_one("service", [x | some x in rs; x.origin == "service"; x.remote in q.tokens.service]),
	latest("domain", [x | some x in rs; x.origin == "domain"; x.remote == q.domain]),
	latest("all", [x | some x in rs; x.origin == "all"]),
])

latest(origin, xs) := {origin: xs[count(xs) - 1]} if count(xs) > 0 else := {}

every_one(origin, xs) := {origin: xs} if count(xs) > 0 else := {}

rule(patch) := object.union(
	{
		"id": 1, "action": "read", "node": null, "origin": "jid", "remote": "bob@o", "allow": true,
		"categories": {"m", "p", "s", "c", "i", "h"}, "fields": null, "params": null,
	},
	patch,
)

test_unclaimed_denied if {
	d := provisioning.decision with input as req({"owner": ""})
	d.allow == false
	d.reason == "unclaimed"
	d.ask == false
}

test_owner_gets_everything if {
	d := provisioning.decision with input as req({"requester": "alice@d", "fields": {"Power"}})
	d.allow
	d.reason == "owner"
	d.categories == {"m", "i"}
	d.fields == {"Power"}
}

test_no_rule_denies_and_asks if {
	d := provisioning.decision with input as req({})
	d.allow == false
	d.reason == "no rule"
	d.ask
}

test_jid_rule_partial_fields if {
	r := rule({"categories": {"m"}, "fields": {"Power", "Energy"}})
	d := provisioning.decision with input as req({"rules": [r], "fields": {"Power", "Serial"}})
	d.allow
	d.categories == {"m"}
	d.fields == {"Power"}
	d.rules == [1]
	d.ask == false
}

test_all_fields_asked_gets_rule_list if {
	r := rule({"fields": {"Power", "Energy"}})
	d := provisioning.decision with input as req({"rules": [r]})
	d.fields == {"Energy", "Power"}
	d.categories == {"i", "m"}
}

test_unrestricted_rule_keeps_all_fields if {
	d := provisioning.decision with input as req({"rules": [rule({})]})
	d.allow
	d.fields == null
}

test_empty_intersection_is_denial if {
	r := rule({"fields": {"Energy"}})
	d := provisioning.decision with input as req({"rules": [r], "fields": {"Power"}})
	d.allow == false
	d.reason == "denied by rule"
	d.ask == false
}

test_category_intersection_empty_is_denial if {
	r := rule({"categories": {"h"}})
	d := provisioning.decision with input as req({"rules": [r]})
	d.allow == false
}

test_negative_rule if {
	d := provisioning.decision with input as req({"rules": [rule({"allow": false})]})
	d.allow == false
	d.reason == "denied by rule"
	d.ask == false
}

test_other_party_not_covered if {
	d := provisioning.decision with input as req({"requester": "eve@o", "rules": [rule({})]})
	d.allow == false
	d.ask
}

test_domain_rule if {
	r := rule({"origin": "domain", "remote": "o"})
	d := provisioning.decision with input as req({"requester": "eve@o", "rules": [r]})
	d.allow
	e := provisioning.decision with input as req({"requester": "eve@x", "domain": "x", "rules": [r]})
	e.allow == false
}

test_everyone_rule if {
	r := rule({"origin": "all", "remote": ""})
	d := provisioning.decision with input as req({"requester": "eve@x", "domain": "x", "rules": [r]})
	d.allow
}

test_jid_beats_domain if {
	deny_domain := rule({"id": 1, "origin": "domain", "remote": "o", "allow": false})
	allow_jid := rule({"id": 2})
	d := provisioning.decision with input as req({"rules": [allow_jid, deny_domain]})
	d.allow
	e := provisioning.decision with input as req({"requester": "eve@o", "rules": [allow_jid, deny_domain]})
	e.allow == false
	e.ask == false
}

test_tokens_add_up if {
	t1 := rule({"id": 1, "origin": "user", "remote": "p:u1", "fields": {"A"}})
	t2 := rule({"id": 2, "origin": "user", "remote": "p:u2", "fields": {"B"}})
	tokens := {"service": [], "device": [], "user": ["p:u1", "p:u2"]}
	d := provisioning.decision with input as req({"requester": "eve@x", "domain": "x", "tokens": tokens, "rules": [t1, t2]})
	d.allow
	d.fields == {"A", "B"}
}

test_token_beats_domain if {
	t := rule({"id": 1, "origin": "service", "remote": "p:s1", "allow": false})
	dom := rule({"id": 2, "origin": "domain", "remote": "x"})
	tokens := {"service": ["p:s1"], "device": [], "user": []}
	d := provisioning.decision with input as req({"requester": "eve@x", "domain": "x", "tokens": tokens, "rules": [t, dom]})
	d.allow == false
}

test_node_rule_beats_device_rule if {
	n := {"id": "lamp", "src": "", "pt": ""}
	device_deny := rule({"id": 1, "allow": false})
	node_allow := rule({"id": 2, "node": n, "origin": "all", "remote": ""})
	d := provisioning.decision with input as req({"nodes": [n], "rules": [device_deny, node_allow]})
	d.allow
	d.nodes == [n]
}

test_nodes_partially_granted if {
	a := {"id": "a", "src": "s", "pt": ""}
	b := {"id": "b", "src": "s", "pt": ""}
	d := provisioning.decision with input as req({"nodes": [a, b], "rules": [rule({"node": a})]})
	d.allow
	d.nodes == [a]
	d.ask
}

test_nodes_get_common_fields if {
	a := {"id": "a", "src": "", "pt": ""}
	b := {"id": "b", "src": "", "pt": ""}
	ra := rule({"id": 1, "node": a, "fields": {"X", "Y"}})
	rb := rule({"id": 2, "node": b, "fields": {"Y", "Z"}})
	d := provisioning.decision with input as req({"nodes": [a, b], "rules": [ra, rb]})
	d.allow
	d.nodes == [a, b]
	d.fields == {"Y"}
}

test_control_parameters if {
	r := rule({"action": "control", "params": {"On"}})
	d := provisioning.decision with input as req({"action": "control", "categories": set(), "params": {"On", "Brightness"}, "rules": [r]})
	d.allow
	d.params == {"On"}
	e := provisioning.decision with input as req({"action": "control", "categories": set(), "params": {"Brightness"}, "rules": [r]})
	e.allow == false
	f := provisioning.decision with input as req({"action": "control", "categories": set(), "rules": [r]})
	f.params == {"On"}
}

test_read_rule_does_not_allow_control if {
	d := provisioning.decision with input as req({"action": "control", "categories": set(), "rules": [rule({})]})
	d.allow == false
	d.ask
}

test_friend if {
	r := rule({"action": "friend"})
	d := provisioning.decision with input as req({"action": "friend", "categories": set(), "rules": [r]})
	d.allow
	e := provisioning.decision with input as req({"action": "friend", "categories": set(), "requester": "eve@o"})
	e.allow == false
	e.ask
}

test_rules_of_other_parties_do_not_apply if {
	# A rule the broker passed for someone else (it should not) is ignored.
	bob := rule({"id": 1})
	anyone := rule({"id": 2, "origin": "domain", "remote": "x", "allow": false})
	q := object.union(base, {"requester": "eve@o", "applicable": {"thing": {"jid": bob, "domain": anyone}}})
	d := provisioning.decision with input as q
	d.allow == false
	d.reason == "no rule"
	d.ask
}

test_tokens_not_held_do_not_apply if {
	t := rule({"id": 1, "origin": "user", "remote": "p:u1"})
	q := object.union(base, {"requester": "eve@x", "domain": "x", "applicable": {"thing": {"user": [t]}}})
	d := provisioning.decision with input as q
	d.allow == false
	d.ask
}

test_no_applicable_rule_asks if {
	d := provisioning.decision with input as req({"nodes": [{"id": "a", "src": "", "pt": ""}, {"id": "b", "src": "", "pt": ""}]})
	d.allow == false
	d.reason == "no rule"
	d.ask
}

test_deny_among_tokens if {
	t1 := rule({"id": 1, "origin": "user", "remote": "p:u1", "allow": false})
	t2 := rule({"id": 2, "origin": "user", "remote": "p:u2", "allow": false})
	tokens := {"service": [], "device": [], "user": ["p:u1", "p:u2"]}
	d := provisioning.decision with input as req({"requester": "eve@x", "domain": "x", "tokens": tokens, "rules": [t1, t2]})
	d.allow == false
	d.reason == "denied by rule"
	d.ask == false
	d.rules == [1, 2]
}

test_node_without_own_rule_uses_the_thing_rule if {
	n := {"id": "lamp", "src": "", "pt": ""}
	d := provisioning.decision with input as req({"nodes": [n], "rules": [rule({"fields": {"Power"}})]})
	d.allow
	d.nodes == [n]
	d.fields == {"Power"}
}

test_several_nodes_one_denied if {
	a := {"id": "a", "src": "", "pt": ""}
	b := {"id": "b", "src": "", "pt": ""}
	ra := rule({"id": 1, "node": a})
	rb := rule({"id": 2, "node": b, "allow": false})
	d := provisioning.decision with input as req({"nodes": [a, b], "rules": [ra, rb]})
	d.allow
	d.nodes == [a]
	d.rules == [1, 2]
	d.ask == false
}

test_thing_decision_ignores_node_rules if {
	n := {"id": "lamp", "src": "", "pt": ""}
	rs := [rule({"id": 1, "allow": false}), rule({"id": 2, "node": n})]
	d := provisioning.thing_decision with input as req({"nodes": [n], "rules": rs})
	d.allow == false
	d.reason == "denied by rule"
	e := provisioning.decision with input as req({"nodes": [n], "rules": rs})
	e.allow
}

test_learned_decides_the_thing_alone if {
	d := provisioning.learned with input as req({"rules": [rule({"fields": {"Power"}})]})
	d.allow
	d.nodes == []
	d.fields == {"Power"}
}
