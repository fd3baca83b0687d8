package server

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// PoolServer implements pb.PoolServiceServer on a Server's store,
// reconciler and dataplane; hub (may be nil) feeds StreamBlockLog.
type PoolServer struct {
	pb.UnimplementedPoolServiceServer
	s   *Server
	hub *blocklog.Hub
}

// NewPoolServer returns the PoolService of srv.
func NewPoolServer(srv *Server, hub *blocklog.Hub) *PoolServer {
	return &PoolServer{s: srv, hub: hub}
}

// precondition turns a validate.ConflictError into FAILED_PRECONDITION.
func precondition(err error) error {
	var ce *validate.ConflictError
	if errors.As(err, &ce) {
		return status.Error(codes.FailedPrecondition, ce.Error())
	}
	return err
}

func (ps *PoolServer) checkPool(ctx context.Context, p model.Pool) error {
	c, ok := ps.s.cfg.Dataplane.(dataplane.PoolChecker)
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.CheckPool(cctx, p); err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil
}

func findPool(d *model.Desired, name string) int {
	return slices.IndexFunc(d.Pools, func(p model.Pool) bool { return p.Name == name })
}

func poolNotFound(name string) error { return status.Errorf(codes.NotFound, "pool %s not found", name) }

func (ps *PoolServer) putPool(ctx context.Context, p model.Pool, create, allowMissing bool) (*pb.PoolResponse, error) {
	if err := ps.checkPool(ctx, p); err != nil {
		return nil, err
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := findPool(d, p.Name)
		switch {
		case create && i >= 0:
			return nil, status.Errorf(codes.AlreadyExists, "pool %s already exists (use update)", p.Name)
		case !create && i < 0 && !allowMissing:
			return nil, poolNotFound(p.Name)
		}
		if err := validate.PoolFits(d, p); err != nil {
			return nil, precondition(err)
		}
		if i >= 0 {
			d.Pools[i] = p
		} else {
			d.Pools = append(d.Pools, p)
		}
		return []reconcile.ID{reconcile.PoolID(p.Name)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.PoolResponse{Pool: PoolPB(p), Sync: sync}, nil
}

// CreatePool implements pb.PoolServiceServer.
func (ps *PoolServer) CreatePool(ctx context.Context, req *pb.CreatePoolRequest) (*pb.PoolResponse, error) {
	p, err := validate.Pool("pool", req.GetPool())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	return ps.putPool(ctx, p, true, false)
}

// UpdatePool implements pb.PoolServiceServer.
func (ps *PoolServer) UpdatePool(ctx context.Context, req *pb.UpdatePoolRequest) (*pb.PoolResponse, error) {
	p, err := validate.Pool("pool", req.GetPool())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	return ps.putPool(ctx, p, false, req.GetAllowMissing())
}

// DeletePool implements pb.PoolServiceServer; refused while bound.
func (ps *PoolServer) DeletePool(ctx context.Context, req *pb.DeletePoolRequest) (*pb.DeletePoolResponse, error) {
	name, err := validate.PoolName("name", req.GetName())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := findPool(d, name)
		if i < 0 && !req.GetAllowMissing() {
			return nil, poolNotFound(name)
		}
		if err := validate.PoolDeletable(d, name); err != nil {
			return nil, precondition(err)
		}
		if i >= 0 {
			d.Pools = slices.Delete(d.Pools, i, i+1)
		}
		return []reconcile.ID{reconcile.PoolID(name)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeletePoolResponse{Sync: sync}, nil
}

// poolCounters reads the dataplane's counters by pool name (nil when it
// cannot be read).
func (ps *PoolServer) poolCounters(ctx context.Context) map[string]model.PoolCounters {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := ps.s.cfg.Dataplane.ListPools(cctx)
	if err != nil {
		return nil
	}
	out := make(map[string]model.PoolCounters, len(st))
	for _, p := range st {
		out[p.Pool.Name] = p.Counters
	}
	return out
}

func (ps *PoolServer) poolResponse(p model.Pool, counters map[string]model.PoolCounters) *pb.PoolResponse {
	out := &pb.PoolResponse{Pool: PoolPB(p), Sync: ps.s.itemSync(reconcile.PoolID(p.Name))}
	if c, ok := counters[p.Name]; ok {
		out.Counters = poolCountersPB(c)
	}
	return out
}

// GetPool implements pb.PoolServiceServer.
func (ps *PoolServer) GetPool(ctx context.Context, req *pb.GetPoolRequest) (*pb.PoolResponse, error) {
	name, err := validate.PoolName("name", req.GetName())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	var p model.Pool
	found := false
	ps.s.cfg.Store.View(func(d *model.Desired) {
		if i := findPool(d, name); i >= 0 {
			p, found = d.Pools[i], true
			p.Ranges = slices.Clone(p.Ranges)
		}
	})
	if !found {
		return nil, poolNotFound(name)
	}
	return ps.poolResponse(p, ps.poolCounters(ctx)), nil
}

// ListPools implements pb.PoolServiceServer (by name).
func (ps *PoolServer) ListPools(ctx context.Context, req *pb.ListPoolsRequest) (*pb.ListPoolsResponse, error) {
	pools := ps.s.cfg.Store.Get().Pools
	slices.SortFunc(pools, func(a, b model.Pool) int { return cmp.Compare(a.Name, b.Name) })
	counters := ps.poolCounters(ctx)
	out := &pb.ListPoolsResponse{Pools: make([]*pb.PoolResponse, 0, len(pools))}
	for _, p := range pools {
		out.Pools = append(out.Pools, ps.poolResponse(p, counters))
	}
	return out, nil
}

// CreatePoolBinding implements pb.PoolServiceServer.
func (ps *PoolServer) CreatePoolBinding(ctx context.Context, req *pb.CreatePoolBindingRequest) (*pb.PoolBindingResponse, error) {
	b, err := validate.PoolBinding("binding", req.GetBinding())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if i := slices.IndexFunc(d.PoolBindings, func(x model.PoolBinding) bool { return x.Key() == b.Key() }); i >= 0 {
			if d.PoolBindings[i].Pool == b.Pool {
				return []reconcile.ID{reconcile.PoolBindingID(b.Key())}, nil // idempotent
			}
			return nil, status.Errorf(codes.AlreadyExists, "binding %s already exists (pool %s): unbind it first", b.Key(), d.PoolBindings[i].Pool)
		}
		if err := validate.PoolBindingFits(d, b); err != nil {
			return nil, precondition(err)
		}
		d.PoolBindings = append(d.PoolBindings, b)
		return []reconcile.ID{reconcile.PoolBindingID(b.Key())}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.PoolBindingResponse{Binding: poolBindingPB(b, nil), Sync: sync}, nil
}

// DeletePoolBinding implements pb.PoolServiceServer.
func (ps *PoolServer) DeletePoolBinding(ctx context.Context, req *pb.DeletePoolBindingRequest) (*pb.DeletePoolBindingResponse, error) {
	k, err := validate.PoolBindingKey(req.GetVrf(), req.GetPrefix())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := slices.IndexFunc(d.PoolBindings, func(x model.PoolBinding) bool { return x.Key() == k })
		if i < 0 && !req.GetAllowMissing() {
			return nil, status.Errorf(codes.NotFound, "binding %s not found", k)
		}
		if i >= 0 {
			d.PoolBindings = slices.Delete(d.PoolBindings, i, i+1)
		}
		return []reconcile.ID{reconcile.PoolBindingID(k)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeletePoolBindingResponse{Sync: sync}, nil
}

// ListPoolBindings implements pb.PoolServiceServer (by vrf, prefix).
func (ps *PoolServer) ListPoolBindings(ctx context.Context, req *pb.ListPoolBindingsRequest) (*pb.ListPoolBindingsResponse, error) {
	var bs []model.PoolBinding
	ps.s.cfg.Store.View(func(d *model.Desired) {
		for _, b := range d.PoolBindings {
			if (req.Vrf == nil || b.VRF == req.GetVrf()) && (req.GetPool() == "" || b.Pool == req.GetPool()) {
				bs = append(bs, b)
			}
		}
	})
	slices.SortFunc(bs, validate.ComparePoolBindings)
	out := &pb.ListPoolBindingsResponse{Bindings: make([]*pb.PoolBinding, 0, len(bs))}
	for _, b := range bs {
		out.Bindings = append(out.Bindings, poolBindingPB(b, ps.s.itemSync(reconcile.PoolBindingID(b.Key()))))
	}
	return out, nil
}

// CreateStaticBlock implements pb.PoolServiceServer (idempotent).
func (ps *PoolServer) CreateStaticBlock(ctx context.Context, req *pb.StaticBlockRequest) (*pb.StaticBlockResponse, error) {
	b, err := validate.StaticBlock("block", req.GetBlock())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if !slices.Contains(d.StaticBlocks, b) {
			if err := validate.StaticBlockFits(d, b); err != nil {
				return nil, precondition(err)
			}
			d.StaticBlocks = append(d.StaticBlocks, b)
		}
		return []reconcile.ID{reconcile.StaticBlockID(b)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.StaticBlockResponse{Block: staticBlockPB(b, nil), Sync: sync}, nil
}

// DeleteStaticBlock implements pb.PoolServiceServer.
func (ps *PoolServer) DeleteStaticBlock(ctx context.Context, req *pb.StaticBlockRequest) (*pb.StaticBlockResponse, error) {
	b, err := validate.StaticBlock("block", req.GetBlock())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := ps.s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := slices.Index(d.StaticBlocks, b)
		if i < 0 && !req.GetAllowMissing() {
			return nil, status.Errorf(codes.NotFound, "static block %s not found", b)
		}
		if i >= 0 {
			d.StaticBlocks = slices.Delete(d.StaticBlocks, i, i+1)
		}
		return []reconcile.ID{reconcile.StaticBlockID(b)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.StaticBlockResponse{Block: staticBlockPB(b, nil), Sync: sync}, nil
}

// ListStaticBlocks implements pb.PoolServiceServer.
func (ps *PoolServer) ListStaticBlocks(ctx context.Context, req *pb.ListStaticBlocksRequest) (*pb.ListStaticBlocksResponse, error) {
	var bs []model.StaticBlock
	ps.s.cfg.Store.View(func(d *model.Desired) {
		for _, b := range d.StaticBlocks {
			if req.GetPool() == "" || b.Pool == req.GetPool() {
				bs = append(bs, b)
			}
		}
	})
	slices.SortFunc(bs, func(a, b model.StaticBlock) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.VRF, b.VRF), a.InsideAddr.Compare(b.InsideAddr), cmp.Compare(a.PortStart, b.PortStart))
	})
	out := &pb.ListStaticBlocksResponse{Blocks: make([]*pb.StaticBlock, 0, len(bs))}
	for _, b := range bs {
		out.Blocks = append(out.Blocks, staticBlockPB(b, ps.s.itemSync(reconcile.StaticBlockID(b))))
	}
	return out, nil
}

// ListSubscribers implements pb.PoolServiceServer (by pool, vrf, address).
func (ps *PoolServer) ListSubscribers(ctx context.Context, req *pb.ListSubscribersRequest) (*pb.ListSubscribersResponse, error) {
	f, err := validate.SubscriberFilter(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	subs, err := ps.s.cfg.Dataplane.ListSubscribers(ctx, f)
	if err != nil {
		return nil, dataplaneError(err)
	}
	slices.SortFunc(subs, func(a, b model.Subscriber) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.VRF, b.VRF), a.InsideAddr.Compare(b.InsideAddr))
	})
	out := &pb.ListSubscribersResponse{Subscribers: make([]*pb.Subscriber, 0, len(subs))}
	for _, s := range subs {
		out.Subscribers = append(out.Subscribers, subscriberPB(s))
	}
	return out, nil
}

// StreamBlockLog implements pb.PoolServiceServer: records from now on;
// each record's lost adds what this stream missed to the dataplane's count.
func (ps *PoolServer) StreamBlockLog(req *pb.StreamBlockLogRequest, stream pb.PoolService_StreamBlockLogServer) error {
	if ps.hub == nil {
		return status.Error(codes.Unavailable, "the block log is not running")
	}
	sub := ps.hub.Subscribe()
	defer sub.Close()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-sub.C():
			m := blockLogPB(r)
			m.Lost += sub.Lost()
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

// ---------------------------------------------------------- conversions

var filteringPB = map[model.Filtering]pb.Filtering{
	model.FilterAddressPort: pb.Filtering_FILTERING_ADDRESS_PORT,
	model.FilterAddress:     pb.Filtering_FILTERING_ADDRESS,
	model.FilterEndpoint:    pb.Filtering_FILTERING_ENDPOINT,
}

// PoolPB converts a pool (defaults filled in) to its message.
func PoolPB(p model.Pool) *pb.Pool {
	p = p.WithDefaults()
	out := &pb.Pool{
		Name: p.Name, OutsideVrf: p.OutsideVRF, Interface: p.Interface,
		PortMin: uint32(p.PortMin), PortMax: uint32(p.PortMax), BlockSize: uint32(p.BlockSize),
		MaxBlocksPerSubscriber:   uint32(p.MaxBlocksPerSubscriber),
		MaxSessionsPerSubscriber: p.MaxSessionsPerSubscriber,
		ReuseDelay:               durationpb.New(p.ReuseDelay),
		Filtering:                filteringPB[p.Filtering],
	}
	for _, r := range p.Ranges {
		out.Ranges = append(out.Ranges, r.String())
	}
	return out
}

func poolCountersPB(c model.PoolCounters) *pb.PoolCounters {
	return &pb.PoolCounters{
		Subscribers: c.Subscribers, Blocks: c.Blocks, BlocksUsed: c.BlocksUsed,
		BlocksCooling: c.BlocksCooling, Sessions: c.Sessions, Exhausted: c.Exhausted,
	}
}

func poolBindingPB(b model.PoolBinding, sync *pb.Sync) *pb.PoolBinding {
	return &pb.PoolBinding{Vrf: b.VRF, Prefix: b.Prefix.String(), Pool: b.Pool, Sync: sync}
}

func staticBlockPB(b model.StaticBlock, sync *pb.Sync) *pb.StaticBlock {
	return &pb.StaticBlock{
		Pool: b.Pool, Vrf: b.VRF, InsideAddr: addrString(b.InsideAddr), OutsideAddr: addrString(b.OutsideAddr),
		PortStart: uint32(b.PortStart), Sync: sync,
	}
}

func subscriberPB(s model.Subscriber) *pb.Subscriber {
	out := &pb.Subscriber{
		Pool: s.Pool, Vrf: s.VRF, InsideAddr: addrString(s.InsideAddr), PublicAddr: addrString(s.OutsideAddr),
		Sessions: s.Sessions, PortsInUse: s.PortsInUse,
	}
	for _, b := range s.Blocks {
		out.Blocks = append(out.Blocks, &pb.PortBlock{PortStart: uint32(b.Start), PortEnd: uint32(b.End), Static: b.Static})
	}
	return out
}

func blockLogPB(r model.BlockLogRecord) *pb.BlockLogRecord {
	return &pb.BlockLogRecord{
		Time: timestamppb.New(r.Time), Alloc: r.Alloc, Exhausted: r.Exhausted, Pool: r.Pool, Vrf: r.VRF,
		InsideAddr: addrString(r.InsideAddr), PublicAddr: addrString(r.OutsideAddr),
		PortStart: uint32(r.PortStart), PortEnd: uint32(r.PortEnd), Lost: r.Lost,
	}
}
