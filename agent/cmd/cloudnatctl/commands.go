package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// ---------------------------------------------------------- translations

// keyFlags are the flags naming a translation.
type keyFlags struct {
	proto, vip string
	port, vrf  uint32
}

func (k *keyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.proto, "proto", "", "protocol: tcp, udp or icmp (required)")
	fs.StringVar(&k.vip, "vip", "", "VIP or real address (required)")
	fs.Uint32Var(&k.port, "port", 0, "port (required for tcp and udp)")
	fs.Uint32Var(&k.vrf, "vrf", 0, "VRF (FIB table id)")
}

func (k *keyFlags) key() (*pb.TranslationKey, error) {
	if k.proto == "" {
		return nil, usagef("--proto is required")
	}
	p, err := parseProto(k.proto)
	if err != nil {
		return nil, err
	}
	if k.vip == "" {
		return nil, usagef("--vip is required")
	}
	return &pb.TranslationKey{Vrf: k.vrf, Vip: k.vip, Port: k.port, Proto: p}, nil
}

func (a *app) translationCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "translation", Aliases: []string{"translations", "tr"}, Short: "Manage translations (VIP/real address + port + protocol → backends)"}
	cmd.AddCommand(a.translationPutCmd("add", "Create or replace a translation", true),
		a.translationPutCmd("update", "Replace an existing translation", false))

	var del keyFlags
	delCmd := &cobra.Command{
		Use: "del", Aliases: []string{"delete"}, Short: "Delete a translation", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := del.key()
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewTranslationServiceClient, pb.TranslationServiceClient.DeleteTranslation, &pb.DeleteTranslationRequest{Key: k})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), "deleted")
		},
	}
	del.register(delCmd.Flags())

	var get keyFlags
	getCmd := &cobra.Command{
		Use: "get", Short: "Show one translation", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := get.key()
			if err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewTranslationServiceClient, pb.TranslationServiceClient.GetTranslation, &pb.GetTranslationRequest{Key: k})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.translationTable([]*pb.TranslationResponse{resp})
		},
	}
	get.register(getCmd.Flags())

	var listVRF uint32
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List translations", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ListTranslationsRequest{}
			if cmd.Flags().Changed("vrf") {
				req.Vrf = &listVRF
			}
			resp, err := call(a, cmd, pb.NewTranslationServiceClient, pb.TranslationServiceClient.ListTranslations, req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.translationTable(resp.GetTranslations())
		},
	}
	listCmd.Flags().Uint32Var(&listVRF, "vrf", 0, "only this VRF")
	cmd.AddCommand(delCmd, getCmd, listCmd)
	return cmd
}

func (a *app) translationPutCmd(use, short string, allowMissing bool) *cobra.Command {
	var k keyFlags
	var kind, lb string
	var hash, to []string
	var maglevLen uint32
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: "  cloudnatctl translation " + use + " --proto tcp --vip 30.0.0.2 --port 80 --to '->20.0.0.1:8080'\n" +
			"  cloudnatctl translation " + use + " --proto udp --vip 30.0.0.2 --port 53 --lb maglev --to '->20.0.0.1' --to '1.2.3.4->20.0.0.2:5353'",
		Args: exactArgs(0, "no arguments (backends are given with --to)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := k.key()
			if err != nil {
				return err
			}
			t := &pb.Translation{Vrf: key.Vrf, Vip: key.Vip, Port: key.Port, Proto: key.Proto, MaglevLen: maglevLen}
			switch strings.ToLower(kind) {
			case "vip":
				t.Kind = pb.TranslationKind_TRANSLATION_KIND_VIP
			case "real":
				t.Kind = pb.TranslationKind_TRANSLATION_KIND_REAL
			default:
				return usagef("--kind: %q is not vip or real", kind)
			}
			switch strings.ToLower(lb) {
			case "hash":
				t.Lb = pb.LBMethod_LB_METHOD_HASH
			case "maglev":
				t.Lb = pb.LBMethod_LB_METHOD_MAGLEV
			default:
				return usagef("--lb: %q is not hash or maglev", lb)
			}
			if t.HashFields, err = parseHash(hash); err != nil {
				return err
			}
			if len(to) == 0 {
				return usagef("at least one --to is required")
			}
			for _, s := range to {
				b, err := parseBackend(s)
				if err != nil {
					return err
				}
				t.Backends = append(t.Backends, b)
			}
			resp, err := call(a, cmd, pb.NewTranslationServiceClient, pb.TranslationServiceClient.UpdateTranslation, &pb.UpdateTranslationRequest{Translation: t, AllowMissing: allowMissing})
			if err != nil {
				return err
			}
			a.warnSync(resp.GetSync())
			if a.output == "json" {
				return a.printJSON(resp)
			}
			return a.translationTable([]*pb.TranslationResponse{resp})
		},
	}
	fs := cmd.Flags()
	k.register(fs)
	fs.StringVar(&kind, "kind", "vip", "vip (address not owned by the dataplane) or real (an interface address)")
	fs.StringVar(&lb, "lb", "hash", "load balancing: hash or maglev")
	fs.StringSliceVar(&hash, "hash", nil, "flow-hash fields: src-addr,dst-addr,src-port,dst-port,proto (default all)")
	fs.Uint32Var(&maglevLen, "maglev-len", 0, "Maglev table length, a prime (default 1009)")
	fs.StringArrayVar(&to, "to", nil, "backend '[src[:port]]->dst[:port]' (repeatable; e.g. '->20.0.0.1:8080', '1.2.3.4:5555->[20::1]:8080')")
	return cmd
}

