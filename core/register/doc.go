// Package register is in-band registration (XEP-0077) for fleets of
// devices: accounts created by forms signed with an operator-issued API key
// (XEP-0348, OAuth 1.0 HMAC-SHA1), with per-key quotas, expiry and
// revocation, nonce and timestamp replay protection, and an audit record of
// every account created. Optionally, open (unsigned) registration limited
// per IP address. Logged-in users change their password or remove their
// account through the same namespace.
//
// Before login it is c2s's Registrar: it hands out the form with a
// per-connection oauth_token whose secret it keeps (never trusting the one
// the client echoes), verifies the signature as deployed IoT clients
// compute it (base string "submit&&..." with per-UTF-16-unit escaping) and
// then as XEP-0348's text says (with the domain as 'to'), and creates the
// account and takes the key's slot in one storage transaction, so that two
// devices racing for the last slot cannot both win and a refused account
// takes no slot. API key secrets are stored sealed (AES-256-GCM under a key
// derived from the node secret; see keys.go), never in plain text.
//
// It must not log passwords, secrets or signatures, create an account
// without a valid signature unless the operator opened registration, or
// know about stream negotiation: c2s gives it the domain, the client's
// address and the iq, and the stream continues to SASL after it answers.
package register
