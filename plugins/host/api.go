package host

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/extasis/extasis/core/event"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/stanza"
	"github.com/extasis/extasis/sdk/plugin"
	pluginv1 "github.com/extasis/extasis/sdk/proto/extasis/plugin/v1"
)

// maxIQWait caps how long a plugin's SendIQ may wait for its response.
const maxIQWait = 60 * time.Second

// hostAPI is the Host service for one plugin: everything it does is
// scoped to that plugin's address and name. A nil p (Inspect) refuses all.
type hostAPI struct {
	pluginv1.UnimplementedHostServer
	p *managed
}

var _ pluginv1.HostServer = (*hostAPI)(nil)

func (a *hostAPI) ready() error {
	if a.p == nil {
		return status.Error(codes.Unavailable, "host: not serving (plugin check)")
	}
	return nil
}

func (a *hostAPI) SendIQ(ctx context.Context, r *pluginv1.SendIQRequest) (*pluginv1.SendIQResponse, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	p := a.p
	s, err := stanza.Parse(r.GetRaw())
	if err != nil || !s.IsIQRequest() || s.ID == "" || s.To.IsZero() {
		return nil, status.Error(codes.InvalidArgument, "host: send iq: need an iq get or set with an id and a to")
	}
	if !p.owns(s.From) {
		p.m.errRejected.Inc()
		err := pluginErr(p.name, fmt.Errorf("%w: from %q, the plugin serves %q", ErrForgedFrom, s.From.String(), p.addr))
		p.log.Warn("stanza from plugin refused", "error", err.Error())
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	k := iqKey{s.To, s.ID}
	ch, ok := p.addWaiter(k)
	if !ok {
		return nil, status.Errorf(codes.AlreadyExists, "host: send iq: an iq with id %q to %s is already waiting", s.ID, s.To)
	}
	wait := maxIQWait
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	start := time.Now()
	p.m.out.Inc()
	p.h.deps.Router.Route(ctx, s)
	select {
	case reply := <-ch:
		p.m.latency("send_iq").Observe(time.Since(start).Seconds())
		return &pluginv1.SendIQResponse{Reply: toProto(reply)}, nil
	case <-t.C:
	case <-ctx.Done():
	}
	p.dropWaiter(k)
	return nil, status.Errorf(codes.DeadlineExceeded, "host: send iq: no response from %s within %s", s.To, wait.Round(time.Millisecond))
}

func (a *hostAPI) Online(_ context.Context, r *pluginv1.OnlineRequest) (*pluginv1.OnlineResponse, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	j, err := jid.Parse(r.GetJid())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "host: online: %v", err)
	}
	t := a.p.h.deps.Router.Sessions()
	resp := &pluginv1.OnlineResponse{}
	if !j.IsBare() {
		if sess := t.Get(j); sess != nil {
			resp.Online, resp.Available = true, sess.Available()
		}
		return resp, nil
	}
	for _, sess := range t.Resources(j) {
		resp.Online = true
		if sess.Available() {
			resp.Available = true
			break
		}
	}
	return resp, nil
}

func (a *hostAPI) Publish(ctx context.Context, r *pluginv1.PublishRequest) (*pluginv1.PublishResponse, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	name := r.GetName()
	if name == "" || len(name) > 128 {
		return nil, status.Error(codes.InvalidArgument, "host: publish: an event name of 1 to 128 bytes is required")
	}
	if plugin.ReservedEvent(name) {
		return nil, status.Errorf(codes.PermissionDenied, "host: plugin %q: publish: %q is a broker core event", a.p.name, name)
	}
	if bus := a.p.h.deps.Events; bus != nil {
		bus.Publish(ctx, event.Custom{Name: name, Source: a.p.name, Attrs: r.GetAttrs()})
	}
	return &pluginv1.PublishResponse{}, nil
}

func (a *hostAPI) Decide(ctx context.Context, r *pluginv1.DecideRequest) (*pluginv1.DecideResponse, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	pol := a.p.h.deps.Policy
	if pol == nil {
		return nil, status.Error(codes.Unimplemented, "host: decide: no policy engine")
	}
	start := time.Now()
	out, err := pol(ctx, a.p.name, r.GetQuery(), r.GetInputJson())
	a.p.m.latency("decide").Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "host: decide %s: %v", r.GetQuery(), err)
	}
	return &pluginv1.DecideResponse{ResultJson: out}, nil
}
