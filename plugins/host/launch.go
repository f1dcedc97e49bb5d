package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/status"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/sdk/plugin"
	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// process is a started plugin before it is wired to the router: the
// go-plugin client, the Plugin service handle and what Info said.
type process struct {
	client *goplugin.Client
	rpc    goplugin.ClientProtocol
	remote *plugin.Remote
	runner *procRunner
	info   plugin.Info
	pid    int
}

// spawn starts the binary and performs the handshake and Info. host serves
// the plugin's Host API calls.
func spawn(ctx context.Context, name, bin, sum, dataDir string, limit int64, log *slog.Logger,
	host pluginv1.HostServer, t Tuning, version string, fork *forker) (*process, error) {
	pr := &procRunner{name: name, bin: bin, sum: sum, dataDir: dataDir, limit: limit, debug: log.Enabled(ctx, slog.LevelDebug), fork: fork}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake(),
		VersionedPlugins: plugin.BrokerPluginSets(host),
		RunnerFunc:       pr.runner,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     t.StartTimeout,
		Logger:           newHCLog(log),
		GRPCDialOptions:  plugin.DialOptions(),
	})
	fail := func(err error) (*process, error) {
		client.Kill()
		return nil, err
	}
	rpc, err := client.Client()
	if err != nil {
		if pr.err != nil { // our own refusal in the runner, e.g. a changed binary
			return fail(pr.err)
		}
		if strings.Contains(err.Error(), "incompatible API version") {
			return fail(pluginErr(name, fmt.Errorf("%w: the broker speaks %d (%s): %w", ErrProtocol, plugin.ProtocolVersion, plugin.Protocol, err)))
		}
		return fail(pluginErr(name, fmt.Errorf("%w: %w", ErrStart, err)))
	}
	if v := client.NegotiatedVersion(); v != plugin.ProtocolVersion {
		return fail(pluginErr(name, fmt.Errorf("%w: negotiated %d, the broker speaks %d (%s)", ErrProtocol, v, plugin.ProtocolVersion, plugin.Protocol)))
	}
	raw, err := rpc.Dispense(plugin.DispenseName)
	if err != nil {
		return fail(pluginErr(name, fmt.Errorf("%w: dispense: %w", ErrStart, err)))
	}
	remote := raw.(*plugin.Remote)
	cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
	defer cancel()
	ir, err := remote.Info(cctx, &pluginv1.InfoRequest{BrokerVersion: version})
	if err != nil {
		return fail(pluginErr(name, fmt.Errorf("%w: info: %s", ErrStart, status.Convert(err).Message())))
	}
	return &process{client: client, rpc: rpc, remote: remote, runner: pr, info: plugin.InfoFromProto(ir), pid: pr.pid}, nil
}

// checkConfig validates a config block against the plugin's schema.
func checkConfig(name string, info plugin.Info, block []byte) error {
	sch, err := plugin.CompileSchema(info.ConfigSchema)
	if err != nil {
		return pluginErr(name, fmt.Errorf("%w: the plugin's schema: %w", ErrConfig, err))
	}
	if err := sch.Validate(block); err != nil {
		// Validate's message starts with "plugin: invalid config: ".
		msg := strings.TrimPrefix(err.Error(), "plugin: "+plugin.ErrConfig.Error()+": ")
		return pluginErr(name, fmt.Errorf("%w: %s", ErrConfig, msg))
	}
	return nil
}

// launch starts one instance: spawn, address, config check, Configure,
// Exchange, event subscriptions.
func (p *managed) launch(ctx context.Context) (*instance, error) {
	t := p.h.tuning
	api := &hostAPI{p: p}
	pr, err := spawn(ctx, p.name, p.bin, p.sum, p.dataDir, p.limit, p.log, api, t, p.h.deps.Version, p.h.fork)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*instance, error) {
		pr.client.Kill()
		return nil, err
	}
	// The address is chosen once, at the first start: the router knows the
	// plugin under it from then on.
	if !p.started && p.addr == "" && len(pr.info.Addresses) > 0 {
		if p.h.deps.Domain == "" {
			return fail(pluginErr(p.name, fmt.Errorf("%w: no address configured and no domain to put %q under", ErrStart, pr.info.Addresses[0])))
		}
		p.addr = pr.info.Addresses[0] + "." + p.h.deps.Domain
	}
	if err := checkConfig(p.name, pr.info, p.config); err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
	defer cancel()
	start := time.Now()
	if _, err := pr.remote.Configure(cctx, &pluginv1.ConfigureRequest{
		Address: p.addr, DataDir: p.dataDir, Storage: p.storage, ConfigJson: p.config, HostApi: pr.remote.HostAPI,
	}); err != nil {
		return fail(pluginErr(p.name, fmt.Errorf("%w: configure: %s", ErrConfig, status.Convert(err).Message())))
	}
	p.m.latency("configure").Observe(time.Since(start).Seconds())
	inst, err := newInstance(p, pr)
	if err != nil {
		return fail(err)
	}
	p.mu.Lock()
	p.info = pr.info
	p.mu.Unlock()
	return inst, nil
}

