package xml

import "errors"

// Condition is an RFC 6120 §4.9.3 stream error condition. It is an error
// itself so that callers can test a decoding error with
// errors.Is(err, xml.RestrictedXML).
type Condition string

// The stream error conditions this package reports.
const (
	NotWellFormed       Condition = "not-well-formed"
	RestrictedXML       Condition = "restricted-xml"
	PolicyViolation     Condition = "policy-violation"
	InvalidNamespace    Condition = "invalid-namespace"
	UnsupportedEncoding Condition = "unsupported-encoding"
)

func (c Condition) Error() string { return "xml: " + string(c) }

// SyntaxError is the error for input that breaks a rule of this package. The
// broker answers it with a stream error carrying Cond and closes the stream.
type SyntaxError struct {
	Cond   Condition
	Msg    string
	Offset int64 // input offset of the offending byte
}

func (e *SyntaxError) Error() string { return "xml: " + string(e.Cond) + ": " + e.Msg }

// Is reports whether target is the error's Condition.
func (e *SyntaxError) Is(target error) bool {
	c, ok := target.(Condition)
	return ok && c == e.Cond
}

// ErrClosed is returned by Decoder.Next after the stream close tag has been
// returned.
var ErrClosed = errors.New("xml: stream closed")
