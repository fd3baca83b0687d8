package vpp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip"
)

var _ dataplane.PoolChecker = (*Dataplane)(nil)

// poolSession is session for the pool messages: a plugin without them
// (older than API 0.3.0) makes the call unsupported, not failed.
func (d *Dataplane) poolSession(msgs ...api.Message) (*session, error) {
	s, err := d.session(msgs...)
	if errors.Is(err, ErrIncompatible) {
		return nil, fmt.Errorf("%w: the VPP plugin has no pools (cloudnat API 0.3.0 or later needed): %w", dataplane.ErrUnsupported, err)
	}
	return s, err
}

// ListPools implements dataplane.Pools.
func (d *Dataplane) ListPools(ctx context.Context) ([]model.PoolStatus, error) {
	const op = "cloudnat_pool_dump"
	s, err := d.poolSession(&cloudnat.CloudnatPoolDump{}, &cloudnat.CloudnatPoolDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatPoolDump(ctx, &cloudnat.CloudnatPoolDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var raw []*cloudnat.CloudnatPoolDetails
	if err := recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatPoolDetails) error {
		raw = append(raw, m)
		return nil
	}); err != nil {
		return nil, opErr(op, err)
	}
	out := make([]model.PoolStatus, 0, len(raw))
	for _, m := range raw {
		ifName := ""
		if idx := uint32(m.Pool.SwIfIndex); idx != noInterface {
			if ifName, err = d.ifName(ctx, s, idx); err != nil {
				return nil, opErr(op, err)
			}
		}
		p, err := fromPool(m.Pool, ifName)
		if err != nil {
			return nil, opErr(op, err)
		}
		out = append(out, model.PoolStatus{Pool: p, Counters: fromPoolCounters(m)})
	}
	return out, nil
}

// PutPool implements dataplane.Pools.
func (d *Dataplane) PutPool(ctx context.Context, p model.Pool) error {
	op := "cloudnat_pool_add_update " + p.Name
	s, err := d.poolSession(&cloudnat.CloudnatPoolAddUpdate{}, &cloudnat.CloudnatPoolAddUpdateReply{})
	if err != nil {
		return opErr(op, err)
	}
	idx := noInterface
	if p.Interface != "" {
		i, ok, err := d.ifIndex(ctx, s, p.Interface)
		if err != nil {
			return opErr(op, err)
		}
		if !ok {
			return opErr(op, fmt.Errorf("no interface %q in VPP", p.Interface))
		}
		idx = i
	}
	m, err := toPool(p, idx)
	if err != nil {
		return opErr(op, err)
	}
	return opErr(op, s.do(ctx, &cloudnat.CloudnatPoolAddUpdate{Pool: m}, &cloudnat.CloudnatPoolAddUpdateReply{}))
}

// DeletePool implements dataplane.Pools. The plugin refuses while a
// binding uses the pool (INSTANCE_IN_USE).
func (d *Dataplane) DeletePool(ctx context.Context, name string) error {
	op := "cloudnat_pool_del " + name
	s, err := d.poolSession(&cloudnat.CloudnatPoolDel{}, &cloudnat.CloudnatPoolDelReply{})
	if err != nil {
		return delErr(op, err)
	}
	if _, err := poolName(name); err != nil {
		return nil // no such pool can exist
	}
	return delErr(op, s.do(ctx, &cloudnat.CloudnatPoolDel{Name: name}, &cloudnat.CloudnatPoolDelReply{}))
}

