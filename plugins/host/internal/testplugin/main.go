package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/extasis/extasis/sdk/plugin"
)

// protocolVersion is set by -ldflags for the mismatch test.
var protocolVersion = "1"

const schema = `{"type":"object","additionalProperties":false,"properties":{"greeting":{"type":"string"}}}`

func handle(ctx context.Context, b plugin.Broker, s *plugin.Stanza) {
	if s.IsIQRequest() {
		if s.Payload.Local == "ignore" {
			return // for the iq timeout test
		}
		_ = b.Send(ctx, s.Result(s.Inner()))
		return
	}
	if s.Kind != plugin.KindMessage || s.Type == "error" {
		return
	}
	cmd, arg, _ := strings.Cut(s.Body(), " ")
	reply := func(text string) { _ = b.Send(ctx, s.Reply("", plugin.Body(text))) }
	switch cmd {
	case "crash":
		os.Exit(3)
	case "freeze":
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	case "sleep":
		d, _ := time.ParseDuration(arg)
		time.Sleep(d)
		reply("slept")
	case "forge":
		// A stanza from an address the plugin does not own.
		_ = b.Send(ctx, plugin.NewStanza(plugin.KindMessage, "admin@localhost", s.From, "chat", "forged", plugin.Body("trust me")))
	case "forge-iq":
		_, err := b.SendIQ(ctx, plugin.NewStanza(plugin.KindIQ, "admin@localhost", "localhost", "get", "fi", []byte(`<ping xmlns='urn:xmpp:ping'/>`)))
		reply(fmt.Sprint(err))
	case "sendiq":
		r, err := b.SendIQ(ctx, plugin.NewStanza(plugin.KindIQ, b.Address(), arg, "get", "q-"+s.ID, []byte(`<ping xmlns='urn:xmpp:ping'/>`)))
		if err != nil {
			reply("sendiq error: " + err.Error())
			return
		}
		reply("sendiq " + r.Type + " from " + r.From)
	case "online":
		on, av, err := b.Online(ctx, arg)
		reply(fmt.Sprintf("online=%v available=%v err=%v", on, av, err))
	case "publish":
		reply(fmt.Sprint("publish err=", b.Publish(ctx, arg, map[string]string{"by": s.From})))
	case "decide":
		out, err := b.Decide(ctx, "provisioning/allow", []byte(`{}`))
		reply(fmt.Sprintf("decide %s err=%v", out, err))
	case "alloc":
		// Allocate and touch N MiB, past the memory limit in the tests.
		n, _ := strconv.Atoi(arg)
		keep := make([][]byte, 0, n)
		for range n {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		reply(fmt.Sprintf("allocated %d MiB", len(keep)))
	case "pid":
		reply(strconv.Itoa(os.Getpid()))
	default:
		reply(s.Body())
	}
}

func main() {
	p := &plugin.Plugin{
		Info: plugin.Info{
			Name: "testplugin", Version: "0.0.1", Addresses: []string{"test"},
			Features: []string{"urn:extasis:test"}, Events: []string{plugin.EventSessionOnline, "thing.claimed"},
			ConfigSchema: []byte(schema),
		},
		Stanzas: plugin.HandlerFunc(handle),
		Events: plugin.EventHandlerFunc(func(ctx context.Context, b plugin.Broker, e plugin.Event) {
			var to, text string
			switch e := e.(type) {
			case plugin.SessionOnline:
				to, text = e.JID, "event session.online "+e.JID
			case plugin.Custom:
				to, text = e.Attrs["by"], "event "+e.Name+" from "+e.Source
			}
			_ = b.Send(ctx, plugin.NewStanza(plugin.KindMessage, b.Address(), to, "chat", "ev", plugin.Body(text)))
		}),
		Rejected: func(ctx context.Context, b plugin.Broker, r plugin.Rejection) {
			if r.To == "" {
				return // nobody to tell (the broker could not read the stanza)
			}
			_ = b.Send(ctx, plugin.NewStanza(plugin.KindMessage, b.Address(), r.To, "chat", "rej", plugin.Body("rejected: "+r.Reason)))
		},
	}
	if protocolVersion != "1" {
		serveOtherVersion()
		return
	}
	plugin.Serve(p)
}

// serveOtherVersion answers the handshake with a version the broker does
// not speak, as a plugin built against a future SDK would.
func serveOtherVersion() {
	v, _ := strconv.Atoi(protocolVersion)
	hs := plugin.Handshake()
	hs.ProtocolVersion = uint(v)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]goplugin.PluginSet{v: {plugin.DispenseName: otherVersion{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}

type otherVersion struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (otherVersion) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }
func (otherVersion) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
