// Package portable exports and imports a store's users in the XEP-0227
// portable import/export format (urn:xmpp:pie:0), so that an operator can
// move between extasis backends or to and from another XMPP server:
//
//	<server-data xmlns='urn:xmpp:pie:0'>
//	  <host jid='example.org'>
//	    <user name='alice'>
//	      <scram-credentials xmlns='urn:xmpp:extasis:scram:0' hash='SHA-256'
//	          salt='base64' iterations='4096' stored-key='base64' server-key='base64'/>
//	      <query xmlns='jabber:iq:roster'><item jid='bob@example.org' subscription='both'>...</item></query>
//	      <offline-messages><message xmlns='jabber:client' ...>...</message></offline-messages>
//	      <presence xmlns='jabber:client' type='subscribe' from='carol@example.net' .../>
//	      <blocklist xmlns='urn:xmpp:blocking'><item jid='spam.example'/></blocklist>
//	    </user>
//	  </host>
//	</server-data>
//
// XEP-0227 carries passwords in a plaintext 'password' attribute; extasis
// never has one. Export writes the RFC 5802 verifiers instead, one
// scram-credentials element per hash, in the documented extension
// namespace urn:xmpp:extasis:scram:0 (binary values in standard base64).
// Import accepts those, or a 'password' attribute from which it derives
// SCRAM-SHA-1 and SCRAM-SHA-256 verifiers. Pending inbound subscription
// requests are presence stanzas of type subscribe under <user>, and the
// XEP-0191 block list is a <blocklist/> as in the blocking protocol.
//
// Stored stanzas (offline messages, subscription requests) are written
// verbatim; export adds xmlns='jabber:client' (and the sender on a request
// that lacks one) to the top element when missing, and import removes a
// top-level xmlns='jabber:client' again, since the broker stores stanzas
// as they appear inside a client stream. Elements of other namespaces
// (vCards, private XML, PEP) are skipped and counted.
//
// It uses encoding/xml: this is not a hot path. It must not reach around
// the storage interfaces: everything goes through storage.Store, so it
// works with any backend.
package portable