// Inspect checks one catalog entry the way Start would, without a router:
// it resolves and verifies the binary, starts it, reads its Info, checks
// the protocol version and validates the config block against the schema,
// then stops it. `extasis plugin check` uses it.
func Inspect(ctx context.Context, dir string, p config.Plugin, log *slog.Logger) (plugin.Info, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := Resolve(dir, p)
	if err != nil {
		return plugin.Info{}, err
	}
	block, err := configJSON(p)
	if err != nil {
		return plugin.Info{}, err
	}
	t := Tuning{}.withDefaults()
	limit := int64(p.MemoryLimit)
	if limit <= 0 {
		limit = t.MemoryLimit
	}
	tmp, err := os.MkdirTemp("", "extasis-plugin-check-")
	if err != nil {
		return plugin.Info{}, fmt.Errorf("host: %w", err)
	}
	defer os.RemoveAll(tmp)
	pr, err := spawn(ctx, p.Name, bin, p.SHA256, tmp, limit, log.With("plugin", p.Name), &hostAPI{}, t, "check", nil)
	if err != nil {
		return plugin.Info{}, err
	}
	defer pr.client.Kill()
	if err := checkConfig(p.Name, pr.info, block); err != nil {
		return pr.info, err
	}
	return pr.info, nil
}

// procRunner starts the plugin process for go-plugin. It exists (rather
// than go-plugin's own Cmd runner) to re-verify the checksum right before
// exec, to set Pdeathsig and a process group, and to apply the memory
// limit to the child's pid the moment it exists.
//
// Memory limit choice: RLIMIT_DATA, set with prlimit(2) on the child right
// after fork/exec. prlimit works for a plugin in any language and needs no
// helper binary, no re-exec of the broker and no cgroup privileges; the
// window between exec and prlimit is the child's runtime start-up, before
// the plugin's own code runs. RLIMIT_DATA (Linux >= 4.7) counts private
// writable memory, i.e. what the plugin actually allocates. RLIMIT_AS was
// the first candidate but counts address space: an idle Go plugin with gRPC
// reserves about 1.7 GiB of it (PROT_NONE heap reservations) for 20 MiB
// resident, so any useful RLIMIT_AS either kills Go plugins at start or
// limits nothing. A Go plugin also gets GOMEMLIMIT at three quarters of the
// limit, so its collector works hard before the hard limit.
type procRunner struct {
	name, bin, sum, dataDir string
	limit                   int64
	debug                   bool
	fork                    *forker // nil: start from the calling thread (Inspect)

	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	pid            int
	err            error // a refusal of ours, reported instead of go-plugin's wrapping
}

var _ runner.Runner = (*procRunner)(nil)

func (r *procRunner) runner(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
	if err := verify(r.name, r.bin, r.sum); err != nil {
		r.err = err
		return nil, err
	}
	cmd := exec.Command(r.bin)
	cmd.Dir = r.dataDir
	level := "info"
	if r.debug {
		level = "debug"
	}
	// A clean environment: go-plugin's handshake variables (spec.Env, with
	// SkipHostEnv) and a few of ours. Never the broker's own environment,
	// which may hold the database DSN and its password.
	cmd.Env = append(append([]string(nil), spec.Env...),
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME="+r.dataDir,
		"TMPDIR="+os.TempDir(),
		"GOMEMLIMIT="+strconv.FormatInt(r.limit/4*3, 10),
		"EXTASIS_PLUGIN_LOG_LEVEL="+level,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var err error
	if r.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if r.stderr, err = cmd.StderrPipe(); err != nil {
		return nil, err
	}
	r.cmd = cmd
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	var err error
	if r.fork != nil {
		r.fork.run(func() { err = r.cmd.Start() })
	} else {
		err = r.cmd.Start()
	}
	if err != nil {
		return pluginErr(r.name, fmt.Errorf("%w: %w", ErrStart, err))
	}
	r.pid = r.cmd.Process.Pid
	lim := unix.Rlimit{Cur: uint64(r.limit), Max: uint64(r.limit)}
	if err := unix.Prlimit(r.pid, unix.RLIMIT_DATA, &lim, nil); err != nil {
		_ = r.cmd.Process.Kill()
		r.err = pluginErr(r.name, fmt.Errorf("%w: memory limit: %w", ErrStart, err))
		return r.err
	}
	return nil
}

func (r *procRunner) Wait(context.Context) error { return r.cmd.Wait() }

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.bin }
func (r *procRunner) ID() string            { return strconv.Itoa(r.pid) }

func (r *procRunner) Diagnose(context.Context) string {
	return "the plugin exited or did not complete the go-plugin handshake: see its log lines above; " +
		"is it built with sdk/plugin.Serve for this architecture, and is its memory_limit large enough to start (a Go plugin needs about 256MiB)?"
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
