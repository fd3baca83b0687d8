package vpp

import (
	"fmt"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/interface_types"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

// Conversions between the model's pools and the bindings (no I/O; see
// poolconv_test.go).

// maxPoolName is the API's string[64] less its NUL.
const maxPoolName = 63

// noInterface is the API's "no interface" sw_if_index (~0).
const noInterface = ^uint32(0)

func poolName(name string) (string, error) {
	if name == "" || len(name) > maxPoolName {
		return "", unsupported("pool name must be 1-%d bytes", maxPoolName)
	}
	return name, nil
}

func toFiltering(f model.Filtering) (cloudnat.CloudnatFiltering, error) {
	switch f {
	case model.FilterAddressPort:
		return cloudnat.CLOUDNAT_FILTER_ADDRESS_PORT, nil
	case model.FilterAddress:
		return cloudnat.CLOUDNAT_FILTER_ADDRESS, nil
	case model.FilterEndpoint:
		return cloudnat.CLOUDNAT_FILTER_ENDPOINT, nil
	}
	return 0, unsupported("filtering %s", f)
}

func fromFiltering(f cloudnat.CloudnatFiltering) (model.Filtering, error) {
	switch f {
	case cloudnat.CLOUDNAT_FILTER_ADDRESS_PORT:
		return model.FilterAddressPort, nil
	case cloudnat.CLOUDNAT_FILTER_ADDRESS:
		return model.FilterAddress, nil
	case cloudnat.CLOUDNAT_FILTER_ENDPOINT:
		return model.FilterEndpoint, nil
	}
	return 0, fmt.Errorf("unknown filtering %d", f)
}

// toPool converts p (defaults filled in) for cloudnat_pool_add_update;
// swIfIndex is its interface's index, or noInterface.
func toPool(p model.Pool, swIfIndex uint32) (cloudnat.CloudnatPool, error) {
	name, err := poolName(p.Name)
	if err != nil {
		return cloudnat.CloudnatPool{}, err
	}
	p = p.WithDefaults()
	delay, err := toSeconds("reuse delay", p.ReuseDelay)
	if err != nil {
		return cloudnat.CloudnatPool{}, err
	}
	filt, err := toFiltering(p.Filtering)
	if err != nil {
		return cloudnat.CloudnatPool{}, err
	}
	out := cloudnat.CloudnatPool{
		Name: name, OutsideTableID: p.OutsideVRF,
		PortMin: p.PortMin, PortMax: p.PortMax, BlockSize: p.BlockSize,
		MaxBlocksPerSubscriber:   p.MaxBlocksPerSubscriber,
		MaxSessionsPerSubscriber: p.MaxSessionsPerSubscriber,
		ReuseDelay:               delay, Filtering: filt,
		StaticBlocksOnly: p.StaticBlocksOnly,
		SwIfIndex:        interface_types.InterfaceIndex(swIfIndex),
		Af:               poolFamily(p),
		NRanges:          uint32(len(p.Ranges)),
		Ranges:           make([]cloudnat.CloudnatAddressRange, len(p.Ranges)),
	}
	for i, r := range p.Ranges {
		if !r.First.IsValid() || !r.Last.IsValid() || r.First.Unmap().Is4() != r.Last.Unmap().Is4() {
			return cloudnat.CloudnatPool{}, unsupported("pool %s range %d: invalid or mixed-family bounds", name, i)
		}
		out.Ranges[i] = cloudnat.CloudnatAddressRange{First: toAddress(r.First), Last: toAddress(r.Last)}
	}
	return out, nil
}

// poolFamily is the family of p's ranges; a pool of an interface's own
// address is IPv4.
func poolFamily(p model.Pool) ip_types.AddressFamily {
	if len(p.Ranges) > 0 && p.Ranges[0].First.Unmap().Is6() {
		return ip_types.ADDRESS_IP6
	}
	return ip_types.ADDRESS_IP4
}

// fromPool converts a dumped pool, defaults filled in; ifName is the name
// of its interface ("" for none).
func fromPool(m cloudnat.CloudnatPool, ifName string) (model.Pool, error) {
	filt, err := fromFiltering(m.Filtering)
	if err != nil {
		return model.Pool{}, fmt.Errorf("pool %s: %w", m.Name, err)
	}
	p := model.Pool{
		Name: m.Name, OutsideVRF: m.OutsideTableID, Interface: ifName,
		PortMin: m.PortMin, PortMax: m.PortMax, BlockSize: m.BlockSize,
		MaxBlocksPerSubscriber:   m.MaxBlocksPerSubscriber,
		MaxSessionsPerSubscriber: m.MaxSessionsPerSubscriber,
		ReuseDelay:               time.Duration(m.ReuseDelay) * time.Second,
		Filtering:                filt,
		StaticBlocksOnly:         m.StaticBlocksOnly,
	}
	for i, r := range m.Ranges {
		first, err := fromAddress(r.First)
		if err != nil {
			return model.Pool{}, fmt.Errorf("pool %s range %d: %w", m.Name, i, err)
		}
		last, err := fromAddress(r.Last)
		if err != nil {
			return model.Pool{}, fmt.Errorf("pool %s range %d: %w", m.Name, i, err)
		}
		p.Ranges = append(p.Ranges, model.AddrRange{First: first, Last: last})
	}
	return p.WithDefaults(), nil
}

func fromPoolCounters(m *cloudnat.CloudnatPoolDetails) model.PoolCounters {
	return model.PoolCounters{
		Subscribers: m.NSubscribers, Blocks: m.NBlocks, BlocksUsed: m.NBlocksUsed,
		BlocksCooling: m.NBlocksCooling, Sessions: m.NSessions, Exhausted: m.NExhausted,
	}
}

func toPoolBind(b model.PoolBinding, add bool) (*cloudnat.CloudnatPoolBindAddDel, error) {
	if !b.Prefix.IsValid() {
		return nil, unsupported("pool binding without a prefix")
	}
	name, err := poolName(b.Pool)
	if err != nil && add {
		return nil, err
	}
	return &cloudnat.CloudnatPoolBindAddDel{IsAdd: add, TableID: b.VRF, Prefix: toPrefix(b.Prefix.Masked()), Pool: name}, nil
}

func fromPoolBind(m *cloudnat.CloudnatPoolBindDetails) (model.PoolBinding, error) {
	p, err := fromPrefix(m.Prefix)
	if err != nil {
		return model.PoolBinding{}, fmt.Errorf("pool binding vrf %d: %w", m.TableID, err)
	}
	return model.PoolBinding{VRF: m.TableID, Prefix: p.Masked(), Pool: m.Pool}, nil
}

func toStaticBlock(b model.StaticBlock, add bool) (*cloudnat.CloudnatSubscriberBlockAddDel, error) {
	name, err := poolName(b.Pool)
	if err != nil {
		return nil, err
	}
	if !b.InsideAddr.IsValid() || !b.OutsideAddr.IsValid() {
		return nil, unsupported("static block %s: inside and outside addresses are required", b)
	}
	return &cloudnat.CloudnatSubscriberBlockAddDel{
		IsAdd: add, Pool: name, TableID: b.VRF,
		InsideAddr: toAddress(b.InsideAddr), OutsideAddr: toAddress(b.OutsideAddr), PortStart: b.PortStart,
	}, nil
}

func fromSubscriber(m *cloudnat.CloudnatSubscriberDetails) (model.Subscriber, error) {
	in, err := fromAddress(m.InsideAddr)
	if err != nil {
		return model.Subscriber{}, fmt.Errorf("subscriber inside address: %w", err)
	}
	out, err := fromOptAddress(m.OutsideAddr)
	if err != nil {
		return model.Subscriber{}, fmt.Errorf("subscriber %s outside address: %w", in, err)
	}
	s := model.Subscriber{
		Pool: m.Pool, VRF: m.TableID, InsideAddr: in, OutsideAddr: out,
		Sessions: m.NSessions, PortsInUse: m.NPortsInUse,
	}
	for _, b := range m.Blocks {
		s.Blocks = append(s.Blocks, model.PortBlock{Start: b.PortStart, End: b.PortEnd, Static: b.IsStatic})
	}
	return s, nil
}

// staticBlocksOf returns a subscriber's static blocks as intent.
func staticBlocksOf(s model.Subscriber) []model.StaticBlock {
	var out []model.StaticBlock
	for _, b := range s.Blocks {
		if b.Static {
			out = append(out, model.StaticBlock{Pool: s.Pool, VRF: s.VRF, InsideAddr: s.InsideAddr, OutsideAddr: s.OutsideAddr, PortStart: b.Start})
		}
	}
	return out
}

func fromBlockLog(m *cloudnat.CloudnatBlockLogEvent) (model.BlockLogRecord, error) {
	in, err := fromAddress(m.InsideAddr)
	if err != nil {
		return model.BlockLogRecord{}, fmt.Errorf("block log inside address: %w", err)
	}
	out, err := fromAddress(m.OutsideAddr)
	if err != nil {
		return model.BlockLogRecord{}, fmt.Errorf("block log outside address: %w", err)
	}
	return model.BlockLogRecord{
		Time: time.UnixMicro(int64(m.TimeUs)).UTC(), Alloc: m.IsAlloc, Exhausted: m.IsExhausted, Pool: m.Pool, VRF: m.TableID,
		InsideAddr: in, OutsideAddr: out, PortStart: m.PortStart, PortEnd: m.PortEnd, Lost: m.NLost,
	}, nil
}
