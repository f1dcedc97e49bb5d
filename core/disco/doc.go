// Package disco answers XEP-0030 service discovery for the server's domains
// (identity, features, and the items list of services and plugins) and for
// accounts (answered by the server on the account's behalf, to the account
// itself only). Components add their features and items at start and remove
// them when they stop.
//
// It must not answer for components: stanzas to a component's address are
// the component's own business.
package disco
