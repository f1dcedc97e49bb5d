// Package xml is the broker's byte-level XML layer: the tokenizer and stream
// framer every byte from every client goes through (Decoder), a small DOM for
// the stanzas the server itself must understand (Element, Parse), an encoder
// (Element.Append), escaping helpers, and byte-level edits of a raw element
// (SetAttrs, InsertChild, EnsureNamespace, InnerXML) that never re-encode its
// body.
//
// The Decoder reads an XMPP stream (RFC 6120 §4) or a sequence of
// self-standing elements (RFC 7395 WebSocket frames, stored stanzas) and
// returns one Frame per top-level element with the element's raw bytes, the
// resolved name and attributes of the top element and the name of its first
// child, without building a tree. It is a resumable state machine in the
// style of nats-server's parser.go: each byte is examined once whatever the
// read sizes, buffers are allocated up front and reused, and a frame for
// known names costs no allocation. It is the broker's security boundary and
// enforces, with RFC 6120 stream error conditions:
//
//   - XML 1.0 well-formedness with namespaces (not-well-formed), including
//     valid UTF-8, legal characters and bound prefixes;
//   - the restricted XML profile of RFC 6120 §11.1 (restricted-xml): no
//     DTD, comments, processing instructions or entity references other
//     than the five predefined ones;
//   - size, depth and attribute count limits (policy-violation), detected
//     while reading so that no more than the limit plus one read is buffered.
//
// Raw bytes are what the broker routes: it must never re-encode a stanza it
// forwards, so this package must not grow a general-purpose token API on the
// hot path, and must not import anything but the standard library
// (encoding/xml is used only in tests, as an oracle).
package xml
