package vpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	interfaces "github.com/cloudnat/cloudnat/binapi/interface"
	"github.com/cloudnat/cloudnat/binapi/interface_types"
	"github.com/cloudnat/cloudnat/binapi/ip"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

// opErr wraps err with the operation; transport failures also wrap
// dataplane.ErrNotConnected.
func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("vpp %s: %w", op, transportErr(err))
}

// isAbsent: VNET_API_ERROR_NO_SUCH_ENTRY (-6), or NO_SUCH_FIB (-3): an
// object of a table that does not exist does not exist either.
func isAbsent(err error) bool {
	var e api.VPPApiError
	return errors.As(err, &e) && (e == api.NO_SUCH_ENTRY || e == api.NO_SUCH_FIB)
}

// delErr is opErr for deletes: deleting something absent is not an error.
func delErr(op string, err error) error {
	if isAbsent(err) {
		return nil
	}
	return opErr(op, err)
}

// recvAll reads a dump's details until its end. When fn stops early, the
// rest of the dump is drained in the background so that no stale reply
// reaches a later stream that reuses the channel.
func recvAll[T any](recv func() (T, error), closeStream func() error, fn func(T) error) error {
	for {
		m, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			_ = closeStream()
			return err
		}
		if err := fn(m); err != nil {
			go func() {
				for {
					if _, err := recv(); err != nil {
						if err != io.EOF {
							_ = closeStream()
						}
						return
					}
				}
			}()
			return err
		}
	}
}

// ---------------------------------------------------------------- translations

// ListTranslations implements dataplane.Dataplane.
func (d *Dataplane) ListTranslations(ctx context.Context) ([]model.Translation, error) {
	const op = "cloudnat_translation_dump"
	s, err := d.session(&cloudnat.CloudnatTranslationDump{}, &cloudnat.CloudnatTranslationDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatTranslationDump(ctx, &cloudnat.CloudnatTranslationDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.Translation
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatTranslationDetails) error {
		t, err := fromTranslation(m.Translation)
		if err != nil {
			return fmt.Errorf("translation %d: %w", m.ID, err)
		}
		out = append(out, t)
		return nil
	})
	return out, opErr(op, err)
}

// PutTranslation implements dataplane.Dataplane.
func (d *Dataplane) PutTranslation(ctx context.Context, t model.Translation) error {
	return d.PutTranslations(ctx, []model.Translation{t})[0]
}

// PutTranslations adds or replaces many translations, pipelined: all
// requests are sent without waiting for each reply. It returns one error
// per translation (nil: programmed).
func (d *Dataplane) PutTranslations(ctx context.Context, ts []model.Translation) []error {
	errs := make([]error, len(ts))
	s, err := d.session(&cloudnat.CloudnatTranslationAddUpdate{}, &cloudnat.CloudnatTranslationAddUpdateReply{})
	if err != nil {
		for i := range errs {
			errs[i] = opErr("cloudnat_translation_add_update", err)
		}
		return errs
	}
	calls := make([]*pending, len(ts))
	for i, t := range ts {
		tr, err := toTranslation(t)
		if err != nil {
			errs[i] = fmt.Errorf("vpp translation %s: %w", t.Key, err)
			continue
		}
		req := &cloudnat.CloudnatTranslationAddUpdate{Translation: tr}
		if calls[i], err = s.start(ctx, req, &cloudnat.CloudnatTranslationAddUpdateReply{}); err != nil {
			errs[i] = fmt.Errorf("vpp cloudnat_translation_add_update %s: %w", t.Key, transportErr(err))
		}
	}
	for i, c := range calls {
		if c == nil {
			continue
		}
		if _, err := c.wait(ctx); err != nil {
			errs[i] = fmt.Errorf("vpp cloudnat_translation_add_update %s: %w", ts[i].Key, err)
		}
	}
	return errs
}

// DeleteTranslation implements dataplane.Dataplane.
func (d *Dataplane) DeleteTranslation(ctx context.Context, k model.TranslationKey) error {
	return d.DeleteTranslations(ctx, []model.TranslationKey{k})[0]
}

