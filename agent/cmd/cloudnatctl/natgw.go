package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/cloudnat/cloudnat/agent/internal/natgw/manifest"
	"github.com/cloudnat/cloudnat/agent/internal/natgw/natgwpb"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// The NAT gateway verbs: natgw, nic and apply. They also print YAML
// (-o yaml) in the form apply reads.

// checkGlobalsYAML is checkGlobals that also accepts -o yaml.
func (a *app) checkGlobalsYAML(*cobra.Command, []string) error {
	if a.output != "yaml" {
		return a.checkGlobals()
	}
	a.output = "table"
	err := a.checkGlobals()
	a.output = "yaml"
	return err
}

// natgwCommands are the root's NAT gateway commands.
func (a *app) natgwCommands() []*cobra.Command {
	cmds := []*cobra.Command{a.natgwCmd(), a.nicCmd(), a.applyCmd()}
	for _, c := range cmds {
		c.PersistentPreRunE = a.checkGlobalsYAML
	}
	return cmds
}

// ------------------------------------------------------------------ natgw

// gatewayFlags are the flags describing a gateway.
type gatewayFlags struct {
	file                string
	typ                 string
	families            []string
	network, outsideVRF uint32
	ips                 []string
	ports               uint32
	labels, exprs       []string
	selectAll           bool
}

func (f *gatewayFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.file, "file", "f", "", "read the gateway from a YAML file (one NATGateway document; - is stdin) instead of flags")
	fs.StringVar(&f.typ, "type", "Public", "gateway type (only Public)")
	fs.StringSliceVar(&f.families, "ip-family", nil, "IPv4 and/or IPv6 (default: the families of the first --ip)")
	fs.Uint32Var(&f.network, "network", 0, "network: VRF of the members' private addresses")
	fs.Uint32Var(&f.outsideVRF, "outside-vrf", 0, "VRF of the gateway's public addresses")
	fs.StringArrayVar(&f.ips, "ip", nil, "NAME=ADDR[,ADDR] public address(es) of one ips entry (repeatable; one address per family)")
	fs.Uint32Var(&f.ports, "ports", 64, "ports per network interface (a power of two, 64..32768)")
	fs.StringArrayVar(&f.labels, "match-label", nil, "KEY=VALUE the selector's matchLabels (repeatable)")
	fs.StringArrayVar(&f.exprs, "match-expression", nil, "'KEY In|NotIn V1,V2' or 'KEY Exists|DoesNotExist' (repeatable)")
	fs.BoolVar(&f.selectAll, "select-all", false, "an empty selector: every interface of the network (without a selector, none)")
}

func (f *gatewayFlags) gateway(a *app, name string) (*pb.NATGateway, error) {
	if f.file != "" {
		m, err := a.readOne(f.file, name, manifest.KindNATGateway)
		if err != nil {
			return nil, err
		}
		return natgwpb.GatewayPB(&m.Gateways[0]), nil
	}
	if name == "" {
		return nil, usagef("want the gateway's name (or -f FILE)")
	}
	g := &pb.NATGateway{
		Name: name, Type: f.typ, IpFamilies: f.families, Network: f.network, OutsideVrf: f.outsideVRF,
		PortsPerNetworkInterface: f.ports,
	}
	for _, s := range f.ips {
		n, addrs, ok := strings.Cut(s, "=")
		if !ok || n == "" || addrs == "" {
			return nil, usagef("--ip: %q is not NAME=ADDR[,ADDR]", s)
		}
		g.Ips = append(g.Ips, &pb.NATGatewayIP{Name: n, Addresses: strings.Split(addrs, ",")})
	}
	if len(f.ips) == 0 {
		return nil, usagef("at least one --ip is required")
	}
	if f.selectAll || len(f.labels) > 0 || len(f.exprs) > 0 {
		g.NetworkInterfaceSelector = &pb.LabelSelector{}
	}
	var err error
	if len(f.labels) > 0 {
		if g.NetworkInterfaceSelector.MatchLabels, err = parseLabels("--match-label", f.labels); err != nil {
			return nil, err
		}
	}
	for _, s := range f.exprs {
		r, err := parseExpression(s)
		if err != nil {
			return nil, err
		}
		g.NetworkInterfaceSelector.MatchExpressions = append(g.NetworkInterfaceSelector.MatchExpressions, r)
	}
	return g, nil
}

