package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	"github.com/cloudnat/cloudnat/agent/internal/natgw/natgwpb"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// NATGWService implements pb.NATGatewayServiceServer on a Server's store:
// gateways, network interfaces and the gateways' plans live in the intent
// (model.Desired.NATGW) and every write re-plans (package natgw) before it
// is stored, so blocks stay where they are across restarts. Programming
// the plans into a dataplane (natgw.State.Specs through the pool API) is
// not done here yet.
type NATGWService struct {
	pb.UnimplementedNATGatewayServiceServer

	srv *Server

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every stored change
}

// NewNATGWService returns the NAT gateway service of srv.
func NewNATGWService(srv *Server) *NATGWService {
	return &NATGWService{srv: srv, changed: make(chan struct{})}
}

// changes returns a channel closed at the next stored change.
func (n *NATGWService) changes() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

func (n *NATGWService) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.changed)
	n.changed = make(chan struct{})
}

// change applies fn to the NAT gateway state and stores it. fn's status
// errors are returned as they are; its other errors are FAILED_PRECONDITION
// (a conflict with what is stored, or what the gateways would then claim
// overlapping the user's pools, bindings, static mappings or VIPs).
func (n *NATGWService) change(ctx context.Context, fn func(st *natgw.State) error) error {
	_, err := n.srv.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		old := d.NATGW.Clone()
		if err := fn(&d.NATGW); err != nil {
			if _, ok := status.FromError(err); ok {
				return nil, err
			}
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		// what the gateways now claim must not overlap the user's objects
		if err := validate.DerivedFits(d, derivedClaims(d)); err != nil {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		// The dataplane objects the change adds, replaces or removes.
		return reconcile.DerivedChanges(&old, &d.NATGW), nil
	})
	if err != nil {
		return err
	}
	n.notify()
	return nil
}

// gatewayResponse reads a gateway and its plan; nil when there is none.
func (n *NATGWService) gatewayResponse(name string) *pb.NATGatewayResponse {
	var out *pb.NATGatewayResponse
	n.srv.cfg.Store.View(func(d *model.Desired) {
		if i := d.NATGW.Gateway(name); i >= 0 {
			out = &pb.NATGatewayResponse{Gateway: natgwpb.GatewayPB(&d.NATGW.Gateways[i]), Status: natgwpb.StatusPB(d.NATGW.Plan(name))}
		}
	})
	return out
}

func gatewayNotFound(name string) error {
	return status.Errorf(codes.NotFound, "natgw %s not found", name)
}

func nicNotFound(name string) error {
	return status.Errorf(codes.NotFound, "nic %s not found", name)
}

// ----------------------------------------------------------------- gateways

