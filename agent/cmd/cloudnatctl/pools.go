package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// ----------------------------------------------------------------- pools

// poolFlags are a pool's settings.
type poolFlags struct {
	outsideVRF           uint32
	ranges               []string
	iface                string
	portMin, portMax     uint32
	blockSize, maxBlocks uint32
	maxSessions          uint32
	reuseDelay           time.Duration
	filtering            string
}

func (f *poolFlags) register(fs *pflag.FlagSet) {
	fs.Uint32Var(&f.outsideVRF, "outside-vrf", 0, "outside VRF (FIB table id) the pool's addresses live in")
	fs.StringArrayVar(&f.ranges, "range", nil, "addresses: an address, a prefix or first-last (repeatable; one family)")
	fs.StringVar(&f.iface, "interface", "", "use this interface's own address (instead of --range)")
	fs.Uint32Var(&f.portMin, "port-min", 0, "first port handed out (default 1024)")
	fs.Uint32Var(&f.portMax, "port-max", 0, "last port handed out (default 65535)")
	fs.Uint32Var(&f.blockSize, "block-size", 0, "ports per block, a power of two (default 256)")
	fs.Uint32Var(&f.maxBlocks, "max-blocks", 0, "blocks one subscriber may hold (default 4)")
	fs.Uint32Var(&f.maxSessions, "max-sessions", 0, "sessions one subscriber may have (default: no limit)")
	fs.DurationVar(&f.reuseDelay, "reuse-delay", 0, "how long a released port waits before another subscriber gets it (default 2m)")
	fs.StringVar(&f.filtering, "filtering", "address-port", "inbound filtering: address-port, address or endpoint")
}

func parseFiltering(s string) (pb.Filtering, error) {
	switch strings.ToLower(s) {
	case "address-port", "":
		return pb.Filtering_FILTERING_ADDRESS_PORT, nil
	case "address":
		return pb.Filtering_FILTERING_ADDRESS, nil
	case "endpoint":
		return pb.Filtering_FILTERING_ENDPOINT, nil
	}
	return 0, usagef("--filtering: %q is not address-port, address or endpoint", s)
}

func filteringString(f pb.Filtering) string {
	switch f {
	case pb.Filtering_FILTERING_ADDRESS:
		return "address"
	case pb.Filtering_FILTERING_ENDPOINT:
		return "endpoint"
	}
	return "address-port"
}

func (f *poolFlags) pool(name string) (*pb.Pool, error) {
	if len(f.ranges) == 0 && f.iface == "" {
		return nil, usagef("give the pool's addresses with --range or --interface")
	}
	filt, err := parseFiltering(f.filtering)
	if err != nil {
		return nil, err
	}
	p := &pb.Pool{
		Name: name, OutsideVrf: f.outsideVRF, Ranges: f.ranges, Interface: f.iface,
		PortMin: f.portMin, PortMax: f.portMax, BlockSize: f.blockSize,
		MaxBlocksPerSubscriber: f.maxBlocks, MaxSessionsPerSubscriber: f.maxSessions, Filtering: filt,
	}
	if f.reuseDelay != 0 {
		p.ReuseDelay = durationpb.New(f.reuseDelay)
	}
	return p, nil
}

func (a *app) poolCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Aliases: []string{"pools"}, Short: "Manage carrier-grade NAT pools and their bindings"}
	cmd.AddCommand(a.poolPutCmd("create", "Create a pool", true), a.poolPutCmd("update", "Replace an existing pool's settings", false))

	deleteCmd := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"del"}, Short: "Delete a pool (refused while bound)", Args: exactArgs(1, "the pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.DeletePool, &pb.DeletePoolRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), "deleted")
		},
	}
	getCmd := &cobra.Command{
		Use: "get NAME", Short: "Show one pool", Args: exactArgs(1, "the pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.GetPool, &pb.GetPoolRequest{Name: args[0]})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.poolTable([]*pb.PoolResponse{resp})
		},
	}
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List pools", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.ListPools, &pb.ListPoolsRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.poolTable(resp.GetPools())
		},
	}
	cmd.AddCommand(deleteCmd, getCmd, listCmd, a.poolBindCmd(), a.poolUnbindCmd(), a.poolBindingsCmd(), a.staticBlockCmd())
	return cmd
}

