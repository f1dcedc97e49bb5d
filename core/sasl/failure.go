package sasl

import "errors"

// The RFC 6120 §6.5 failure conditions a Failure carries.
const (
	Aborted              = "aborted"
	AccountDisabled      = "account-disabled"
	CredentialsExpired   = "credentials-expired"
	EncryptionRequired   = "encryption-required"
	IncorrectEncoding    = "incorrect-encoding"
	InvalidAuthzid       = "invalid-authzid"
	InvalidMechanism     = "invalid-mechanism"
	MalformedRequest     = "malformed-request"
	MechanismTooWeak     = "mechanism-too-weak"
	NotAuthorized        = "not-authorized"
	TemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is an authentication failure that names the RFC 6120 §6.5
// condition to send in <failure/>. Match it with errors.As, with ConditionOf,
// or with errors.Is against a Failure of the same condition.
type Failure struct {
	Condition string
	// Text is a short English explanation for the <text/> element. It never
	// holds a secret, a proof or a password.
	Text string
	// ServerError is the RFC 5802 §7 server-error value ("invalid-proof",
	// "channel-bindings-dont-match", "unsupported-channel-binding-type", ...)
	// where SCRAM defines one, else "". RFC 5802 sends it as the server-final
	// message "e=<value>"; RFC 6120's <failure/> has no room for additional
	// data, so the c2s layer may put ServerFinal() in <text/>.
	ServerError string
}

// ErrInvalidMechanism is returned by NewServer for a mechanism the broker
// does not offer on this connection.
var ErrInvalidMechanism error = &Failure{Condition: InvalidMechanism}

// ErrEncryptionRequired is returned by NewServer for PLAIN without TLS.
var ErrEncryptionRequired error = &Failure{Condition: EncryptionRequired, Text: "PLAIN requires TLS"}

// ErrUnknownUser is what a Lookup returns when there is no account of that
// name or it has no credentials for the hash asked for. The Server does not
// tell the client: the exchange goes on with fake credentials and fails at
// the proof like a wrong password.
var ErrUnknownUser = errors.New("sasl: unknown user")

func (f *Failure) Error() string {
	s := "sasl: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.ServerError != "" {
		s += " (e=" + f.ServerError + ")"
	}
	return s
}

// Is matches on the condition alone, so that errors.Is(err, ErrInvalidMechanism)
// holds whatever the text.
func (f *Failure) Is(target error) bool {
	t, ok := target.(*Failure)
	return ok && t != nil && t.Condition == f.Condition
}

// ServerFinal is the RFC 5802 server-final message carrying ServerError,
// "e=<value>", or nil when there is none.
func (f *Failure) ServerFinal() []byte {
	if f.ServerError == "" {
		return nil
	}
	return []byte("e=" + f.ServerError)
}

// ConditionOf returns the RFC 6120 §6.5 condition for err: the condition of
// the *Failure it wraps, or "temporary-auth-failure" for any other error
// (storage down, context cancelled), because the client did nothing wrong
// and may retry. It returns "" for a nil error.
func ConditionOf(err error) string {
	if err == nil {
		return ""
	}
	var f *Failure
	if errors.As(err, &f) && f != nil && f.Condition != "" {
		return f.Condition
	}
	return TemporaryAuthFailure
}

func fail(cond, text string) *Failure { return &Failure{Condition: cond, Text: text} }

func malformed(text string) *Failure { return fail(MalformedRequest, text) }

func scramFail(cond, text, serverError string) *Failure {
	return &Failure{Condition: cond, Text: text, ServerError: serverError}
}
