package validate

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// Pool limits.
const (
	MaxPoolName      = 63
	MaxPoolRanges    = 10000
	MaxPools         = 1024
	MaxPoolBindings  = 16384
	MaxStaticBlocks  = 65536
	MaxReuseDelay    = time.Hour
	MaxBlockSize     = 32768
	maxQuoted        = 40 // bytes of bad input an error quotes
	maxConflictNames = 5  // objects a conflict error names
)

// short quotes at most maxQuoted bytes of s.
func short(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:maxQuoted])
}

// PoolName checks a pool name: 1-63 characters of [a-z0-9._-].
func PoolName(field, s string) (string, error) {
	switch {
	case s == "":
		return "", fieldErr(field, "required")
	case len(s) > MaxPoolName:
		return "", fieldErr(field, "%s is longer than %d characters", short(s), MaxPoolName)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", fieldErr(field, "%s: only a-z, 0-9, '.', '_' and '-' are allowed", short(s))
		}
	}
	return s, nil
}

// AddrRange parses "a", "a/n" or "first-last" into a range of one family.
func AddrRange(field, s string) (model.AddrRange, error) {
	if s == "" {
		return model.AddrRange{}, fieldErr(field, "required")
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := Addr(field, strings.TrimSpace(first))
		if err != nil {
			return model.AddrRange{}, fieldErr(field, "%s: first address is not an IP address", short(s))
		}
		b, err := Addr(field, strings.TrimSpace(last))
		if err != nil {
			return model.AddrRange{}, fieldErr(field, "%s: last address is not an IP address", short(s))
		}
		if a.Is4() != b.Is4() {
			return model.AddrRange{}, fieldErr(field, "%s mixes IPv4 and IPv6", short(s))
		}
		if b.Less(a) {
			return model.AddrRange{}, fieldErr(field, "%s: the last address is before the first", short(s))
		}
		return model.AddrRange{First: a, Last: b}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return model.AddrRange{}, fieldErr(field, "%s is not an address, prefix or range", short(s))
		}
		if m := p.Masked(); m != p {
			return model.AddrRange{}, fieldErr(field, "%s has host bits set (did you mean %s?)", short(s), m)
		}
		if p.Addr().Is4In6() {
			return model.AddrRange{}, fieldErr(field, "%s: use the IPv4 form", short(s))
		}
		first, last := p.Addr(), lastAddr(p)
		if first.IsMulticast() || first.IsUnspecified() {
			return model.AddrRange{}, fieldErr(field, "%s is not a unicast prefix", short(s))
		}
		return model.AddrRange{First: first, Last: last}, nil
	}
	a, err := Addr(field, s)
	if err != nil {
		return model.AddrRange{}, fieldErr(field, "%s is not an address, prefix or range", short(s))
	}
	return model.AddrRange{First: a, Last: a}, nil
}

// lastAddr is a masked prefix's last address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func filtering(field string, f pb.Filtering) (model.Filtering, error) {
	switch f {
	case pb.Filtering_FILTERING_UNSPECIFIED, pb.Filtering_FILTERING_ADDRESS_PORT:
		return model.FilterAddressPort, nil
	case pb.Filtering_FILTERING_ADDRESS:
		return model.FilterAddress, nil
	case pb.Filtering_FILTERING_ENDPOINT:
		return model.FilterEndpoint, nil
	}
	return 0, fieldErr(field, "unknown filtering %d", f)
}