// ------------------------------------------------------------------ SNAT

func (a *app) snatCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snat", Short: "Manage source NAT (addresses, exclusions, interfaces)"}

	var setVRF uint32
	var clear bool
	setCmd := &cobra.Command{
		Use: "set [--vrf N] <addr>... | --clear", Short: "Set a VRF's SNAT address pool to exactly these addresses (IPv4 and IPv6 mixed)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !clear {
				return usagef("give the pool's addresses (or --clear to remove them all)")
			}
			if len(args) > 0 && clear {
				return usagef("--clear takes no addresses")
			}
			resp, err := call(a, cmd, pb.NewSNATServiceClient, pb.SNATServiceClient.SetSNATAddresses, &pb.SetSNATAddressesRequest{Vrf: setVRF, Addrs: args})
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), fmt.Sprintf("vrf %d: %d SNAT address(es)", setVRF, len(args)))
		},
	}
	setCmd.Flags().Uint32Var(&setVRF, "vrf", 0, "VRF")
	setCmd.Flags().BoolVar(&clear, "clear", false, "remove every SNAT address of the VRF")

	var exVRF uint32
	var exDel bool
	excludeCmd := &cobra.Command{
		Use: "exclude [--vrf N] [--del] <prefix>", Short: "Add (or --del) a destination prefix source NAT leaves alone",
		Args: exactArgs(1, "one prefix"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp *pb.SNATExclusionResponse
			var err error
			if exDel {
				resp, err = call(a, cmd, pb.NewSNATServiceClient, pb.SNATServiceClient.DeleteSNATExclusion, &pb.DeleteSNATExclusionRequest{Vrf: exVRF, Prefix: args[0]})
			} else {
				resp, err = call(a, cmd, pb.NewSNATServiceClient, pb.SNATServiceClient.AddSNATExclusion, &pb.AddSNATExclusionRequest{Vrf: exVRF, Prefix: args[0]})
			}
			if err != nil {
				return err
			}
			what := "excluded"
			if exDel {
				what = "exclusion removed"
			}
			return a.done(resp, resp.GetSync(), what)
		},
	}
	excludeCmd.Flags().Uint32Var(&exVRF, "vrf", 0, "VRF")
	excludeCmd.Flags().BoolVar(&exDel, "del", false, "remove the exclusion")

	ifCmd := func(use, short string, enable bool) *cobra.Command {
		var v4, v6 bool
		c := &cobra.Command{
			Use: use + " <interface> [--ipv4] [--ipv6]", Short: short, Args: exactArgs(1, "one interface name"),
			RunE: func(cmd *cobra.Command, args []string) error {
				method := pb.SNATServiceClient.EnableSNATInterface
				if !enable {
					method = pb.SNATServiceClient.DisableSNATInterface
				}
				req := &pb.SNATInterfaceRequest{Interface: args[0], Ipv4: v4, Ipv6: v6}
				resp, err := call(a, cmd, pb.NewSNATServiceClient, method, req)
				if err != nil {
					return err
				}
				return a.done(resp, resp.GetSync(), use+"d")
			},
		}
		c.Flags().BoolVar(&v4, "ipv4", false, "IPv4 only (default: both families)")
		c.Flags().BoolVar(&v6, "ipv6", false, "IPv6 only (default: both families)")
		return c
	}

	showCmd := &cobra.Command{
		Use: "show", Aliases: []string{"list"}, Short: "Show SNAT addresses, exclusions and interfaces", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewSNATServiceClient, pb.SNATServiceClient.GetSNAT, &pb.GetSNATRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "VRF", "ADDRESS", "SYNC")
			for _, x := range resp.GetAddresses() {
				row(w, x.GetVrf(), x.GetAddr(), syncString(x.GetSync()))
			}
			row(w)
			row(w, "VRF", "EXCLUDED PREFIX", "SYNC")
			for _, x := range resp.GetExclusions() {
				row(w, x.GetVrf(), x.GetPrefix(), syncString(x.GetSync()))
			}
			row(w)
			row(w, "INTERFACE", "IPV4", "IPV6", "SYNC")
			for _, x := range resp.GetInterfaces() {
				row(w, x.GetInterface(), onOff(x.GetIpv4()), onOff(x.GetIpv6()), syncString(x.GetSync()))
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(setCmd, excludeCmd,
		ifCmd("enable", "Enable source NAT on traffic entering an interface", true),
		ifCmd("disable", "Disable source NAT on an interface", false), showCmd)
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// -------------------------------------------------------------- sessions

func (a *app) sessionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "session", Aliases: []string{"sessions"}, Short: "List and delete sessions"}

	var lVRF, lPort uint32
	var lProto, lAddr string
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List sessions (streamed)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ListSessionsRequest{Addr: lAddr, Port: lPort}
			if cmd.Flags().Changed("vrf") {
				req.Vrf = &lVRF
			}
			if lProto != "" {
				p, err := parseProto(lProto)
				if err != nil {
					return err
				}
				req.Proto = p
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd)
			defer cancel()
			stream, err := pb.NewSessionServiceClient(c).ListSessions(ctx, req)
			if err != nil {
				return fail(err)
			}
			w := a.table()
			if a.output == "table" {
				row(w, "VRF", "PROTO", "SOURCE", "DESTINATION", "NEW SOURCE", "NEW DESTINATION", "TYPE", "STATE", "EXPIRES", "PACKETS")
			}
			n := 0
			for {
				s, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					w.Flush()
					return fail(err)
				}
				n++
				if a.output == "json" {
					if err := a.printJSONLine(s); err != nil {
						return err
					}
					continue
				}
				typ := "dnat"
				if s.GetSnat() {
					typ = "snat"
				}
				row(w, s.GetVrf(), protoName(s.GetProto()), endpointString(s.GetSrcAddr(), s.GetSrcPort()),
					endpointString(s.GetDstAddr(), s.GetDstPort()), endpointString(s.GetNewSrcAddr(), s.GetNewSrcPort()),
					endpointString(s.GetNewDstAddr(), s.GetNewDstPort()), typ, tcpStateString(s.GetTcpState()),
					s.GetExpiresIn().AsDuration().Round(time.Second), s.GetPackets())
			}
			if a.output == "table" {
				if err := w.Flush(); err != nil {
					return fail(err)
				}
				fmt.Fprintf(a.stdout, "%d session(s)\n", n)
			}
			return nil
		},
	}
	lf := listCmd.Flags()
	lf.Uint32Var(&lVRF, "vrf", 0, "only this VRF")
	lf.StringVar(&lProto, "proto", "", "only this protocol: tcp, udp or icmp")
	lf.StringVar(&lAddr, "addr", "", "only sessions whose original source or destination is in this prefix")
	lf.Uint32Var(&lPort, "port", 0, "only sessions whose original source or destination port is this")

	var dVRF uint32
	var dProto, dSrc, dDst string
	delCmd := &cobra.Command{
		Use: "delete", Aliases: []string{"del"}, Short: "Delete the session with this 5-tuple (either direction)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dProto == "" {
				return usagef("--proto is required")
			}
			p, err := parseProto(dProto)
			if err != nil {
				return err
			}
			req := &pb.DeleteSessionRequest{Vrf: dVRF, Proto: p}
			if req.SrcAddr, req.SrcPort, err = parseAddrPort("src", dSrc); err != nil {
				return err
			}
			if req.DstAddr, req.DstPort, err = parseAddrPort("dst", dDst); err != nil {
				return err
			}
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.DeleteSession, req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			fmt.Fprintln(a.stdout, "deleted")
			return nil
		},
	}
	df := delCmd.Flags()
	df.Uint32Var(&dVRF, "vrf", 0, "VRF")
	df.StringVar(&dProto, "proto", "", "protocol: tcp, udp or icmp (required)")
	df.StringVar(&dSrc, "src", "", "source address:port, e.g. 10.0.0.1:1234 or [2001:db8::1]:1234 (required)")
	df.StringVar(&dDst, "dst", "", "destination address:port (required)")

	var pVRF uint32
	purgeCmd := &cobra.Command{
		Use: "purge", Short: "Delete every session (of one VRF with --vrf)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.PurgeSessionsRequest{}
			if cmd.Flags().Changed("vrf") {
				req.Vrf = &pVRF
			}
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.PurgeSessions, req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			fmt.Fprintf(a.stdout, "purged %d session(s)\n", resp.GetDeleted())
			return nil
		},
	}
	purgeCmd.Flags().Uint32Var(&pVRF, "vrf", 0, "only this VRF")
	cmd.AddCommand(listCmd, delCmd, purgeCmd)
	return cmd
}

