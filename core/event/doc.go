// Package event is the broker's typed event bus: the core publishes what
// happened (a session came online, an account was created, presence
// changed) and components and plugins subscribe by event name. Plugins also
// publish their own events (the registry's thing-claimed) through it.
//
// Handlers run synchronously in the publisher's goroutine and must not
// block: a subscriber that does I/O queues the event itself (the plugin host
// does). Subscribing returns a cancel function; a plugin that stops cancels
// all its subscriptions. It must not know about stanzas or sessions.
package event
