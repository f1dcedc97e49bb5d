// Package core holds no code of its own: its sub-packages are the compact
// XMPP core of the broker (see ARCHITECTURE.md). This file anchors the test
// that enforces the import tiers of DESIGN.md.
package core
