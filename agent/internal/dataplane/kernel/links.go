package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// linkVRFs finds each interface's VRF: the table of its VRF master device
// (the VRF device itself belongs to its own table), or else the table of an
// `ip rule iif <dev> lookup <table>` rule with no other selector (policy
// routing used as a VRF where the vrf module is missing), or 0.
func linkVRFs(h *netlink.Handle, links []netlink.Link) (v4, v6 map[string]uint32, err error) {
	v4, v6 = map[string]uint32{}, map[string]uint32{}
	byIndex := map[int]netlink.Link{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	for fam, m := range map[int]map[string]uint32{netlink.FAMILY_V4: v4, netlink.FAMILY_V6: v6} {
		rules, err := h.RuleList(fam)
		if err != nil {
			if errors.Is(err, unix.EAFNOSUPPORT) {
				continue // IPv6 disabled
			}
			return nil, nil, fmt.Errorf("list ip rules: %w", err)
		}
		for _, r := range rules {
			if r.IifName == "" || r.Table <= 0 || r.Src != nil || r.Dst != nil || r.Mark != 0 ||
				r.OifName != "" || r.Invert || r.Table == 253 || r.Table == 254 || r.Table == 255 {
				continue
			}
			if _, seen := m[r.IifName]; !seen { // the rule with the lowest priority wins
				m[r.IifName] = uint32(r.Table)
			}
		}
	}
	for _, l := range links {
		a := l.Attrs()
		var table uint32
		if vrf, ok := l.(*netlink.Vrf); ok {
			table = vrf.Table
		} else if m, ok := byIndex[a.MasterIndex]; ok && a.MasterIndex != 0 {
			if vrf, ok := m.(*netlink.Vrf); ok {
				table = vrf.Table
			}
		}
		if table != 0 {
			v4[a.Name], v6[a.Name] = table, table
		}
	}
	return v4, v6, nil
}

// hostView is what the table needs to know about the host: the VRF (Linux
// VRF master's table, or the table of an `ip rule iif <dev> lookup <table>`)
// of each interface that is not in the default VRF.
type hostView struct {
	vrfOf map[string]uint32
}

// hostView reads the interface→VRF map that zones and SNAT chains follow.
// An interface's zone is its IPv4 VRF, or its IPv6 VRF when it has none.
func (d *Dataplane) hostView() (hostView, error) {
	links, err := d.nl.LinkList()
	if err != nil {
		return hostView{}, fmt.Errorf("list links: %w", err)
	}
	v4, v6, err := linkVRFs(d.nl, links)
	if err != nil {
		return hostView{}, err
	}
	hv := hostView{vrfOf: map[string]uint32{}}
	for n, v := range v6 {
		hv.vrfOf[n] = v
	}
	for n, v := range v4 {
		hv.vrfOf[n] = v
	}
	return hv, nil
}

// ListInterfaces lists the host's links with their addresses and VRFs.
func (d *Dataplane) ListInterfaces(ctx context.Context) ([]model.Interface, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	links, err := d.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: list links: %w", err)
	}
	v4, v6, err := linkVRFs(d.nl, links)
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: %w", err)
	}
	out := make([]model.Interface, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		addrs, err := d.nl.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("kernel dataplane: addresses of %s: %w", a.Name, err)
		}
		i := model.Interface{Name: a.Name, Index: uint32(a.Index), VRF4: v4[a.Name], VRF6: v6[a.Name],
			Up: a.Flags&net.FlagUp != 0}
		for _, ad := range addrs {
			if p, ok := prefixOf(ad.IPNet); ok {
				i.Addrs = append(i.Addrs, p)
			}
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b model.Interface) int { return int(a.Index) - int(b.Index) })
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}