// DeleteTranslations deletes many translations, pipelined; absent ones are
// not errors. It returns one error per key.
func (d *Dataplane) DeleteTranslations(ctx context.Context, ks []model.TranslationKey) []error {
	const op = "cloudnat_translation_del"
	errs := make([]error, len(ks))
	s, err := d.session(&cloudnat.CloudnatTranslationDel{}, &cloudnat.CloudnatTranslationDelReply{})
	if err != nil {
		for i := range errs {
			errs[i] = opErr(op, err)
		}
		return errs
	}
	calls := make([]*pending, len(ks))
	for i, k := range ks {
		vip, proto, err := keyFields(k)
		if err != nil {
			errs[i] = fmt.Errorf("vpp translation %s: %w", k, err)
			continue
		}
		req := &cloudnat.CloudnatTranslationDel{TableID: k.VRF, Vip: vip, Port: k.Port, Proto: proto}
		if calls[i], err = s.start(ctx, req, &cloudnat.CloudnatTranslationDelReply{}); err != nil {
			errs[i] = opErr(op+" "+k.String(), err)
		}
	}
	for i, c := range calls {
		if c == nil {
			continue
		}
		_, err := c.wait(ctx)
		errs[i] = delErr(op+" "+ks[i].String(), err)
	}
	return errs
}

// ---------------------------------------------------------------- source NAT

// ListSNATAddresses implements dataplane.Dataplane.
func (d *Dataplane) ListSNATAddresses(ctx context.Context) ([]model.SNATAddress, error) {
	const op = "cloudnat_snat_address_dump"
	s, err := d.session(&cloudnat.CloudnatSnatAddressDump{}, &cloudnat.CloudnatSnatAddressDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatSnatAddressDump(ctx, &cloudnat.CloudnatSnatAddressDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.SNATAddress
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSnatAddressDetails) error {
		a, err := fromAddress(m.Addr)
		if err != nil {
			return err
		}
		out = append(out, model.SNATAddress{VRF: m.TableID, Addr: a})
		return nil
	})
	return out, opErr(op, err)
}

func (d *Dataplane) snatAddress(ctx context.Context, a model.SNATAddress, add bool) error {
	if !a.Addr.IsValid() {
		return errors.New("vpp snat address: no address")
	}
	s, err := d.session(&cloudnat.CloudnatSnatAddressAddDel{}, &cloudnat.CloudnatSnatAddressAddDelReply{})
	if err != nil {
		return opErr("cloudnat_snat_address_add_del", err)
	}
	req := &cloudnat.CloudnatSnatAddressAddDel{IsAdd: add, TableID: a.VRF, Addr: toAddress(a.Addr)}
	return s.do(ctx, req, &cloudnat.CloudnatSnatAddressAddDelReply{})
}

// PutSNATAddress implements dataplane.Dataplane.
func (d *Dataplane) PutSNATAddress(ctx context.Context, a model.SNATAddress) error {
	return opErr(fmt.Sprintf("cloudnat_snat_address_add_del add vrf %d %s", a.VRF, a.Addr), d.snatAddress(ctx, a, true))
}

// DeleteSNATAddress implements dataplane.Dataplane.
func (d *Dataplane) DeleteSNATAddress(ctx context.Context, a model.SNATAddress) error {
	return delErr(fmt.Sprintf("cloudnat_snat_address_add_del del vrf %d %s", a.VRF, a.Addr), d.snatAddress(ctx, a, false))
}

// ListSNATExclusions implements dataplane.Dataplane.
func (d *Dataplane) ListSNATExclusions(ctx context.Context) ([]model.SNATExclusion, error) {
	const op = "cloudnat_snat_exclude_dump"
	s, err := d.session(&cloudnat.CloudnatSnatExcludeDump{}, &cloudnat.CloudnatSnatExcludeDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatSnatExcludeDump(ctx, &cloudnat.CloudnatSnatExcludeDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.SNATExclusion
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSnatExcludeDetails) error {
		p, err := fromPrefix(m.Prefix)
		if err != nil {
			return err
		}
		out = append(out, model.SNATExclusion{VRF: m.TableID, Prefix: p})
		return nil
	})
	return out, opErr(op, err)
}