// Pool checks a pool and returns it with the defaults filled in.
func Pool(field string, p *pb.Pool) (model.Pool, error) {
	if p == nil {
		return model.Pool{}, fieldErr(field, "required")
	}
	var out model.Pool
	var err error
	if out.Name, err = PoolName(join(field, "name"), p.GetName()); err != nil {
		return out, err
	}
	if out.OutsideVRF, err = VRF(join(field, "outside_vrf"), p.GetOutsideVrf()); err != nil {
		return out, err
	}
	switch {
	case len(p.GetRanges()) == 0 && p.GetInterface() == "":
		return out, fieldErr(join(field, "ranges"), "a pool needs addresses: ranges or an interface")
	case len(p.GetRanges()) > 0 && p.GetInterface() != "":
		return out, fieldErr(join(field, "interface"), "give ranges or an interface, not both")
	case len(p.GetRanges()) > MaxPoolRanges:
		return out, fieldErr(join(field, "ranges"), "%d ranges, at most %d", len(p.GetRanges()), MaxPoolRanges)
	}
	if p.GetInterface() != "" {
		if out.Interface, err = InterfaceName(join(field, "interface"), p.GetInterface()); err != nil {
			return out, err
		}
	}
	for i, s := range p.GetRanges() {
		f := fmt.Sprintf("%s[%d]", join(field, "ranges"), i)
		r, err := AddrRange(f, s)
		if err != nil {
			return out, err
		}
		if i > 0 && r.First.Is4() != out.Ranges[0].First.Is4() {
			return out, fieldErr(f, "address family %s does not match ranges[0] (%s): a pool has one family",
				familyName(r.First), familyName(out.Ranges[0].First))
		}
		out.Ranges = append(out.Ranges, r)
	}
	if err := disjoint(join(field, "ranges"), out.Ranges); err != nil {
		return out, err
	}
	if err := poolPorts(field, p, &out); err != nil {
		return out, err
	}
	if p.GetMaxBlocksPerSubscriber() > 65535 {
		return out, fieldErr(join(field, "max_blocks_per_subscriber"), "%d is out of range (0..65535)", p.GetMaxBlocksPerSubscriber())
	}
	out.MaxBlocksPerSubscriber = uint16(p.GetMaxBlocksPerSubscriber())
	out.MaxSessionsPerSubscriber = p.GetMaxSessionsPerSubscriber()
	if p.GetReuseDelay() != nil {
		d := p.GetReuseDelay().AsDuration()
		f := join(field, "reuse_delay")
		switch {
		case !p.GetReuseDelay().IsValid() || d < time.Second || d > MaxReuseDelay:
			return out, fieldErr(f, "must be 1s..%v", MaxReuseDelay)
		case d%time.Second != 0:
			return out, fieldErr(f, "%v: whole seconds only", d)
		}
		out.ReuseDelay = d
	}
	if out.Filtering, err = filtering(join(field, "filtering"), p.GetFiltering()); err != nil {
		return out, err
	}
	return out.WithDefaults(), nil
}

// poolPorts checks the port range and the block size against it.
func poolPorts(field string, p *pb.Pool, out *model.Pool) error {
	pmin, pmax := p.GetPortMin(), p.GetPortMax()
	for _, x := range []struct {
		name string
		v    uint32
	}{{"port_min", pmin}, {"port_max", pmax}} {
		if x.v > 65535 {
			return fieldErr(join(field, x.name), "%d is out of range (1..65535)", x.v)
		}
	}
	if pmin == 0 {
		pmin = model.DefaultPortMin
	}
	if pmax == 0 {
		pmax = model.DefaultPortMax
	}
	if pmin > pmax {
		return fieldErr(join(field, "port_min"), "%d is above port_max %d", pmin, pmax)
	}
	bs := p.GetBlockSize()
	if bs == 0 {
		bs = model.DefaultBlockSize
	}
	ports := pmax - pmin + 1
	switch {
	case bits.OnesCount32(bs) != 1 || bs > MaxBlockSize:
		return fieldErr(join(field, "block_size"), "%d is not a power of two (1..%d)", bs, MaxBlockSize)
	case bs > ports:
		return fieldErr(join(field, "block_size"), "%d is larger than the port range %d-%d (%d ports): the pool would have fewer ports than one block",
			bs, pmin, pmax, ports)
	}
	out.PortMin, out.PortMax, out.BlockSize = uint16(pmin), uint16(pmax), uint16(bs)
	return nil
}

