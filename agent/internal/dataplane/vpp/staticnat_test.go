package vpp

import (
	"net/netip"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestStaticConvertRoundTrip(t *testing.T) {
	for _, s := range []model.StaticNAT{
		{InsideVRF: 1, Inside: netip.MustParsePrefix("10.1.0.0/30"), OutsideVRF: 2, Outside: netip.MustParsePrefix("172.16.0.0/30")},
		{Inside: netip.MustParsePrefix("fd00::5/128"), Outside: netip.MustParsePrefix("2001:db8::5/128"),
			Proto: model.ProtoUDP, InsidePort: 53, OutsidePort: 5353},
	} {
		m := toStatic(s)
		if m.Inside.Len != uint8(s.Inside.Bits()) || m.OutsideTableID != s.OutsideVRF {
			t.Errorf("toStatic(%s) = %+v", s, m)
		}
		back, err := fromStatic(m)
		if err != nil || back != s {
			t.Errorf("round trip %s: %s, %v", s, back, err)
		}
	}
}