func (d *Dataplane) snatExclusion(ctx context.Context, e model.SNATExclusion, add bool) error {
	if !e.Prefix.IsValid() {
		return errors.New("no prefix")
	}
	s, err := d.session(&cloudnat.CloudnatSnatExcludeAddDel{}, &cloudnat.CloudnatSnatExcludeAddDelReply{})
	if err != nil {
		return err
	}
	req := &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: add, TableID: e.VRF, Prefix: toPrefix(e.Prefix)}
	return s.do(ctx, req, &cloudnat.CloudnatSnatExcludeAddDelReply{})
}

// PutSNATExclusion implements dataplane.Dataplane.
func (d *Dataplane) PutSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	return opErr(fmt.Sprintf("cloudnat_snat_exclude_add_del add vrf %d %s", e.VRF, e.Prefix), d.snatExclusion(ctx, e, true))
}

// DeleteSNATExclusion implements dataplane.Dataplane.
func (d *Dataplane) DeleteSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	return delErr(fmt.Sprintf("cloudnat_snat_exclude_add_del del vrf %d %s", e.VRF, e.Prefix), d.snatExclusion(ctx, e, false))
}

// ListSNATInterfaces implements dataplane.Dataplane.
func (d *Dataplane) ListSNATInterfaces(ctx context.Context) ([]model.SNATInterface, error) {
	const op = "cloudnat_snat_interface_dump"
	s, err := d.session(&cloudnat.CloudnatSnatInterfaceDump{}, &cloudnat.CloudnatSnatInterfaceDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatSnatInterfaceDump(ctx, &cloudnat.CloudnatSnatInterfaceDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var raw []*cloudnat.CloudnatSnatInterfaceDetails
	if err := recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSnatInterfaceDetails) error {
		raw = append(raw, m)
		return nil
	}); err != nil {
		return nil, opErr(op, err)
	}
	out := make([]model.SNATInterface, 0, len(raw))
	for _, m := range raw {
		name, err := d.ifName(ctx, s, uint32(m.SwIfIndex))
		if err != nil {
			return nil, opErr(op, err)
		}
		fam := model.IPv4
		if m.IsIP6 {
			fam = model.IPv6
		}
		out = append(out, model.SNATInterface{Interface: name, Family: fam})
	}
	return out, nil
}

func (d *Dataplane) snatInterface(ctx context.Context, i model.SNATInterface, enable bool) error {
	var isIP6 bool
	switch i.Family {
	case model.IPv4:
	case model.IPv6:
		isIP6 = true
	default:
		return unsupported("address family %d", i.Family)
	}
	s, err := d.session(&cloudnat.CloudnatSnatInterfaceEnableDisable{}, &cloudnat.CloudnatSnatInterfaceEnableDisableReply{})
	if err != nil {
		return err
	}
	idx, ok, err := d.ifIndex(ctx, s, i.Interface)
	if err != nil {
		return err
	}
	if !ok {
		if !enable {
			return nil // the interface is gone, and its feature with it
		}
		return fmt.Errorf("no interface %q in VPP", i.Interface)
	}
	req := &cloudnat.CloudnatSnatInterfaceEnableDisable{Enable: enable, IsIP6: isIP6, SwIfIndex: interface_types.InterfaceIndex(idx)}
	return s.do(ctx, req, &cloudnat.CloudnatSnatInterfaceEnableDisableReply{})
}

// PutSNATInterface implements dataplane.Dataplane.
func (d *Dataplane) PutSNATInterface(ctx context.Context, i model.SNATInterface) error {
	return opErr(fmt.Sprintf("cloudnat_snat_interface_enable_disable enable %s ip%d", i.Interface, i.Family), d.snatInterface(ctx, i, true))
}

// DeleteSNATInterface implements dataplane.Dataplane.
func (d *Dataplane) DeleteSNATInterface(ctx context.Context, i model.SNATInterface) error {
	return delErr(fmt.Sprintf("cloudnat_snat_interface_enable_disable disable %s ip%d", i.Interface, i.Family), d.snatInterface(ctx, i, false))
}