func tcpStateString(s pb.TCPState) string {
	switch s {
	case pb.TCPState_TCP_STATE_SYN_SENT:
		return "syn-sent"
	case pb.TCPState_TCP_STATE_ESTABLISHED:
		return "established"
	case pb.TCPState_TCP_STATE_FIN_WAIT:
		return "fin-wait"
	case pb.TCPState_TCP_STATE_CLOSED:
		return "closed"
	}
	return "-"
}

// ------------------------------------------------------ timeouts, limits

func (a *app) printTimeouts(resp *pb.TimeoutsResponse) error {
	if a.output == "json" {
		return a.printJSON(resp)
	}
	t := resp.GetTimeouts()
	w := a.table()
	row(w, "udp", durString(t.GetUdp()))
	row(w, "tcp-established", durString(t.GetTcpEstablished()))
	row(w, "tcp-transitory", durString(t.GetTcpTransitory()))
	row(w, "icmp", durString(t.GetIcmp()))
	row(w, "sync", syncString(resp.GetSync()))
	return w.Flush()
}

func (a *app) timeoutsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "timeouts", Short: "Session idle timeouts"}
	var udp, est, trans, icmp time.Duration
	setCmd := &cobra.Command{
		Use: "set", Short: "Set session idle timeouts (unset flags stay unchanged)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := &pb.Timeouts{}
			f := cmd.Flags()
			for _, x := range []struct {
				name string
				v    time.Duration
				dst  **durationpb.Duration
			}{{"udp", udp, &t.Udp}, {"tcp-established", est, &t.TcpEstablished}, {"tcp-transitory", trans, &t.TcpTransitory}, {"icmp", icmp, &t.Icmp}} {
				if f.Changed(x.name) {
					*x.dst = durationpb.New(x.v)
				}
			}
			if t.Udp == nil && t.TcpEstablished == nil && t.TcpTransitory == nil && t.Icmp == nil {
				return usagef("set at least one of --udp, --tcp-established, --tcp-transitory, --icmp")
			}
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.SetTimeouts, &pb.SetTimeoutsRequest{Timeouts: t})
			if err != nil {
				return err
			}
			a.warnSync(resp.GetSync())
			return a.printTimeouts(resp)
		},
	}
	f := setCmd.Flags()
	f.DurationVar(&udp, "udp", 0, "UDP idle timeout, e.g. 300s")
	f.DurationVar(&est, "tcp-established", 0, "TCP established idle timeout, e.g. 2h4m")
	f.DurationVar(&trans, "tcp-transitory", 0, "TCP transitory (SYN, FIN, RST) idle timeout, e.g. 4m")
	f.DurationVar(&icmp, "icmp", 0, "ICMP idle timeout, e.g. 60s")
	getCmd := &cobra.Command{
		Use: "get", Aliases: []string{"show"}, Short: "Show session idle timeouts", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.GetTimeouts, &pb.GetTimeoutsRequest{})
			if err != nil {
				return err
			}
			return a.printTimeouts(resp)
		},
	}
	cmd.AddCommand(setCmd, getCmd)
	return cmd
}