func parseLabels(flag string, ss []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range ss {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usagef("%s: %q is not KEY=VALUE", flag, s)
		}
		out[k] = v
	}
	return out, nil
}

// parseExpression reads "KEY OP [V1,V2]".
func parseExpression(s string) (*pb.LabelSelectorRequirement, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return nil, usagef("--match-expression: %q is not 'KEY In|NotIn V1,V2' or 'KEY Exists|DoesNotExist'", s)
	}
	r := &pb.LabelSelectorRequirement{Key: f[0], Operator: f[1]}
	if len(f) == 3 {
		r.Values = strings.Split(f[2], ",")
	}
	return r, nil
}

// readOne reads a file that must hold exactly one document of kind; name
// (the command's argument) must be empty: the file names the resource.
func (a *app) readOne(path, name, kind string) (manifest.Manifest, error) {
	if name != "" {
		return manifest.Manifest{}, usagef("give the name in the file or as argument with flags, not both")
	}
	m, err := a.readManifest(path)
	if err != nil {
		return m, err
	}
	n := len(m.Gateways)
	if kind == manifest.KindNetworkInterface {
		n = len(m.Interfaces)
	}
	if n != 1 || len(m.Gateways)+len(m.Interfaces) != 1 {
		return m, usagef("%s: want exactly one %s document (use apply for several)", path, kind)
	}
	return m, nil
}

func (a *app) readManifest(path string) (manifest.Manifest, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return manifest.Manifest{}, fail(err)
		}
		defer f.Close()
		r = f
	}
	m, err := manifest.Parse(r)
	if err != nil {
		return m, fail(fmt.Errorf("%s: %w", path, err))
	}
	return m, nil
}

func optName(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return ""
}

func (a *app) natgwCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "natgw", Aliases: []string{"natgateway", "natgateways"},
		Short: "Manage NAT gateways (IEP-4): public addresses shared by a network's interfaces, a port block each",
	}
	var cf gatewayFlags
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a NAT gateway", Args: cobra.MaximumNArgs(1),
		Example: "  cloudnatctl natgw create my-nat --network 1 --ip ip1=192.0.2.1,2001:db8::1 --ports 64 --match-label app=web\n" +
			"  cloudnatctl natgw create -f natgw.yaml",
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := cf.gateway(a, optName(args))
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.CreateNATGateway, &pb.CreateNATGatewayRequest{Gateway: g})
			if err != nil {
				return err
			}
			return a.gatewayOut([]*pb.NATGatewayResponse{resp}, false)
		},
	}
	cf.register(create.Flags())

	var uf gatewayFlags
	var allowMissing bool
	update := &cobra.Command{
		Use: "update NAME", Short: "Replace a NAT gateway's spec (re-plans its members)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := uf.gateway(a, optName(args))
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.UpdateNATGateway,
				&pb.UpdateNATGatewayRequest{Gateway: g, AllowMissing: allowMissing})
			if err != nil {
				return err
			}
			return a.gatewayOut([]*pb.NATGatewayResponse{resp}, false)
		},
	}
	uf.register(update.Flags())
	update.Flags().BoolVar(&allowMissing, "create", false, "create the gateway when it does not exist")

	del := a.deleteCmd("natgw", "Delete a NAT gateway (its members' blocks are drained)",
		func(cmd *cobra.Command, name string, allowMissing bool) (proto.Message, error) {
			return call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.DeleteNATGateway,
				&pb.DeleteNATGatewayRequest{Name: name, AllowMissing: allowMissing})
		})

	get := &cobra.Command{
		Use: "get NAME", Short: "Show a NAT gateway with its status, members and unassigned interfaces", Args: exactArgs(1, "the gateway's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.GetNATGateway, &pb.GetNATGatewayRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return a.gatewayOut([]*pb.NATGatewayResponse{resp}, true)
		},
	}
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls", "show"}, Short: "List NAT gateways", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.ListNATGateways, &pb.ListNATGatewaysRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.gatewayOut(resp.GetGateways(), false)
		},
	}
	cmd.AddCommand(create, update, del, get, list, a.natgwWatchCmd())
	return cmd
}

