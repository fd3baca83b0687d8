package vpp

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"

	"go.fd.io/govpp/adapter"
	"go.fd.io/govpp/adapter/mock"
	"go.fd.io/govpp/api"
	"go.fd.io/govpp/codec"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	interfaces "github.com/cloudnat/cloudnat/binapi/interface"
	"github.com/cloudnat/cloudnat/binapi/interface_types"
	"github.com/cloudnat/cloudnat/binapi/ip"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
	"github.com/cloudnat/cloudnat/binapi/memclnt"
	"github.com/cloudnat/cloudnat/binapi/vpe"
)

// fakeVPP is govpp's mock adapter with a small model of the cloudnat
// plugin behind it: it decodes each request, keeps state the way the
// plugin documents it (keys, idempotent deletes, retvals) and answers with
// encoded replies, several for a dump. crcs, when set, is VPP's message
// table: a message with another CRC (or absent) is unknown to it.
type fakeVPP struct {
	*mock.VppAdapter

	mu        sync.Mutex
	cb        adapter.MsgCallback
	crcs      map[string]string
	factories map[string]func() api.Message

	translations map[string]cloudnat.CloudnatTranslation
	order        []string
	snatAddrs    []cloudnat.CloudnatSnatAddressDetails
	excludes     []cloudnat.CloudnatSnatExcludeDetails
	snatIfs      []cloudnat.CloudnatSnatInterfaceDetails
	limits       map[uint32]uint32
	timeouts     cloudnat.CloudnatTimeoutsGetReply
	sessions     []cloudnat.CloudnatSession
	ifaces       []interfaces.SwInterfaceDetails
	pools        fakePools // fakevpp_pools_test.go

	// failWith makes the next request of that name fail with the retval.
	failWith map[string]int32
	// delAbsentRetval is what a delete of something absent returns (the
	// plugin documents 0; -6 checks the agent's tolerance).
	delAbsentRetval int32
	seen            map[string]int

	// out delivers replies from one goroutine, in order, like VPP's
	// socket: a dump's details arrive while the client reads them.
	out chan func()
}

func newFakeVPP() *fakeVPP {
	f := &fakeVPP{
		VppAdapter:   mock.NewVppAdapter(),
		factories:    map[string]func() api.Message{},
		translations: map[string]cloudnat.CloudnatTranslation{},
		limits:       map[uint32]uint32{},
		timeouts:     cloudnat.CloudnatTimeoutsGetReply{UDP: 300, TCPEstablished: 7440, TCPTransitory: 240, ICMP: 60},
		failWith:     map[string]int32{},
		seen:         map[string]int{},
		out:          make(chan func(), 1<<16),
		ifaces: []interfaces.SwInterfaceDetails{
			{SwIfIndex: 0, InterfaceName: "local0"},
			{SwIfIndex: 1, InterfaceName: "tap0", Flags: interface_types.IF_STATUS_API_FLAG_ADMIN_UP},
			{SwIfIndex: 2, InterfaceName: "host-veth1"},
		},
	}
	for _, all := range [][]api.Message{cloudnat.AllMessages(), interfaces.AllMessages(), ip.AllMessages(), vpe.AllMessages(), memclnt.AllMessages()} {
		for _, m := range all {
			t := reflect.TypeOf(m).Elem()
			f.factories[m.GetMessageName()] = func() api.Message { return reflect.New(t).Interface().(api.Message) }
		}
	}
	go func() {
		for fn := range f.out {
			fn()
		}
	}()
	return f
}

func (f *fakeVPP) SetMsgCallback(cb adapter.MsgCallback) {
	f.mu.Lock()
	f.cb = cb
	f.mu.Unlock()
	f.VppAdapter.SetMsgCallback(cb)
}

func (f *fakeVPP) GetMsgID(name, crc string) (uint16, error) {
	f.mu.Lock()
	crcs := f.crcs
	f.mu.Unlock()
	if crcs != nil {
		if have, ok := crcs[name]; !ok || have != crc {
			return 0, &adapter.UnknownMsgError{MsgName: name, MsgCrc: crc}
		}
	}
	return f.VppAdapter.GetMsgID(name, crc)
}

func (f *fakeVPP) msgTable() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crcs
}

func (f *fakeVPP) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[name]
}

func (f *fakeVPP) SendMsg(context uint32, data []byte) error {
	id := binary.BigEndian.Uint16(data[0:2])
	name, ok := f.GetMsgNameByID(id)
	if !ok {
		return fmt.Errorf("fake VPP: unknown message id %d", id)
	}
	newMsg, ok := f.factories[name]
	if !ok {
		return fmt.Errorf("fake VPP: no type for %s", name)
	}
	req := newMsg()
	if err := codec.DefaultCodec.DecodeMsg(data, req); err != nil {
		return fmt.Errorf("fake VPP: decode %s: %w", name, err)
	}
	f.mu.Lock()
	f.seen[name]++
	replies := f.handle(req)
	cb := f.cb
	f.mu.Unlock()
	for _, r := range replies {
		rid, err := f.VppAdapter.GetMsgID(r.GetMessageName(), r.GetCrcString())
		if err != nil {
			return err
		}
		out, err := codec.DefaultCodec.EncodeMsg(r, rid)
		if err != nil {
			return fmt.Errorf("fake VPP: encode %s: %w", r.GetMessageName(), err)
		}
		binary.BigEndian.PutUint32(out[2:6], context)
		f.out <- func() { cb(rid, out) }
	}
	return nil
}

