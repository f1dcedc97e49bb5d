// Package certs provides the TLS certificates of the served domains: the
// files the configuration names, or a self-signed ECDSA P-256 certificate
// generated into the data directory on first start. Certificates are chosen
// by SNI, and reloaded as a whole (SIGHUP) without touching live streams.
//
// It must not listen or accept; it only builds tls.Config values.
package certs