func (a *app) poolPutCmd(use, short string, create bool) *cobra.Command {
	var f poolFlags
	cmd := &cobra.Command{
		Use: use + " NAME", Short: short,
		Example: "  cloudnatctl pool " + use + " cgnat --outside-vrf 0 --range 198.51.100.0/30 --range 203.0.113.10-203.0.113.12 --block-size 512 --max-blocks 2",
		Args:    exactArgs(1, "the pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.pool(args[0])
			if err != nil {
				return err
			}
			var resp *pb.PoolResponse
			if create {
				resp, err = call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.CreatePool, &pb.CreatePoolRequest{Pool: p})
			} else {
				resp, err = call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.UpdatePool, &pb.UpdatePoolRequest{Pool: p})
			}
			if err != nil {
				return err
			}
			a.warnSync(resp.GetSync())
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.poolTable([]*pb.PoolResponse{resp})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func (a *app) poolTable(ps []*pb.PoolResponse) error {
	w := a.table()
	row(w, "NAME", "OUTSIDE VRF", "ADDRESSES", "PORTS", "BLOCK", "MAX BLOCKS", "MAX SESSIONS", "REUSE", "FILTERING", "SUBSCRIBERS", "BLOCKS USED", "SYNC")
	for _, r := range ps {
		p := r.GetPool()
		addrs := strings.Join(p.GetRanges(), ",")
		if p.GetInterface() != "" {
			addrs = "interface " + p.GetInterface()
		}
		subs, used := "-", "-"
		if c := r.GetCounters(); c != nil {
			subs, used = fmt.Sprint(c.GetSubscribers()), fmt.Sprintf("%d/%d", c.GetBlocksUsed(), c.GetBlocks())
		}
		maxS := "-"
		if p.GetMaxSessionsPerSubscriber() != 0 {
			maxS = fmt.Sprint(p.GetMaxSessionsPerSubscriber())
		}
		row(w, p.GetName(), p.GetOutsideVrf(), addrs, fmt.Sprintf("%d-%d", p.GetPortMin(), p.GetPortMax()), p.GetBlockSize(),
			p.GetMaxBlocksPerSubscriber(), maxS, durString(p.GetReuseDelay()), filteringString(p.GetFiltering()), subs, used, syncLine(r.GetSync()))
	}
	return w.Flush()
}

func syncLine(s *pb.Sync) string {
	state := syncString(s)
	if s.GetError() != "" {
		state += ": " + s.GetError()
	}
	return state
}

// -------------------------------------------------------------- bindings

type bindingFlags struct {
	vrf    uint32
	prefix string
}

func (b *bindingFlags) register(fs *pflag.FlagSet) {
	fs.Uint32Var(&b.vrf, "vrf", 0, "inside VRF (FIB table id)")
	fs.StringVar(&b.prefix, "prefix", "", "inside prefix whose sources are translated (required)")
}

func (a *app) poolBindCmd() *cobra.Command {
	var b bindingFlags
	cmd := &cobra.Command{
		Use: "bind NAME", Short: "Translate sources in an inside prefix of a VRF with the pool",
		Example: "  cloudnatctl pool bind cgnat --vrf 1 --prefix 100.64.0.0/10",
		Args:    exactArgs(1, "the pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if b.prefix == "" {
				return usagef("--prefix is required")
			}
			req := &pb.CreatePoolBindingRequest{Binding: &pb.PoolBinding{Vrf: b.vrf, Prefix: b.prefix, Pool: args[0]}}
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.CreatePoolBinding, req)
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), fmt.Sprintf("bound vrf %d %s to %s", b.vrf, b.prefix, args[0]))
		},
	}
	b.register(cmd.Flags())
	return cmd
}

func (a *app) poolUnbindCmd() *cobra.Command {
	var b bindingFlags
	cmd := &cobra.Command{
		Use: "unbind [NAME]", Short: "Remove the binding of an inside prefix of a VRF",
		Example: "  cloudnatctl pool unbind cgnat --vrf 1 --prefix 100.64.0.0/10",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("want at most the pool's name, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if b.prefix == "" {
				return usagef("--prefix is required")
			}
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.DeletePoolBinding, &pb.DeletePoolBindingRequest{Vrf: b.vrf, Prefix: b.prefix})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), fmt.Sprintf("unbound vrf %d %s", b.vrf, b.prefix))
		},
	}
	b.register(cmd.Flags())
	return cmd
}

