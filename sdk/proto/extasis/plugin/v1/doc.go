// Package pluginv1 is the generated Go code for the Extasis plugin protocol
// extasis.plugin.v1 (plugin.proto beside this file; sdk/PROTOCOL.md explains
// it). Plugin authors use sdk/plugin instead of this package; the broker's
// plugin host and sdk/plugin use it directly.
//
// The generated files are committed so that neither users nor CI need
// protoc; gen_test.go fails when they are stale. Regenerate with
// `go generate` in this directory after editing plugin.proto, and never edit
// the generated files by hand.
package pluginv1

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative extasis/plugin/v1/plugin.proto
