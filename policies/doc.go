// Package policies embeds the default Rego policies of the broker:
// provisioning/ decides who may befriend, read and control a thing (see
// core/provisioning), each with its *_test.rego unit tests beside it.
//
// It only carries files; it must not evaluate anything or import the
// broker. Operators replace nothing here: owners upload their own modules
// through core/provisioning, which compiles them next to these defaults.
package policies
