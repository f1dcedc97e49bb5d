package stanza

import "errors"

// ErrorType is the type attribute of a stanza error (RFC 6120 §8.3.2).
type ErrorType string

const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined stanza error condition (RFC 6120 §8.3.3).
type Condition string

const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// defaultType is the type RFC 6120 §8.3.3 gives with each condition's example.
var defaultType = map[Condition]ErrorType{
	BadRequest: Modify, Conflict: Cancel, FeatureNotImplemented: Cancel, Forbidden: Auth,
	Gone: Cancel, InternalServerError: Cancel, ItemNotFound: Cancel, JIDMalformed: Modify,
	NotAcceptable: Modify, NotAllowed: Cancel, NotAuthorized: Auth, PolicyViolation: Modify,
	RecipientUnavailable: Wait, Redirect: Modify, RegistrationRequired: Auth,
	RemoteServerNotFound: Cancel, RemoteServerTimeout: Wait, ResourceConstraint: Wait,
	ServiceUnavailable: Cancel, SubscriptionRequired: Auth, UndefinedCondition: Cancel,
	UnexpectedRequest: Wait,
}

// Error is a stanza error as a Go value. Match conditions with errors.Is:
// errors.Is(err, stanza.Error{Condition: stanza.ItemNotFound}).
type Error struct {
	Type      ErrorType // empty: the condition's default type
	Condition Condition
	Text      string // human-readable, English; never a secret or a body
	// App is an optional application-specific condition element (raw,
	// self-contained XML with its own xmlns), e.g. XEP-0191's <blocked/>.
	App []byte
}

// E returns an Error for cond with an optional text.
func E(cond Condition, text string) Error { return Error{Condition: cond, Text: text} }

func (e Error) Error() string {
	if e.Text != "" {
		return "stanza: " + string(e.Condition) + ": " + e.Text
	}
	return "stanza: " + string(e.Condition)
}

// Is matches on the condition alone, so a caller can test for a condition
// without knowing the text.
func (e Error) Is(target error) bool {
	var t Error
	if errors.As(target, &t) {
		return t.Condition == e.Condition
	}
	return false
}

// ErrorType returns e.Type, or the condition's default.
func (e Error) ErrorType() ErrorType {
	if e.Type != "" {
		return e.Type
	}
	if t, ok := defaultType[e.Condition]; ok {
		return t
	}
	return Cancel
}

// AsError converts err to an Error: an Error (or wrapping one) is returned
// as is; anything else becomes internal-server-error without its text, since
// internal causes are for logs, not for peers.
func AsError(err error) Error {
	var e Error
	if errors.As(err, &e) {
		return e
	}
	return Error{Condition: InternalServerError}
}

// KnownCondition reports whether c is one of RFC 6120's conditions.
func KnownCondition(c Condition) bool {
	_, ok := defaultType[c]
	return ok
}