// ListPoolBindings implements dataplane.Pools.
func (d *Dataplane) ListPoolBindings(ctx context.Context) ([]model.PoolBinding, error) {
	const op = "cloudnat_pool_bind_dump"
	s, err := d.poolSession(&cloudnat.CloudnatPoolBindDump{}, &cloudnat.CloudnatPoolBindDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatPoolBindDump(ctx, &cloudnat.CloudnatPoolBindDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.PoolBinding
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatPoolBindDetails) error {
		b, err := fromPoolBind(m)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	return out, opErr(op, err)
}

func (d *Dataplane) poolBind(ctx context.Context, b model.PoolBinding, add bool) error {
	s, err := d.poolSession(&cloudnat.CloudnatPoolBindAddDel{}, &cloudnat.CloudnatPoolBindAddDelReply{})
	if err != nil {
		return err
	}
	req, err := toPoolBind(b, add)
	if err != nil {
		return err
	}
	return s.do(ctx, req, &cloudnat.CloudnatPoolBindAddDelReply{})
}

// PutPoolBinding implements dataplane.Pools.
func (d *Dataplane) PutPoolBinding(ctx context.Context, b model.PoolBinding) error {
	return opErr(fmt.Sprintf("cloudnat_pool_bind_add_del add %s pool %s", b.Key(), b.Pool), d.poolBind(ctx, b, true))
}

// DeletePoolBinding implements dataplane.Pools.
func (d *Dataplane) DeletePoolBinding(ctx context.Context, b model.PoolBinding) error {
	return delErr(fmt.Sprintf("cloudnat_pool_bind_add_del del %s", b.Key()), d.poolBind(ctx, b, false))
}

// subscribers dumps the subscribers f selects.
func (d *Dataplane) subscribers(ctx context.Context, f model.SubscriberFilter) ([]model.Subscriber, error) {
	const op = "cloudnat_subscriber_dump"
	s, err := d.poolSession(&cloudnat.CloudnatSubscriberDump{}, &cloudnat.CloudnatSubscriberDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	req := &cloudnat.CloudnatSubscriberDump{TableID: f.VRF, Pool: f.Pool}
	st, err := s.cn.CloudnatSubscriberDump(ctx, req)
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.Subscriber
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatSubscriberDetails) error {
		x, err := fromSubscriber(m)
		if err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, opErr(op, err)
}

// ListSubscribers implements dataplane.Pools.
func (d *Dataplane) ListSubscribers(ctx context.Context, f model.SubscriberFilter) ([]model.Subscriber, error) {
	return d.subscribers(ctx, f)
}

// ListStaticBlocks implements dataplane.Pools: the static blocks of every
// subscriber.
func (d *Dataplane) ListStaticBlocks(ctx context.Context) ([]model.StaticBlock, error) {
	subs, err := d.subscribers(ctx, model.SubscriberFilter{VRF: allTables})
	if err != nil {
		return nil, err
	}
	var out []model.StaticBlock
	for _, s := range subs {
		out = append(out, staticBlocksOf(s)...)
	}
	return out, nil
}

func (d *Dataplane) staticBlock(ctx context.Context, b model.StaticBlock, add bool) error {
	s, err := d.poolSession(&cloudnat.CloudnatSubscriberBlockAddDel{}, &cloudnat.CloudnatSubscriberBlockAddDelReply{})
	if err != nil {
		return err
	}
	req, err := toStaticBlock(b, add)
	if err != nil {
		return err
	}
	return s.do(ctx, req, &cloudnat.CloudnatSubscriberBlockAddDelReply{})
}

// PutStaticBlock implements dataplane.Pools.
func (d *Dataplane) PutStaticBlock(ctx context.Context, b model.StaticBlock) error {
	return opErr("cloudnat_subscriber_block_add_del add "+b.String(), d.staticBlock(ctx, b, true))
}

// DeleteStaticBlock implements dataplane.Pools.
func (d *Dataplane) DeleteStaticBlock(ctx context.Context, b model.StaticBlock) error {
	return delErr("cloudnat_subscriber_block_add_del del "+b.String(), d.staticBlock(ctx, b, false))
}

// CheckPool implements dataplane.PoolChecker: the outside VRF must be an
// existing table of the pool's family. Not connected: nil (the pool is
// stored and applied on connect).
func (d *Dataplane) CheckPool(ctx context.Context, p model.Pool) error {
	if p.OutsideVRF == 0 {
		return nil // table 0 always exists
	}
	s, err := d.session()
	if err != nil {
		return nil
	}
	ip6 := len(p.Ranges) > 0 && p.Ranges[0].First.Unmap().Is6()
	st, err := s.ipc.IPTableDump(ctx, &ip.IPTableDump{})
	if err != nil {
		return nil
	}
	found := false
	err = recvAll(st.Recv, st.Close, func(m *ip.IPTableDetails) error {
		if m.Table.TableID == p.OutsideVRF && m.Table.IsIP6 == ip6 {
			found = true
		}
		return nil
	})
	if err != nil || found {
		return nil
	}
	fam := 4
	if ip6 {
		fam = 6
	}
	return fmt.Errorf("outside vrf %d: VPP has no IPv%d table %d (create it first: ip table add %d)", p.OutsideVRF, fam, p.OutsideVRF, p.OutsideVRF)
}

// blockLogPoll is how often WatchBlockLog checks the connection is the one
// it subscribed on.
const blockLogPoll = time.Second

// WatchBlockLog implements dataplane.Pools: cloudnat_want_block_log, then
// cloudnat_block_log_event messages until ctx is done or the connection is
// replaced.
func (d *Dataplane) WatchBlockLog(ctx context.Context, fn func(model.BlockLogRecord)) error {
	const op = "cloudnat_want_block_log"
	s, err := d.poolSession(&cloudnat.CloudnatWantBlockLog{}, &cloudnat.CloudnatWantBlockLogReply{}, &cloudnat.CloudnatBlockLogEvent{})
	if err != nil {
		return opErr(op, err)
	}
	w, err := s.conn.WatchEvent(ctx, &cloudnat.CloudnatBlockLogEvent{})
	if err != nil {
		return opErr(op, err)
	}
	defer w.Close()
	pid := uint32(os.Getpid())
	if err := s.do(ctx, &cloudnat.CloudnatWantBlockLog{Enable: true, PID: pid}, &cloudnat.CloudnatWantBlockLogReply{}); err != nil {
		return opErr(op, err)
	}
	defer func() {
		// Best effort: stop the events (VPP drops them for a gone client anyway).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.do(cctx, &cloudnat.CloudnatWantBlockLog{Enable: false, PID: pid}, &cloudnat.CloudnatWantBlockLogReply{})
	}()
	tick := time.NewTicker(blockLogPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if cur, err := d.session(); err != nil || cur != s {
				return fmt.Errorf("vpp block log: %w", dataplane.ErrNotConnected)
			}
		case m, ok := <-w.Events():
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("vpp block log: watcher closed: %w", dataplane.ErrNotConnected)
			}
			ev, ok := m.(*cloudnat.CloudnatBlockLogEvent)
			if !ok {
				continue
			}
			r, err := fromBlockLog(ev)
			if err != nil {
				d.log.Warn("vpp block log: bad record", "err", err)
				continue
			}
			fn(r)
		}
	}
}
