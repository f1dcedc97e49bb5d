// Command testplugin is the plugin host's misbehaving test double: a real
// plugin binary whose message bodies are commands (crash, forge, freeze,
// sleep, alloc, sendiq, online, publish, ...) that exercise every refusal and
// recovery path of plugins/host. It is built by the host's tests only.
//
// Built with -ldflags "-X main.protocolVersion=2" it speaks only a
// protocol version the broker does not, for the version-mismatch test.
//
// It must never be shipped or listed in a real catalog.
package main