// disjoint refuses overlapping ranges.
func disjoint(field string, rs []model.AddrRange) error {
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return rs[a].First.Compare(rs[b].First) })
	for k := 1; k < len(idx); k++ {
		a, b := rs[idx[k-1]], rs[idx[k]]
		if !a.Last.Less(b.First) {
			return fieldErr(fmt.Sprintf("%s[%d]", field, idx[k]), "%s overlaps ranges[%d] %s", b, idx[k-1], a)
		}
	}
	return nil
}

// PoolBindingKey checks a binding's key.
func PoolBindingKey(vrf uint32, prefix string) (model.PoolBindingKey, error) {
	v, err := VRF("vrf", vrf)
	if err != nil {
		return model.PoolBindingKey{}, err
	}
	if len(prefix) > 64 {
		return model.PoolBindingKey{}, fieldErr("prefix", "%s is not a prefix", short(prefix))
	}
	p, err := Prefix("prefix", prefix)
	if err != nil {
		return model.PoolBindingKey{}, err
	}
	return model.PoolBindingKey{VRF: v, Prefix: p}, nil
}

// PoolBinding checks a binding.
func PoolBinding(field string, b *pb.PoolBinding) (model.PoolBinding, error) {
	if b == nil {
		return model.PoolBinding{}, fieldErr(field, "required")
	}
	k, err := PoolBindingKey(b.GetVrf(), b.GetPrefix())
	if err != nil {
		fe, _ := AsFieldError(err)
		return model.PoolBinding{}, fieldErr(join(field, fe.Field), "%s", fe.Msg)
	}
	name, err := PoolName(join(field, "pool"), b.GetPool())
	if err != nil {
		return model.PoolBinding{}, err
	}
	return model.PoolBinding{VRF: k.VRF, Prefix: k.Prefix, Pool: name}, nil
}

// StaticBlock checks a static block (its fields only; see
// StaticBlockFits for the pool).
func StaticBlock(field string, b *pb.StaticBlock) (model.StaticBlock, error) {
	if b == nil {
		return model.StaticBlock{}, fieldErr(field, "required")
	}
	var out model.StaticBlock
	var err error
	if out.Pool, err = PoolName(join(field, "pool"), b.GetPool()); err != nil {
		return out, err
	}
	if out.VRF, err = VRF(join(field, "vrf"), b.GetVrf()); err != nil {
		return out, err
	}
	if out.InsideAddr, err = shortAddr(join(field, "inside_addr"), b.GetInsideAddr()); err != nil {
		return out, err
	}
	if out.OutsideAddr, err = shortAddr(join(field, "outside_addr"), b.GetOutsideAddr()); err != nil {
		return out, err
	}
	if out.PortStart, err = Port(join(field, "port_start"), b.GetPortStart(), true); err != nil {
		return out, err
	}
	return out, nil
}

func shortAddr(field, s string) (netip.Addr, error) {
	if len(s) > 64 {
		return netip.Addr{}, fieldErr(field, "%s is not an IP address", short(s))
	}
	return Addr(field, s)
}

// SubscriberFilter checks a ListSubscribers request.
func SubscriberFilter(r *pb.ListSubscribersRequest) (model.SubscriberFilter, error) {
	vrf, err := optVRF("vrf", r.Vrf)
	if err != nil {
		return model.SubscriberFilter{}, err
	}
	f := model.SubscriberFilter{VRF: vrf}
	if r.GetPool() != "" {
		if f.Pool, err = PoolName("pool", r.GetPool()); err != nil {
			return f, err
		}
	}
	return f, nil
}

// ConflictError is a request that is valid on its own but conflicts with
// the intent (the server answers FAILED_PRECONDITION).
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