func tkey(table uint32, vip ip_types.Address, port uint16, proto ip_types.IPProto) string {
	return fmt.Sprintf("%d|%v|%d|%d", table, vip, port, proto)
}

// handle runs under f.mu.
func (f *fakeVPP) handle(req api.Message) []api.Message {
	if rv, ok := f.failWith[req.GetMessageName()]; ok {
		delete(f.failWith, req.GetMessageName())
		reply := f.factories[req.GetMessageName()+"_reply"]()
		reflect.ValueOf(reply).Elem().FieldByName("Retval").SetInt(int64(rv))
		return []api.Message{reply}
	}
	switch m := req.(type) {
	case *memclnt.ControlPing:
		return []api.Message{&memclnt.ControlPingReply{}}
	case *vpe.ShowVersion:
		return []api.Message{&vpe.ShowVersionReply{Program: "vpe", Version: "26.06-fake"}}
	case *cloudnat.CloudnatGetStatus:
		return []api.Message{&cloudnat.CloudnatGetStatusReply{
			NTranslations: uint32(len(f.translations)), NSessions: uint32(len(f.sessions)), PluginVersion: "0.1.0-fake"}}

	case *cloudnat.CloudnatTranslationAddUpdate:
		t := m.Translation
		if len(t.Backends) == 0 || t.Vip.Af != t.Backends[0].DstAddr.Af {
			return []api.Message{&cloudnat.CloudnatTranslationAddUpdateReply{Retval: int32(api.INVALID_VALUE)}}
		}
		k := tkey(t.TableID, t.Vip, t.Port, t.Proto)
		if _, ok := f.translations[k]; !ok {
			f.order = append(f.order, k)
		}
		f.translations[k] = t
		return []api.Message{&cloudnat.CloudnatTranslationAddUpdateReply{ID: uint32(len(f.order))}}
	case *cloudnat.CloudnatTranslationDel:
		k := tkey(m.TableID, m.Vip, m.Port, m.Proto)
		if _, ok := f.translations[k]; !ok {
			return []api.Message{&cloudnat.CloudnatTranslationDelReply{Retval: f.delAbsentRetval}}
		}
		delete(f.translations, k)
		return []api.Message{&cloudnat.CloudnatTranslationDelReply{}}
	case *cloudnat.CloudnatTranslationDump:
		var out []api.Message
		for i, k := range f.order {
			if t, ok := f.translations[k]; ok {
				out = append(out, &cloudnat.CloudnatTranslationDetails{ID: uint32(i), Translation: t})
			}
		}
		return out

	case *cloudnat.CloudnatSnatAddressAddDel:
		for i, a := range f.snatAddrs {
			if a.TableID == m.TableID && a.Addr == m.Addr {
				if !m.IsAdd {
					f.snatAddrs = append(f.snatAddrs[:i], f.snatAddrs[i+1:]...)
				}
				return []api.Message{&cloudnat.CloudnatSnatAddressAddDelReply{}}
			}
		}
		if m.IsAdd {
			f.snatAddrs = append(f.snatAddrs, cloudnat.CloudnatSnatAddressDetails{TableID: m.TableID, Addr: m.Addr})
			return []api.Message{&cloudnat.CloudnatSnatAddressAddDelReply{}}
		}
		return []api.Message{&cloudnat.CloudnatSnatAddressAddDelReply{Retval: f.delAbsentRetval}}
	case *cloudnat.CloudnatSnatAddressDump:
		var out []api.Message
		for i := range f.snatAddrs {
			a := f.snatAddrs[i]
			out = append(out, &a)
		}
		return out

	case *cloudnat.CloudnatSnatExcludeAddDel:
		for i, e := range f.excludes {
			if e.TableID == m.TableID && e.Prefix == m.Prefix {
				if !m.IsAdd {
					f.excludes = append(f.excludes[:i], f.excludes[i+1:]...)
				}
				return []api.Message{&cloudnat.CloudnatSnatExcludeAddDelReply{}}
			}
		}
		if m.IsAdd {
			f.excludes = append(f.excludes, cloudnat.CloudnatSnatExcludeDetails{TableID: m.TableID, Prefix: m.Prefix})
			return []api.Message{&cloudnat.CloudnatSnatExcludeAddDelReply{}}
		}
		return []api.Message{&cloudnat.CloudnatSnatExcludeAddDelReply{Retval: f.delAbsentRetval}}
	case *cloudnat.CloudnatSnatExcludeDump:
		var out []api.Message
		for i := range f.excludes {
			e := f.excludes[i]
			out = append(out, &e)
		}
		return out

	case *cloudnat.CloudnatSnatInterfaceEnableDisable:
		if int(m.SwIfIndex) >= len(f.ifaces) {
			return []api.Message{&cloudnat.CloudnatSnatInterfaceEnableDisableReply{Retval: int32(api.INVALID_SW_IF_INDEX)}}
		}
		for i, e := range f.snatIfs {
			if e.SwIfIndex == m.SwIfIndex && e.IsIP6 == m.IsIP6 {
				if !m.Enable {
					f.snatIfs = append(f.snatIfs[:i], f.snatIfs[i+1:]...)
				}
				return []api.Message{&cloudnat.CloudnatSnatInterfaceEnableDisableReply{}}
			}
		}
		if m.Enable {
			f.snatIfs = append(f.snatIfs, cloudnat.CloudnatSnatInterfaceDetails{SwIfIndex: m.SwIfIndex, IsIP6: m.IsIP6})
		}
		return []api.Message{&cloudnat.CloudnatSnatInterfaceEnableDisableReply{}}
	case *cloudnat.CloudnatSnatInterfaceDump:
		var out []api.Message
		for i := range f.snatIfs {
			e := f.snatIfs[i]
			out = append(out, &e)
		}
		return out

	case *cloudnat.CloudnatTimeoutsSet:
		for _, p := range []struct{ in, out *uint32 }{
			{&m.UDP, &f.timeouts.UDP}, {&m.TCPEstablished, &f.timeouts.TCPEstablished},
			{&m.TCPTransitory, &f.timeouts.TCPTransitory}, {&m.ICMP, &f.timeouts.ICMP},
		} {
			if *p.in != 0 {
				*p.out = *p.in
			}
		}
		return []api.Message{&cloudnat.CloudnatTimeoutsSetReply{}}
	case *cloudnat.CloudnatTimeoutsGet:
		r := f.timeouts
		return []api.Message{&r}

	case *cloudnat.CloudnatSessionLimitSet:
		f.limits[m.TableID] = m.MaxSessions
		return []api.Message{&cloudnat.CloudnatSessionLimitSetReply{}}
	case *cloudnat.CloudnatSessionLimitDump:
		var out []api.Message
		for t, n := range f.limits {
			out = append(out, &cloudnat.CloudnatSessionLimitDetails{TableID: t, MaxSessions: n})
		}
		return out

	case *cloudnat.CloudnatSessionTableDump:
		// 1024 buckets of 10 slots (+32 spare) per family, 2 entries a session
		var out []api.Message
		for _, af := range []ip_types.AddressFamily{ip_types.ADDRESS_IP4, ip_types.ADDRESS_IP6} {
			out = append(out, &cloudnat.CloudnatSessionTableDetails{Af: af, NBuckets: 1024, NSlots: 10560,
				NEntries: 2 * uint64(len(f.sessions)), Bytes: 1056 * 64})
		}
		return out

	case *cloudnat.CloudnatSessionDump:
		var out []api.Message
		for _, s := range f.sessions {
			if m.TableID != allTables && s.TableID != m.TableID {
				continue
			}
			if m.Proto != 0 && s.Proto != m.Proto {
				continue
			}
			out = append(out, &cloudnat.CloudnatSessionDetails{Session: s})
		}
		return out
	case *cloudnat.CloudnatSessionDel:
		for i, s := range f.sessions {
			if s.TableID == m.TableID && s.Proto == m.Proto && s.SrcAddr == m.SrcAddr && s.SrcPort == m.SrcPort &&
				s.DstAddr == m.DstAddr && s.DstPort == m.DstPort {
				f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
				return []api.Message{&cloudnat.CloudnatSessionDelReply{}}
			}
		}
		return []api.Message{&cloudnat.CloudnatSessionDelReply{Retval: f.delAbsentRetval}}
	case *cloudnat.CloudnatSessionPurge:
		var keep []cloudnat.CloudnatSession
		n := 0
		for _, s := range f.sessions {
			if m.TableID == allTables || s.TableID == m.TableID {
				n++
				continue
			}
			keep = append(keep, s)
		}
		f.sessions = keep
		return []api.Message{&cloudnat.CloudnatSessionPurgeReply{NDeleted: uint32(n)}}

	case *interfaces.SwInterfaceDump:
		var out []api.Message
		for i := range f.ifaces {
			d := f.ifaces[i]
			out = append(out, &d)
		}
		return out
	case *interfaces.SwInterfaceGetTable:
		vrf := uint32(0)
		if m.SwIfIndex == 1 && !m.IsIPv6 {
			vrf = 10
		}
		return []api.Message{&interfaces.SwInterfaceGetTableReply{VrfID: vrf}}
	case *ip.IPAddressDump:
		if m.SwIfIndex == 1 && !m.IsIPv6 {
			p, _ := ip_types.ParseAddressWithPrefix("10.0.0.1/24")
			return []api.Message{&ip.IPAddressDetails{SwIfIndex: 1, Prefix: p}}
		}
		return nil
	}
	if out, ok := f.handlePools(req); ok {
		return out
	}
	panic(fmt.Sprintf("fake VPP: unhandled %T", req))
}
