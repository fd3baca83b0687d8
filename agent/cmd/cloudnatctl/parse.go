package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// parseProto reads tcp, udp, icmp (icmp6/icmpv6 too), case-insensitive.
func parseProto(s string) (pb.Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return pb.Protocol_PROTOCOL_TCP, nil
	case "udp":
		return pb.Protocol_PROTOCOL_UDP, nil
	case "icmp":
		return pb.Protocol_PROTOCOL_ICMP, nil
	case "icmp6", "icmpv6":
		return pb.Protocol_PROTOCOL_ICMPV6, nil
	}
	return 0, fmt.Errorf("--proto: %q is not tcp, udp or icmp", s)
}

func protoName(p pb.Protocol) string {
	switch p {
	case pb.Protocol_PROTOCOL_TCP:
		return "tcp"
	case pb.Protocol_PROTOCOL_UDP:
		return "udp"
	case pb.Protocol_PROTOCOL_ICMP:
		return "icmp"
	case pb.Protocol_PROTOCOL_ICMPV6:
		return "icmp6"
	}
	return fmt.Sprintf("proto-%d", int32(p))
}

var hashNames = []struct {
	name string
	f    pb.HashField
}{
	{"src-addr", pb.HashField_HASH_FIELD_SRC_ADDR},
	{"dst-addr", pb.HashField_HASH_FIELD_DST_ADDR},
	{"src-port", pb.HashField_HASH_FIELD_SRC_PORT},
	{"dst-port", pb.HashField_HASH_FIELD_DST_PORT},
	{"proto", pb.HashField_HASH_FIELD_PROTO},
}

// parseHash reads "src-addr,dst-port,..." (repeated flags are joined).
func parseHash(list []string) ([]pb.HashField, error) {
	var out []pb.HashField
	for _, item := range list {
		for _, w := range strings.Split(item, ",") {
			w = strings.ToLower(strings.TrimSpace(w))
			if w == "" {
				continue
			}
			found := false
			for _, h := range hashNames {
				if h.name == w {
					out, found = append(out, h.f), true
				}
			}
			if !found {
				return nil, fmt.Errorf("--hash: %q is not one of src-addr, dst-addr, src-port, dst-port, proto", w)
			}
		}
	}
	return out, nil
}

func hashString(fs []pb.HashField) string {
	if len(fs) == 0 {
		return "all"
	}
	var names []string
	for _, f := range fs {
		for _, h := range hashNames {
			if h.f == f {
				names = append(names, h.name)
			}
		}
	}
	return strings.Join(names, ",")
}

// parseEndpoint reads "", "addr", "addr:port", "[v6]", "[v6]:port",
// ":port", or a bare IPv6 address. Addresses are checked only for syntax;
// the agent validates the rest.
func parseEndpoint(s string) (addr string, port uint32, err error) {
	if s == "" {
		return "", 0, nil
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("%q: missing ]", s)
		}
		host, portStr = s[1:end], s[end+1:]
		if portStr != "" {
			if !strings.HasPrefix(portStr, ":") {
				return "", 0, fmt.Errorf("%q: want [address]:port", s)
			}
			portStr = portStr[1:]
		}
	case strings.Count(s, ":") == 1:
		host, portStr, _ = strings.Cut(s, ":")
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", 0, fmt.Errorf("%q: %q is not an IP address", s, host)
		}
		addr = a.String()
	}
	if portStr != "" {
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || p == 0 {
			return "", 0, fmt.Errorf("%q: %q is not a port (1..65535)", s, portStr)
		}
		port = uint32(p)
	}
	return addr, port, nil
}

// parseBackend reads "[src[:sport]]->dst[:dport]", e.g. "->20.0.0.1:8080",
// "1.2.3.4->20.0.0.2:8080", "1.2.3.4:5555->[20::1]:8080".
func parseBackend(s string) (*pb.Backend, error) {
	src, dst, ok := strings.Cut(s, "->")
	if !ok {
		return nil, fmt.Errorf("--to %q: want [src[:port]]->dst[:port]", s)
	}
	b := &pb.Backend{}
	var err error
	if b.SrcAddr, b.SrcPort, err = parseEndpoint(strings.TrimSpace(src)); err != nil {
		return nil, fmt.Errorf("--to %q: source %w", s, err)
	}
	if b.DstAddr, b.DstPort, err = parseEndpoint(strings.TrimSpace(dst)); err != nil {
		return nil, fmt.Errorf("--to %q: destination %w", s, err)
	}
	if b.DstAddr == "" {
		return nil, fmt.Errorf("--to %q: a destination address is required", s)
	}
	return b, nil
}

func endpointString(addr string, port uint32) string {
	switch {
	case addr == "" && port == 0:
		return ""
	case port == 0:
		return addr
	case addr == "":
		return fmt.Sprintf(":%d", port)
	case strings.Contains(addr, ":"):
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// backendString is parseBackend's inverse.
func backendString(b *pb.Backend) string {
	return endpointString(b.GetSrcAddr(), b.GetSrcPort()) + "->" + endpointString(b.GetDstAddr(), b.GetDstPort())
}

// parseAddrPort reads "addr:port", "[v6]:port" or a bare address (ICMP).
func parseAddrPort(flag, s string) (string, uint32, error) {
	if s == "" {
		return "", 0, fmt.Errorf("--%s: required", flag)
	}
	addr, port, err := parseEndpoint(s)
	if err != nil {
		return "", 0, fmt.Errorf("--%s: %w", flag, err)
	}
	if addr == "" {
		return "", 0, fmt.Errorf("--%s %q: an address is required", flag, s)
	}
	return addr, port, nil
}