func (a *app) natgwWatchCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "watch [NAME]",
		Short: "Print a gateway's (or every gateway's) status now and on every change (until interrupted)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			// No --timeout: a watch lasts until interrupted or --count.
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			stream, err := pb.NewNATGatewayServiceClient(c).WatchNATGateway(ctx, &pb.WatchNATGatewayRequest{Name: optName(args)})
			if err != nil {
				return fail(err)
			}
			if a.output == "table" {
				fmt.Fprintln(a.stdout, "GATEWAY  GENERATION  MEMBERS  UNASSIGNED  PORTS-USED  DRAINED  DRAINED-TOTAL")
			}
			for n := 0; count == 0 || n < count; n++ {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return fail(err)
				}
				switch a.output {
				case "json":
					err = a.printJSONLine(m)
				case "yaml":
					err = a.printYAML(gatewayDocument(m))
				default:
					st := m.GetStatus()
					if st == nil {
						fmt.Fprintf(a.stdout, "%s  deleted\n", m.GetGateway().GetName())
						continue
					}
					fmt.Fprintf(a.stdout, "%s  %d  %d  %d  %d  %d  %d\n", m.GetGateway().GetName(), st.GetGeneration(), len(st.GetMembers()),
						len(st.GetUnassigned()), st.GetPortsUsed(), len(st.GetDrained()), st.GetDrainedTotal())
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many updates (0: never)")
	return cmd
}

