package vpp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"go.fd.io/govpp/api"
	"go.fd.io/govpp/codec"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	interfaces "github.com/cloudnat/cloudnat/binapi/interface"
	"github.com/cloudnat/cloudnat/binapi/ip"
	"github.com/cloudnat/cloudnat/binapi/memclnt"
	"github.com/cloudnat/cloudnat/binapi/vpe"
)

// ErrIncompatible marks a call that needs a message the running VPP does
// not have with the CRC these bindings were generated with (another plugin
// or VPP build).
var ErrIncompatible = errors.New("VPP binary API incompatible")

// Mismatch is one message the agent needs that VPP does not have as
// expected.
type Mismatch struct {
	Name        string
	ExpectedCRC string // from binapi/, e.g. "0x1a2b3c4d"
	VPPCRC      string // what VPP has, or "" when VPP has no message of that name
}

func (m Mismatch) String() string {
	if m.VPPCRC == "" {
		return fmt.Sprintf("%s (expected %s, VPP has no such message)", m.Name, m.ExpectedCRC)
	}
	return fmt.Sprintf("%s (expected %s, VPP has %s)", m.Name, m.ExpectedCRC, m.VPPCRC)
}

// usedMessages are every message the dataplane sends or receives.
func usedMessages() []api.Message {
	msgs := append([]api.Message{}, cloudnat.AllMessages()...)
	return append(msgs,
		(*vpe.ShowVersion)(nil), (*vpe.ShowVersionReply)(nil),
		(*memclnt.ControlPing)(nil), (*memclnt.ControlPingReply)(nil),
		(*interfaces.SwInterfaceDump)(nil), (*interfaces.SwInterfaceDetails)(nil),
		(*interfaces.SwInterfaceGetTable)(nil), (*interfaces.SwInterfaceGetTableReply)(nil),
		(*ip.IPAddressDump)(nil), (*ip.IPAddressDetails)(nil),
	)
}

// mismatches turns govpp's compatibility error ("name_crc" strings) into
// Mismatches, looking up what VPP has in table (name -> crc, may be nil).
func mismatches(cerr *api.CompatibilityError, table map[string]string) []Mismatch {
	var out []Mismatch
	for _, id := range cerr.IncompatibleMessages {
		i := strings.LastIndexByte(id, '_')
		if i < 0 {
			out = append(out, Mismatch{Name: id})
			continue
		}
		m := Mismatch{Name: id[:i], ExpectedCRC: "0x" + id[i+1:]}
		if crc, ok := table[m.Name]; ok {
			m.VPPCRC = "0x" + crc
		}
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// mismatchSummary is one line for logs and Info.
func mismatchSummary(ms []Mismatch, table map[string]string) string {
	if len(ms) == 0 {
		return ""
	}
	pluginLoaded := false
	for name := range table {
		if strings.HasPrefix(name, "cloudnat_") {
			pluginLoaded = true
			break
		}
	}
	var b strings.Builder
	if table != nil && !pluginLoaded {
		b.WriteString("cloudnat plugin not loaded in VPP; ")
	}
	fmt.Fprintf(&b, "%d incompatible message(s): ", len(ms))
	for i, m := range ms {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m.String())
	}
	return b.String()
}

// socketMsgTable reads VPP's message table (name -> CRC, without "0x")
// over a separate, short-lived API socket connection: the reply to
// sockclnt_create lists every message as "name_crc". govpp keeps its own
// copy private, and a mismatch report needs the CRC VPP has.
func socketMsgTable(ctx context.Context, socket string) (map[string]string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", socket, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)

	const sockclntCreateID = 15 // fixed in VPP's socket API, as govpp's socketclient uses it
	data, err := codec.DefaultCodec.EncodeMsg(&memclnt.SockclntCreate{Name: "cloudnat-crc-check"}, sockclntCreateID)
	if err != nil {
		return nil, fmt.Errorf("encode sockclnt_create: %w", err)
	}
	data[5] = 123 // non-zero context (sockclnt_create has no client_index)
	hdr := make([]byte, 16)
	binary.BigEndian.PutUint32(hdr[8:12], uint32(len(data)))
	if _, err := conn.Write(append(hdr, data...)); err != nil {
		return nil, fmt.Errorf("send sockclnt_create: %w", err)
	}
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return nil, fmt.Errorf("read sockclnt_create_reply header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[8:12])
	if n > 16<<20 {
		return nil, fmt.Errorf("sockclnt_create_reply of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, fmt.Errorf("read sockclnt_create_reply: %w", err)
	}
	var reply memclnt.SockclntCreateReply
	if err := codec.DefaultCodec.DecodeMsg(buf, &reply); err != nil {
		return nil, fmt.Errorf("decode sockclnt_create_reply: %w", err)
	}
	table := make(map[string]string, len(reply.MessageTable))
	for _, e := range reply.MessageTable {
		name := strings.TrimRight(e.Name, "\x00")
		if i := strings.LastIndexByte(name, '_'); i > 0 {
			table[name[:i]] = name[i+1:]
		}
	}
	return table, nil
}
