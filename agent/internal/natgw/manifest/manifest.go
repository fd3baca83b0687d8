// Package manifest reads and writes NAT gateway resources as YAML that
// reads like IronCore's IEP-4 example: documents with apiVersion, kind
// (NATGateway or NetworkInterface), metadata and spec, separated by "---".
//
// Differences from IEP-4, all documented in docs/natgw.md: a network is a
// VRF id (spec.network: 1, or networkRef.name: "1"); the gateway's public
// addresses are given (ips[].ip, one address per family, a list for a
// dual-stack entry) instead of allocated; spec.outsideVRF says where they
// live (default 0). A status section is accepted and ignored, so the
// output of "cloudnatctl natgw get -o yaml" can be applied again.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cloudnat/cloudnat/agent/internal/natgw"
)

// APIVersion is what this package writes; APIVersions what it reads.
const APIVersion = "cloudnat.io/v1alpha1"

// APIVersions are the accepted apiVersion values: cloudnat's own and
// IronCore's networking group.
var APIVersions = []string{APIVersion, "networking.ironcore.dev/v1alpha1"}

// Kinds.
const (
	KindNATGateway       = "NATGateway"
	KindNetworkInterface = "NetworkInterface"
)

// MaxDocuments bounds one input.
const MaxDocuments = natgw.MaxInterfaces + natgw.MaxGateways

// Metadata is a document's metadata. The namespace is accepted and
// ignored (names are unique per agent).
type Metadata struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

// NetworkRef is IEP-4's networkRef; its name is the VRF id.
type NetworkRef struct {
	Name string `yaml:"name"`
}

// AddrList is one address or a list of addresses.
type AddrList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *AddrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = AddrList{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: want an address or a list of addresses", n.Line)
}

// MarshalYAML writes one address as a scalar.
func (l AddrList) MarshalYAML() (any, error) {
	if len(l) == 1 {
		return l[0], nil
	}
	return []string(l), nil
}

// GatewayIP is an entry of spec.ips: a name and its address(es); "ip" and
// "ips" are synonyms (IEP-4's status uses "ips").
type GatewayIP struct {
	Name string   `yaml:"name"`
	IP   AddrList `yaml:"ip,omitempty"`
	IPs  AddrList `yaml:"ips,omitempty"`
}

// Requirement is a matchExpressions entry.
type Requirement struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"`
	Values   []string `yaml:"values,omitempty"`
}

