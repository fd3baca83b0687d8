package reconcile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Kind is the kind of an object of intent.
type Kind string

const (
	KindTranslation   Kind = "translation"
	KindSNATAddress   Kind = "snat-address"
	KindSNATExclusion Kind = "snat-exclusion"
	KindSNATInterface Kind = "snat-interface"
	KindTimeouts      Kind = "timeouts"
	KindSessionLimit  Kind = "session-limit"
)

// ID names one object of intent by its stable key. Only the field of its
// kind is set.
type ID struct {
	Kind          Kind
	Translation   model.TranslationKey
	SNATAddress   model.SNATAddress
	SNATExclusion model.SNATExclusion
	SNATInterface model.SNATInterface
	VRF           uint32 // session limit
	// Carrier-grade NAT (pools.go).
	Pool        string
	PoolBinding model.PoolBindingKey
	StaticBlock model.StaticBlock
	StaticNAT   model.StaticNATKey
}

// TranslationID and the functions below build IDs.
func TranslationID(k model.TranslationKey) ID {
	return ID{Kind: KindTranslation, Translation: NormalizeKey(k)}
}
func SNATAddressID(a model.SNATAddress) ID {
	a.Addr = a.Addr.Unmap()
	return ID{Kind: KindSNATAddress, SNATAddress: a}
}
func SNATExclusionID(e model.SNATExclusion) ID {
	e.Prefix = e.Prefix.Masked()
	return ID{Kind: KindSNATExclusion, SNATExclusion: e}
}
func SNATInterfaceID(i model.SNATInterface) ID { return ID{Kind: KindSNATInterface, SNATInterface: i} }
func TimeoutsID() ID                           { return ID{Kind: KindTimeouts} }
func SessionLimitID(vrf uint32) ID             { return ID{Kind: KindSessionLimit, VRF: vrf} }

// Key is the object's key as text, e.g. "vrf 0 tcp 30.0.0.2:80".
func (id ID) Key() string {
	switch id.Kind {
	case KindTranslation:
		return id.Translation.String()
	case KindSNATAddress:
		return fmt.Sprintf("vrf %d %s", id.SNATAddress.VRF, id.SNATAddress.Addr)
	case KindSNATExclusion:
		return fmt.Sprintf("vrf %d %s", id.SNATExclusion.VRF, id.SNATExclusion.Prefix)
	case KindSNATInterface:
		return fmt.Sprintf("%s ipv%d", id.SNATInterface.Interface, id.SNATInterface.Family)
	case KindTimeouts:
		return "timeouts"
	case KindSessionLimit:
		if id.VRF == model.AllVRFs {
			return "global"
		}
		return fmt.Sprintf("vrf %d", id.VRF)
	}
	return poolKey(id)
}

func (id ID) String() string { return string(id.Kind) + " " + id.Key() }

// Op is one dataplane change.
type Op struct {
	ID     ID
	Delete bool
	// Set for a put of that kind.
	Translation  model.Translation
	Timeouts     model.Timeouts
	SessionLimit model.SessionLimit
	Pool         model.Pool
	PoolBinding  model.PoolBinding
	StaticNAT    model.StaticNAT
}

func (o Op) verb() string {
	if o.Delete {
		return "delete"
	}
	return "put"
}

// State is a set of objects indexed by key: intent (IndexDesired) or what
// a dataplane holds (as dumped, then kept up to date by the reconciler).
type State struct {
	Translations   map[model.TranslationKey]model.Translation
	SNATAddresses  map[model.SNATAddress]struct{}
	SNATExclusions map[model.SNATExclusion]struct{}
	SNATInterfaces map[model.SNATInterface]struct{}
	// HaveTimeouts is false when the timeouts are not known.
	HaveTimeouts  bool
	Timeouts      model.Timeouts
	SessionLimits map[uint32]uint32 // VRF → max; 0 (unlimited) is absent
	PoolState
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		Translations:   map[model.TranslationKey]model.Translation{},
		SNATAddresses:  map[model.SNATAddress]struct{}{},
		SNATExclusions: map[model.SNATExclusion]struct{}{},
		SNATInterfaces: map[model.SNATInterface]struct{}{},
		SessionLimits:  map[uint32]uint32{},
		PoolState:      newPoolState(),
	}
}

