package vpp

import (
	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip"
)

// fakePools is the fake VPP's model of the plugin's pools: pools by name
// (delete refused while bound), bindings by (table, prefix) (refused
// without their pool), static blocks reported as subscribers, the block
// log client and the IP tables.
type fakePools struct {
	pools    []cloudnat.CloudnatPool
	bindings []cloudnat.CloudnatPoolBindDetails
	static   []cloudnat.CloudnatSubscriberBlockAddDel
	tables   []uint32 // besides 0
	logPID   uint32   // the block log client, 0: none
}

func (p *fakePools) pool(name string) int {
	for i, x := range p.pools {
		if x.Name == name {
			return i
		}
	}
	return -1
}

// handlePools runs under f.mu; ok is false for other messages.
func (f *fakeVPP) handlePools(req api.Message) ([]api.Message, bool) {
	p := &f.pools
	switch m := req.(type) {
	case *cloudnat.CloudnatPoolAddUpdate:
		if i := p.pool(m.Pool.Name); i >= 0 {
			p.pools[i] = m.Pool
		} else {
			p.pools = append(p.pools, m.Pool)
		}
		return []api.Message{&cloudnat.CloudnatPoolAddUpdateReply{PoolIndex: uint32(p.pool(m.Pool.Name))}}, true
	case *cloudnat.CloudnatPoolDel:
		i := p.pool(m.Name)
		if i < 0 {
			return []api.Message{&cloudnat.CloudnatPoolDelReply{Retval: f.delAbsentRetval}}, true
		}
		for _, b := range p.bindings {
			if b.Pool == m.Name {
				return []api.Message{&cloudnat.CloudnatPoolDelReply{Retval: int32(api.INSTANCE_IN_USE)}}, true
			}
		}
		p.pools = append(p.pools[:i], p.pools[i+1:]...)
		return []api.Message{&cloudnat.CloudnatPoolDelReply{}}, true
	case *cloudnat.CloudnatPoolDump:
		var out []api.Message
		for _, x := range p.pools {
			out = append(out, &cloudnat.CloudnatPoolDetails{Pool: x, NBlocks: 100, NBlocksUsed: uint32(len(p.static))})
		}
		return out, true
	case *cloudnat.CloudnatPoolBindAddDel:
		for i, b := range p.bindings {
			if b.TableID == m.TableID && b.Prefix == m.Prefix {
				if !m.IsAdd {
					p.bindings = append(p.bindings[:i], p.bindings[i+1:]...)
				} else {
					p.bindings[i].Pool = m.Pool
				}
				return []api.Message{&cloudnat.CloudnatPoolBindAddDelReply{}}, true
			}
		}
		if !m.IsAdd {
			return []api.Message{&cloudnat.CloudnatPoolBindAddDelReply{Retval: f.delAbsentRetval}}, true
		}
		if p.pool(m.Pool) < 0 {
			return []api.Message{&cloudnat.CloudnatPoolBindAddDelReply{Retval: int32(api.NO_SUCH_ENTRY)}}, true
		}
		p.bindings = append(p.bindings, cloudnat.CloudnatPoolBindDetails{TableID: m.TableID, Prefix: m.Prefix, Pool: m.Pool})
		return []api.Message{&cloudnat.CloudnatPoolBindAddDelReply{}}, true
	case *cloudnat.CloudnatPoolBindDump:
		var out []api.Message
		for i := range p.bindings {
			b := p.bindings[i]
			out = append(out, &b)
		}
		return out, true
	case *cloudnat.CloudnatSubscriberBlockAddDel:
		for i, b := range p.static {
			if b.Pool == m.Pool && b.TableID == m.TableID && b.InsideAddr == m.InsideAddr && b.PortStart == m.PortStart {
				if !m.IsAdd {
					p.static = append(p.static[:i], p.static[i+1:]...)
				}
				return []api.Message{&cloudnat.CloudnatSubscriberBlockAddDelReply{}}, true
			}
		}
		if m.IsAdd {
			p.static = append(p.static, *m)
		}
		return []api.Message{&cloudnat.CloudnatSubscriberBlockAddDelReply{}}, true
	case *cloudnat.CloudnatSubscriberDump:
		var out []api.Message
		for _, b := range p.static {
			if (m.TableID != allTables && b.TableID != m.TableID) || (m.Pool != "" && b.Pool != m.Pool) {
				continue
			}
			blocks := []cloudnat.CloudnatBlock{{PortStart: b.PortStart, PortEnd: b.PortStart + 255, IsStatic: true}, {PortStart: 60000, PortEnd: 60255}}
			out = append(out, &cloudnat.CloudnatSubscriberDetails{Pool: b.Pool, TableID: b.TableID, InsideAddr: b.InsideAddr,
				OutsideAddr: b.OutsideAddr, NSessions: 1, NPortsInUse: 1, NBlocks: uint8(len(blocks)), Blocks: blocks})
		}
		return out, true
	case *cloudnat.CloudnatWantBlockLog:
		if m.Enable {
			p.logPID = m.PID
		} else {
			p.logPID = 0
		}
		return []api.Message{&cloudnat.CloudnatWantBlockLogReply{}}, true
	case *ip.IPTableDump:
		out := []api.Message{&ip.IPTableDetails{Table: ip.IPTable{TableID: 0}}, &ip.IPTableDetails{Table: ip.IPTable{TableID: 0, IsIP6: true}}}
		for _, t := range p.tables {
			out = append(out, &ip.IPTableDetails{Table: ip.IPTable{TableID: t}})
		}
		return out, true
	}
	return nil, false
}
