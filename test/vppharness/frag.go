package vppharness

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
)

// Where an IPv6 destination options header goes in a fragmented packet.
const (
	// NoDestOpts: none.
	NoDestOpts = iota
	// DestOptsBeforeFrag: in the unfragmentable part, before the fragment
	// header (every fragment carries it).
	DestOptsBeforeFrag
	// DestOptsAfterFrag: the first header of the fragmentable part (only
	// the first fragment carries it; the fragment header's next header is
	// 60).
	DestOptsAfterFrag
)

// FragOptions says how Fragment cuts a packet.
type FragOptions struct {
	// Size is the number of bytes of the fragmentable part per fragment
	// (rounded down to a multiple of 8; default 64).
	Size int
	// Sizes, when set, are the sizes of the fragments one by one (each but
	// the last a multiple of 8); what is left after them goes in one last
	// fragment.
	Sizes []int
	// ID is the IPv6 fragment header's identification (IPv4 uses the
	// packet's IPID); 0 means the IPv4 IPID, or 0x1000+IPID for IPv6.
	ID uint32
	// DestOpts places an IPv6 destination options header (NoDestOpts,
	// DestOptsBeforeFrag, DestOptsAfterFrag).
	DestOpts int
}

// destOptsHeader is an 8-byte destination options header with a PadN
// option.
func destOptsHeader(next byte) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} }

// Fragment builds p and cuts it into fragments (IPv4: MF and offset, the
// same IPID; IPv6: a fragment header, optionally with a destination
// options header before or after it). The returned packets carry their IP
// bytes in Raw (and p's MACs and addresses, for messages).
func (p Pkt) Fragment(o FragOptions) ([]Pkt, error) {
	b, err := p.IP()
	if err != nil {
		return nil, err
	}
	var unfrag, frag []byte // unfragmentable part (with its last next header), fragmentable part
	var nhOff int           // offset in unfrag of the next-header byte to set to 44 (IPv6)
	firstNext := byte(0)    // IPv6: the fragment header's next header
	if p.V6() {
		l4proto := b[6]
		unfrag = append([]byte{}, b[:40]...)
		nhOff = 6
		frag = append([]byte{}, b[40:]...)
		switch o.DestOpts {
		case DestOptsBeforeFrag:
			unfrag = append(unfrag, destOptsHeader(44)...)
			unfrag[6] = 60
			nhOff = 40
			firstNext = l4proto
		case DestOptsAfterFrag:
			frag = append(destOptsHeader(l4proto), frag...)
			firstNext = 60
		default:
			firstNext = l4proto
		}
	} else {
		if o.DestOpts != NoDestOpts {
			return nil, fmt.Errorf("destination options in IPv4")
		}
		ihl := int(b[0]&0xf) * 4
		unfrag = append([]byte{}, b[:ihl]...)
		frag = append([]byte{}, b[ihl:]...)
	}
	sizes := append([]int{}, o.Sizes...)
	if len(sizes) == 0 {
		sz := o.Size
		if sz == 0 {
			sz = 64
		}
		sz &^= 7
		if sz == 0 {
			return nil, fmt.Errorf("fragment size %d < 8", o.Size)
		}
		for n := len(frag); n > 0; n -= sz {
			sizes = append(sizes, min(n, sz))
		}
	} else {
		used := 0
		for i, s := range sizes {
			if s <= 0 || (s%8 != 0 && i != len(sizes)-1) {
				return nil, fmt.Errorf("fragment %d: size %d (not a positive multiple of 8)", i, s)
			}
			used += s
		}
		if used > len(frag) {
			return nil, fmt.Errorf("fragment sizes add up to %d > %d bytes", used, len(frag))
		}
		if used < len(frag) {
			if used%8 != 0 {
				return nil, fmt.Errorf("fragment sizes add up to %d, not a multiple of 8, with bytes left", used)
			}
			sizes = append(sizes, len(frag)-used)
		}
	}
	if len(sizes) < 2 {
		return nil, fmt.Errorf("%d bytes make one fragment", len(frag))
	}
	id := o.ID
	if id == 0 {
		id = uint32(p.IPID)
		if p.V6() {
			id = 0x1000 + uint32(p.IPID)
		}
	}
	var out []Pkt
	off := 0
	for i, n := range sizes {
		more := i < len(sizes)-1
		var ip []byte
		if p.V6() {
			ip = append([]byte{}, unfrag...)
			ip[nhOff] = 44
			fo := uint16(off) // offset in bytes, a multiple of 8: the field is offset<<3 | M
			if more {
				fo |= 1
			}
			fh := make([]byte, 8)
			fh[0] = firstNext
			binary.BigEndian.PutUint16(fh[2:], fo)
			binary.BigEndian.PutUint32(fh[4:], id)
			ip = append(ip, fh...)
			ip = append(ip, frag[off:off+n]...)
			binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
		} else {
			ip = append([]byte{}, unfrag...)
			ip = append(ip, frag[off:off+n]...)
			binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
			binary.BigEndian.PutUint16(ip[4:], uint16(id))
			ff := uint16(off / 8)
			if more {
				ff |= 0x2000
			}
			if p.DF {
				ff |= 0x4000
			}
			binary.BigEndian.PutUint16(ip[6:], ff)
			setIPv4HeaderChecksum(ip)
		}
		f := p
		f.Raw = ip
		out = append(out, f)
		off += n
	}
	return out, nil
}