// IndexDesired indexes intent. Timeouts' zero fields are filled with the
// defaults (zero means "dataplane default").
func IndexDesired(d *model.Desired) *State {
	s := NewState()
	s.Translations = make(map[model.TranslationKey]model.Translation, len(d.Translations))
	for _, t := range d.Translations {
		s.Translations[NormalizeKey(t.Key)] = t
	}
	for _, a := range d.SNATAddresses {
		s.SNATAddresses[SNATAddressID(a).SNATAddress] = struct{}{}
	}
	for _, e := range d.SNATExclusions {
		s.SNATExclusions[SNATExclusionID(e).SNATExclusion] = struct{}{}
	}
	for _, i := range d.SNATInterfaces {
		s.SNATInterfaces[i] = struct{}{}
	}
	s.HaveTimeouts = true
	s.Timeouts = EffectiveTimeouts(d.Timeouts)
	for _, l := range d.SessionLimits {
		if l.Max != 0 {
			s.SessionLimits[l.VRF] = l.Max
		}
	}
	indexDerived(s, d)
	indexPools(s, d)
	return s
}

// EffectiveTimeouts fills t's zero fields with the defaults.
func EffectiveTimeouts(t model.Timeouts) model.Timeouts {
	def := model.DefaultTimeouts
	if t.UDP == 0 {
		t.UDP = def.UDP
	}
	if t.TCPEstablished == 0 {
		t.TCPEstablished = def.TCPEstablished
	}
	if t.TCPTransitory == 0 {
		t.TCPTransitory = def.TCPTransitory
	}
	if t.ICMP == 0 {
		t.ICMP = def.ICMP
	}
	return t
}

// AllHashFields is HashFields' meaning of 0.
const AllHashFields = model.HashSrcAddr | model.HashDstAddr | model.HashSrcPort | model.HashDstPort | model.HashProto

// DefaultMaglevLen is MaglevLen's meaning of 0.
const DefaultMaglevLen = 1009

// NormalizeKey maps equivalent keys to one: v4-mapped addresses are IPv4,
// and ICMP and ICMPv6 (equivalent for a translation: the VIP's family
// decides) become the family's own, ProtoICMP for IPv4 and ProtoICMPv6 for
// IPv6. Keys sent to a dataplane are normalized, which every dataplane
// accepts.
func NormalizeKey(k model.TranslationKey) model.TranslationKey {
	k.VIP = k.VIP.Unmap()
	if k.Proto == model.ProtoICMP || k.Proto == model.ProtoICMPv6 {
		if k.VIP.Is6() {
			k.Proto = model.ProtoICMPv6
		} else {
			k.Proto = model.ProtoICMP
		}
	}
	return k
}

