// Package natgwpb converts the NAT gateway resources between package natgw
// and the gRPC messages of cloudnat.v1. FromPB functions parse and
// validate: their errors name the field ("gateway.ips[0].addresses[1]: ...").
package natgwpb

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func parseAddr(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: %q is not an IP address", field, s)
	}
	return a, nil
}

// InterfaceFromPB parses and validates an interface; field prefixes errors.
func InterfaceFromPB(field string, m *pb.NetworkInterface) (natgw.NetworkInterface, error) {
	if m == nil {
		return natgw.NetworkInterface{}, fmt.Errorf("%s: required", field)
	}
	n := natgw.NetworkInterface{Name: m.GetName(), Network: m.GetNetwork(), OutsideVRF: m.GetOutsideVrf()}
	if len(m.GetLabels()) > 0 {
		n.Labels = maps.Clone(m.GetLabels())
	}
	if len(m.GetIps()) > natgw.MaxInterfaceIPs {
		return n, fmt.Errorf("%s.ips: %d addresses, at most %d", field, len(m.GetIps()), natgw.MaxInterfaceIPs)
	}
	for i, s := range m.GetIps() {
		a, err := parseAddr(fmt.Sprintf("%s.ips[%d]", field, i), s)
		if err != nil {
			return n, err
		}
		n.IPs = append(n.IPs, a)
	}
	if v := m.GetVirtualIp(); v != "" {
		a, err := parseAddr(field+".virtual_ip", v)
		if err != nil {
			return n, err
		}
		n.VirtualIP = &a
	}
	if err := natgw.ValidateInterface(&n); err != nil {
		return n, fmt.Errorf("%s.%w", field, err)
	}
	return n, nil
}

// InterfacePB is the message of an interface.
func InterfacePB(n *natgw.NetworkInterface) *pb.NetworkInterface {
	m := &pb.NetworkInterface{Name: n.Name, Network: n.Network, Labels: maps.Clone(n.Labels), OutsideVrf: n.OutsideVRF}
	for _, a := range n.IPs {
		m.Ips = append(m.Ips, a.String())
	}
	if n.VirtualIP != nil {
		m.VirtualIp = n.VirtualIP.String()
	}
	return m
}

// GatewayFromPB parses a gateway, fills IEP-4's defaults and validates it.
func GatewayFromPB(field string, m *pb.NATGateway) (natgw.NATGateway, error) {
	if m == nil {
		return natgw.NATGateway{}, fmt.Errorf("%s: required", field)
	}
	g := natgw.NATGateway{
		Name: m.GetName(), Type: natgw.GatewayType(m.GetType()), Network: m.GetNetwork(), OutsideVRF: m.GetOutsideVrf(),
		PortsPerNetworkInterface: m.GetPortsPerNetworkInterface(),
	}
	if len(m.GetIpFamilies()) > 2 {
		return g, fmt.Errorf("%s.ip_families: %d entries, at most 2 (IPv4, IPv6)", field, len(m.GetIpFamilies()))
	}
	for _, f := range m.GetIpFamilies() {
		g.IPFamilies = append(g.IPFamilies, natgw.Family(f))
	}
	if len(m.GetIps()) > natgw.MaxGatewayIPs {
		return g, fmt.Errorf("%s.ips: %d entries, at most %d", field, len(m.GetIps()), natgw.MaxGatewayIPs)
	}
	for i, ip := range m.GetIps() {
		e := natgw.GatewayIP{Name: ip.GetName()}
		if len(ip.GetAddresses()) > 2 {
			return g, fmt.Errorf("%s.ips[%d].addresses: %d addresses, at most one per family", field, i, len(ip.GetAddresses()))
		}
		for j, s := range ip.GetAddresses() {
			a, err := parseAddr(fmt.Sprintf("%s.ips[%d].addresses[%d]", field, i, j), s)
			if err != nil {
				return g, err
			}
			e.Addresses = append(e.Addresses, a)
		}
		g.IPs = append(g.IPs, e)
	}
	if sel := m.GetNetworkInterfaceSelector(); sel != nil {
		g.NetworkInterfaceSelector = &natgw.Selector{}
		if len(sel.GetMatchLabels()) > 0 {
			g.NetworkInterfaceSelector.MatchLabels = maps.Clone(sel.GetMatchLabels())
		}
		if len(sel.GetMatchExpressions()) > natgw.MaxSelectorExprs {
			return g, fmt.Errorf("%s.network_interface_selector.match_expressions: %d entries, at most %d", field, len(sel.GetMatchExpressions()), natgw.MaxSelectorExprs)
		}
		for _, r := range sel.GetMatchExpressions() {
			g.NetworkInterfaceSelector.MatchExpressions = append(g.NetworkInterfaceSelector.MatchExpressions, natgw.Requirement{
				Key: r.GetKey(), Operator: natgw.Operator(r.GetOperator()), Values: append([]string(nil), r.GetValues()...),
			})
		}
	}
	natgw.Defaults(&g)
	if err := natgw.ValidateGateway(&g); err != nil {
		return g, fmt.Errorf("%s.%w", field, err)
	}
	return g, nil
}

