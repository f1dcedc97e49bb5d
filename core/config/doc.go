// Package config is the broker's typed configuration: YAML decoded strictly
// (an unknown key is an error naming its path), every option with a
// documented default, ranges checked with errors that name the key and the
// allowed values. extasis.example.yaml at the repository root documents
// every key and is loaded by a test.
//
// It must not start anything or touch the network; it only reads files.
package config