// MustFragment is Fragment that panics on error.
func (p Pkt) MustFragment(o FragOptions) []Pkt {
	fs, err := p.Fragment(o)
	if err != nil {
		panic(err)
	}
	return fs
}

func setIPv4HeaderChecksum(ip []byte) {
	ihl := int(ip[0]&0xf) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:ihl], 0))
}

// FragInfo describes where a packet stands in its datagram.
type FragInfo struct {
	// ID is the IPv4 identification or the IPv6 fragment header's.
	ID uint32
	// Offset is in bytes of the fragmentable part.
	Offset int
	// More is the MF / M flag.
	More bool
	// Proto is the IPv4 protocol or the IPv6 fragment header's next
	// header.
	Proto uint8
	// HdrLen is the length of the headers before the fragment's data
	// (IPv4: IHL; IPv6: up to and including the fragment header).
	HdrLen int
	// FragHdrOff is the IPv6 fragment header's offset (0 in IPv4).
	FragHdrOff int
}

// FragmentInfo reports whether the IP packet b is a fragment (IPv4 with MF
// or an offset; IPv6 with a fragment header, after hop-by-hop, routing or
// destination options headers) and returns its fields.
func FragmentInfo(b []byte) (FragInfo, bool) {
	var fi FragInfo
	if len(b) < 1 {
		return fi, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return fi, false
		}
		ff := binary.BigEndian.Uint16(b[6:])
		if ff&0x3fff == 0 {
			return fi, false
		}
		fi.ID = uint32(binary.BigEndian.Uint16(b[4:]))
		fi.Offset = int(ff&0x1fff) * 8
		fi.More = ff&0x2000 != 0
		fi.Proto = b[9]
		fi.HdrLen = int(b[0]&0xf) * 4
		return fi, true
	case 6:
		if len(b) < 40 {
			return fi, false
		}
		nh, off := b[6], 40
		for n := 0; n < 8; n++ {
			switch nh {
			case 0, 43, 60:
				if len(b) < off+8 {
					return fi, false
				}
				nh, off = b[off], off+(int(b[off+1])+1)*8
				continue
			case 44:
				if len(b) < off+8 {
					return fi, false
				}
				fo := binary.BigEndian.Uint16(b[off+2:])
				fi.Proto = b[off]
				fi.Offset = int(fo &^ 7)
				fi.More = fo&1 != 0
				fi.ID = binary.BigEndian.Uint32(b[off+4:])
				fi.FragHdrOff = off
				fi.HdrLen = off + 8
				return fi, true
			}
			return fi, false
		}
	}
	return fi, false
}

