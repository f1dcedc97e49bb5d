// Package host runs the broker's out-of-process plugins (DESIGN: plugins).
// It reads the catalog from config (name, binary inside the plugin
// directory, sha256 pin, address, memory limit, config block), refuses a
// binary outside the directory, a wrong checksum, an incompatible protocol
// version, an invalid config block or two plugins on one address, each with
// a one-line error naming the plugin; then starts every plugin through
// hashicorp/go-plugin (gRPC, AutoMTLS, protocol extasis.plugin.v1 from
// sdk/plugin), registers its address with the router, and supervises it:
// health checks, restart with exponential backoff, service-unavailable
// answers while it is down, per-call deadlines and a bounded queue per
// plugin so that a slow plugin back-pressures only its own address.
//
// The plugin process gets Pdeathsig (it dies with the broker), its own
// process group, a memory limit (RLIMIT_DATA, applied with prlimit(2) right
// after exec, see launch.go), a clean environment, its own data
// directory as working directory and its configured DSN. It never gets the
// broker's connections, environment or credentials.
//
// It must not import core/app or anything that knows a particular plugin;
// it reaches the broker only through the small interfaces in Deps. It never
// logs stanza bodies.
package host
