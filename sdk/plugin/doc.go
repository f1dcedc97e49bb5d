// Package plugin is how an Extasis plugin is written: describe it (Info),
// accept its configuration (Configure), handle the stanzas sent to its
// address (Handler) and the broker events it subscribed to (EventHandler),
// and call Serve from main. Serve speaks the versioned protocol
// extasis.plugin.v1 (sdk/PROTOCOL.md) with the broker over hashicorp/go-plugin,
// gRPC and automatic mutual TLS.
//
// A handler answers through the Broker it is given: Send routes a stanza,
// SendIQ sends an iq and waits for the reply, Online asks whether an address
// has a session, Publish emits an event, Decide asks the policy engine. The
// broker routes only stanzas whose from is the plugin's address or a JID at
// it.
//
// The package also holds the broker's side of the go-plugin glue
// (BrokerPluginSets, Remote), so that both ends agree on the handshake by
// construction.
//
// It must not import the broker's module (github.com/extasis/extasis): a
// plugin author's build pulls only this small module. It never logs stanza
// bodies.
package plugin