// GatewayPB is the message of a gateway.
func GatewayPB(g *natgw.NATGateway) *pb.NATGateway {
	m := &pb.NATGateway{
		Name: g.Name, Type: string(g.Type), Network: g.Network, OutsideVrf: g.OutsideVRF,
		PortsPerNetworkInterface: g.PortsPerNetworkInterface, Ips: gatewayIPsPB(g.IPs),
	}
	for _, f := range g.IPFamilies {
		m.IpFamilies = append(m.IpFamilies, string(f))
	}
	if s := g.NetworkInterfaceSelector; s != nil {
		m.NetworkInterfaceSelector = &pb.LabelSelector{MatchLabels: maps.Clone(s.MatchLabels)}
		for _, r := range s.MatchExpressions {
			m.NetworkInterfaceSelector.MatchExpressions = append(m.NetworkInterfaceSelector.MatchExpressions,
				&pb.LabelSelectorRequirement{Key: r.Key, Operator: string(r.Operator), Values: append([]string(nil), r.Values...)})
		}
	}
	return m
}

func gatewayIPsPB(ips []natgw.GatewayIP) []*pb.NATGatewayIP {
	out := make([]*pb.NATGatewayIP, 0, len(ips))
	for _, ip := range ips {
		e := &pb.NATGatewayIP{Name: ip.Name}
		for _, a := range ip.Addresses {
			e.Addresses = append(e.Addresses, a.String())
		}
		out = append(out, e)
	}
	return out
}

// StatusPB is the message of a plan (nil for nil).
func StatusPB(st *natgw.Status) *pb.NATGatewayStatus {
	if st == nil {
		return nil
	}
	m := &pb.NATGatewayStatus{
		Ips: gatewayIPsPB(st.IPs), PortsUsed: st.PortsUsed, DrainedTotal: st.DrainedTotal, Generation: st.Generation,
		PortsPerNetworkInterface: st.PortsPerNetworkInterface,
		Members:                  make([]*pb.NATGatewayMember, 0, len(st.Members)),
	}
	for _, x := range st.Members {
		mm := &pb.NATGatewayMember{Interface: x.Interface, IpName: x.IPName, PortStart: uint32(x.Ports.Start), PortEnd: uint32(x.Ports.End)}
		for _, a := range x.Addresses {
			mm.Addresses = append(mm.Addresses, &pb.NATGatewayMemberAddress{Family: string(a.Family), Inside: a.Inside.String(), Outside: a.Outside.String()})
		}
		m.Members = append(m.Members, mm)
	}
	for _, u := range st.Unassigned {
		m.Unassigned = append(m.Unassigned, &pb.NATGatewayUnassigned{Interface: u.Interface, Reason: u.Reason})
	}
	for _, b := range st.Drained {
		m.Drained = append(m.Drained, &pb.NATGatewayBlock{
			Interface: b.Interface, Inside: b.Inside.String(), Outside: b.Outside.String(),
			PortStart: uint32(b.Ports.Start), PortEnd: uint32(b.Ports.End),
		})
	}
	return m
}