// ---------------------------------------------------------------- timeouts, limits

// GetTimeouts implements dataplane.Dataplane.
func (d *Dataplane) GetTimeouts(ctx context.Context) (model.Timeouts, error) {
	const op = "cloudnat_timeouts_get"
	s, err := d.session(&cloudnat.CloudnatTimeoutsGet{}, &cloudnat.CloudnatTimeoutsGetReply{})
	if err != nil {
		return model.Timeouts{}, opErr(op, err)
	}
	c, err := s.start(ctx, &cloudnat.CloudnatTimeoutsGet{}, &cloudnat.CloudnatTimeoutsGetReply{})
	if err != nil {
		return model.Timeouts{}, opErr(op, err)
	}
	m, err := c.wait(ctx)
	if err != nil {
		return model.Timeouts{}, opErr(op, err)
	}
	return fromTimeouts(m.(*cloudnat.CloudnatTimeoutsGetReply)), nil
}

// SetTimeouts implements dataplane.Dataplane.
func (d *Dataplane) SetTimeouts(ctx context.Context, t model.Timeouts) error {
	const op = "cloudnat_timeouts_set"
	req, err := toTimeoutsSet(t)
	if err != nil {
		return fmt.Errorf("vpp timeouts: %w", err)
	}
	s, err := d.session(req, &cloudnat.CloudnatTimeoutsSetReply{})
	if err != nil {
		return opErr(op, err)
	}
	return opErr(op, s.do(ctx, req, &cloudnat.CloudnatTimeoutsSetReply{}))
}

// ListSessionLimits implements dataplane.Dataplane.
func (d *Dataplane) ListSessionLimits(ctx context.Context) ([]model.SessionLimit, error) {
	const op = "cloudnat_session_limit_dump"
	s, err := d.session(&cloudnat.CloudnatSessionLimitDump{}, &cloudnat.CloudnatSessionLimitDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatSessionLimitDump(ctx, &cloudnat.CloudnatSessionLimitDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.SessionLimit
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSessionLimitDetails) error {
		out = append(out, model.SessionLimit{VRF: m.TableID, Max: m.MaxSessions})
		return nil
	})
	return out, opErr(op, err)
}

// sessionTableFill reads how full the plugin's session tables are.
func (d *Dataplane) sessionTableFill(ctx context.Context) (map[string]float64, error) {
	const op = "cloudnat_session_table_dump"
	s, err := d.session(&cloudnat.CloudnatSessionTableDump{}, &cloudnat.CloudnatSessionTableDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatSessionTableDump(ctx, &cloudnat.CloudnatSessionTableDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	out := map[string]float64{}
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSessionTableDetails) error {
		family := "ip4"
		if m.Af == ip_types.ADDRESS_IP6 {
			family = "ip6"
		}
		if m.NSlots > 0 {
			out[family] = float64(m.NEntries) / float64(m.NSlots)
		}
		return nil
	})
	return out, opErr(op, err)
}

// SetSessionLimit implements dataplane.Dataplane.
func (d *Dataplane) SetSessionLimit(ctx context.Context, l model.SessionLimit) error {
	const op = "cloudnat_session_limit_set"
	req := &cloudnat.CloudnatSessionLimitSet{TableID: l.VRF, MaxSessions: l.Max}
	s, err := d.session(req, &cloudnat.CloudnatSessionLimitSetReply{})
	if err != nil {
		return opErr(op, err)
	}
	return opErr(op, s.do(ctx, req, &cloudnat.CloudnatSessionLimitSetReply{}))
}

// ---------------------------------------------------------------- sessions