func (a *app) poolBindingsCmd() *cobra.Command {
	var vrf uint32
	var pool string
	cmd := &cobra.Command{
		Use: "bindings", Short: "List bindings", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ListPoolBindingsRequest{Pool: pool}
			if cmd.Flags().Changed("vrf") {
				req.Vrf = &vrf
			}
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.ListPoolBindings, req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "VRF", "PREFIX", "POOL", "SYNC")
			for _, b := range resp.GetBindings() {
				row(w, b.GetVrf(), b.GetPrefix(), b.GetPool(), syncLine(b.GetSync()))
			}
			return w.Flush()
		},
	}
	cmd.Flags().Uint32Var(&vrf, "vrf", 0, "only this inside VRF")
	cmd.Flags().StringVar(&pool, "pool", "", "only this pool")
	return cmd
}

// ---------------------------------------------------------- static blocks

type staticFlags struct {
	vrf             uint32
	inside, outside string
	port            uint32
}

func (s *staticFlags) register(fs *pflag.FlagSet) {
	fs.Uint32Var(&s.vrf, "vrf", 0, "the subscriber's inside VRF")
	fs.StringVar(&s.inside, "inside", "", "the subscriber's inside address (required)")
	fs.StringVar(&s.outside, "outside", "", "the public address (required; one per subscriber)")
	fs.Uint32Var(&s.port, "port", 0, "the block's first port, a block boundary of the pool (required)")
}

func (s *staticFlags) block(pool string) (*pb.StaticBlock, error) {
	switch {
	case s.inside == "":
		return nil, usagef("--inside is required")
	case s.outside == "":
		return nil, usagef("--outside is required")
	case s.port == 0:
		return nil, usagef("--port is required")
	}
	return &pb.StaticBlock{Pool: pool, Vrf: s.vrf, InsideAddr: s.inside, OutsideAddr: s.outside, PortStart: s.port}, nil
}

func (a *app) staticBlockCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "static", Short: "Assign subscribers blocks statically"}
	addCmd := a.staticWriteCmd("add NAME", "Assign a subscriber a block of the pool", "added", pb.PoolServiceClient.CreateStaticBlock)
	addCmd.Example = "  cloudnatctl pool static add cgnat --vrf 1 --inside 100.64.0.1 --outside 198.51.100.1 --port 1024"
	delCmd := a.staticWriteCmd("del NAME", "Remove a static block", "deleted", pb.PoolServiceClient.DeleteStaticBlock)
	delCmd.Aliases = []string{"delete"}
	var pool string
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List static blocks", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.ListStaticBlocks, &pb.ListStaticBlocksRequest{Pool: pool})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "POOL", "VRF", "INSIDE", "OUTSIDE", "PORT", "SYNC")
			for _, b := range resp.GetBlocks() {
				row(w, b.GetPool(), b.GetVrf(), b.GetInsideAddr(), b.GetOutsideAddr(), b.GetPortStart(), syncLine(b.GetSync()))
			}
			return w.Flush()
		},
	}
	listCmd.Flags().StringVar(&pool, "pool", "", "only this pool")
	cmd.AddCommand(addCmd, delCmd, listCmd)
	return cmd
}

// staticWriteCmd is "pool static add" or "pool static del".
func (a *app) staticWriteCmd(use, short, what string,
	method func(pb.PoolServiceClient, context.Context, *pb.StaticBlockRequest, ...grpc.CallOption) (*pb.StaticBlockResponse, error),
) *cobra.Command {
	var f staticFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Args: exactArgs(1, "the pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := f.block(args[0])
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewPoolServiceClient, method, &pb.StaticBlockRequest{Block: b})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), what)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// ----------------------------------------------------------- subscribers

