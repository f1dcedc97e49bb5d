package host

import (
	"errors"
	"fmt"
)

// Refusals, matched with errors.Is. Each is wrapped in a one-line error
// that names the plugin: `host: plugin "echo": sha256 mismatch: ...`.
var (
	// ErrOutsideDir: the binary (after resolving symlinks) is not inside
	// plugins.dir.
	ErrOutsideDir = errors.New("binary is outside the plugin directory")
	// ErrBinary: the binary is missing, not a regular file or not executable.
	ErrBinary = errors.New("binary unusable")
	// ErrChecksum: the binary's SHA-256 differs from the configured pin.
	ErrChecksum = errors.New("sha256 mismatch")
	// ErrProtocol: the plugin speaks no protocol version this broker speaks.
	ErrProtocol = errors.New("incompatible protocol version")
	// ErrAddressTaken: another plugin or service already serves the address.
	ErrAddressTaken = errors.New("address already served")
	// ErrConfig: the config block does not match the plugin's schema, or the
	// plugin refused it.
	ErrConfig = errors.New("invalid config")
	// ErrForgedFrom: the plugin sent a stanza from an address it does not own.
	ErrForgedFrom = errors.New("stanza not from an address the plugin owns")
	// ErrStart: the plugin did not start or answer the handshake.
	ErrStart = errors.New("start failed")
)

func pluginErr(name string, err error) error {
	return fmt.Errorf("host: plugin %q: %w", name, err)
}
