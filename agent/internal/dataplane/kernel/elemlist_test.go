package kernel

import (
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// mustElemList encodes elements the way nftables.Conn.SetAddElements does
// (list attribute of nested elements: key, data, userdata).
func mustElemList(t *testing.T, s *nftables.Set, es []nftables.SetElement) []mnl.Attribute {
	t.Helper()
	var items []mnl.Attribute
	for i, e := range es {
		k, _ := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Key}})
		attrs := []mnl.Attribute{{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: k}}
		if len(e.Val) > 0 {
			v, _ := mnl.MarshalAttributes([]mnl.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Val}})
			attrs = append(attrs, mnl.Attribute{Type: unix.NFTA_SET_ELEM_DATA | unix.NLA_F_NESTED, Data: v})
		}
		if e.Comment != "" {
			attrs = append(attrs, mnl.Attribute{Type: unix.NFTA_SET_ELEM_USERDATA,
				Data: userdata.AppendString(nil, userdata.NFTNL_UDATA_SET_ELEM_COMMENT, e.Comment)})
		}
		b, err := mnl.MarshalAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, mnl.Attribute{Type: uint16(i+1) | unix.NLA_F_NESTED, Data: b})
	}
	return items
}