func (a *app) limitCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "limit", Aliases: []string{"limits"}, Short: "Session limits (global or per VRF)"}
	var vrf, max uint32
	setCmd := &cobra.Command{
		Use: "set --max N [--vrf N]", Short: "Set the session limit of a VRF (global without --vrf; 0 = unlimited)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("max") {
				return usagef("--max is required (0 = unlimited)")
			}
			req := &pb.SetSessionLimitRequest{Max: max}
			if cmd.Flags().Changed("vrf") {
				req.Vrf = &vrf
			}
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.SetSessionLimit, req)
			if err != nil {
				return err
			}
			return a.done(resp, resp.GetSync(), fmt.Sprintf("limit %s: %d", vrfString(req.Vrf), max))
		},
	}
	setCmd.Flags().Uint32Var(&max, "max", 0, "maximum sessions (0 = unlimited)")
	setCmd.Flags().Uint32Var(&vrf, "vrf", 0, "VRF (default: the global limit)")
	listCmd := &cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List session limits", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewSessionServiceClient, pb.SessionServiceClient.ListSessionLimits, &pb.ListSessionLimitsRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "VRF", "MAX", "SYNC")
			for _, l := range resp.GetLimits() {
				row(w, vrfString(l.Vrf), l.GetMax(), syncString(l.GetSync()))
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(setCmd, listCmd)
	return cmd
}

