package vpp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

var _ dataplane.StaticNATs = (*Dataplane)(nil)

// staticSession is session for the static NAT messages: a plugin without
// them makes the call unsupported, not failed.
func (d *Dataplane) staticSession(msgs ...api.Message) (*session, error) {
	s, err := d.session(msgs...)
	if errors.Is(err, ErrIncompatible) {
		return nil, fmt.Errorf("%w: the VPP plugin has no static NAT: %w", dataplane.ErrUnsupported, err)
	}
	return s, err
}

// toStatic converts a mapping to the API type.
func toStatic(s model.StaticNAT) cloudnat.CloudnatStatic {
	return cloudnat.CloudnatStatic{
		InsideTableID: s.InsideVRF, Inside: toPrefix(s.Inside),
		OutsideTableID: s.OutsideVRF, Outside: toPrefix(s.Outside),
		Proto: ip_types.IPProto(s.Proto), InsidePort: s.InsidePort, OutsidePort: s.OutsidePort,
	}
}

// fromStatic is toStatic's inverse.
func fromStatic(m cloudnat.CloudnatStatic) (model.StaticNAT, error) {
	in, err := fromPrefix(m.Inside)
	if err != nil {
		return model.StaticNAT{}, fmt.Errorf("inside: %w", err)
	}
	out, err := fromPrefix(m.Outside)
	if err != nil {
		return model.StaticNAT{}, fmt.Errorf("outside: %w", err)
	}
	return model.StaticNAT{
		InsideVRF: m.InsideTableID, Inside: in, OutsideVRF: m.OutsideTableID, Outside: out,
		Proto: model.Proto(m.Proto), InsidePort: m.InsidePort, OutsidePort: m.OutsidePort,
	}, nil
}

// ListStaticNATs implements dataplane.StaticNATs.
func (d *Dataplane) ListStaticNATs(ctx context.Context) ([]model.StaticNAT, error) {
	const op = "cloudnat_static_dump"
	s, err := d.staticSession(&cloudnat.CloudnatStaticDump{}, &cloudnat.CloudnatStaticDetails{})
	if err != nil {
		return nil, opErr(op, err)
	}
	st, err := s.cn.CloudnatStaticDump(ctx, &cloudnat.CloudnatStaticDump{})
	if err != nil {
		return nil, opErr(op, err)
	}
	var out []model.StaticNAT
	err = recvAll(st.Recv, st.Close, func(m *cloudnat.CloudnatStaticDetails) error {
		x, err := fromStatic(m.Mapping)
		if err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, opErr(op, err)
}

// PutStaticNAT implements dataplane.StaticNATs. The plugin refuses an
// address another mode claims (ADDRESS_IN_USE; the error wraps
// dataplane.ErrAddressInUse too).
func (d *Dataplane) PutStaticNAT(ctx context.Context, x model.StaticNAT) error {
	op := "cloudnat_static_add_del add " + x.String()
	s, err := d.staticSession(&cloudnat.CloudnatStaticAddDel{}, &cloudnat.CloudnatStaticAddDelReply{})
	if err != nil {
		return opErr(op, err)
	}
	err = s.do(ctx, &cloudnat.CloudnatStaticAddDel{IsAdd: true, Mapping: toStatic(x)}, &cloudnat.CloudnatStaticAddDelReply{})
	var e api.VPPApiError
	if errors.As(err, &e) && e == api.ADDRESS_IN_USE {
		err = fmt.Errorf("%w: %w", dataplane.ErrAddressInUse, err)
	}
	return opErr(op, err)
}

// DeleteStaticNAT implements dataplane.StaticNATs (idempotent).
func (d *Dataplane) DeleteStaticNAT(ctx context.Context, k model.StaticNATKey) error {
	op := "cloudnat_static_add_del del " + k.String()
	s, err := d.staticSession(&cloudnat.CloudnatStaticAddDel{}, &cloudnat.CloudnatStaticAddDelReply{})
	if err != nil {
		return delErr(op, err)
	}
	m := toStatic(model.StaticNAT{InsideVRF: k.InsideVRF, Inside: k.Inside, Outside: k.Inside, Proto: k.Proto, InsidePort: k.InsidePort})
	m.Outside = ip_types.Prefix{Address: toAddress(unspecified(k.Inside.Addr())), Len: uint8(k.Inside.Bits())}
	return delErr(op, s.do(ctx, &cloudnat.CloudnatStaticAddDel{Mapping: m}, &cloudnat.CloudnatStaticAddDelReply{}))
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
