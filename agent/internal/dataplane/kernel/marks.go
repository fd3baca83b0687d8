package kernel

// Conntrack mark layout. cloudnat owns the whole ct mark of the flows it
// translates (and only of those): the first packet of such a flow gets its
// mark from cloudnat's maps before the NAT statement runs, so the mark
// identifies cloudnat's conntrack entries for listing, deletion and purge,
// and (for backends with a source rewrite) keys the postrouting snat map.
//
//	bit 31      set on every flow cloudnat translated
//	bit 30      set when the flow was created by interface source NAT
//	bits 13-29  translation id (1..131071) for translation flows
//	bits 0-12   backend index (translation flows)
//	bits 0-29   pool index (source NAT flows)
const (
	markCloudnat uint32 = 1 << 31
	markSNAT     uint32 = 1 << 30
	markIDShift         = 13
	markIDMask   uint32 = 0x1ffff
	markIdxMask  uint32 = 0x1fff

	// maxTranslationID is the largest translation id the mark can carry.
	maxTranslationID = 0x1ffff
	// maxBackends is the largest backend count the mark can index.
	maxBackends = 0x2000
	// maxPool is the largest SNAT pool (per VRF and family) the mark indexes.
	maxPool = 0x100000
	// maxZone is the largest conntrack zone (and so the largest VRF).
	maxZone = 0xffff
)

// backendMark is the mark of backend idx of translation id.
func backendMark(id uint32, idx int) uint32 {
	return markCloudnat | (id&markIDMask)<<markIDShift | uint32(idx)&markIdxMask
}

// snatMark is the mark base of interface source NAT; pool address i gets base+i.
func snatMark() uint32 { return markCloudnat | markSNAT }

// markTranslationID extracts the translation id of a translation flow's mark.
func markTranslationID(m uint32) uint32 {
	if m&markCloudnat == 0 || m&markSNAT != 0 {
		return 0
	}
	return (m >> markIDShift) & markIDMask
}