// deleteCmd is "delete NAME [--allow-missing]" of a kind ("natgw", "nic").
func (a *app) deleteCmd(kind, short string, del func(cmd *cobra.Command, name string, allowMissing bool) (proto.Message, error)) *cobra.Command {
	var allowMissing bool
	cmd := &cobra.Command{
		Use: "delete NAME", Aliases: []string{"del"}, Short: short, Args: exactArgs(1, "the name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := del(cmd, args[0], allowMissing)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			fmt.Fprintf(a.stdout, "%s %s deleted\n", kind, args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, "succeed when it does not exist")
	return cmd
}

func (a *app) printYAML(docs ...any) error {
	b, err := manifest.Marshal(docs...)
	if err != nil {
		return fail(err)
	}
	_, err = a.stdout.Write(b)
	return err
}

// gatewayOut prints gateways: a summary table (detail adds members and
// unassigned interfaces), JSON or YAML documents.
func (a *app) gatewayOut(gs []*pb.NATGatewayResponse, detail bool) error {
	switch a.output {
	case "json":
		if len(gs) == 1 {
			return a.printJSON(gs[0])
		}
		return a.printJSON(&pb.ListNATGatewaysResponse{Gateways: gs})
	case "yaml":
		docs := make([]any, 0, len(gs))
		for _, g := range gs {
			docs = append(docs, gatewayDocument(g))
		}
		return a.printYAML(docs...)
	}
	w := a.table()
	row(w, "NAME", "NETWORK", "OUTSIDE-VRF", "FAMILIES", "IPS", "PORTS/NIC", "SELECTOR", "MEMBERS", "UNASSIGNED", "PORTS-USED", "GENERATION")
	for _, r := range gs {
		g, st := r.GetGateway(), r.GetStatus()
		row(w, g.GetName(), g.GetNetwork(), g.GetOutsideVrf(), strings.Join(g.GetIpFamilies(), ","), ipsString(g.GetIps()),
			g.GetPortsPerNetworkInterface(), selectorString(g.GetNetworkInterfaceSelector()), len(st.GetMembers()),
			len(st.GetUnassigned()), st.GetPortsUsed(), st.GetGeneration())
	}
	if err := w.Flush(); err != nil || !detail {
		return err
	}
	for _, r := range gs {
		st := r.GetStatus()
		if len(st.GetMembers()) > 0 {
			fmt.Fprintln(a.stdout)
			w = a.table()
			row(w, "MEMBER", "IP", "PORTS", "ADDRESSES")
			for _, m := range st.GetMembers() {
				var as []string
				for _, x := range m.GetAddresses() {
					as = append(as, x.GetInside()+"->"+x.GetOutside())
				}
				row(w, m.GetInterface(), m.GetIpName(), fmt.Sprintf("%d-%d", m.GetPortStart(), m.GetPortEnd()), strings.Join(as, " "))
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if len(st.GetUnassigned()) > 0 {
			fmt.Fprintln(a.stdout)
			w = a.table()
			row(w, "UNASSIGNED", "REASON")
			for _, u := range st.GetUnassigned() {
				row(w, u.GetInterface(), u.GetReason())
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if len(st.GetDrained()) > 0 {
			fmt.Fprintf(a.stdout, "\ndrained by the last change: %d block(s); %d in all\n", len(st.GetDrained()), st.GetDrainedTotal())
		}
	}
	return nil
}

func ipsString(ips []*pb.NATGatewayIP) string {
	s := make([]string, 0, len(ips))
	for _, ip := range ips {
		s = append(s, ip.GetName()+"="+strings.Join(ip.GetAddresses(), ","))
	}
	return strings.Join(s, " ")
}

// selectorString writes a selector as kubectl does: "a=b,c in (d,e),!f".
func selectorString(s *pb.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.GetMatchLabels())) {
		parts = append(parts, k+"="+s.GetMatchLabels()[k])
	}
	for _, r := range s.GetMatchExpressions() {
		switch r.GetOperator() {
		case "In":
			parts = append(parts, fmt.Sprintf("%s in (%s)", r.GetKey(), strings.Join(r.GetValues(), ",")))
		case "NotIn":
			parts = append(parts, fmt.Sprintf("%s notin (%s)", r.GetKey(), strings.Join(r.GetValues(), ",")))
		case "Exists":
			parts = append(parts, r.GetKey())
		case "DoesNotExist":
			parts = append(parts, "!"+r.GetKey())
		}
	}
	if len(parts) == 0 {
		return "<all>"
	}
	return strings.Join(parts, ",")
}

func ptr[T any](v T) *T { return &v }

// gatewayDocument is a gateway as YAML that apply reads back.
func gatewayDocument(r *pb.NATGatewayResponse) manifest.GatewayDocument {
	g := r.GetGateway()
	d := manifest.GatewayDocument{
		APIVersion: manifest.APIVersion, Kind: manifest.KindNATGateway, Metadata: manifest.Metadata{Name: g.GetName()},
		Spec: manifest.GatewaySpec{
			Type: g.GetType(), IPFamilies: g.GetIpFamilies(), Network: ptr(g.GetNetwork()), OutsideVRF: g.GetOutsideVrf(),
			PortsPerNetworkInterface: g.GetPortsPerNetworkInterface(),
		},
	}
	for _, ip := range g.GetIps() {
		d.Spec.IPs = append(d.Spec.IPs, manifest.GatewayIP{Name: ip.GetName(), IP: ip.GetAddresses()})
	}
	if s := g.GetNetworkInterfaceSelector(); s != nil {
		d.Spec.NetworkInterfaceSelector = &manifest.Selector{MatchLabels: s.GetMatchLabels()}
		for _, x := range s.GetMatchExpressions() {
			d.Spec.NetworkInterfaceSelector.MatchExpressions = append(d.Spec.NetworkInterfaceSelector.MatchExpressions,
				manifest.Requirement{Key: x.GetKey(), Operator: x.GetOperator(), Values: x.GetValues()})
		}
	}
	st := r.GetStatus()
	if st == nil {
		return d
	}
	d.Status = &manifest.GatewayStatus{
		PortsPerNetworkInterface: st.GetPortsPerNetworkInterface(), PortsUsed: st.GetPortsUsed(),
		DrainedTotal: st.GetDrainedTotal(), Generation: st.GetGeneration(),
	}
	for _, ip := range st.GetIps() {
		d.Status.IPs = append(d.Status.IPs, manifest.GatewayIP{Name: ip.GetName(), IPs: ip.GetAddresses()})
	}
	for _, m := range st.GetMembers() {
		sm := manifest.StatusMember{NetworkInterface: m.GetInterface(), IP: m.GetIpName(), Ports: fmt.Sprintf("%d-%d", m.GetPortStart(), m.GetPortEnd())}
		for _, x := range m.GetAddresses() {
			sm.Addresses = append(sm.Addresses, manifest.StatusAddress{Family: x.GetFamily(), Inside: x.GetInside(), Outside: x.GetOutside()})
		}
		d.Status.Members = append(d.Status.Members, sm)
	}
	for _, u := range st.GetUnassigned() {
		d.Status.Unassigned = append(d.Status.Unassigned, manifest.StatusUnassigned{NetworkInterface: u.GetInterface(), Reason: u.GetReason()})
	}
	for _, b := range st.GetDrained() {
		d.Status.Drained = append(d.Status.Drained, manifest.StatusBlock{
			NetworkInterface: b.GetInterface(), Inside: b.GetInside(), Outside: b.GetOutside(),
			Ports: fmt.Sprintf("%d-%d", b.GetPortStart(), b.GetPortEnd()),
		})
	}
	return d
}

// -------------------------------------------------------------------- nic

type nicFlags struct {
	file                string
	network, outsideVRF uint32
	ips, labels         []string
	virtualIP           string
}

func (f *nicFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.file, "file", "f", "", "read the interface from a YAML file (one NetworkInterface document; - is stdin) instead of flags")
	fs.Uint32Var(&f.network, "network", 0, "network: VRF of the interface's addresses")
	fs.StringSliceVar(&f.ips, "ip", nil, "private address (repeatable; IPv4 and/or IPv6)")
	fs.StringArrayVar(&f.labels, "label", nil, "KEY=VALUE label (repeatable)")
	fs.StringVar(&f.virtualIP, "virtual-ip", "", "virtual IP: 1:1 static NAT of the interface's address (never a gateway member)")
	fs.Uint32Var(&f.outsideVRF, "outside-vrf", 0, "VRF of the virtual IP")
}

func (f *nicFlags) nic(a *app, name string) (*pb.NetworkInterface, error) {
	if f.file != "" {
		m, err := a.readOne(f.file, name, manifest.KindNetworkInterface)
		if err != nil {
			return nil, err
		}
		return natgwpb.InterfacePB(&m.Interfaces[0]), nil
	}
	if name == "" {
		return nil, usagef("want the interface's name (or -f FILE)")
	}
	if len(f.ips) == 0 {
		return nil, usagef("at least one --ip is required")
	}
	n := &pb.NetworkInterface{Name: name, Network: f.network, Ips: f.ips, VirtualIp: f.virtualIP, OutsideVrf: f.outsideVRF}
	if len(f.labels) > 0 {
		var err error
		if n.Labels, err = parseLabels("--label", f.labels); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (a *app) nicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "nic", Aliases: []string{"networkinterface", "networkinterfaces"},
		Short: "Manage network interfaces (private addresses, labels, virtual IP) that NAT gateways select",
	}
	var cf nicFlags
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a network interface", Args: cobra.MaximumNArgs(1),
		Example: "  cloudnatctl nic create web-1 --network 1 --ip 10.0.0.2 --ip fd00::2 --label app=web",
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := cf.nic(a, optName(args))
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.CreateNetworkInterface, &pb.CreateNetworkInterfaceRequest{Interface: n})
			if err != nil {
				return err
			}
			return a.nicOut([]*pb.NetworkInterface{resp.GetInterface()}, resp)
		},
	}
	cf.register(create.Flags())

	var uf nicFlags
	var allowMissing bool
	update := &cobra.Command{
		Use: "update NAME", Short: "Replace a network interface (gateways re-plan)", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := uf.nic(a, optName(args))
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.UpdateNetworkInterface,
				&pb.UpdateNetworkInterfaceRequest{Interface: n, AllowMissing: allowMissing})
			if err != nil {
				return err
			}
			return a.nicOut([]*pb.NetworkInterface{resp.GetInterface()}, resp)
		},
	}
	uf.register(update.Flags())
	update.Flags().BoolVar(&allowMissing, "create", false, "create the interface when it does not exist")

	del := a.deleteCmd("nic", "Delete a network interface",
		func(cmd *cobra.Command, name string, allowMissing bool) (proto.Message, error) {
			return call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.DeleteNetworkInterface,
				&pb.DeleteNetworkInterfaceRequest{Name: name, AllowMissing: allowMissing})
		})

	get := &cobra.Command{
		Use: "get NAME", Short: "Show a network interface", Args: exactArgs(1, "the interface's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.GetNetworkInterface, &pb.GetNetworkInterfaceRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return a.nicOut([]*pb.NetworkInterface{resp.GetInterface()}, resp)
		},
	}
	var network uint32
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls", "show"}, Short: "List network interfaces", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ListNetworkInterfacesRequest{}
			if cmd.Flags().Changed("network") {
				req.Network = &network
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.ListNetworkInterfaces, req)
			if err != nil {
				return err
			}
			return a.nicOut(resp.GetInterfaces(), resp)
		},
	}
	list.Flags().Uint32Var(&network, "network", 0, "only this network (VRF)")
	cmd.AddCommand(create, update, del, get, list)
	return cmd
}

