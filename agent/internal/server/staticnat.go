package server

import (
	"cmp"
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/natgw/natgwdp"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// StaticNATServer implements pb.StaticNATServiceServer on a Server's
// store and reconciler.
type StaticNATServer struct {
	pb.UnimplementedStaticNATServiceServer
	s *Server
}

// NewStaticNATServer returns the StaticNATService of srv.
func NewStaticNATServer(srv *Server) *StaticNATServer { return &StaticNATServer{s: srv} }

// derivedClaims is what the NAT gateways claim next to d's user intent.
func derivedClaims(d *model.Desired) validate.Claims {
	o := natgwdp.Derive(&d.NATGW)
	return validate.Claims{Pools: o.Pools, Bindings: o.Bindings, StaticNATs: o.StaticNATs}
}

// CreateStaticNAT implements pb.StaticNATServiceServer. The same mapping
// again is a no-op; another mapping with the same key is ALREADY_EXISTS;
// a conflict is FAILED_PRECONDITION naming it, and nothing is stored.
func (ss *StaticNATServer) CreateStaticNAT(ctx context.Context, req *pb.CreateStaticNATRequest) (*pb.StaticNATResponse, error) {
	x, err := validate.StaticNAT("static_nat", req.GetStaticNat())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	k := x.Key()
	sync, err := ss.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if i := slices.IndexFunc(d.StaticNATs, func(y model.StaticNAT) bool { return y.Key() == k }); i >= 0 {
			if d.StaticNATs[i] == x {
				return []reconcile.ID{reconcile.StaticNATID(k)}, nil
			}
			return nil, status.Errorf(codes.AlreadyExists, "static nat %s already exists (%s): delete it first", k, d.StaticNATs[i])
		}
		if err := validate.StaticNATFits(d, derivedClaims(d), x); err != nil {
			return nil, precondition(err)
		}
		d.StaticNATs = append(d.StaticNATs, x)
		return []reconcile.ID{reconcile.StaticNATID(k)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.StaticNATResponse{StaticNat: StaticNATPB(x), Sync: sync}, nil
}

// DeleteStaticNAT implements pb.StaticNATServiceServer.
func (ss *StaticNATServer) DeleteStaticNAT(ctx context.Context, req *pb.DeleteStaticNATRequest) (*pb.DeleteStaticNATResponse, error) {
	k, err := validate.StaticNATKey("key", req.GetKey())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ss.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := slices.IndexFunc(d.StaticNATs, func(y model.StaticNAT) bool { return y.Key() == k })
		if i < 0 && !req.GetAllowMissing() {
			return nil, status.Errorf(codes.NotFound, "static nat %s not found", k)
		}
		if i >= 0 {
			d.StaticNATs = slices.Delete(d.StaticNATs, i, i+1)
		}
		return []reconcile.ID{reconcile.StaticNATID(k)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteStaticNATResponse{Sync: sync}, nil
}

// GetStaticNAT implements pb.StaticNATServiceServer.
func (ss *StaticNATServer) GetStaticNAT(_ context.Context, req *pb.GetStaticNATRequest) (*pb.StaticNATResponse, error) {
	k, err := validate.StaticNATKey("key", req.GetKey())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	var x model.StaticNAT
	found := false
	ss.s.cfg.Store.View(func(d *model.Desired) {
		if i := slices.IndexFunc(d.StaticNATs, func(y model.StaticNAT) bool { return y.Key() == k }); i >= 0 {
			x, found = d.StaticNATs[i], true
		}
	})
	if !found {
		return nil, status.Errorf(codes.NotFound, "static nat %s not found", k)
	}
	return &pb.StaticNATResponse{StaticNat: StaticNATPB(x), Sync: ss.s.itemSync(reconcile.StaticNATID(k))}, nil
}

// ListStaticNATs implements pb.StaticNATServiceServer: the user's
// mappings (a NAT gateway's virtual IPs are its interfaces'), by key.
func (ss *StaticNATServer) ListStaticNATs(context.Context, *pb.ListStaticNATsRequest) (*pb.ListStaticNATsResponse, error) {
	var xs []model.StaticNAT
	ss.s.cfg.Store.View(func(d *model.Desired) { xs = slices.Clone(d.StaticNATs) })
	slices.SortFunc(xs, func(a, b model.StaticNAT) int {
		return cmp.Or(cmp.Compare(a.InsideVRF, b.InsideVRF), a.Inside.Addr().Compare(b.Inside.Addr()),
			cmp.Compare(a.Inside.Bits(), b.Inside.Bits()), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.InsidePort, b.InsidePort))
	})
	out := &pb.ListStaticNATsResponse{StaticNats: make([]*pb.StaticNAT, len(xs))}
	for i, x := range xs {
		out.StaticNats[i] = StaticNATPB(x)
	}
	return out, nil
}

// StaticNATPB converts a mapping to its message.
func StaticNATPB(x model.StaticNAT) *pb.StaticNAT {
	return &pb.StaticNAT{
		InsideVrf: x.InsideVRF, Inside: x.Inside.String(), OutsideVrf: x.OutsideVRF, Outside: x.Outside.String(),
		Proto: protoPB(x.Proto), InsidePort: uint32(x.InsidePort), OutsidePort: uint32(x.OutsidePort),
	}
}
