package kernel

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// poolComment is a pool's record (the comment of its cn_cgpool element):
// every field, so that a reload lists the pool exactly as it was put.
func poolComment(id uint32, p model.Pool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cn:p %d %s %d %d %d %d %d %d %d %d %s %d", id, strconv.Quote(p.Name), p.OutsideVRF, p.PortMin, p.PortMax,
		p.BlockSize, p.MaxBlocksPerSubscriber, p.MaxSessionsPerSubscriber, int64(p.ReuseDelay), p.Filtering,
		strconv.Quote(p.Interface), btoi(p.StaticBlocksOnly))
	for _, r := range p.Ranges {
		fmt.Fprintf(&b, " %s-%s", r.First, r.Last)
	}
	return b.String()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func parsePoolComment(s string) (uint32, model.Pool, error) {
	bad := fmt.Errorf("bad pool record %q", s)
	rest, ok := strings.CutPrefix(s, "cn:p ")
	if !ok {
		return 0, model.Pool{}, bad
	}
	next := func() string {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return "\x00"
			}
			rest = rest[len(q):]
			u, _ := strconv.Unquote(q)
			return u
		}
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		f := rest[:i]
		rest = rest[i:]
		return f
	}
	num := func(bits int) uint64 {
		v, err := strconv.ParseUint(next(), 10, bits)
		if err != nil {
			ok = false
		}
		return v
	}
	var p model.Pool
	id := uint32(num(32))
	p.Name = next()
	p.OutsideVRF = uint32(num(32))
	p.PortMin, p.PortMax, p.BlockSize = uint16(num(16)), uint16(num(16)), uint16(num(16))
	p.MaxBlocksPerSubscriber = uint16(num(16))
	p.MaxSessionsPerSubscriber = uint32(num(32))
	p.ReuseDelay = time.Duration(num(63))
	p.Filtering = model.Filtering(num(8))
	p.Interface = next()
	p.StaticBlocksOnly = num(1) == 1
	for strings.TrimSpace(rest) != "" {
		first, last, found := strings.Cut(next(), "-")
		a, err1 := netip.ParseAddr(first)
		z, err2 := netip.ParseAddr(last)
		if !found || err1 != nil || err2 != nil {
			return 0, model.Pool{}, bad
		}
		p.Ranges = append(p.Ranges, model.AddrRange{First: a, Last: z})
	}
	if !ok || id == 0 || p.Name == "" || p.Name == "\x00" || p.Interface == "\x00" {
		return 0, model.Pool{}, bad
	}
	return id, p, nil
}

// A pool's record is split over elements of at most poolPart bytes of
// comment: key id<<8 | part.
const (
	poolPart     = 240
	maxPoolParts = 256
)

func poolElems(id uint32, p model.Pool) []nftables.SetElement {
	s := poolComment(id, p)
	var out []nftables.SetElement
	for i := uint32(0); len(s) > 0; i++ {
		n := min(len(s), poolPart)
		out = append(out, nftables.SetElement{Key: u32(id<<8 | i), Comment: s[:n]})
		s = s[n:]
	}
	return out
}

func poolKeys(id uint32, p model.Pool) []nftables.SetElement {
	es := poolElems(id, p)
	for i := range es {
		es[i].Comment = ""
	}
	return es
}

// decodePools joins the parts of each pool record.
func (c *cache) decodePools(els []nftables.SetElement, repair *batch) {
	s := c.cg
	parts := map[uint32]map[uint32]nftables.SetElement{}
	for _, el := range els {
		if len(el.Key) != 4 {
			repair.delElems(named(setCGPool), nftables.SetElement{Key: el.Key})
			continue
		}
		k := nativeU32(el.Key)
		if parts[k>>8] == nil {
			parts[k>>8] = map[uint32]nftables.SetElement{}
		}
		parts[k>>8][k&0xff] = el
	}
	for id, ps := range parts {
		var b strings.Builder
		ok := true
		for i := uint32(0); i < uint32(len(ps)); i++ {
			el, have := ps[i]
			if !have {
				ok = false
				break
			}
			b.WriteString(el.Comment)
		}
		pid, p, err := parsePoolComment(b.String())
		if !ok || err != nil || pid != id || s.pools[p.Name] != nil || s.poolIDs[id] != "" {
			for _, el := range ps {
				repair.delElems(named(setCGPool), nftables.SetElement{Key: el.Key})
			}
			continue
		}
		s.pools[p.Name] = &cgPool{id: id, p: p}
		s.poolIDs[id] = p.Name
	}
}

