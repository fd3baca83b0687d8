package kernel

// Conntrack mark layout. cloudnat owns the whole ct mark of the flows it
// translates (and only of those): the first packet of such a flow gets its
// mark set by cloudnat's rules before the NAT statement runs, so the mark
// both selects the backend/pool address (jhash ... offset <base>) and later
// identifies cloudnat's conntrack entries for listing, deletion and purge.
//
//	bit 31      set on every flow cloudnat translated
//	bit 30      set when the flow was created by interface source NAT
//	bits 16-29  translation id (1..16383) for translation flows
//	bits 0-15   backend index (translation) or pool index (source NAT)
const (
	markCloudnat uint32 = 1 << 31
	markSNAT     uint32 = 1 << 30
	markIDShift         = 16
	markIDMask   uint32 = 0x3fff
	markIdxMask  uint32 = 0xffff

	// maxTranslationID is the largest translation id the mark can carry.
	maxTranslationID = 0x3fff
	// maxBackends is the largest backend count the mark can index.
	maxBackends = 0x10000
	// maxZone is the largest conntrack zone (and so the largest VRF).
	maxZone = 0xffff
)

// translationMark is the mark base of translation id; backend i gets base+i.
func translationMark(id uint16) uint32 {
	return markCloudnat | (uint32(id)&markIDMask)<<markIDShift
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
