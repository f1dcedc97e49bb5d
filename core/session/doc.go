// Package session holds the table of bound resources: who is online, under
// which full JID, with what presence. The router delivers through it and the
// IM layer reads presence state from it.
//
// The table is sharded by bare JID so that routing never takes a global
// lock. It must not do I/O: a Session's Conn queues, it never writes.
package session