// ------------------------------------------------------ interface, status

func (a *app) interfaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "interface", Aliases: []string{"interfaces", "if"}, Short: "Dataplane interfaces"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Aliases: []string{"show", "ls"}, Short: "List the dataplane's interfaces", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(a, cmd, pb.NewInterfaceServiceClient, pb.InterfaceServiceClient.ListInterfaces, &pb.ListInterfacesRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(resp)
			}
			w := a.table()
			row(w, "NAME", "STATE", "VRF4", "VRF6", "SNAT4", "SNAT6", "ADDRESSES")
			for _, i := range resp.GetInterfaces() {
				st := "down"
				if i.GetUp() {
					st = "up"
				}
				row(w, i.GetName(), st, i.GetVrf4(), i.GetVrf6(), onOff(i.GetSnatIpv4()), onOff(i.GetSnatIpv6()), strings.Join(i.GetAddrs(), ","))
			}
			return w.Flush()
		},
	})
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "Agent and dataplane status, pending and failed items", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := call(a, cmd, pb.NewStatusServiceClient, pb.StatusServiceClient.GetStatus, &pb.GetStatusRequest{})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(s)
			}
			w := a.table()
			d := s.GetDataplane()
			conn := "disconnected"
			if d.GetConnected() {
				conn = "connected"
			}
			row(w, "agent:", s.GetAgentVersion())
			row(w, "dataplane:", fmt.Sprintf("%s (%s), %s", d.GetKind(), d.GetSelectedBy(), conn))
			if d.GetVersion() != "" {
				row(w, "dataplane version:", d.GetVersion())
			}
			if d.GetPluginVersion() != "" {
				row(w, "plugin version:", d.GetPluginVersion())
			}
			in := s.GetIntent()
			row(w, "intent:", fmt.Sprintf("%d translations, %d SNAT addresses, %d exclusions, %d SNAT interfaces, %d limits",
				in.GetTranslations(), in.GetSnatAddresses(), in.GetSnatExclusions(), in.GetSnatInterfaces(), in.GetSessionLimits()))
			if ct := s.GetCounters(); ct != nil {
				row(w, "dataplane:", fmt.Sprintf("%d translations, %d sessions", ct.GetTranslations(), ct.GetSessions()))
				var reasons []string
				for r := range ct.GetDrops() {
					reasons = append(reasons, r)
				}
				sort.Strings(reasons)
				for _, r := range reasons {
					row(w, "drops "+r+":", ct.GetDrops()[r])
				}
			} else {
				row(w, "counters:", "unavailable")
			}
			if t := s.GetLastFullSync(); t != nil {
				row(w, "last full sync:", fmt.Sprintf("%s (%s ago)", t.AsTime().Local().Format(time.RFC3339), time.Since(t.AsTime()).Round(time.Second)))
			} else {
				row(w, "last full sync:", "never")
			}
			if e := s.GetLastSyncError(); e != "" {
				row(w, "last sync error:", e)
			}
			row(w, "pending/failed:", len(s.GetItems()))
			if err := w.Flush(); err != nil {
				return fail(err)
			}
			if len(s.GetItems()) > 0 {
				fmt.Fprintln(a.stdout)
				w = a.table()
				row(w, "KIND", "KEY", "OP", "STATE", "ATTEMPTS", "SINCE", "NEXT", "ERROR")
				for _, it := range s.GetItems() {
					next := "on change"
					if n := it.GetNextAttempt(); n != nil {
						next = "in " + max(time.Until(n.AsTime()), 0).Round(time.Millisecond).String()
					}
					row(w, it.GetKind(), it.GetKey(), it.GetOp(), syncString(&pb.Sync{State: it.GetState()}), it.GetAttempts(),
						time.Since(it.GetSince().AsTime()).Round(time.Second).String()+" ago", next, it.GetError())
				}
				return w.Flush()
			}
			return nil
		},
	}
}