// ListSessions implements dataplane.Dataplane.
func (d *Dataplane) ListSessions(ctx context.Context, f model.SessionFilter, fn func(model.Session) error) error {
	const op = "cloudnat_session_dump"
	req, err := toSessionDump(f)
	if err != nil {
		return fmt.Errorf("vpp session filter: %w", err)
	}
	s, err := d.session(req, &cloudnat.CloudnatSessionDetails{})
	if err != nil {
		return opErr(op, err)
	}
	st, err := s.cn.CloudnatSessionDump(ctx, req)
	if err != nil {
		return opErr(op, err)
	}
	var fnErr error
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSessionDetails) error {
		sess, err := fromSession(m.Session)
		if err != nil {
			return err
		}
		if fnErr = fn(sess); fnErr != nil {
			return fnErr
		}
		return nil
	})
	if fnErr != nil {
		return fnErr // the caller's own error, unwrapped
	}
	return opErr(op, err)
}

// DeleteSession implements dataplane.Dataplane.
func (d *Dataplane) DeleteSession(ctx context.Context, k model.SessionKey) error {
	const op = "cloudnat_session_del"
	req, err := toSessionDel(k)
	if err != nil {
		return fmt.Errorf("vpp session: %w", err)
	}
	s, err := d.session(req, &cloudnat.CloudnatSessionDelReply{})
	if err != nil {
		return opErr(op, err)
	}
	return delErr(op, s.do(ctx, req, &cloudnat.CloudnatSessionDelReply{}))
}

// PurgeSessions implements dataplane.Dataplane.
func (d *Dataplane) PurgeSessions(ctx context.Context, vrf uint32) (uint32, error) {
	const op = "cloudnat_session_purge"
	req := &cloudnat.CloudnatSessionPurge{TableID: vrf}
	s, err := d.session(req, &cloudnat.CloudnatSessionPurgeReply{})
	if err != nil {
		return 0, opErr(op, err)
	}
	c, err := s.start(ctx, req, &cloudnat.CloudnatSessionPurgeReply{})
	if err != nil {
		return 0, opErr(op, err)
	}
	m, err := c.wait(ctx)
	if err != nil {
		return 0, opErr(op, err)
	}
	return m.(*cloudnat.CloudnatSessionPurgeReply).NDeleted, nil
}

// ---------------------------------------------------------------- interfaces

type ifaceDetails struct {
	index uint32
	name  string
	up    bool
}

