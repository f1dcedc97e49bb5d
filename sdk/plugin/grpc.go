package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

const (
	// ProtocolVersion is the go-plugin protocol version of extasis.plugin.v1.
	// A broker and a plugin talk only when they share a version.
	ProtocolVersion = 1
	// Protocol is the protobuf package of this protocol version.
	Protocol = "extasis.plugin.v1"

	// MagicCookieKey and MagicCookieValue are go-plugin's handshake cookie:
	// it is not a secret, it only stops a plugin binary run by hand from
	// waiting for a broker that will never come.
	MagicCookieKey   = "EXTASIS_PLUGIN_COOKIE"
	MagicCookieValue = "9c4e7a1d0b3f5e8a2d6c4b1e7f0a3d5c-extasis-plugin"

	// DispenseName is the plugin's name in go-plugin's plugin set.
	DispenseName = "extasis"

	// MaxMessageSize bounds one gRPC message either way: one stanza is at
	// most the broker's largest limits.max_stanza (64 MiB), and batches are
	// cut well below this.
	MaxMessageSize = 72 << 20
)

// Handshake returns the go-plugin handshake both ends use.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// ServerOptions are the gRPC server options of both services.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize)}
}

// DialOptions are the gRPC dial options of both services.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize))}
}

// grpcPlugin adapts the protocol to go-plugin. On the plugin side impl is
// set and GRPCServer runs; on the broker side host is set and GRPCClient
// runs.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl *server
	host pluginv1.HostServer
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (g *grpcPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	g.impl.broker = b
	pluginv1.RegisterPluginServer(s, g.impl)
	return nil
}

// GRPCClient serves the broker's Host API on a fresh GRPCBroker id and
// returns the broker's handle on the plugin.
func (g *grpcPlugin) GRPCClient(_ context.Context, b *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	id := b.NextId()
	go b.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, ServerOptions()...)...)
		pluginv1.RegisterHostServer(s, g.host)
		return s
	})
	return &Remote{PluginClient: pluginv1.NewPluginClient(c), HostAPI: id}, nil
}

// Remote is the broker's handle on a started plugin: the Plugin service
// client, and the GRPCBroker id of the Host API to pass in Configure.
type Remote struct {
	pluginv1.PluginClient
	HostAPI uint32
}

// BrokerPluginSets returns the go-plugin VersionedPlugins with which the
// broker launches a plugin; host serves that plugin's Host API calls.
// Dispensing DispenseName yields a *Remote.
func BrokerPluginSets(host pluginv1.HostServer) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {DispenseName: &grpcPlugin{host: host}},
	}
}

// pluginSets is the plugin side of BrokerPluginSets.
func pluginSets(s *server) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {DispenseName: &grpcPlugin{impl: s}},
	}
}

// InProcess returns the go-plugin plugin set that serves p and, on the
// broker side, host, in one process: for go-plugin's TestPluginGRPCConn, as
// plugintest uses it.
func InProcess(p *Plugin, host pluginv1.HostServer) (goplugin.PluginSet, error) {
	s, err := newServer(p)
	if err != nil {
		return nil, err
	}
	return goplugin.PluginSet{DispenseName: &grpcPlugin{impl: s, host: host}}, nil
}

// InfoFromProto converts an Info response.
func InfoFromProto(r *pluginv1.InfoResponse) Info {
	i := Info{
		Name: r.GetName(), Version: r.GetVersion(), Description: r.GetDescription(),
		Addresses: r.GetAddresses(), Features: r.GetFeatures(), Events: r.GetEvents(), ConfigSchema: r.GetConfigSchema(),
	}
	for _, id := range r.GetIdentities() {
		i.Identities = append(i.Identities, Identity{Category: id.GetCategory(), Type: id.GetType(), Name: id.GetName()})
	}
	return i
}
