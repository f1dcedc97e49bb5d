// Command extasis-registry is the Thing Registry (XEP-0347 and the
// IEEE/Neuro-Foundation discovery interface, digest §5), an out-of-process
// Extasis plugin started by the broker's plugin host: things register
// their meta-data tags (with a secret KEY), owners claim them by
// presenting exactly those tags (from an iotdisco URI, usually a QR
// code), anyone searches the public ones. It answers in the namespace of
// each request (urn:nf, urn:ieee, urn:nfi, legacy urn:xmpp:iot:discovery),
// queues the claimed, removed and disowned notifications for things that
// are offline, and publishes thing.claimed and thing.disowned so that the
// broker knows every thing's owner. Records live in SQL (store).
//
// Build it with
//
//	go build -o plugins/extasis-registry ./plugins/registry
//
// It must not import the broker (github.com/extasis/extasis/core/...):
// it reaches the broker only through sdk/plugin. It never logs tags,
// KEYs or search operands.
package main