// Selector is a label selector.
type Selector struct {
	MatchLabels      map[string]string `yaml:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `yaml:"matchExpressions,omitempty"`
}

// GatewaySpec is a NATGateway's spec.
type GatewaySpec struct {
	Type                     string      `yaml:"type,omitempty"`
	IPFamilies               []string    `yaml:"ipFamilies,omitempty"`
	Network                  *uint32     `yaml:"network,omitempty"`
	NetworkRef               *NetworkRef `yaml:"networkRef,omitempty"`
	OutsideVRF               uint32      `yaml:"outsideVRF,omitempty"`
	IPs                      []GatewayIP `yaml:"ips"`
	PortsPerNetworkInterface uint32      `yaml:"portsPerNetworkInterface,omitempty"`
	NetworkInterfaceSelector *Selector   `yaml:"networkInterfaceSelector,omitempty"`
}

// InterfaceSpec is a NetworkInterface's spec.
type InterfaceSpec struct {
	Network    *uint32     `yaml:"network,omitempty"`
	NetworkRef *NetworkRef `yaml:"networkRef,omitempty"`
	IPs        AddrList    `yaml:"ips"`
	VirtualIP  string      `yaml:"virtualIP,omitempty"`
	OutsideVRF uint32      `yaml:"outsideVRF,omitempty"`
}

// header is what every document starts with.
type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

type gatewayDoc struct {
	header   `yaml:",inline"`
	Metadata Metadata    `yaml:"metadata"`
	Spec     GatewaySpec `yaml:"spec"`
	Status   yaml.Node   `yaml:"status,omitempty"`
}

type interfaceDoc struct {
	header   `yaml:",inline"`
	Metadata Metadata      `yaml:"metadata"`
	Spec     InterfaceSpec `yaml:"spec"`
	Status   yaml.Node     `yaml:"status,omitempty"`
}

// Manifest is what a YAML input holds, each kind in document order.
type Manifest struct {
	Interfaces []natgw.NetworkInterface
	Gateways   []natgw.NATGateway
}

// Parse reads every document of r, checks it strictly (unknown fields are
// errors) and validates each resource. Errors name the document (1-based)
// and the field or line.
func Parse(r io.Reader) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(r)
	for i := 1; ; i++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("document %d: %w", i, err)
		}
		if i > MaxDocuments {
			return m, fmt.Errorf("more than %d documents", MaxDocuments)
		}
		if isEmpty(&node) {
			continue
		}
		if err := m.add(&node); err != nil {
			return m, fmt.Errorf("document %d: %w", i, err)
		}
	}
	return m, nil
}

// ParseBytes is Parse of a byte slice.
func ParseBytes(b []byte) (Manifest, error) { return Parse(bytes.NewReader(b)) }

func isEmpty(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (m *Manifest) add(node *yaml.Node) error {
	var h header
	if err := node.Decode(&h); err != nil {
		return err
	}
	switch {
	case h.APIVersion == "":
		return errors.New("apiVersion: required")
	case !contains(APIVersions, h.APIVersion):
		return fmt.Errorf("apiVersion: %q is not one of %s", h.APIVersion, strings.Join(APIVersions, ", "))
	}
	switch h.Kind {
	case KindNATGateway:
		var d gatewayDoc
		if err := decodeStrict(node, &d); err != nil {
			return err
		}
		g, err := d.gateway()
		if err != nil {
			return fmt.Errorf("NATGateway %s: %w", d.Metadata.Name, err)
		}
		m.Gateways = append(m.Gateways, g)
	case KindNetworkInterface:
		var d interfaceDoc
		if err := decodeStrict(node, &d); err != nil {
			return err
		}
		n, err := d.networkInterface()
		if err != nil {
			return fmt.Errorf("NetworkInterface %s: %w", d.Metadata.Name, err)
		}
		m.Interfaces = append(m.Interfaces, n)
	case "":
		return errors.New("kind: required (NATGateway or NetworkInterface)")
	default:
		return fmt.Errorf("kind: %q is not NATGateway or NetworkInterface", h.Kind)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func network(n *uint32, ref *NetworkRef) (uint32, error) {
	switch {
	case n == nil && ref == nil:
		return 0, errors.New("spec.network: required (the VRF id of the network)")
	case ref == nil:
		return *n, nil
	}
	v, err := strconv.ParseUint(ref.Name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("spec.networkRef.name: %q is not a VRF id (a number)", ref.Name)
	}
	if n != nil && *n != uint32(v) {
		return 0, fmt.Errorf("spec.network %d and spec.networkRef.name %q differ", *n, ref.Name)
	}
	return uint32(v), nil
}

func parseAddrs(field string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not an IP address", field, i, s)
		}
		out = append(out, a)
	}
	return out, nil
}

func (d *gatewayDoc) gateway() (natgw.NATGateway, error) {
	s := &d.Spec
	g := natgw.NATGateway{
		Name: d.Metadata.Name, Type: natgw.GatewayType(s.Type), OutsideVRF: s.OutsideVRF,
		PortsPerNetworkInterface: s.PortsPerNetworkInterface,
	}
	if len(d.Metadata.Labels) > 0 {
		return g, errors.New("metadata.labels: a NATGateway has no labels here")
	}
	var err error
	if g.Network, err = network(s.Network, s.NetworkRef); err != nil {
		return g, err
	}
	for _, f := range s.IPFamilies {
		g.IPFamilies = append(g.IPFamilies, natgw.Family(f))
	}
	if len(s.IPs) > natgw.MaxGatewayIPs {
		return g, fmt.Errorf("spec.ips: %d entries, at most %d", len(s.IPs), natgw.MaxGatewayIPs)
	}
	for i, ip := range s.IPs {
		f := fmt.Sprintf("spec.ips[%d]", i)
		if len(ip.IP) > 0 && len(ip.IPs) > 0 {
			return g, fmt.Errorf("%s: ip and ips are the same field; give one", f)
		}
		list, field := ip.IP, f+".ip"
		if len(ip.IPs) > 0 {
			list, field = ip.IPs, f+".ips"
		}
		if len(list) > 2 {
			return g, fmt.Errorf("%s: %d addresses, at most one per family", field, len(list))
		}
		addrs, err := parseAddrs(field, list)
		if err != nil {
			return g, err
		}
		g.IPs = append(g.IPs, natgw.GatewayIP{Name: ip.Name, Addresses: addrs})
	}
	if sel := s.NetworkInterfaceSelector; sel != nil {
		g.NetworkInterfaceSelector = &natgw.Selector{MatchLabels: sel.MatchLabels}
		for _, r := range sel.MatchExpressions {
			g.NetworkInterfaceSelector.MatchExpressions = append(g.NetworkInterfaceSelector.MatchExpressions,
				natgw.Requirement{Key: r.Key, Operator: natgw.Operator(r.Operator), Values: r.Values})
		}
	}
	natgw.Defaults(&g)
	if err := natgw.ValidateGateway(&g); err != nil {
		return g, specErr(err)
	}
	return g, nil
}

func (d *interfaceDoc) networkInterface() (natgw.NetworkInterface, error) {
	s := &d.Spec
	n := natgw.NetworkInterface{Name: d.Metadata.Name, Labels: d.Metadata.Labels, OutsideVRF: s.OutsideVRF}
	var err error
	if n.Network, err = network(s.Network, s.NetworkRef); err != nil {
		return n, err
	}
	if len(s.IPs) > natgw.MaxInterfaceIPs {
		return n, fmt.Errorf("spec.ips: %d addresses, at most %d", len(s.IPs), natgw.MaxInterfaceIPs)
	}
	if n.IPs, err = parseAddrs("spec.ips", s.IPs); err != nil {
		return n, err
	}
	if s.VirtualIP != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(s.VirtualIP))
		if err != nil {
			return n, fmt.Errorf("spec.virtualIP: %q is not an IP address", s.VirtualIP)
		}
		n.VirtualIP = &a
	}
	if err := natgw.ValidateInterface(&n); err != nil {
		return n, specErr(err)
	}
	return n, nil
}

// specErr places a natgw validation error (its field is relative to the
// resource) in the document: name and labels are metadata, the rest spec.
func specErr(err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "name") || strings.HasPrefix(msg, "labels") {
		return fmt.Errorf("metadata.%w", err)
	}
	return fmt.Errorf("spec.%w", err)
}

// decodeStrict decodes node into v after checking that every mapping key
// is a field of v's type (yaml.v3's KnownFields works on a Decoder only).
func decodeStrict(node *yaml.Node, v any) error {
	if err := checkKeys(node, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	return node.Decode(v)
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // node.Decode reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: %s%s: unknown field", k.Line, path, k.Value)
			}
			if err := checkKeys(n.Content[i+1], ft, path+k.Value+"."); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			collectFields(f.Type, out)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}
