// Package dataplane defines the one interface every cloudnat dataplane
// implements (the VPP plugin through binapi, the Linux kernel through
// nf_tables and conntrack). The reconciler drives it by dump-and-diff: it
// lists what the dataplane has, compares with intent and applies the
// minimal set of Put/Delete calls.
//
// Rules every implementation follows:
//   - every call takes a context and honours its deadline;
//   - Put* creates or replaces the object with that key (idempotent);
//   - Delete* of an absent object returns nil;
//   - a request the dataplane cannot express returns an error wrapping
//     ErrUnsupported that says what and why, and changes nothing;
//   - errors wrap the underlying cause (fmt.Errorf("...: %w", err)).
package dataplane

import (
	"context"
	"errors"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// ErrUnsupported marks intent a dataplane cannot express.
var ErrUnsupported = errors.New("not supported by this dataplane")

// ErrNotConnected is returned while the dataplane is unreachable.
var ErrNotConnected = errors.New("dataplane not connected")

// ErrAddressInUse marks an object refused because another object (of
// another mode) already claims its address.
var ErrAddressInUse = errors.New("address in use")

// Info describes a dataplane for status.
type Info struct {
	Name      string // "vpp" or "kernel"
	Connected bool
	Version   string // e.g. VPP's version string, or the kernel release
	Plugin    string // plugin version (vpp) or "" (kernel)
}

// Stats are counters read from the dataplane.
type Stats struct {
	Translations uint32
	Sessions     uint32
	// Drops by reason, named as the dataplane's counters are named.
	Drops map[string]uint64
	// SessionTableFill is, by family ("ip4", "ip6"), the share of a
	// fixed-size session table's slots in use (0..1); nil for a dataplane
	// whose tables grow (kernel). VPP's tables drop new flows when full.
	SessionTableFill map[string]float64
}

// Event tells the reconciler something changed underneath it.
type Event int

const (
	// Connected: the dataplane (re)appeared, possibly empty; resync now.
	Connected Event = iota
	// Disconnected: the dataplane went away; calls fail until Connected.
	Disconnected
)

// Dataplane is implemented by every dataplane.
type Dataplane interface {
	Info(ctx context.Context) Info
	// Events delivers connection changes; closed by Close.
	Events() <-chan Event
	Close() error

	ListTranslations(ctx context.Context) ([]model.Translation, error)
	PutTranslation(ctx context.Context, t model.Translation) error
	DeleteTranslation(ctx context.Context, k model.TranslationKey) error

	ListSNATAddresses(ctx context.Context) ([]model.SNATAddress, error)
	PutSNATAddress(ctx context.Context, a model.SNATAddress) error
	DeleteSNATAddress(ctx context.Context, a model.SNATAddress) error

	ListSNATExclusions(ctx context.Context) ([]model.SNATExclusion, error)
	PutSNATExclusion(ctx context.Context, e model.SNATExclusion) error
	DeleteSNATExclusion(ctx context.Context, e model.SNATExclusion) error

	ListSNATInterfaces(ctx context.Context) ([]model.SNATInterface, error)
	PutSNATInterface(ctx context.Context, i model.SNATInterface) error
	DeleteSNATInterface(ctx context.Context, i model.SNATInterface) error

	GetTimeouts(ctx context.Context) (model.Timeouts, error)
	SetTimeouts(ctx context.Context, t model.Timeouts) error

	ListSessionLimits(ctx context.Context) ([]model.SessionLimit, error)
	SetSessionLimit(ctx context.Context, l model.SessionLimit) error

	// ListSessions calls fn for each session matching f, stopping at the
	// first error fn returns.
	ListSessions(ctx context.Context, f model.SessionFilter, fn func(model.Session) error) error
	DeleteSession(ctx context.Context, k model.SessionKey) error
	PurgeSessions(ctx context.Context, vrf uint32) (deleted uint32, err error)

	ListInterfaces(ctx context.Context) ([]model.Interface, error)
	Stats(ctx context.Context) (Stats, error)

	// Carrier-grade NAT (pools.go).
	Pools
}

// Checker is implemented by dataplanes that refuse some intent before it is
// stored, for reasons only they know (an interface name longer than the
// kernel's IFNAMSIZ, a VIP on an address the host owns). The server calls it
// before the store; an error wraps ErrUnsupported or says what is invalid.
// A dataplane without it accepts whatever passed model validation.
// CheckTranslation gets the key normalized as Put does (an ICMP key with an
// IPv6 VIP is ProtoICMPv6).
type Checker interface {
	CheckTranslation(ctx context.Context, t model.Translation) error
	CheckInterfaceName(name string) error
}

// DriftReporter is implemented by dataplanes that notice changes made by
// someone else to what they own (the kernel dataplane's table) and repair
// them; DriftRepairs counts those repairs since the dataplane was opened.
type DriftReporter interface {
	DriftRepairs() uint64
}

// BulkTranslator is implemented by dataplanes that program many
// translations faster together than one by one (the kernel dataplane: one
// netlink transaction per ~60,000 elements instead of one per translation).
// Each translation is applied whole; a translation the dataplane cannot
// express refuses the whole call before anything changes.
type BulkTranslator interface {
	PutTranslations(ctx context.Context, ts []model.Translation) error
}