// decodeCG rebuilds the static NATs, pools, bindings and blocks from their
// records (cn_cgpool, cn_sn*, cn_bd*, cn_blk*), deletes records that do not
// decode or refer to a missing pool, and rewrites derived maps (cn_sd*,
// cn_rz*, cn_rb*, cn_vif) whose content differs from what the records say.
func (c *cache) decodeCG(kt *kernelTable, repair *batch) {
	s := c.cg
	c.decodePools(kt.sets[setCGPool], repair)
	for name, els := range kt.sets {
		kind, f, bits, ok := parseCGSet(name)
		if !ok {
			continue
		}
		s.sets[name] = true
		switch kind {
		case "sn":
			for _, el := range els {
				vrf, a, cross, ok := decodeCGKey(f, el.Key)
				l := addrLen(f)
				if !ok || len(el.Val) != 2*l || !c.decodeStatic(f, bits, vrf, a, cross, el.Val) {
					repair.delElems(named(name), nftables.SetElement{Key: el.Key})
				}
			}
		case "pn":
			for _, el := range els {
				vrf, proto, a, port, cross, ok := decodeCGPortKey(f, el.Key)
				l := addrLen(f)
				if !ok || len(el.Val) != 2*l+4 || !c.decodePortMap(f, bits, vrf, proto, a, port, cross, el.Val) {
					repair.delElems(named(name), nftables.SetElement{Key: el.Key})
				}
			}
		case "bd":
			for _, el := range els {
				vrf, a, cross, ok := decodeCGKey(f, el.Key)
				pool, _ := strings.CutPrefix(el.Comment, "cn:b ")
				bd := model.PoolBinding{VRF: vrf, Prefix: netip.PrefixFrom(a, bits), Pool: pool}
				p := s.pools[pool]
				if !ok || p == nil || bd.Prefix.Masked() != bd.Prefix || bindCross(bd, p.p) != cross {
					repair.delElems(named(name), nftables.SetElement{Key: el.Key})
					continue
				}
				s.bindings[bd.Key()] = bd
			}
		}
	}
	for _, f := range families4and6 {
		l := addrLen(f)
		for _, el := range kt.sets[setBlk(f)] {
			pool, static := strings.CutPrefix(el.Comment, "cn:k ")
			pool, det := strings.CutPrefix(pool, "cn:d ")
			p := s.pools[pool]
			if !static && !det {
				p = nil
			}
			ok := p != nil && len(el.Key) == 4+l && len(el.Val) == l+8
			var blk model.StaticBlock
			if ok {
				in, _ := netip.AddrFromSlice(el.Key[4:])
				out, _ := netip.AddrFromSlice(el.Val[:l])
				blk = model.StaticBlock{Pool: pool, VRF: uint32(nativeU16(el.Key[:2])), InsideAddr: in, OutsideAddr: out,
					PortStart: bigU16(el.Val[l:])}
				ok = bytes.Equal(el.Val, blockData(blk, p.p.WithDefaults().BlockSize))
			}
			if !ok {
				repair.delElems(named(setBlk(f)), nftables.SetElement{Key: el.Key})
				continue
			}
			s.blocks[subKey{blk.VRF, blk.InsideAddr}] = blk
			if det {
				s.det[subKey{blk.VRF, blk.InsideAddr}] = true
			}
		}
	}
	// Derived maps, counts and routes from the records.
	want := map[string]map[string][]byte{}
	tmp := &batch{}
	saved := s.sets
	s.sets = map[string]bool{}
	for _, x := range s.statics {
		c.staticElems(tmp, actAddElems, x)
	}
	for _, bd := range s.bindings {
		c.bindingElems(tmp, actAddElems, bd)
	}
	for _, blk := range s.blocks {
		c.blockElems(tmp, actAddElems, blk, s.pools[blk.Pool].p)
	}
	s.sets = saved
	for _, a := range tmp.acts {
		if a.op != actAddElems {
			continue
		}
		if kind, _, _, ok := parseCGSet(a.set.name); !ok || !derivedKind(kind) {
			continue
		}
		if want[a.set.name] == nil {
			want[a.set.name] = map[string][]byte{}
		}
		for _, el := range a.elems {
			want[a.set.name][string(el.Key)] = el.Val
		}
	}
	for name, els := range kt.sets {
		if kind, _, _, ok := parseCGSet(name); ok && derivedKind(kind) && want[name] == nil && len(els) > 0 {
			repair.add(action{op: actFlushSet, set: named(name)})
		}
	}
	for name, w := range want {
		have, present := kt.sets[name]
		same := present && len(have) == len(w)
		for _, el := range have {
			if v, ok := w[string(el.Key)]; !ok || !bytes.Equal(v, el.Val) {
				same = false
			}
		}
		if same {
			continue
		}
		if present {
			repair.add(action{op: actFlushSet, set: named(name)})
		} else {
			spec, _ := cgSetSpec(name)
			repair.addSet(spec)
			s.sets[name] = true
		}
		for k, v := range w {
			repair.addElems(named(name), nftables.SetElement{Key: []byte(k), Val: v})
		}
	}
	// Sets named by the chains' rules must exist.
	for _, x := range s.statics {
		f, bits := familyOf(x.Inside.Addr()), x.Inside.Bits()
		name := setSD(f, bits)
		if x.Proto != 0 {
			name = setPD(f, bits)
		}
		if !s.sets[name] {
			spec, _ := cgSetSpec(name)
			repair.addSet(spec)
			s.sets[spec.name] = true
		}
	}
	vifOK := len(kt.sets[setVIF]) == len(c.vifNames())
	for _, el := range kt.sets[setVIF] {
		if c.ifaceVRF(strings.TrimRight(string(el.Key), "\x00")) == 0 {
			vifOK = false
		}
	}
	if !vifOK {
		c.refillVIF(repair)
	}
	s.shape = s.shapeKey()
}