func (n *NATGWService) putGateway(ctx context.Context, m *pb.NATGateway, create, allowMissing bool) (*pb.NATGatewayResponse, error) {
	g, err := natgwpb.GatewayFromPB("gateway", m)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	err = n.change(ctx, func(st *natgw.State) error {
		exists := st.Gateway(g.Name) >= 0
		switch {
		case create && exists:
			return status.Errorf(codes.AlreadyExists, "natgw %s already exists (use update)", g.Name)
		case !create && !exists && !allowMissing:
			return gatewayNotFound(g.Name)
		}
		_, err := st.PutGateway(g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return n.gatewayResponse(g.Name), nil
}

// CreateNATGateway implements pb.NATGatewayServiceServer.
func (n *NATGWService) CreateNATGateway(ctx context.Context, req *pb.CreateNATGatewayRequest) (*pb.NATGatewayResponse, error) {
	return n.putGateway(ctx, req.GetGateway(), true, false)
}

// UpdateNATGateway implements pb.NATGatewayServiceServer.
func (n *NATGWService) UpdateNATGateway(ctx context.Context, req *pb.UpdateNATGatewayRequest) (*pb.NATGatewayResponse, error) {
	return n.putGateway(ctx, req.GetGateway(), false, req.GetAllowMissing())
}

// DeleteNATGateway implements pb.NATGatewayServiceServer.
func (n *NATGWService) DeleteNATGateway(ctx context.Context, req *pb.DeleteNATGatewayRequest) (*pb.DeleteNATGatewayResponse, error) {
	if err := natgw.ValidateName(req.GetName()); err != nil {
		return nil, InvalidArgument(err)
	}
	err := n.change(ctx, func(st *natgw.State) error {
		if _, ok := st.DeleteGateway(req.GetName()); !ok && !req.GetAllowMissing() {
			return gatewayNotFound(req.GetName())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteNATGatewayResponse{}, nil
}

// GetNATGateway implements pb.NATGatewayServiceServer.
func (n *NATGWService) GetNATGateway(_ context.Context, req *pb.GetNATGatewayRequest) (*pb.NATGatewayResponse, error) {
	if err := natgw.ValidateName(req.GetName()); err != nil {
		return nil, InvalidArgument(err)
	}
	out := n.gatewayResponse(req.GetName())
	if out == nil {
		return nil, gatewayNotFound(req.GetName())
	}
	return out, nil
}

// ListNATGateways implements pb.NATGatewayServiceServer (name order).
func (n *NATGWService) ListNATGateways(context.Context, *pb.ListNATGatewaysRequest) (*pb.ListNATGatewaysResponse, error) {
	out := &pb.ListNATGatewaysResponse{}
	n.srv.cfg.Store.View(func(d *model.Desired) {
		for i := range d.NATGW.Gateways {
			g := &d.NATGW.Gateways[i]
			out.Gateways = append(out.Gateways, &pb.NATGatewayResponse{Gateway: natgwpb.GatewayPB(g), Status: natgwpb.StatusPB(d.NATGW.Plan(g.Name))})
		}
	})
	return out, nil
}

// WatchNATGateway implements pb.NATGatewayServiceServer: the current
// state of the gateway (every gateway when name is empty), then every
// change of a gateway or its plan; a deleted gateway is sent once with
// only its name. It ends when the client goes. A slow client misses
// intermediate plans, never the latest.
func (n *NATGWService) WatchNATGateway(req *pb.WatchNATGatewayRequest, stream pb.NATGatewayService_WatchNATGatewayServer) error {
	name := req.GetName()
	if name != "" {
		if err := natgw.ValidateName(name); err != nil {
			return InvalidArgument(err)
		}
	}
	ctx := stream.Context()
	type sent struct {
		gw  *pb.NATGateway
		gen uint64
	}
	last := map[string]sent{}
	for first := true; ; first = false {
		ch := n.changes() // before reading, so no change is missed
		var out []*pb.NATGatewayResponse
		seen := map[string]bool{}
		n.srv.cfg.Store.View(func(d *model.Desired) {
			for i := range d.NATGW.Gateways {
				g := &d.NATGW.Gateways[i]
				if name != "" && g.Name != name {
					continue
				}
				seen[g.Name] = true
				plan := d.NATGW.Plan(g.Name)
				var gen uint64
				if plan != nil {
					gen = plan.Generation
				}
				gpb := natgwpb.GatewayPB(g)
				if l, ok := last[g.Name]; ok && l.gen == gen && proto.Equal(l.gw, gpb) {
					continue
				}
				last[g.Name] = sent{gpb, gen}
				out = append(out, &pb.NATGatewayResponse{Gateway: gpb, Status: natgwpb.StatusPB(plan)})
			}
		})
		if first && name != "" && !seen[name] {
			return gatewayNotFound(name)
		}
		for g := range last {
			if !seen[g] {
				delete(last, g)
				out = append(out, &pb.NATGatewayResponse{Gateway: &pb.NATGateway{Name: g}})
			}
		}
		for _, m := range out {
			if err := stream.Send(m); err != nil {
				return fmt.Errorf("natgw watch: %w", err)
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// --------------------------------------------------------------- interfaces

func (n *NATGWService) putInterface(ctx context.Context, m *pb.NetworkInterface, create, allowMissing bool) (*pb.NetworkInterfaceResponse, error) {
	nic, err := natgwpb.InterfaceFromPB("interface", m)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	err = n.change(ctx, func(st *natgw.State) error {
		exists := st.Interface(nic.Name) >= 0
		switch {
		case create && exists:
			return status.Errorf(codes.AlreadyExists, "nic %s already exists (use update)", nic.Name)
		case !create && !exists && !allowMissing:
			return nicNotFound(nic.Name)
		}
		_, err := st.PutInterface(nic)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.NetworkInterfaceResponse{Interface: natgwpb.InterfacePB(&nic)}, nil
}

// CreateNetworkInterface implements pb.NATGatewayServiceServer.
func (n *NATGWService) CreateNetworkInterface(ctx context.Context, req *pb.CreateNetworkInterfaceRequest) (*pb.NetworkInterfaceResponse, error) {
	return n.putInterface(ctx, req.GetInterface(), true, false)
}

// UpdateNetworkInterface implements pb.NATGatewayServiceServer.
func (n *NATGWService) UpdateNetworkInterface(ctx context.Context, req *pb.UpdateNetworkInterfaceRequest) (*pb.NetworkInterfaceResponse, error) {
	return n.putInterface(ctx, req.GetInterface(), false, req.GetAllowMissing())
}

// DeleteNetworkInterface implements pb.NATGatewayServiceServer.
func (n *NATGWService) DeleteNetworkInterface(ctx context.Context, req *pb.DeleteNetworkInterfaceRequest) (*pb.DeleteNetworkInterfaceResponse, error) {
	if err := natgw.ValidateInterfaceName(req.GetName()); err != nil {
		return nil, InvalidArgument(err)
	}
	err := n.change(ctx, func(st *natgw.State) error {
		if _, ok := st.DeleteInterface(req.GetName()); !ok && !req.GetAllowMissing() {
			return nicNotFound(req.GetName())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteNetworkInterfaceResponse{}, nil
}

// GetNetworkInterface implements pb.NATGatewayServiceServer.
func (n *NATGWService) GetNetworkInterface(_ context.Context, req *pb.GetNetworkInterfaceRequest) (*pb.NetworkInterfaceResponse, error) {
	if err := natgw.ValidateInterfaceName(req.GetName()); err != nil {
		return nil, InvalidArgument(err)
	}
	var out *pb.NetworkInterfaceResponse
	n.srv.cfg.Store.View(func(d *model.Desired) {
		if i := d.NATGW.Interface(req.GetName()); i >= 0 {
			out = &pb.NetworkInterfaceResponse{Interface: natgwpb.InterfacePB(&d.NATGW.Interfaces[i])}
		}
	})
	if out == nil {
		return nil, nicNotFound(req.GetName())
	}
	return out, nil
}

// ListNetworkInterfaces implements pb.NATGatewayServiceServer (name order).
func (n *NATGWService) ListNetworkInterfaces(_ context.Context, req *pb.ListNetworkInterfacesRequest) (*pb.ListNetworkInterfacesResponse, error) {
	out := &pb.ListNetworkInterfacesResponse{}
	n.srv.cfg.Store.View(func(d *model.Desired) {
		for i := range d.NATGW.Interfaces {
			nic := &d.NATGW.Interfaces[i]
			if req.Network == nil || nic.Network == req.GetNetwork() {
				out.Interfaces = append(out.Interfaces, natgwpb.InterfacePB(nic))
			}
		}
	})
	return out, nil
}

// ApplyNATGateways implements pb.NATGatewayServiceServer: every interface
// and gateway of the request is created or replaced in one change and one
// plan; an invalid or conflicting one refuses the whole request.
func (n *NATGWService) ApplyNATGateways(ctx context.Context, req *pb.ApplyNATGatewaysRequest) (*pb.ApplyNATGatewaysResponse, error) {
	if len(req.GetInterfaces()) > natgw.MaxInterfaces || len(req.GetGateways()) > natgw.MaxGateways {
		return nil, InvalidArgument(fmt.Errorf("at most %d interfaces and %d gateways in one request", natgw.MaxInterfaces, natgw.MaxGateways))
	}
	nics := make([]natgw.NetworkInterface, 0, len(req.GetInterfaces()))
	nicNames := make(map[string]int, len(req.GetInterfaces()))
	for i, m := range req.GetInterfaces() {
		field := fmt.Sprintf("interfaces[%d]", i)
		nic, err := natgwpb.InterfaceFromPB(field, m)
		if err != nil {
			return nil, InvalidArgument(err)
		}
		if j, ok := nicNames[nic.Name]; ok {
			return nil, InvalidArgument(fmt.Errorf("%s.name: nic %s is also interfaces[%d]", field, nic.Name, j))
		}
		nicNames[nic.Name] = i
		nics = append(nics, nic)
	}
	gws := make([]natgw.NATGateway, 0, len(req.GetGateways()))
	gwNames := map[string]int{}
	for i, m := range req.GetGateways() {
		field := fmt.Sprintf("gateways[%d]", i)
		g, err := natgwpb.GatewayFromPB(field, m)
		if err != nil {
			return nil, InvalidArgument(err)
		}
		if j, ok := gwNames[g.Name]; ok {
			return nil, InvalidArgument(fmt.Errorf("%s.name: natgw %s is also gateways[%d]", field, g.Name, j))
		}
		gwNames[g.Name] = i
		gws = append(gws, g)
	}
	err := n.change(ctx, func(st *natgw.State) error {
		_, err := st.Apply(nics, gws)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &pb.ApplyNATGatewaysResponse{}
	for _, name := range slices.Sorted(maps.Keys(gwNames)) {
		if r := n.gatewayResponse(name); r != nil {
			out.Gateways = append(out.Gateways, r)
		}
	}
	return out, nil
}
