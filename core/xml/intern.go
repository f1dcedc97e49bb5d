package xml

// knownName returns the shared copy of a well-known element, attribute or
// namespace name, so that resolving it does not allocate. A switch (which the
// compiler turns into a search on length then content) keeps the table
// immutable without package-level state. Keep the cases sorted; TestIntern
// checks that each returns its own key without allocating.
func knownName(b []byte) (string, bool) {
	switch string(b) {
	case "a":
		return "a", true
	case "abort":
		return "abort", true
	case "accepted":
		return "accepted", true
	case "access":
		return "access", true
	case "acknowledged":
		return "acknowledged", true
	case "active":
		return "active", true
	case "all":
		return "all", true
	case "approved":
		return "approved", true
	case "ask":
		return "ask", true
	case "auth":
		return "auth", true
	case "away":
		return "away", true
	case "bad-request":
		return "bad-request", true
	case "bind":
		return "bind", true
	case "block":
		return "block", true
	case "blocklist":
		return "blocklist", true
	case "body":
		return "body", true
	case "boolean":
		return "boolean", true
	case "c":
		return "c", true
	case "cancel":
		return "cancel", true
	case "challenge":
		return "challenge", true
	case "chat":
		return "chat", true
	case "claimed":
		return "claimed", true
	case "close":
		return "close", true
	case "composing":
		return "composing", true
	case "conflict":
		return "conflict", true
	case "connection-timeout":
		return "connection-timeout", true
	case "data":
		return "data", true
	case "date":
		return "date", true
	case "dateTime":
		return "dateTime", true
	case "delay":
		return "delay", true
	case "disowned":
		return "disowned", true
	case "displayed":
		return "displayed", true
	case "dnd":
		return "dnd", true
	case "done":
		return "done", true
	case "duration":
		return "duration", true
	case "enable":
		return "enable", true
	case "enabled":
		return "enabled", true
	case "enum":
		return "enum", true
	case "error":
		return "error", true
	case "fail":
		return "fail", true
	case "failure":
		return "failure", true
	case "feature":
		return "feature", true
	case "feature-not-implemented":
		return "feature-not-implemented", true
	case "features":
		return "features", true
	case "field":
		return "field", true
	case "fields":
		return "fields", true
	case "forbidden":
		return "forbidden", true
	case "forwarded":
		return "forwarded", true
	case "from":
		return "from", true
	case "get":
		return "get", true
	case "gone":
		return "gone", true
	case "group":
		return "group", true
	case "groupchat":
		return "groupchat", true
	case "h":
		return "h", true
	case "hash":
		return "hash", true
	case "headline":
		return "headline", true
	case "host-unknown":
		return "host-unknown", true
	case "http://etherx.jabber.org/streams":
		return "http://etherx.jabber.org/streams", true
	case "http://jabber.org/features/iq-register":
		return "http://jabber.org/features/iq-register", true
	case "http://jabber.org/protocol/address":
		return "http://jabber.org/protocol/address", true
	case "http://jabber.org/protocol/caps":
		return "http://jabber.org/protocol/caps", true
	case "http://jabber.org/protocol/chatstates":
		return "http://jabber.org/protocol/chatstates", true
	case "http://jabber.org/protocol/disco#info":
		return "http://jabber.org/protocol/disco#info", true
	case "http://jabber.org/protocol/disco#items":
		return "http://jabber.org/protocol/disco#items", true
	case "http://jabber.org/protocol/muc":
		return "http://jabber.org/protocol/muc", true
	case "http://jabber.org/protocol/muc#user":
		return "http://jabber.org/protocol/muc#user", true
	case "http://jabber.org/protocol/pubsub":
		return "http://jabber.org/protocol/pubsub", true
	case "http://jabber.org/protocol/pubsub#event":
		return "http://jabber.org/protocol/pubsub#event", true
	case "http://www.w3.org/XML/1998/namespace":
		return "http://www.w3.org/XML/1998/namespace", true
	case "id":
		return "id", true
	case "identity":
		return "identity", true
	case "inactive":
		return "inactive", true
	case "instructions":
		return "instructions", true
	case "int":
		return "int", true
	case "internal-server-error":
		return "internal-server-error", true
	case "invalid-namespace":
		return "invalid-namespace", true
	case "iq":
		return "iq", true
	case "item":
		return "item", true
	case "item-not-found":
		return "item-not-found", true
	case "items":
		return "items", true
	case "jabber:client":
		return "jabber:client", true
	case "jabber:component:accept":
		return "jabber:component:accept", true
	case "jabber:iq:last":
		return "jabber:iq:last", true
	case "jabber:iq:private":
		return "jabber:iq:private", true
	case "jabber:iq:register":
		return "jabber:iq:register", true
	case "jabber:iq:roster":
		return "jabber:iq:roster", true
	case "jabber:iq:version":
		return "jabber:iq:version", true
	case "jabber:server":
		return "jabber:server", true
	case "jabber:server:dialback":
		return "jabber:server:dialback", true
	case "jabber:x:data":
		return "jabber:x:data", true
	case "jabber:x:oob":
		return "jabber:x:oob", true
	case "jid":
		return "jid", true
	case "label":
		return "label", true
	case "lang":
		return "lang", true
	case "last":
		return "last", true
	case "long":
		return "long", true
	case "markable":
		return "markable", true
	case "mechanism":
		return "mechanism", true
	case "mechanisms":
		return "mechanisms", true
	case "message":
		return "message", true
	case "momentary":
		return "momentary", true
	case "name":
		return "name", true
	case "nd":
		return "nd", true
	case "no-copy":
		return "no-copy", true
	case "no-store":
		return "no-store", true
	case "node":
		return "node", true
	case "normal":
		return "normal", true
	case "not-allowed":
		return "not-allowed", true
	case "not-authorized":
		return "not-authorized", true
	case "not-well-formed":
		return "not-well-formed", true
	case "numeric":
		return "numeric", true
	case "open":
		return "open", true
	case "option":
		return "option", true
	case "optional":
		return "optional", true
	case "os":
		return "os", true
	case "paused":
		return "paused", true
	case "ping":
		return "ping", true
	case "policy-violation":
		return "policy-violation", true
	case "presence":
		return "presence", true
	case "priority":
		return "priority", true
	case "private":
		return "private", true
	case "probe":
		return "probe", true
	case "proceed":
		return "proceed", true
	case "query":
		return "query", true
	case "r":
		return "r", true
	case "received":
		return "received", true
	case "recipient-unavailable":
		return "recipient-unavailable", true
	case "register":
		return "register", true
	case "rejected":
		return "rejected", true
	case "remote-server-not-found":
		return "remote-server-not-found", true
	case "remote-server-timeout":
		return "remote-server-timeout", true
	case "removed":
		return "removed", true
	case "reported":
		return "reported", true
	case "req":
		return "req", true
	case "request":
		return "request", true
	case "required":
		return "required", true
	case "reset":
		return "reset", true
	case "resource":
		return "resource", true
	case "resource-constraint":
		return "resource-constraint", true
	case "resp":
		return "resp", true
	case "response":
		return "response", true
	case "restricted-xml":
		return "restricted-xml", true
	case "result":
		return "result", true
	case "resume":
		return "resume", true
	case "resumed":
		return "resumed", true
	case "see-other-host":
		return "see-other-host", true
	case "sent":
		return "sent", true
	case "seq":
		return "seq", true
	case "service-unavailable":
		return "service-unavailable", true
	case "session":
		return "session", true
	case "set":
		return "set", true
	case "show":
		return "show", true
	case "sm":
		return "sm", true
	case "stamp":
		return "stamp", true
	case "started":
		return "started", true
	case "starttls":
		return "starttls", true
	case "status":
		return "status", true
	case "store":
		return "store", true
	case "stream":
		return "stream", true
	case "string":
		return "string", true
	case "subject":
		return "subject", true
	case "subscribe":
		return "subscribe", true
	case "subscribed":
		return "subscribed", true
	case "subscription":
		return "subscription", true
	case "success":
		return "success", true
	case "system-shutdown":
		return "system-shutdown", true
	case "text":
		return "text", true
	case "thing":
		return "thing", true
	case "thread":
		return "thread", true
	case "time":
		return "time", true
	case "title":
		return "title", true
	case "to":
		return "to", true
	case "type":
		return "type", true
	case "tzo":
		return "tzo", true
	case "unavailable":
		return "unavailable", true
	case "unblock":
		return "unblock", true
	case "undefined-condition":
		return "undefined-condition", true
	case "unexpected-request":
		return "unexpected-request", true
	case "unit":
		return "unit", true
	case "unsubscribe":
		return "unsubscribe", true
	case "unsubscribed":
		return "unsubscribed", true
	case "urn:extasis:contract:access:1.0":
		return "urn:extasis:contract:access:1.0", true
	case "urn:ieee:iot:concentrator:1.0":
		return "urn:ieee:iot:concentrator:1.0", true
	case "urn:ieee:iot:ctr:1.0":
		return "urn:ieee:iot:ctr:1.0", true
	case "urn:ieee:iot:disco:1.0":
		return "urn:ieee:iot:disco:1.0", true
	case "urn:ieee:iot:e2e:1.0":
		return "urn:ieee:iot:e2e:1.0", true
	case "urn:ieee:iot:events:1.0":
		return "urn:ieee:iot:events:1.0", true
	case "urn:ieee:iot:leg:id:1.0":
		return "urn:ieee:iot:leg:id:1.0", true
	case "urn:ieee:iot:leg:sc:1.0":
		return "urn:ieee:iot:leg:sc:1.0", true
	case "urn:ieee:iot:prov:d:1.0":
		return "urn:ieee:iot:prov:d:1.0", true
	case "urn:ieee:iot:prov:o:1.0":
		return "urn:ieee:iot:prov:o:1.0", true
	case "urn:ieee:iot:prov:t:1.0":
		return "urn:ieee:iot:prov:t:1.0", true
	case "urn:ieee:iot:sd:1.0":
		return "urn:ieee:iot:sd:1.0", true
	case "urn:ietf:params:xml:ns:xmpp-bind":
		return "urn:ietf:params:xml:ns:xmpp-bind", true
	case "urn:ietf:params:xml:ns:xmpp-framing":
		return "urn:ietf:params:xml:ns:xmpp-framing", true
	case "urn:ietf:params:xml:ns:xmpp-sasl":
		return "urn:ietf:params:xml:ns:xmpp-sasl", true
	case "urn:ietf:params:xml:ns:xmpp-session":
		return "urn:ietf:params:xml:ns:xmpp-session", true
	case "urn:ietf:params:xml:ns:xmpp-stanzas":
		return "urn:ietf:params:xml:ns:xmpp-stanzas", true
	case "urn:ietf:params:xml:ns:xmpp-streams":
		return "urn:ietf:params:xml:ns:xmpp-streams", true
	case "urn:ietf:params:xml:ns:xmpp-tls":
		return "urn:ietf:params:xml:ns:xmpp-tls", true
	case "urn:nf:iot:concentrator:1.0":
		return "urn:nf:iot:concentrator:1.0", true
	case "urn:nf:iot:ctr:1.0":
		return "urn:nf:iot:ctr:1.0", true
	case "urn:nf:iot:disco:1.0":
		return "urn:nf:iot:disco:1.0", true
	case "urn:nf:iot:e2e:1.0":
		return "urn:nf:iot:e2e:1.0", true
	case "urn:nf:iot:events:1.0":
		return "urn:nf:iot:events:1.0", true
	case "urn:nf:iot:geo:1.0":
		return "urn:nf:iot:geo:1.0", true
	case "urn:nf:iot:leg:id:1.0":
		return "urn:nf:iot:leg:id:1.0", true
	case "urn:nf:iot:leg:sc:1.0":
		return "urn:nf:iot:leg:sc:1.0", true
	case "urn:nf:iot:prov:d:1.0":
		return "urn:nf:iot:prov:d:1.0", true
	case "urn:nf:iot:prov:o:1.0":
		return "urn:nf:iot:prov:o:1.0", true
	case "urn:nf:iot:prov:t:1.0":
		return "urn:nf:iot:prov:t:1.0", true
	case "urn:nf:iot:sd:1.0":
		return "urn:nf:iot:sd:1.0", true
	case "urn:nfi:iot:concentrator:1.0":
		return "urn:nfi:iot:concentrator:1.0", true
	case "urn:nfi:iot:ctr:1.0":
		return "urn:nfi:iot:ctr:1.0", true
	case "urn:nfi:iot:disco:1.0":
		return "urn:nfi:iot:disco:1.0", true
	case "urn:nfi:iot:e2e:1.0":
		return "urn:nfi:iot:e2e:1.0", true
	case "urn:nfi:iot:events:1.0":
		return "urn:nfi:iot:events:1.0", true
	case "urn:nfi:iot:geo:1.0":
		return "urn:nfi:iot:geo:1.0", true
	case "urn:nfi:iot:leg:id:1.0":
		return "urn:nfi:iot:leg:id:1.0", true
	case "urn:nfi:iot:leg:sc:1.0":
		return "urn:nfi:iot:leg:sc:1.0", true
	case "urn:nfi:iot:prov:d:1.0":
		return "urn:nfi:iot:prov:d:1.0", true
	case "urn:nfi:iot:prov:o:1.0":
		return "urn:nfi:iot:prov:o:1.0", true
	case "urn:nfi:iot:prov:t:1.0":
		return "urn:nfi:iot:prov:t:1.0", true
	case "urn:nfi:iot:sd:1.0":
		return "urn:nfi:iot:sd:1.0", true
	case "urn:xmpp:bind:0":
		return "urn:xmpp:bind:0", true
	case "urn:xmpp:blocking":
		return "urn:xmpp:blocking", true
	case "urn:xmpp:blocking:errors":
		return "urn:xmpp:blocking:errors", true
	case "urn:xmpp:carbons:2":
		return "urn:xmpp:carbons:2", true
	case "urn:xmpp:chat-markers:0":
		return "urn:xmpp:chat-markers:0", true
	case "urn:xmpp:csi:0":
		return "urn:xmpp:csi:0", true
	case "urn:xmpp:delay":
		return "urn:xmpp:delay", true
	case "urn:xmpp:features:dialback":
		return "urn:xmpp:features:dialback", true
	case "urn:xmpp:features:pre-approval":
		return "urn:xmpp:features:pre-approval", true
	case "urn:xmpp:features:rosterver":
		return "urn:xmpp:features:rosterver", true
	case "urn:xmpp:forward:0":
		return "urn:xmpp:forward:0", true
	case "urn:xmpp:hints":
		return "urn:xmpp:hints", true
	case "urn:xmpp:http:upload:0":
		return "urn:xmpp:http:upload:0", true
	case "urn:xmpp:iot:concentrators":
		return "urn:xmpp:iot:concentrators", true
	case "urn:xmpp:iot:control":
		return "urn:xmpp:iot:control", true
	case "urn:xmpp:iot:discovery":
		return "urn:xmpp:iot:discovery", true
	case "urn:xmpp:iot:provisioning":
		return "urn:xmpp:iot:provisioning", true
	case "urn:xmpp:iot:sensordata":
		return "urn:xmpp:iot:sensordata", true
	case "urn:xmpp:mam:2":
		return "urn:xmpp:mam:2", true
	case "urn:xmpp:message-correct:0":
		return "urn:xmpp:message-correct:0", true
	case "urn:xmpp:ping":
		return "urn:xmpp:ping", true
	case "urn:xmpp:receipts":
		return "urn:xmpp:receipts", true
	case "urn:xmpp:sasl:2":
		return "urn:xmpp:sasl:2", true
	case "urn:xmpp:sid:0":
		return "urn:xmpp:sid:0", true
	case "urn:xmpp:sm:3":
		return "urn:xmpp:sm:3", true
	case "urn:xmpp:time":
		return "urn:xmpp:time", true
	case "urn:xmpp:xdata:signature:oauth1":
		return "urn:xmpp:xdata:signature:oauth1", true
	case "utc":
		return "utc", true
	case "value":
		return "value", true
	case "var":
		return "var", true
	case "vcard-temp":
		return "vcard-temp", true
	case "ver":
		return "ver", true
	case "version":
		return "version", true
	case "x":
		return "x", true
	case "xa":
		return "xa", true
	case "xmlns":
		return "xmlns", true
	}
	return "", false
}

// intern returns b as a string, without allocating when it is a known name.
func intern(b []byte) string {
	if s, ok := knownName(b); ok {
		return s
	}
	return string(b)
}