func conflict(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

func names[T any](xs []T, name func(T) string) string {
	var b strings.Builder
	for i, x := range xs {
		if i == maxConflictNames {
			fmt.Fprintf(&b, " and %d more", len(xs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name(x))
	}
	return b.String()
}

func poolFamily(p model.Pool) (is4, known bool) {
	if len(p.Ranges) == 0 {
		return false, false
	}
	return p.Ranges[0].First.Is4(), true
}

// PoolFits checks a pool being created or updated against the intent:
// the count limit, and the bindings and static blocks that use it.
func PoolFits(d *model.Desired, p model.Pool) error {
	exists := slices.ContainsFunc(d.Pools, func(x model.Pool) bool { return x.Name == p.Name })
	if !exists && len(d.Pools) >= MaxPools {
		return conflict("pool %s: there are already %d pools (the limit)", p.Name, MaxPools)
	}
	if is4, ok := poolFamily(p); ok {
		var bad []model.PoolBinding
		for _, b := range d.PoolBindings {
			if b.Pool == p.Name && b.Prefix.Addr().Is4() != is4 {
				bad = append(bad, b)
			}
		}
		if len(bad) > 0 {
			return conflict("pool %s: its address family does not match the bindings %s", p.Name,
				names(bad, func(b model.PoolBinding) string { return b.Key().String() }))
		}
	}
	var bad []model.StaticBlock
	for _, b := range d.StaticBlocks {
		if b.Pool == p.Name && blockMisfit(p, b) != "" {
			bad = append(bad, b)
		}
	}
	if len(bad) > 0 {
		return conflict("pool %s: the static blocks %s would no longer fit (delete them first)", p.Name,
			names(bad, func(b model.StaticBlock) string { return b.String() }))
	}
	return nil
}

// PoolDeletable refuses to delete a pool that bindings or static blocks
// use, naming them.
func PoolDeletable(d *model.Desired, name string) error {
	var bs []model.PoolBinding
	for _, b := range d.PoolBindings {
		if b.Pool == name {
			bs = append(bs, b)
		}
	}
	if len(bs) > 0 {
		return conflict("pool %s is bound by %s: unbind first", name,
			names(bs, func(b model.PoolBinding) string { return b.Key().String() }))
	}
	var sbs []model.StaticBlock
	for _, b := range d.StaticBlocks {
		if b.Pool == name {
			sbs = append(sbs, b)
		}
	}
	if len(sbs) > 0 {
		return conflict("pool %s has static blocks %s: delete them first", name,
			names(sbs, func(b model.StaticBlock) string { return b.String() }))
	}
	return nil
}

func findPool(d *model.Desired, name string) (model.Pool, bool) {
	i := slices.IndexFunc(d.Pools, func(p model.Pool) bool { return p.Name == name })
	if i < 0 {
		return model.Pool{}, false
	}
	return d.Pools[i], true
}

// PoolBindingFits checks a new binding against the intent: its pool
// exists and has its family, and its prefix overlaps no other binding of
// its VRF.
func PoolBindingFits(d *model.Desired, b model.PoolBinding) error {
	p, ok := findPool(d, b.Pool)
	if !ok {
		return conflict("binding %s: pool %s does not exist", b.Key(), b.Pool)
	}
	if is4, ok := poolFamily(p); ok && is4 != b.Prefix.Addr().Is4() {
		return conflict("binding %s: prefix family %s does not match pool %s (%s)", b.Key(),
			familyName(b.Prefix.Addr()), p.Name, familyName(p.Ranges[0].First))
	}
	for _, x := range d.PoolBindings {
		if x.Key() != b.Key() && x.VRF == b.VRF && x.Prefix.Overlaps(b.Prefix) {
			return conflict("binding %s overlaps the binding %s (pool %s) of the same vrf", b.Key(), x.Key(), x.Pool)
		}
	}
	if len(d.PoolBindings) >= MaxPoolBindings {
		return conflict("binding %s: there are already %d bindings (the limit)", b.Key(), MaxPoolBindings)
	}
	return nil
}

// blockMisfit says why static block b does not fit pool p ("" if it does).
func blockMisfit(p model.Pool, b model.StaticBlock) string {
	p = p.WithDefaults()
	if b.PortStart < p.PortMin || int(b.PortStart)+int(p.BlockSize)-1 > int(p.PortMax) ||
		(b.PortStart-p.PortMin)%p.BlockSize != 0 {
		return fmt.Sprintf("port %d does not start a block (ports %d-%d in blocks of %d)", b.PortStart, p.PortMin, p.PortMax, p.BlockSize)
	}
	if len(p.Ranges) > 0 && !slices.ContainsFunc(p.Ranges, func(r model.AddrRange) bool {
		return r.First.Compare(b.OutsideAddr) <= 0 && b.OutsideAddr.Compare(r.Last) <= 0
	}) {
		return fmt.Sprintf("outside address %s is not in the pool", b.OutsideAddr)
	}
	return ""
}

// StaticBlockFits checks a new static block against the intent: its pool
// exists, the block starts at a block boundary and its outside address is
// in the pool; a subscriber uses one outside address (paired pooling).
func StaticBlockFits(d *model.Desired, b model.StaticBlock) error {
	p, ok := findPool(d, b.Pool)
	if !ok {
		return conflict("static block %s: pool %s does not exist", b, b.Pool)
	}
	if why := blockMisfit(p, b); why != "" {
		return conflict("static block %s: %s", b, why)
	}
	n := 0
	for _, x := range d.StaticBlocks {
		switch {
		case x.Pool == b.Pool && x.OutsideAddr == b.OutsideAddr && x.PortStart == b.PortStart && x != b:
			return conflict("static block %s: the block is already assigned to vrf %d %s", b, x.VRF, x.InsideAddr)
		case x.Pool == b.Pool && x.VRF == b.VRF && x.InsideAddr == b.InsideAddr && x.OutsideAddr != b.OutsideAddr:
			return conflict("static block %s: the subscriber already uses outside address %s (one per subscriber)", b, x.OutsideAddr)
		case x.Pool == b.Pool && x.VRF == b.VRF && x.InsideAddr == b.InsideAddr:
			n++
		}
	}
	if n >= int(p.WithDefaults().MaxBlocksPerSubscriber) {
		return conflict("static block %s: the subscriber already has %d blocks (the pool's maximum)", b, n)
	}
	if len(d.StaticBlocks) >= MaxStaticBlocks {
		return conflict("static block %s: there are already %d static blocks (the limit)", b, MaxStaticBlocks)
	}
	return nil
}

// ComparePoolBindings orders bindings by VRF, then prefix.
func ComparePoolBindings(a, b model.PoolBinding) int {
	return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
}

// poolRequest validates the PoolService requests for Request.
func poolRequest(req any) error {
	var err error
	switch r := req.(type) {
	case *pb.CreatePoolRequest:
		_, err = Pool("pool", r.GetPool())
	case *pb.UpdatePoolRequest:
		_, err = Pool("pool", r.GetPool())
	case *pb.DeletePoolRequest:
		_, err = PoolName("name", r.GetName())
	case *pb.GetPoolRequest:
		_, err = PoolName("name", r.GetName())
	case *pb.CreatePoolBindingRequest:
		_, err = PoolBinding("binding", r.GetBinding())
	case *pb.DeletePoolBindingRequest:
		_, err = PoolBindingKey(r.GetVrf(), r.GetPrefix())
	case *pb.ListPoolBindingsRequest:
		if _, err = optVRF("vrf", r.Vrf); err == nil && r.GetPool() != "" {
			_, err = PoolName("pool", r.GetPool())
		}
	case *pb.StaticBlockRequest:
		_, err = StaticBlock("block", r.GetBlock())
	case *pb.ListStaticBlocksRequest:
		if r.GetPool() != "" {
			_, err = PoolName("pool", r.GetPool())
		}
	case *pb.ListSubscribersRequest:
		_, err = SubscriberFilter(r)
	}
	return err
}
