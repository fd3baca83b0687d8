package kernel

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// CheckTranslation refuses, before it is stored, a translation the kernel
// dataplane cannot express (normalizeTranslation) and a `vip` translation
// on an address the host owns: its "drop the other ports" rule would cut
// the host off that address (ssh, ping). Loopback and link-local addresses
// are refused too.
func (d *Dataplane) CheckTranslation(ctx context.Context, t model.Translation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := normalizeTranslation(t)
	if err != nil {
		return err
	}
	if t.Kind != model.KindVIP {
		return nil
	}
	local, err := d.localAddrs()
	if err != nil {
		return fmt.Errorf("kernel dataplane: %w", err)
	}
	return checkVIPAddr(t.Key, local)
}

func checkVIPAddr(k model.TranslationKey, local map[netip.Addr]string) error {
	a := k.VIP.Unmap()
	why := ""
	switch {
	case a.IsLoopback():
		why = "a loopback address"
	case a.IsLinkLocalUnicast():
		why = "a link-local address"
	case a.IsUnspecified() || a.IsMulticast():
		why = "not a unicast address"
	case local[a] != "":
		why = "an address of this host (interface " + local[a] + ")"
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("kernel dataplane: vip translation %s: %s is %s; its other ports would be dropped and the host cut off that address; use a `real` translation (only the translated port is taken): %w",
		k, a, why, dataplane.ErrUnsupported)
}

// localAddrs maps every address of the host's interfaces to the interface.
func (d *Dataplane) localAddrs() (map[netip.Addr]string, error) {
	links, err := d.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := map[netip.Addr]string{}
	for _, l := range links {
		addrs, err := d.nl.AddrList(l, 0)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, ad := range addrs {
			if p, ok := prefixOf(ad.IPNet); ok {
				out[p.Addr()] = l.Attrs().Name
			}
		}
	}
	return out, nil
}

// CheckInterfaceName refuses names Linux cannot give an interface.
func (d *Dataplane) CheckInterfaceName(name string) error {
	return checkIfName(name)
}

// checkIfName: 1 to 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace,
// not "." or "..".
func checkIfName(name string) error {
	q := name
	if len(q) > 32 {
		q = q[:32] + "..."
	}
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q: %d bytes, Linux allows 1 to 15", q, len(name))
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("interface name %q: '/' and ':' are not allowed", q)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r < ' ' || r == 0x7f }):
		return fmt.Errorf("interface name %q: whitespace and control characters are not allowed", q)
	}
	return nil
}
