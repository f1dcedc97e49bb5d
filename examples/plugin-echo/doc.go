// Command plugin-echo is the smallest useful Extasis plugin, and the one to
// copy when starting a new plugin: it answers each message sent to its
// address with the same body (after an optional prefix), and each iq get or
// set with a result carrying the same payload.
//
// It must stay small enough to read in five minutes: anything a real plugin
// needs beyond this belongs in sdk/plugin or in that plugin.
package main