// nicOut prints interfaces as a table, the response as JSON, or YAML
// documents.
func (a *app) nicOut(ns []*pb.NetworkInterface, resp proto.Message) error {
	switch a.output {
	case "json":
		return a.printJSON(resp)
	case "yaml":
		docs := make([]any, 0, len(ns))
		for _, n := range ns {
			docs = append(docs, interfaceDocument(n))
		}
		return a.printYAML(docs...)
	}
	w := a.table()
	row(w, "NAME", "NETWORK", "IPS", "LABELS", "VIRTUAL-IP")
	for _, n := range ns {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(n.GetLabels())) {
			labels = append(labels, k+"="+n.GetLabels()[k])
		}
		vip := "-"
		if n.GetVirtualIp() != "" {
			vip = fmt.Sprintf("%s (vrf %d)", n.GetVirtualIp(), n.GetOutsideVrf())
		}
		row(w, n.GetName(), n.GetNetwork(), strings.Join(n.GetIps(), ","), strings.Join(labels, ","), vip)
	}
	return w.Flush()
}

func interfaceDocument(n *pb.NetworkInterface) manifest.InterfaceDocument {
	return manifest.InterfaceDocument{
		APIVersion: manifest.APIVersion, Kind: manifest.KindNetworkInterface,
		Metadata: manifest.Metadata{Name: n.GetName(), Labels: n.GetLabels()},
		Spec:     manifest.InterfaceSpec{Network: ptr(n.GetNetwork()), IPs: n.GetIps(), VirtualIP: n.GetVirtualIp(), OutsideVRF: n.GetOutsideVrf()},
	}
}