func normAddr(a netip.Addr) netip.Addr {
	if !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Normalize returns t in a canonical form: equivalent translations (as a
// dataplane may report them) normalize equal.
func Normalize(t model.Translation) model.Translation {
	t.Key = NormalizeKey(t.Key)
	if t.HashFields == 0 {
		t.HashFields = AllHashFields
	}
	if t.LB != model.LBMaglev {
		t.MaglevLen = 0
	} else if t.MaglevLen == 0 {
		t.MaglevLen = DefaultMaglevLen
	}
	b := make([]model.Backend, len(t.Backends))
	for i, x := range t.Backends {
		b[i] = model.Backend{SrcAddr: normAddr(x.SrcAddr), SrcPort: x.SrcPort, DstAddr: normAddr(x.DstAddr), DstPort: x.DstPort}
	}
	slices.SortFunc(b, compareBackend)
	t.Backends = b
	return t
}

func compareBackend(a, b model.Backend) int {
	return cmp.Or(a.DstAddr.Compare(b.DstAddr), cmp.Compare(a.DstPort, b.DstPort),
		a.SrcAddr.Compare(b.SrcAddr), cmp.Compare(a.SrcPort, b.SrcPort))
}

// EqualTranslations compares translations semantically: backend order,
// "keep" spelt as an unspecified address, defaulted hash fields and maglev
// length and ICMP/ICMPv6 do not matter.
func EqualTranslations(a, b model.Translation) bool {
	if NormalizeKey(a.Key) != NormalizeKey(b.Key) || a.Kind != b.Kind || a.LB != b.LB || len(a.Backends) != len(b.Backends) {
		return false
	}
	na, nb := Normalize(a), Normalize(b)
	return na.HashFields == nb.HashFields && na.MaglevLen == nb.MaglevLen && slices.Equal(na.Backends, nb.Backends)
}

// Diff returns the minimal ops that make actual hold desired: puts of what
// is missing or different, deletes of what is extra. Puts come before
// deletes (a SNAT pool being changed is never empty on the way), each
// group sorted by kind and key so plans are deterministic.
func Diff(desired, actual *State) []Op {
	var dels []Op
	puts := make([]Op, 0, max(0, len(desired.Translations)-len(actual.Translations))+8)
	for k, t := range desired.Translations {
		if a, ok := actual.Translations[k]; !ok || !EqualTranslations(t, a) {
			puts = append(puts, Op{ID: TranslationID(k), Translation: t})
		}
	}
	for k := range actual.Translations {
		if _, ok := desired.Translations[k]; !ok {
			dels = append(dels, Op{ID: TranslationID(k), Delete: true})
		}
	}
	diffSet(desired.SNATAddresses, actual.SNATAddresses, SNATAddressID, &puts, &dels)
	diffSet(desired.SNATExclusions, actual.SNATExclusions, SNATExclusionID, &puts, &dels)
	diffSet(desired.SNATInterfaces, actual.SNATInterfaces, SNATInterfaceID, &puts, &dels)
	if desired.HaveTimeouts && (!actual.HaveTimeouts || actual.Timeouts != desired.Timeouts) {
		puts = append(puts, Op{ID: TimeoutsID(), Timeouts: desired.Timeouts})
	}
	for vrf, max := range desired.SessionLimits {
		if actual.SessionLimits[vrf] != max {
			puts = append(puts, Op{ID: SessionLimitID(vrf), SessionLimit: model.SessionLimit{VRF: vrf, Max: max}})
		}
	}
	for vrf, max := range actual.SessionLimits {
		if _, ok := desired.SessionLimits[vrf]; !ok && max != 0 {
			dels = append(dels, Op{ID: SessionLimitID(vrf), Delete: true, SessionLimit: model.SessionLimit{VRF: vrf}})
		}
	}
	sortOps(puts)
	sortOps(dels)
	ops := slices.Concat(puts, dels, diffPools(desired, actual))
	sortByStage(ops)
	return ops
}

// sortByStage sorts ops stably by stage (as slices.SortStableFunc(ops,
// byStage), without moving the large Ops more than once).
func sortByStage(ops []Op) {
	st := make([]int, len(ops))
	idx := make([]int32, len(ops))
	for i := range ops {
		st[i], idx[i] = stage(ops[i]), int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int { return cmp.Compare(st[i], st[j]) })
	sorted := make([]Op, len(ops))
	for i, j := range idx {
		sorted[i] = ops[j]
	}
	copy(ops, sorted)
}

func diffSet[K comparable](desired, actual map[K]struct{}, id func(K) ID, puts, dels *[]Op) {
	for k := range desired {
		if _, ok := actual[k]; !ok {
			*puts = append(*puts, Op{ID: id(k)})
		}
	}
	for k := range actual {
		if _, ok := desired[k]; !ok {
			*dels = append(*dels, Op{ID: id(k), Delete: true})
		}
	}
}

// DiffIDs is Diff restricted to the objects ids names, puts first, in the
// order of ids otherwise. An object absent
// from desired is deleted even when actual does not have it (actual may be
// stale; deleting an absent object is harmless).
func DiffIDs(desired, actual *State, ids []ID) []Op {
	var ops []Op
	seen := map[ID]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		switch id.Kind {
		case KindTranslation:
			k := id.Translation
			if t, ok := desired.Translations[k]; ok {
				if a, ok := actual.Translations[k]; !ok || !EqualTranslations(t, a) {
					ops = append(ops, Op{ID: id, Translation: t})
				}
			} else {
				ops = append(ops, Op{ID: id, Delete: true})
			}
		case KindSNATAddress:
			ops = appendSetOp(ops, id, desired.SNATAddresses, actual.SNATAddresses, id.SNATAddress)
		case KindSNATExclusion:
			ops = appendSetOp(ops, id, desired.SNATExclusions, actual.SNATExclusions, id.SNATExclusion)
		case KindSNATInterface:
			ops = appendSetOp(ops, id, desired.SNATInterfaces, actual.SNATInterfaces, id.SNATInterface)
		case KindTimeouts:
			if desired.HaveTimeouts && (!actual.HaveTimeouts || actual.Timeouts != desired.Timeouts) {
				ops = append(ops, Op{ID: id, Timeouts: desired.Timeouts})
			}
		case KindSessionLimit:
			max, ok := desired.SessionLimits[id.VRF]
			switch {
			case ok && actual.SessionLimits[id.VRF] != max:
				ops = append(ops, Op{ID: id, SessionLimit: model.SessionLimit{VRF: id.VRF, Max: max}})
			case !ok:
				ops = append(ops, Op{ID: id, Delete: true, SessionLimit: model.SessionLimit{VRF: id.VRF}})
			}
		case KindPool, KindPoolBinding, KindStaticBlock, KindStaticNAT:
			ops = appendPoolOp(ops, desired, actual, id)
		}
	}
	// Puts before deletes, pools in their order, as in Diff.
	slices.SortStableFunc(ops, byStage)
	return ops
}

func appendSetOp[K comparable](ops []Op, id ID, desired, actual map[K]struct{}, k K) []Op {
	if _, ok := desired[k]; ok {
		if _, ok := actual[k]; !ok {
			ops = append(ops, Op{ID: id})
		}
		return ops
	}
	return append(ops, Op{ID: id, Delete: true})
}

var kindOrder = map[Kind]int{
	KindTimeouts: 0, KindSessionLimit: 1, KindSNATAddress: 2, KindSNATExclusion: 3,
	KindSNATInterface: 4, KindTranslation: 5,
}

func sortOps(ops []Op) {
	// Op is large: sort indexes, then move each op once.
	idx := make([]int32, len(ops))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &ops[i], &ops[j]
		if a.ID.Kind != b.ID.Kind {
			return cmp.Compare(kindOrder[a.ID.Kind], kindOrder[b.ID.Kind])
		}
		return compareID(a.ID, b.ID)
	})
	sorted := make([]Op, len(ops))
	for i, j := range idx {
		sorted[i] = ops[j]
	}
	copy(ops, sorted)
}

func compareID(a, b ID) int {
	switch a.Kind {
	case KindTranslation:
		x, y := a.Translation, b.Translation
		return cmp.Or(cmp.Compare(x.VRF, y.VRF), x.VIP.Compare(y.VIP), cmp.Compare(x.Port, y.Port), cmp.Compare(x.Proto, y.Proto))
	case KindSNATAddress:
		return cmp.Or(cmp.Compare(a.SNATAddress.VRF, b.SNATAddress.VRF), a.SNATAddress.Addr.Compare(b.SNATAddress.Addr))
	case KindSNATExclusion:
		x, y := a.SNATExclusion, b.SNATExclusion
		return cmp.Or(cmp.Compare(x.VRF, y.VRF), x.Prefix.Addr().Compare(y.Prefix.Addr()), cmp.Compare(x.Prefix.Bits(), y.Prefix.Bits()))
	case KindSNATInterface:
		return cmp.Or(cmp.Compare(a.SNATInterface.Interface, b.SNATInterface.Interface), cmp.Compare(a.SNATInterface.Family, b.SNATInterface.Family))
	case KindSessionLimit:
		return cmp.Compare(a.VRF, b.VRF)
	}
	return comparePoolID(a, b)
}