func blocksString(bs []*pb.PortBlock) string {
	s := make([]string, 0, len(bs))
	for _, b := range bs {
		x := fmt.Sprintf("%d-%d", b.GetPortStart(), b.GetPortEnd())
		if b.GetStatic() {
			x += "(static)"
		}
		s = append(s, x)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

type subscriberFlags struct {
	vrf  uint32
	pool string
}

func (f *subscriberFlags) register(fs *pflag.FlagSet) {
	fs.Uint32Var(&f.vrf, "vrf", 0, "only this inside VRF")
	fs.StringVar(&f.pool, "pool", "", "only this pool")
}

func (f *subscriberFlags) request(cmd *cobra.Command) *pb.ListSubscribersRequest {
	req := &pb.ListSubscribersRequest{Pool: f.pool}
	if cmd.Flags().Changed("vrf") {
		req.Vrf = &f.vrf
	}
	return req
}

func (a *app) subscriberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "subscriber", Aliases: []string{"subscribers", "sub"}, Short: "Show carrier-grade NAT subscribers"}
	var f subscriberFlags
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List subscribers with their public address and blocks", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.ListSubscribers, f.request(cmd))
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "POOL", "VRF", "INSIDE", "PUBLIC", "SESSIONS", "PORTS IN USE", "BLOCKS")
			for _, s := range resp.GetSubscribers() {
				row(w, s.GetPool(), s.GetVrf(), s.GetInsideAddr(), s.GetPublicAddr(), s.GetSessions(), s.GetPortsInUse(), blocksString(s.GetBlocks()))
			}
			return w.Flush()
		},
	}
	f.register(listCmd.Flags())
	cmd.AddCommand(listCmd)
	return cmd
}

// ------------------------------------------------------------- block log

func (a *app) blocklogCmd() *cobra.Command {
	var follow bool
	var f subscriberFlags
	cmd := &cobra.Command{
		Use:   "blocklog",
		Short: "Show the blocks subscribers hold now, or with --follow stream allocations and releases",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !follow {
				resp, err := call(a, cmd, pb.NewPoolServiceClient, pb.PoolServiceClient.ListSubscribers, f.request(cmd))
				if err != nil {
					return err
				}
				return a.currentBlocks(resp.GetSubscribers())
			}
			return a.followBlockLog(cmd)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream block allocations and releases until interrupted (--timeout does not apply)")
	f.register(cmd.Flags())
	return cmd
}

// currentBlocks prints one line per block held now.
func (a *app) currentBlocks(subs []*pb.Subscriber) error {
	if a.output == "json" {
		for _, s := range subs {
			for _, b := range s.GetBlocks() {
				r := &pb.BlockLogRecord{Alloc: true, Pool: s.GetPool(), Vrf: s.GetVrf(), InsideAddr: s.GetInsideAddr(),
					PublicAddr: s.GetPublicAddr(), PortStart: b.GetPortStart(), PortEnd: b.GetPortEnd()}
				if err := a.printJSONLine(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	w := a.table()
	row(w, "POOL", "VRF", "INSIDE", "PUBLIC", "PORTS", "STATIC")
	for _, s := range subs {
		for _, b := range s.GetBlocks() {
			row(w, s.GetPool(), s.GetVrf(), s.GetInsideAddr(), s.GetPublicAddr(), fmt.Sprintf("%d-%d", b.GetPortStart(), b.GetPortEnd()), onOff(b.GetStatic()))
		}
	}
	return w.Flush()
}

func (a *app) followBlockLog(cmd *cobra.Command) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	stream, err := pb.NewPoolServiceClient(c).StreamBlockLog(cmd.Context(), &pb.StreamBlockLogRequest{})
	if err != nil {
		return fail(err)
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if a.output == "json" {
			if err := a.printJSONLine(r); err != nil {
				return err
			}
			continue
		}
		event := "release"
		switch {
		case r.GetExhausted():
			event = "exhausted"
		case r.GetAlloc():
			event = "alloc"
		}
		line := fmt.Sprintf("%s %-7s pool=%s vrf=%d inside=%s public=%s ports=%d-%d",
			r.GetTime().AsTime().UTC().Format(time.RFC3339Nano), event, r.GetPool(), r.GetVrf(), r.GetInsideAddr(),
			r.GetPublicAddr(), r.GetPortStart(), r.GetPortEnd())
		if r.GetLost() != 0 {
			line += fmt.Sprintf(" lost=%d", r.GetLost())
		}
		fmt.Fprintln(a.stdout, line)
	}
}
