// Package plugintest runs a plugin in-process, over the real gRPC protocol
// (go-plugin's test mode, ServeConfig.Test) but without a broker, so that a plugin's
// unit tests need neither a broker nor a built binary. A Harness plays the
// broker: it validates the config against the plugin's schema, configures
// it, delivers stanzas and events, records what the plugin sends and
// publishes, and answers the Host API from Options.
//
// It enforces what the broker enforces: a stanza whose from is not the
// plugin's address fails the test unless Options.ExpectRejections is set.
// It must not be imported outside tests.
package plugintest