// ------------------------------------------------------------------ apply

func (a *app) applyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or replace the NAT gateways and network interfaces of a YAML file (IEP-4 style) in one change",
		Example: "  cloudnatctl apply -f docs/examples/natgw.yaml\n" +
			"  cloudnatctl -o yaml natgw get my-nat > my-nat.yaml && cloudnatctl apply -f my-nat.yaml",
		Args: exactArgs(0, "no arguments (the file is -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required (- for stdin)")
			}
			m, err := a.readManifest(file)
			if err != nil {
				return err
			}
			req := &pb.ApplyNATGatewaysRequest{}
			for i := range m.Interfaces {
				req.Interfaces = append(req.Interfaces, natgwpb.InterfacePB(&m.Interfaces[i]))
			}
			for i := range m.Gateways {
				req.Gateways = append(req.Gateways, natgwpb.GatewayPB(&m.Gateways[i]))
			}
			if len(req.Interfaces)+len(req.Gateways) == 0 {
				return fail(fmt.Errorf("%s: no NATGateway or NetworkInterface document", file))
			}
			resp, err := call(a, cmd, pb.NewNATGatewayServiceClient, pb.NATGatewayServiceClient.ApplyNATGateways, req)
			if err != nil {
				return err
			}
			switch a.output {
			case "json":
				return a.printJSON(resp)
			case "yaml":
				return a.gatewayOut(resp.GetGateways(), false)
			}
			fmt.Fprintf(a.stdout, "applied %d network interface(s), %d NAT gateway(s)\n", len(req.Interfaces), len(req.Gateways))
			if len(resp.GetGateways()) == 0 {
				return nil
			}
			return a.gatewayOut(resp.GetGateways(), false)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML file (- is stdin)")
	return cmd
}
