package plugin

import (
	"strings"

	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// Event names of the broker core. Plugins publish their own names (e.g.
// thing.claimed), documented by the publisher.
const (
	EventSessionOnline   = "session.online"
	EventSessionOffline  = "session.offline"
	EventAccountCreated  = "account.created"
	EventAccountDeleted  = "account.deleted"
	EventPresenceChanged = "presence.changed"
)

// Event is one broker event; switch on its type.
type Event interface{ EventName() string }

// SessionOnline: a resource bound (JID is the full JID).
type SessionOnline struct{ JID string }

// SessionOffline: a session ended for any reason (JID is the full JID).
type SessionOffline struct{ JID string }

// AccountCreated: an account was created (JID is bare).
type AccountCreated struct{ JID string }

// AccountDeleted: an account was deleted (JID is bare).
type AccountDeleted struct{ JID string }

// PresenceChanged: a resource sent broadcast presence. Status text is user
// content and is never carried.
type PresenceChanged struct {
	JID       string
	Available bool
	Show      string
	Priority  int
}

// Custom is an event published by a plugin or component; Source is the
// publisher's name, Attrs are documented with the event's name.
type Custom struct {
	Name   string
	Source string
	Attrs  map[string]string
}

func (SessionOnline) EventName() string   { return EventSessionOnline }
func (SessionOffline) EventName() string  { return EventSessionOffline }
func (AccountCreated) EventName() string  { return EventAccountCreated }
func (AccountDeleted) EventName() string  { return EventAccountDeleted }
func (PresenceChanged) EventName() string { return EventPresenceChanged }
func (c Custom) EventName() string        { return c.Name }

// EventFromProto converts a wire event; nil for a kind this SDK does not
// know (a newer broker), which the plugin then ignores.
func EventFromProto(e *pluginv1.Event) Event {
	switch v := e.GetEvent().(type) {
	case *pluginv1.Event_SessionOnline:
		return SessionOnline{JID: v.SessionOnline.GetJid()}
	case *pluginv1.Event_SessionOffline:
		return SessionOffline{JID: v.SessionOffline.GetJid()}
	case *pluginv1.Event_AccountCreated:
		return AccountCreated{JID: v.AccountCreated.GetJid()}
	case *pluginv1.Event_AccountDeleted:
		return AccountDeleted{JID: v.AccountDeleted.GetJid()}
	case *pluginv1.Event_PresenceChanged:
		p := v.PresenceChanged
		return PresenceChanged{JID: p.GetJid(), Available: p.GetAvailable(), Show: p.GetShow(), Priority: int(p.GetPriority())}
	case *pluginv1.Event_Custom:
		return Custom{Name: v.Custom.GetName(), Source: v.Custom.GetSource(), Attrs: v.Custom.GetAttrs()}
	}
	return nil
}

// EventToProto converts an event for the wire (the broker and plugintest
// use it); nil for an Event type not defined here.
func EventToProto(e Event) *pluginv1.Event {
	switch v := e.(type) {
	case SessionOnline:
		return &pluginv1.Event{Event: &pluginv1.Event_SessionOnline{SessionOnline: &pluginv1.SessionOnline{Jid: v.JID}}}
	case SessionOffline:
		return &pluginv1.Event{Event: &pluginv1.Event_SessionOffline{SessionOffline: &pluginv1.SessionOffline{Jid: v.JID}}}
	case AccountCreated:
		return &pluginv1.Event{Event: &pluginv1.Event_AccountCreated{AccountCreated: &pluginv1.AccountCreated{Jid: v.JID}}}
	case AccountDeleted:
		return &pluginv1.Event{Event: &pluginv1.Event_AccountDeleted{AccountDeleted: &pluginv1.AccountDeleted{Jid: v.JID}}}
	case PresenceChanged:
		return &pluginv1.Event{Event: &pluginv1.Event_PresenceChanged{PresenceChanged: &pluginv1.PresenceChanged{
			Jid: v.JID, Available: v.Available, Show: v.Show, Priority: int32(v.Priority)}}}
	case Custom:
		return &pluginv1.Event{Event: &pluginv1.Event_Custom{Custom: &pluginv1.CustomEvent{Name: v.Name, Source: v.Source, Attrs: v.Attrs}}}
	}
	return nil
}

// ReservedEvent reports whether name belongs to the broker core
// (session.*, account.*, presence.*), which plugins may not publish.
func ReservedEvent(name string) bool {
	for _, p := range []string{"session.", "account.", "presence."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