// derivedKind: sets rebuilt from the records, never decoded.
func derivedKind(kind string) bool {
	return kind == "sd" || kind == "rz" || kind == "rb" || kind == "pd" || kind == "rp"
}

func (c *cache) decodePortMap(f model.Family, bits int, vrf uint32, proto model.Proto, a netip.Addr, port uint16, cross bool, val []byte) bool {
	l := addrLen(f)
	out, _ := netip.AddrFromSlice(val[:l])
	st := model.StaticNAT{InsideVRF: vrf, Inside: netip.PrefixFrom(a, bits), Outside: netip.PrefixFrom(out, bits),
		Proto: proto, InsidePort: port, OutsidePort: bigU16(val[2*l:])}
	if !cross {
		st.OutsideVRF = vrf
	}
	if st.Inside.Masked() != st.Inside || st.Outside.Masked() != st.Outside || !bytes.Equal(val[:2*l], rangeData(st.Outside)) ||
		(cross && vrf == 0) || (proto != model.ProtoTCP && proto != model.ProtoUDP) {
		return false
	}
	if _, dup := c.cg.statics[st.Key()]; dup {
		return false
	}
	c.cg.statics[st.Key()] = st
	return true
}

func (c *cache) decodeStatic(f model.Family, bits int, vrf uint32, a netip.Addr, cross bool, val []byte) bool {
	l := addrLen(f)
	out, _ := netip.AddrFromSlice(val[:l])
	st := model.StaticNAT{InsideVRF: vrf, Inside: netip.PrefixFrom(a, bits), Outside: netip.PrefixFrom(out, bits)}
	if !cross {
		st.OutsideVRF = vrf
	}
	if st.Inside.Masked() != st.Inside || st.Outside.Masked() != st.Outside || !bytes.Equal(val, rangeData(st.Outside)) ||
		(cross && vrf == 0) {
		return false
	}
	if _, dup := c.cg.statics[st.Key()]; dup {
		return false
	}
	c.cg.statics[st.Key()] = st
	return true
}
