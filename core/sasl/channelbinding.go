package sasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"hash"
)

// The channel binding types the -PLUS mechanisms accept, as named in the
// GS2 header and in XEP-0440's <sasl-channel-binding/> stream feature.
const (
	TLSExporter       = "tls-exporter"         // RFC 9266, TLS 1.3 only
	TLSServerEndPoint = "tls-server-end-point" // RFC 5929 §4
)

// exporterLabel and exporterLen are fixed by RFC 9266 §2.
const (
	exporterLabel = "EXPORTER-Channel-Binding"
	exporterLen   = 32
)

// ChannelBinding carries the TLS channel binding data of one connection.
// TLSExporter is nil unless the connection is TLS 1.3 (RFC 9266 forbids it
// on TLS 1.2, where exporters are not unique without extended master
// secret); TLSServerEndPoint is ServerEndPoint of the certificate the server
// presented. Both are nil when the stream is not on TLS.
type ChannelBinding struct {
	TLSExporter       []byte
	TLSServerEndPoint []byte
}

// NewChannelBinding computes the channel binding data of a server-side TLS
// connection. serverCert is the leaf certificate the server presented (the
// server's own ConnectionState does not carry it); nil leaves
// TLSServerEndPoint empty.
func NewChannelBinding(cs tls.ConnectionState, serverCert *x509.Certificate) ChannelBinding {
	var cb ChannelBinding
	if !cs.HandshakeComplete {
		return cb
	}
	if cs.Version == tls.VersionTLS13 {
		if ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, exporterLen); err == nil {
			cb.TLSExporter = ekm
		}
	}
	cb.TLSServerEndPoint = ServerEndPoint(serverCert)
	return cb
}

// ServerEndPoint is the tls-server-end-point channel binding data of a
// certificate (RFC 5929 §4.1): its DER hashed with SHA-256 when the
// certificate is signed with MD5 or SHA-1, else with the hash of its
// signature algorithm. It returns nil where RFC 5929 leaves the binding
// undefined (Ed25519, which has no separate hash, or an unknown algorithm)
// and for a nil certificate.
func ServerEndPoint(cert *x509.Certificate) []byte {
	if cert == nil || len(cert.Raw) == 0 {
		return nil
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}

// Types lists the binding types cb has data for, in order of preference,
// for XEP-0440's <sasl-channel-binding/> feature.
func (cb ChannelBinding) Types() []string {
	var t []string
	if len(cb.TLSExporter) > 0 {
		t = append(t, TLSExporter)
	}
	if len(cb.TLSServerEndPoint) > 0 {
		t = append(t, TLSServerEndPoint)
	}
	return t
}

// has reports whether any -PLUS mechanism can run with cb.
func (cb ChannelBinding) has() bool {
	return len(cb.TLSExporter) > 0 || len(cb.TLSServerEndPoint) > 0
}

// data returns the binding data for a type named in a GS2 header, or nil
// when the type is unknown or this connection has no data for it.
func (cb ChannelBinding) data(typ string) []byte {
	switch typ {
	case TLSExporter:
		return cb.TLSExporter
	case TLSServerEndPoint:
		return cb.TLSServerEndPoint
	}
	return nil
}
