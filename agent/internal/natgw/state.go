package natgw

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// State is what the agent stores: the interfaces, the gateways and each
// gateway's last plan (so blocks are stable across restarts). Every slice
// is kept in name order.
type State struct {
	Interfaces []NetworkInterface `json:"interfaces,omitempty"`
	Gateways   []NATGateway       `json:"gateways,omitempty"`
	Plans      []Status           `json:"plans,omitempty"`
}

// Clone deep-copies the state.
func (s State) Clone() State {
	out := State{
		Interfaces: slices.Clone(s.Interfaces),
		Gateways:   slices.Clone(s.Gateways),
		Plans:      slices.Clone(s.Plans),
	}
	for i := range out.Interfaces {
		n := &out.Interfaces[i]
		n.Labels = maps.Clone(n.Labels)
		n.IPs = slices.Clone(n.IPs)
		if n.VirtualIP != nil {
			v := *n.VirtualIP
			n.VirtualIP = &v
		}
	}
	for i := range out.Gateways {
		g := &out.Gateways[i]
		g.IPFamilies = slices.Clone(g.IPFamilies)
		g.IPs = cloneGatewayIPs(g.IPs)
		g.NetworkInterfaceSelector = g.NetworkInterfaceSelector.Clone()
	}
	for i := range out.Plans {
		p := &out.Plans[i]
		p.IPs = cloneGatewayIPs(p.IPs)
		p.Members = slices.Clone(p.Members)
		for j := range p.Members {
			p.Members[j].Addresses = slices.Clone(p.Members[j].Addresses)
		}
		p.Unassigned = slices.Clone(p.Unassigned)
		p.Drained = slices.Clone(p.Drained)
	}
	return out
}

// Clone deep-copies a selector (nil stays nil).
func (s *Selector) Clone() *Selector {
	if s == nil {
		return nil
	}
	out := &Selector{MatchLabels: maps.Clone(s.MatchLabels), MatchExpressions: slices.Clone(s.MatchExpressions)}
	for i := range out.MatchExpressions {
		out.MatchExpressions[i].Values = slices.Clone(out.MatchExpressions[i].Values)
	}
	return out
}

// Interface returns the index of the named interface, or -1.
func (s *State) Interface(name string) int {
	i, ok := slices.BinarySearchFunc(s.Interfaces, name, func(n NetworkInterface, name string) int { return cmp.Compare(n.Name, name) })
	if !ok {
		return -1
	}
	return i
}

// Gateway returns the index of the named gateway, or -1.
func (s *State) Gateway(name string) int {
	i, ok := slices.BinarySearchFunc(s.Gateways, name, func(g NATGateway, name string) int { return cmp.Compare(g.Name, name) })
	if !ok {
		return -1
	}
	return i
}

// Plan returns the named gateway's plan, or nil.
func (s *State) Plan(name string) *Status {
	i, ok := slices.BinarySearchFunc(s.Plans, name, func(p Status, name string) int { return cmp.Compare(p.Gateway, name) })
	if !ok {
		return nil
	}
	return &s.Plans[i]
}

// PutInterface adds or replaces an interface (validated by the caller),
// checks conflicts and re-plans. It returns the names of the gateways
// whose plan changed.
func (s *State) PutInterface(n NetworkInterface) ([]string, error) {
	return s.Apply([]NetworkInterface{n}, nil)
}

// Apply adds or replaces interfaces and gateways (validated by the
// caller), checks conflicts once and re-plans once. It returns the names
// of the gateways whose plan changed. On error the state is left half
// changed: callers work on a copy (the store does).
func (s *State) Apply(nics []NetworkInterface, gws []NATGateway) ([]string, error) {
	for _, n := range nics {
		if err := s.setInterface(n); err != nil {
			return nil, err
		}
	}
	for _, g := range gws {
		if err := s.setGateway(g); err != nil {
			return nil, err
		}
	}
	if err := CheckConflicts(s.Interfaces, s.Gateways); err != nil {
		return nil, err
	}
	return s.Replan(), nil
}

func (s *State) setInterface(n NetworkInterface) (err error) {
	s.Interfaces, err = upsert(s.Interfaces, n, func(x NetworkInterface) string { return x.Name }, MaxInterfaces, "nic", "interfaces")
	return err
}

func (s *State) setGateway(g NATGateway) (err error) {
	s.Gateways, err = upsert(s.Gateways, g, func(x NATGateway) string { return x.Name }, MaxGateways, "natgw", "gateways")
	return err
}

// upsert replaces the element named like v in a list sorted by name, or
// inserts v in its place when the list has fewer than max elements.
func upsert[T any](list []T, v T, name func(T) string, max int, kind, plural string) ([]T, error) {
	i, found := slices.BinarySearchFunc(list, name(v), func(x T, n string) int { return cmp.Compare(name(x), n) })
	switch {
	case found:
		list[i] = v
	case len(list) >= max:
		return list, fmt.Errorf("%s %s: %d %s, at most %d", kind, name(v), len(list), plural, max)
	default:
		list = slices.Insert(list, i, v)
	}
	return list, nil
}

// DeleteInterface removes an interface; false when there is none.
func (s *State) DeleteInterface(name string) ([]string, bool) {
	i := s.Interface(name)
	if i < 0 {
		return nil, false
	}
	s.Interfaces = slices.Delete(s.Interfaces, i, i+1)
	return s.Replan(), true
}

// PutGateway adds or replaces a gateway (validated by the caller), checks
// conflicts and re-plans.
func (s *State) PutGateway(g NATGateway) ([]string, error) {
	return s.Apply(nil, []NATGateway{g})
}

// DeleteGateway removes a gateway and its plan; false when there is none.
func (s *State) DeleteGateway(name string) ([]string, bool) {
	i := s.Gateway(name)
	if i < 0 {
		return nil, false
	}
	s.Gateways = slices.Delete(s.Gateways, i, i+1)
	changed := s.Replan()
	return append(changed, name), true
}

// Replan plans every gateway from its previous plan and returns the names
// of those whose plan changed (new generation). Plans of deleted gateways
// are dropped.
func (s *State) Replan() []string {
	prev := make(map[string]*Status, len(s.Plans))
	for i := range s.Plans {
		prev[s.Plans[i].Gateway] = &s.Plans[i]
	}
	plans := PlanAll(s.Gateways, s.Interfaces, prev)
	var changed []string
	for _, p := range plans {
		if old := prev[p.Gateway]; old == nil || old.Generation != p.Generation {
			changed = append(changed, p.Gateway)
		}
	}
	s.Plans = plans
	return changed
}

// Specs is everything the state asks of a dataplane.
func (s *State) Specs() Specs {
	var out Specs
	for i := range s.Gateways {
		g := &s.Gateways[i]
		GatewaySpecs(g, s.Plan(g.Name), &out)
	}
	out.StaticNATs = StaticNATs(s.Interfaces)
	return out
}
