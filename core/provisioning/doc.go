// Package provisioning is the decision-support and provisioning service at
// provisioning.D (XEP-0324 and its IEEE/NF successors prov:d and prov:o,
// digest §7, and the tokens of prov:t, §8): owners decide who may befriend, read and control their
// things, with data protection by default.
//
// Things ask isFriend, canRead and canControl and are answered at once,
// from the owner's learned rules, by the Rego policy of package policies
// (prepared once with OPA; re-prepared only when an owner uploads a
// module). Nothing no rule covers is allowed: the answer is no, and the
// owner is asked by a message (the IM layer keeps it offline) carrying the
// prov:o question and an XEP-0004 form. The owner's answer becomes a rule;
// the thing is told to clear its cache (queued, persisted, until it is
// online). Owners list, change and delete rules, upload their own Rego
// module (compiled in a sandbox without network or runtime builtins,
// evaluated under a deadline), turn on broker-side enforcement for things
// that cannot ask (a router filter that checks sd, events and ctr requests
// and presence subscriptions), and read the audit of every decision.
//
// Ownership comes from the registry's thing.claimed and thing.disowned
// events and is kept in storage.Provisioning with everything else, so a
// restart loses nothing. The decision path never touches storage: things,
// rules and policies live in memory and are swapped whole on change; a
// store change counter lets the CLI and other nodes change them too. Each
// decision hands OPA only the rules that name the requester, found per
// thing (by a walk over few rules, a map over many) and converted to OPA
// terms once, on first use.
//
// Locks are all leaves, never nested and never held while a stanza is
// routed or storage is called: the things table's shard locks (readers
// copy a pointer out), each thing's decision-cache lock, and the service's
// question, notice, namespace-family and per-owner counter locks. Policies
// and the set of enforced things are swapped atomically; what a thing
// derives from its rules on first use is published atomically, without a
// lock.
//
// Token-scoped rules (fromUser, fromDevice, fromService) trust the tokens
// a question carries; tokens are not challenged (prov:t is not served).
//
// It must not log or store a sensor value or a control value: the audit
// keeps names (parties, nodes, categories, fields, parameters) only. It
// must not block the router: decisions are CPU-bound and bounded, storage
// writes that can wait (audit, queued pushes after delivery, events) run
// on its own goroutines.
package provisioning
