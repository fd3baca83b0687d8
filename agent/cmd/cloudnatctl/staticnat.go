package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// ------------------------------------------------------------ static NAT

// staticNATFlags are a static mapping's fields; its key is --vrf,
// --inside, --proto and --inside-port.
type staticNATFlags struct {
	vrf, outsideVRF         uint32
	inside, outside, proto  string
	insidePort, outsidePort uint32
}

func (f *staticNATFlags) register(fs *pflag.FlagSet, withOutside bool) {
	fs.Uint32Var(&f.vrf, "vrf", 0, "inside VRF (FIB table id)")
	fs.StringVar(&f.inside, "inside", "", "inside prefix or address (required)")
	fs.StringVar(&f.proto, "proto", "", "tcp or udp: map one port pair only (default: all ports)")
	fs.Uint32Var(&f.insidePort, "inside-port", 0, "inside port (with --proto)")
	if withOutside {
		fs.Uint32Var(&f.outsideVRF, "outside-vrf", 0, "outside VRF (FIB table id)")
		fs.StringVar(&f.outside, "outside", "", "outside prefix or address of the inside's length (required)")
		fs.Uint32Var(&f.outsidePort, "outside-port", 0, "outside port (with --proto)")
	}
}

func (f *staticNATFlags) protocol() (pb.Protocol, error) {
	if f.proto == "" {
		return pb.Protocol_PROTOCOL_UNSPECIFIED, nil
	}
	return parseProto(f.proto)
}

func (f *staticNATFlags) key() (*pb.StaticNATKey, error) {
	if f.inside == "" {
		return nil, usagef("--inside is required")
	}
	p, err := f.protocol()
	if err != nil {
		return nil, err
	}
	return &pb.StaticNATKey{InsideVrf: f.vrf, Inside: f.inside, Proto: p, InsidePort: f.insidePort}, nil
}

func (f *staticNATFlags) mapping() (*pb.StaticNAT, error) {
	k, err := f.key()
	if err != nil {
		return nil, err
	}
	if f.outside == "" {
		return nil, usagef("--outside is required")
	}
	return &pb.StaticNAT{
		InsideVrf: k.InsideVrf, Inside: k.Inside, OutsideVrf: f.outsideVRF, Outside: f.outside,
		Proto: k.Proto, InsidePort: k.InsidePort, OutsidePort: f.outsidePort,
	}, nil
}

func (a *app) staticNATCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "static", Aliases: []string{"static-nat"}, Short: "Manage stateless 1:1 static NAT"}
	cmd.AddCommand(a.staticNATCreateCmd(), a.staticNATDeleteCmd(), a.staticNATGetCmd(), a.staticNATListCmd())
	return cmd
}

func (a *app) staticNATCreateCmd() *cobra.Command {
	var f staticNATFlags
	cmd := &cobra.Command{
		Use: "create", Aliases: []string{"add"}, Short: "Map an inside prefix to an outside prefix of the same length",
		Example: "  cloudnatctl static create --inside 10.1.0.5/32 --vrf 1 --outside 172.16.0.5/32 --outside-vrf 2\n" +
			"  cloudnatctl static create --inside 10.1.0.5 --vrf 1 --outside 172.16.0.5 --outside-vrf 2 --proto tcp --inside-port 80 --outside-port 8080",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := f.mapping()
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewStaticNATServiceClient, pb.StaticNATServiceClient.CreateStaticNAT, &pb.CreateStaticNATRequest{StaticNat: m})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), "created "+staticNATString(resp.GetStaticNat()))
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func (a *app) staticNATDeleteCmd() *cobra.Command {
	var f staticNATFlags
	var allowMissing bool
	cmd := &cobra.Command{
		Use: "delete", Aliases: []string{"del"}, Short: "Remove a static mapping (by --vrf, --inside, --proto, --inside-port)",
		Example: "  cloudnatctl static delete --inside 10.1.0.5/32 --vrf 1",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := f.key()
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewStaticNATServiceClient, pb.StaticNATServiceClient.DeleteStaticNAT,
				&pb.DeleteStaticNATRequest{Key: k, AllowMissing: allowMissing})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), fmt.Sprintf("deleted vrf %d %s", k.GetInsideVrf(), k.GetInside()))
		},
	}
	f.register(cmd.Flags(), false)
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, "succeed when there is no such mapping")
	return cmd
}

func (a *app) staticNATGetCmd() *cobra.Command {
	var f staticNATFlags
	cmd := &cobra.Command{
		Use: "get", Short: "Show a static mapping", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := f.key()
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewStaticNATServiceClient, pb.StaticNATServiceClient.GetStaticNAT, &pb.GetStaticNATRequest{Key: k})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.staticNATTable([]*pb.StaticNAT{resp.GetStaticNat()}, []*pb.Sync{resp.GetSync()})
		},
	}
	f.register(cmd.Flags(), false)
	return cmd
}

func (a *app) staticNATListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Aliases: []string{"ls", "show"}, Short: "List static mappings", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewStaticNATServiceClient, pb.StaticNATServiceClient.ListStaticNATs, &pb.ListStaticNATsRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.staticNATTable(resp.GetStaticNats(), nil)
		},
	}
}

// staticNATTable prints mappings; syncs (may be nil) is parallel to ms.
func (a *app) staticNATTable(ms []*pb.StaticNAT, syncs []*pb.Sync) error {
	w := a.table()
	row(w, "VRF", "INSIDE", "OUTSIDE-VRF", "OUTSIDE", "PROTO", "PORTS", "SYNC")
	for i, m := range ms {
		proto, ports := "all", "all"
		if m.GetProto() != pb.Protocol_PROTOCOL_UNSPECIFIED {
			proto, ports = protoName(m.GetProto()), fmt.Sprintf("%d->%d", m.GetInsidePort(), m.GetOutsidePort())
		}
		sync := "-"
		if i < len(syncs) {
			sync = syncLine(syncs[i])
		}
		row(w, m.GetInsideVrf(), m.GetInside(), m.GetOutsideVrf(), m.GetOutside(), proto, ports, sync)
	}
	return w.Flush()
}

func staticNATString(m *pb.StaticNAT) string {
	s := fmt.Sprintf("vrf %d %s <-> vrf %d %s", m.GetInsideVrf(), m.GetInside(), m.GetOutsideVrf(), m.GetOutside())
	if m.GetProto() != pb.Protocol_PROTOCOL_UNSPECIFIED {
		s += fmt.Sprintf(" %s %d->%d", protoName(m.GetProto()), m.GetInsidePort(), m.GetOutsidePort())
	}
	return s
}
