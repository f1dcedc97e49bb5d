// Package app is the composition root: it builds every component of the
// broker explicitly from one config.Config, starts them in order and stops
// them in reverse, and applies reloads (SIGHUP) by building what changed
// before swapping it in.
//
// Only app and cmd/ import everything; nothing imports app but cmd/.
package app
