package kernel

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Sessions are conntrack entries whose ct mark has cloudnat's bit (set by
// cloudnat's rules on the flows they translate); all others are the host's
// and are never listed or deleted. VRF is the entry's zone.

var families = []netlink.InetFamily{unix.AF_INET, unix.AF_INET6}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// tcpState maps the kernel's TCP_CONNTRACK_* onto the model's states.
func tcpState(s uint8) model.TCPState {
	switch s {
	case 1, 2, 9: // SYN_SENT, SYN_RECV, SYN_SENT2
		return model.TCPSynSent
	case 3: // ESTABLISHED
		return model.TCPEstablished
	case 4, 5, 6, 7: // FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT
		return model.TCPFinWait
	case 8: // CLOSE
		return model.TCPClosed
	}
	return model.TCPNone
}

// sessionOf converts a cloudnat conntrack entry; ok is false for others.
func sessionOf(f *netlink.ConntrackFlow) (model.Session, bool) {
	if f.Mark&markCloudnat == 0 {
		return model.Session{}, false
	}
	s := model.Session{
		VRF:           uint32(f.Zone),
		Proto:         model.Proto(f.Forward.Protocol),
		Src:           netip.AddrPortFrom(ipAddr(f.Forward.SrcIP), f.Forward.SrcPort),
		Dst:           netip.AddrPortFrom(ipAddr(f.Forward.DstIP), f.Forward.DstPort),
		NewSrc:        netip.AddrPortFrom(ipAddr(f.Reverse.DstIP), f.Reverse.DstPort),
		NewDst:        netip.AddrPortFrom(ipAddr(f.Reverse.SrcIP), f.Reverse.SrcPort),
		SNAT:          f.Mark&markSNAT != 0,
		TranslationID: markTranslationID(f.Mark),
		ExpiresIn:     time.Duration(f.TimeOut) * time.Second,
		Packets:       f.Forward.Packets + f.Reverse.Packets,
	}
	if tcp, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok {
		s.TCPState = tcpState(tcp.State)
	}
	return s, true
}

// matchFilter applies a model.SessionFilter.
func matchFilter(s model.Session, f model.SessionFilter) bool {
	if f.VRF != model.AllVRFs && s.VRF != f.VRF {
		return false
	}
	if f.Proto != 0 && s.Proto != f.Proto {
		return false
	}
	if f.Addr.IsValid() && !f.Addr.Contains(s.Src.Addr()) && !f.Addr.Contains(s.Dst.Addr()) {
		return false
	}
	if f.Port != 0 && s.Src.Port() != f.Port && s.Dst.Port() != f.Port {
		return false
	}
	return true
}

// matchKey says whether one direction of the session is k's 5-tuple.
func matchKey(s model.Session, k model.SessionKey) bool {
	if s.VRF != k.VRF || s.Proto != k.Proto {
		return false
	}
	src, dst := unmapAP(k.Src), unmapAP(k.Dst)
	return (s.Src == src && s.Dst == dst) || (s.NewDst == src && s.NewSrc == dst)
}

func unmapAP(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// flowFilter adapts a session predicate to netlink's delete filter.
type flowFilter func(model.Session) bool

func (f flowFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	s, ok := sessionOf(flow)
	return ok && f(s)
}

func (d *Dataplane) deadline(ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		_ = d.nl.SetSocketTimeout(max(time.Until(dl), time.Millisecond))
	} else {
		_ = d.nl.SetSocketTimeout(0)
	}
}

// ListSessions lists cloudnat's conntrack entries matching f.
func (d *Dataplane) ListSessions(ctx context.Context, f model.SessionFilter, fn func(model.Session) error) error {
	d.mu.Lock()
	var all []model.Session
	err := d.begin(ctx)
	if err == nil {
		d.deadline(ctx)
		for _, fam := range families {
			flows, lerr := d.nl.ConntrackTableList(netlink.ConntrackTable, fam)
			if lerr != nil {
				err = fmt.Errorf("kernel dataplane: list conntrack: %w", lerr)
				break
			}
			for _, fl := range flows {
				if s, ok := sessionOf(fl); ok && matchFilter(s, f) {
					all = append(all, s)
				}
			}
		}
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataplane) deleteFlows(ctx context.Context, pred flowFilter) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx); err != nil {
		return 0, err
	}
	d.deadline(ctx)
	var n uint32
	for _, fam := range families {
		m, err := d.nl.ConntrackDeleteFilters(netlink.ConntrackTable, fam, pred)
		n += uint32(m)
		if err != nil {
			return n, fmt.Errorf("kernel dataplane: delete conntrack entries: %w", err)
		}
	}
	return n, nil
}

// DeleteSession deletes the cloudnat session one of whose directions is k.
// Absent is fine. ICMP: the conntrack library does not decode echo ids, so
// every echo flow between the two addresses is deleted.
func (d *Dataplane) DeleteSession(ctx context.Context, k model.SessionKey) error {
	_, err := d.deleteFlows(ctx, func(s model.Session) bool {
		if isICMP(k.Proto) {
			k.Src = netip.AddrPortFrom(k.Src.Addr(), 0)
			k.Dst = netip.AddrPortFrom(k.Dst.Addr(), 0)
		}
		return matchKey(s, k)
	})
	return err
}

// PurgeSessions deletes every cloudnat session of vrf (AllVRFs: all).
func (d *Dataplane) PurgeSessions(ctx context.Context, vrf uint32) (uint32, error) {
	return d.deleteFlows(ctx, func(s model.Session) bool { return vrf == model.AllVRFs || s.VRF == vrf })
}