func (d *Dataplane) dumpInterfaces(ctx context.Context, s *session) ([]ifaceDetails, error) {
	st, err := s.ifc.SwInterfaceDump(ctx, &interfaces.SwInterfaceDump{SwIfIndex: ^interface_types.InterfaceIndex(0)})
	if err != nil {
		return nil, err
	}
	var out []ifaceDetails
	err = recvAll(st.Recv, st.Close, func(m *interfaces.SwInterfaceDetails) error {
		out = append(out, ifaceDetails{
			index: uint32(m.SwIfIndex),
			name:  m.InterfaceName,
			up:    m.Flags&interface_types.IF_STATUS_API_FLAG_ADMIN_UP != 0,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	byName := make(map[string]uint32, len(out))
	byIndex := make(map[uint32]string, len(out))
	for _, i := range out {
		byName[i.name] = i.index
		byIndex[i.index] = i.name
	}
	d.ifmu.Lock()
	d.ifByName, d.ifByIndex = byName, byIndex
	d.ifmu.Unlock()
	return out, nil
}

// ifIndex maps an interface name to its sw_if_index, from the cache or,
// on a miss, from a fresh sw_interface_dump.
func (d *Dataplane) ifIndex(ctx context.Context, s *session, name string) (uint32, bool, error) {
	d.ifmu.Lock()
	idx, ok := d.ifByName[name]
	d.ifmu.Unlock()
	if ok {
		return idx, true, nil
	}
	if _, err := d.dumpInterfaces(ctx, s); err != nil {
		return 0, false, fmt.Errorf("sw_interface_dump: %w", err)
	}
	d.ifmu.Lock()
	idx, ok = d.ifByName[name]
	d.ifmu.Unlock()
	return idx, ok, nil
}

// ifName maps a sw_if_index to the interface's name (refreshing on miss).
func (d *Dataplane) ifName(ctx context.Context, s *session, idx uint32) (string, error) {
	d.ifmu.Lock()
	name, ok := d.ifByIndex[idx]
	d.ifmu.Unlock()
	if ok {
		return name, nil
	}
	if _, err := d.dumpInterfaces(ctx, s); err != nil {
		return "", fmt.Errorf("sw_interface_dump: %w", err)
	}
	d.ifmu.Lock()
	name, ok = d.ifByIndex[idx]
	d.ifmu.Unlock()
	if !ok {
		return "", fmt.Errorf("no interface with sw_if_index %d", idx)
	}
	return name, nil
}

// ListInterfaces implements dataplane.Dataplane.
func (d *Dataplane) ListInterfaces(ctx context.Context) ([]model.Interface, error) {
	const op = "sw_interface_dump"
	s, err := d.session(&interfaces.SwInterfaceDump{}, &interfaces.SwInterfaceDetails{},
		&interfaces.SwInterfaceGetTable{}, &ip.IPAddressDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	ifs, err := d.dumpInterfaces(ctx, s)
	if err != nil {
		return nil, opErr(op, err)
	}
	out := make([]model.Interface, 0, len(ifs))
	for _, i := range ifs {
		mi := model.Interface{Name: i.name, Index: i.index, Up: i.up}
		for _, v6 := range []bool{false, true} {
			req := &interfaces.SwInterfaceGetTable{SwIfIndex: interface_types.InterfaceIndex(i.index), IsIPv6: v6}
			c, err := s.start(ctx, req, &interfaces.SwInterfaceGetTableReply{})
			if err != nil {
				return nil, opErr("sw_interface_get_table", err)
			}
			m, err := c.wait(ctx)
			if err != nil {
				return nil, opErr(fmt.Sprintf("sw_interface_get_table %s", i.name), err)
			}
			vrf := m.(*interfaces.SwInterfaceGetTableReply).VrfID
			if v6 {
				mi.VRF6 = vrf
			} else {
				mi.VRF4 = vrf
			}
			st, err := s.ipc.IPAddressDump(ctx, &ip.IPAddressDump{SwIfIndex: interface_types.InterfaceIndex(i.index), IsIPv6: v6})
			if err != nil {
				return nil, opErr("ip_address_dump", err)
			}
			err = recvAll(st.Recv, st.Close, func(m *ip.IPAddressDetails) error {
				p, err := fromPrefix(ip_types.Prefix(m.Prefix))
				if err != nil {
					return err
				}
				mi.Addrs = append(mi.Addrs, p)
				return nil
			})
			if err != nil {
				return nil, opErr(fmt.Sprintf("ip_address_dump %s", i.name), err)
			}
		}
		out = append(out, mi)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out, nil
}

// ---------------------------------------------------------------- stats

// Stats implements dataplane.Dataplane. Translations and sessions come
// from cloudnat_get_status; drops from the error counters of cloudnat's
// nodes in the stats segment, keyed "<node>/<counter>". Reading the stats
// segment is best effort: when it fails, the returned Stats still hold the
// figures from the API and the error says what failed.
func (d *Dataplane) Stats(ctx context.Context) (dataplane.Stats, error) {
	const op = "cloudnat_get_status"
	var out dataplane.Stats
	s, err := d.session(&cloudnat.CloudnatGetStatus{}, &cloudnat.CloudnatGetStatusReply{})
	if err != nil {
		return out, opErr(op, err)
	}
	c, err := s.start(ctx, &cloudnat.CloudnatGetStatus{}, &cloudnat.CloudnatGetStatusReply{})
	if err != nil {
		return out, opErr(op, err)
	}
	m, err := c.wait(ctx)
	if err != nil {
		return out, opErr(op, err)
	}
	st := m.(*cloudnat.CloudnatGetStatusReply)
	out.Translations, out.Sessions = st.NTranslations, st.NSessions
	// best effort: a plugin without the message (older) has no fill to show
	out.SessionTableFill, _ = d.sessionTableFill(ctx)
	drops, err := d.readDrops()
	out.Drops = drops
	if err != nil {
		return out, fmt.Errorf("vpp stats segment %s: %w", d.opts.StatsSocket, err)
	}
	return out, nil
}
