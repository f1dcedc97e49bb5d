// Package iotdisco reads and writes iotdisco: URIs, the conceptual identity
// of a thing as an owner receives it out of band (printed, or in a QR
// code), and the meta-data tags they carry: IANA's provisional scheme
// iotdisco (2015), the IEEE/Neuro-Foundation "Discovery" interface, and the
// legacy XEP-0347 "IoTDisco;" QR string (read only).
//
// A URI is a list of conditions `[#]NAME op VALUE` separated by ';', where
// '#' marks a numeric tag and op is one of = < <= > >= <> or ~ followed by
// a wildcard character (a mask). The decoder takes both escapings found in
// the wild: backslashes (`\;`, `\\`, as the documentation says) and
// percent-encoding (what the reference client library writes). The encoder
// percent-encodes, and always writes the registry address R into claim
// URIs, because deployed owner apps refuse a claim URI without it.
//
// It also holds the tag rules shared by the registry plugin and the
// `extasis thing` command (name charset and length, value length, numbers
// in xs:double form), so that a URI the CLI prints is one the registry
// accepts.
//
// It must not depend on anything outside the standard library (plugin and
// thing authors import it), must not do I/O, and must not interpret a
// condition beyond its syntax: matching records is the registry's job.
package iotdisco