// Reassemble puts the fragments of one datagram (IP packets, in any order,
// duplicates allowed if they agree) back together and returns the whole IP
// packet: IPv4 with MF and offset cleared and its header checksum
// recomputed; IPv6 without its fragment header. It fails when fragments
// belong to different datagrams, overlap with different bytes, leave a
// hole, or none is the last.
func Reassemble(frags [][]byte) ([]byte, error) {
	if len(frags) == 0 {
		return nil, fmt.Errorf("no fragments")
	}
	type piece struct {
		fi   FragInfo
		data []byte
		raw  []byte
	}
	var ps []piece
	var key string
	for i, b := range frags {
		fi, ok := FragmentInfo(b)
		if !ok {
			return nil, fmt.Errorf("packet %d is not a fragment", i)
		}
		var k string
		if b[0]>>4 == 4 {
			tl := int(binary.BigEndian.Uint16(b[2:]))
			if tl > len(b) || tl < fi.HdrLen {
				return nil, fmt.Errorf("fragment %d: total length %d, %d bytes", i, tl, len(b))
			}
			b = b[:tl]
			k = fmt.Sprintf("4 %x %x %d %d", b[12:16], b[16:20], fi.ID, fi.Proto)
		} else {
			end := 40 + int(binary.BigEndian.Uint16(b[4:]))
			if end > len(b) || end < fi.HdrLen {
				return nil, fmt.Errorf("fragment %d: payload length %d, %d bytes", i, end-40, len(b))
			}
			b = b[:end]
			k = fmt.Sprintf("6 %x %x %d %d", b[8:24], b[24:40], fi.ID, fi.Proto)
		}
		if i == 0 {
			key = k
		} else if k != key {
			return nil, fmt.Errorf("fragment %d belongs to datagram %q, fragment 0 to %q", i, k, key)
		}
		ps = append(ps, piece{fi, b[fi.HdrLen:], b})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].fi.Offset < ps[j].fi.Offset })
	if ps[0].fi.Offset != 0 {
		return nil, fmt.Errorf("no first fragment (lowest offset %d)", ps[0].fi.Offset)
	}
	total := -1
	var data []byte
	for _, p := range ps {
		if p.fi.Offset > len(data) {
			return nil, fmt.Errorf("hole at bytes %d-%d", len(data), p.fi.Offset-1)
		}
		end := p.fi.Offset + len(p.data)
		ov := min(end, len(data)) - p.fi.Offset
		if ov > 0 && !bytes.Equal(data[p.fi.Offset:p.fi.Offset+ov], p.data[:ov]) {
			return nil, fmt.Errorf("fragments overlap at %d-%d with different bytes", p.fi.Offset, p.fi.Offset+ov-1)
		}
		if end > len(data) {
			data = append(data, p.data[ov:]...)
		}
		if !p.fi.More {
			if total >= 0 && total != end {
				return nil, fmt.Errorf("two last fragments end at %d and %d", total, end)
			}
			total = end
		}
	}
	if total < 0 {
		return nil, fmt.Errorf("no last fragment (MF/M clear); %d bytes", len(data))
	}
	if len(data) != total {
		return nil, fmt.Errorf("data past the last fragment's end: %d bytes, last ends at %d", len(data), total)
	}
	first := ps[0]
	if first.raw[0]>>4 == 4 {
		h := append([]byte{}, first.raw[:first.fi.HdrLen]...)
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(data)))
		binary.BigEndian.PutUint16(h[6:], binary.BigEndian.Uint16(h[6:])&0x4000) // keep DF
		setIPv4HeaderChecksum(h)
		return append(h, data...), nil
	}
	fo := first.fi.FragHdrOff
	h := append([]byte{}, first.raw[:fo]...)
	// the next-header byte that pointed at the fragment header
	nhAt, off := 6, 40
	for off < fo {
		nhAt, off = off, off+(int(first.raw[off+1])+1)*8
	}
	h[nhAt] = first.fi.Proto
	out := append(h, data...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out, nil
}

// Datagram is what a set of captured fragments reassembles to.
type Datagram struct {
	// Frags are the fragments, in the order they were captured.
	Frags []*Parsed
	// IP is the reassembled packet (nil when Err is set) and Parsed it
	// parsed.
	IP     []byte
	Parsed *Parsed
	Err    error
}

// DatagramKey identifies the datagram of a fragment: family, addresses,
// identification, protocol.
func DatagramKey(b []byte) (string, bool) {
	fi, ok := FragmentInfo(b)
	if !ok {
		return "", false
	}
	if b[0]>>4 == 4 {
		return fmt.Sprintf("%v->%v id %#x proto %d", netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), fi.ID, fi.Proto), true
	}
	return fmt.Sprintf("%v->%v id %#x nh %d", netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), fi.ID, fi.Proto), true
}

// ReassembleAll groups captured fragments by datagram (DatagramKey) and
// reassembles each group; packets that are not fragments are returned
// apart.
func ReassembleAll(pkts []*Parsed) (map[string]*Datagram, []*Parsed) {
	ds := map[string]*Datagram{}
	var whole []*Parsed
	for _, p := range pkts {
		k, ok := DatagramKey(p.Raw)
		if !ok {
			whole = append(whole, p)
			continue
		}
		d := ds[k]
		if d == nil {
			d = &Datagram{}
			ds[k] = d
		}
		d.Frags = append(d.Frags, p)
	}
	for _, d := range ds {
		raws := make([][]byte, len(d.Frags))
		for i, f := range d.Frags {
			raws[i] = f.Raw
		}
		d.IP, d.Err = Reassemble(raws)
		if d.Err == nil {
			d.Parsed, d.Err = ParseIP(d.IP)
		}
	}
	return ds, whole
}
