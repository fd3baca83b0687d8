// Package fakedp is an in-memory dataplane.Dataplane for tests. It keeps
// what it is given, counts calls, can be made to fail (per operation) or to
// "restart" empty, and follows the interface's rules: Put replaces, Delete of
// an absent object is not an error, calls fail with ErrNotConnected while
// disconnected.
package fakedp

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Operation names, as passed to a FailFunc and counted by Calls.
const (
	OpListTranslations   = "ListTranslations"
	OpPutTranslation     = "PutTranslation"
	OpDeleteTranslation  = "DeleteTranslation"
	OpListSNATAddresses  = "ListSNATAddresses"
	OpPutSNATAddress     = "PutSNATAddress"
	OpDeleteSNATAddress  = "DeleteSNATAddress"
	OpListSNATExclusions = "ListSNATExclusions"
	OpPutSNATExclusion   = "PutSNATExclusion"
	OpDeleteSNATExcl     = "DeleteSNATExclusion"
	OpListSNATInterfaces = "ListSNATInterfaces"
	OpPutSNATInterface   = "PutSNATInterface"
	OpDeleteSNATIf       = "DeleteSNATInterface"
	OpGetTimeouts        = "GetTimeouts"
	OpSetTimeouts        = "SetTimeouts"
	OpListSessionLimits  = "ListSessionLimits"
	OpSetSessionLimit    = "SetSessionLimit"
	OpListSessions       = "ListSessions"
	OpDeleteSession      = "DeleteSession"
	OpPurgeSessions      = "PurgeSessions"
	OpListInterfaces     = "ListInterfaces"
	OpStats              = "Stats"
)

// FailFunc decides whether an operation fails; arg is the object (or key)
// it is about, nil for lists. A nil return lets it proceed.
type FailFunc func(op string, arg any) error

// DP is the fake dataplane. The zero value is not usable; call New.
type DP struct {
	mu        sync.Mutex
	connected bool
	closed    bool
	events    chan dataplane.Event
	fail      FailFunc
	calls     map[string]int

	translations map[model.TranslationKey]model.Translation
	snatAddrs    map[model.SNATAddress]bool
	snatExcl     map[model.SNATExclusion]bool
	snatIfs      map[model.SNATInterface]bool
	timeouts     model.Timeouts
	limits       map[uint32]uint32
	sessions     []model.Session
	interfaces   []model.Interface
	drops        map[string]uint64
	pools        poolState // pools.go
}

var _ dataplane.Dataplane = (*DP)(nil)

// New returns a connected, empty fake dataplane.
func New() *DP {
	d := &DP{
		connected: true,
		events:    make(chan dataplane.Event, 16),
		calls:     map[string]int{},
	}
	d.reset()
	return d
}

func (d *DP) reset() {
	d.translations = map[model.TranslationKey]model.Translation{}
	d.snatAddrs = map[model.SNATAddress]bool{}
	d.snatExcl = map[model.SNATExclusion]bool{}
	d.snatIfs = map[model.SNATInterface]bool{}
	d.timeouts = model.DefaultTimeouts
	d.limits = map[uint32]uint32{}
	d.sessions = nil
	d.drops = map[string]uint64{}
	d.pools.reset()
}

// SetFail installs (or with nil removes) a failure hook.
func (d *DP) SetFail(f FailFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = f
}

// Calls returns how many times op was called (failed calls included).
func (d *DP) Calls(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

// ResetCalls zeroes the call counters.
func (d *DP) ResetCalls() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = map[string]int{}
}

// Disconnect makes calls fail with ErrNotConnected and sends Disconnected.
func (d *DP) Disconnect() {
	d.mu.Lock()
	d.connected = false
	d.mu.Unlock()
	d.send(dataplane.Disconnected)
}

// Connect reconnects (keeping state) and sends Connected.
func (d *DP) Connect() {
	d.mu.Lock()
	d.connected = true
	d.mu.Unlock()
	d.send(dataplane.Connected)
}

// Restart simulates a dataplane restart: Disconnected, all state lost,
// Connected.
func (d *DP) Restart() {
	d.mu.Lock()
	d.connected = false
	d.mu.Unlock()
	d.send(dataplane.Disconnected)
	d.mu.Lock()
	d.reset()
	d.connected = true
	d.mu.Unlock()
	d.send(dataplane.Connected)
}

func (d *DP) send(e dataplane.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	select {
	case d.events <- e:
	default: // a slow reader misses events; the next periodic sync repairs
	}
}

// AddSession adds a session as the dataplane would report it.
func (d *DP) AddSession(s model.Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sessions = append(d.sessions, s)
}

// SetInterfaces sets what ListInterfaces returns.
func (d *DP) SetInterfaces(ifs []model.Interface) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.interfaces = slices.Clone(ifs)
}

// SetDrops sets the drop counters Stats returns.
func (d *DP) SetDrops(drops map[string]uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drops = maps.Clone(drops)
}

// Snapshot returns the dataplane's whole state as a Desired, sorted.
func (d *DP) Snapshot() model.Desired {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s model.Desired
	for _, t := range d.translations {
		s.Translations = append(s.Translations, cloneTranslation(t))
	}
	slices.SortFunc(s.Translations, func(a, b model.Translation) int { return CompareKeys(a.Key, b.Key) })
	s.SNATAddresses = sortedKeys(d.snatAddrs, func(a, b model.SNATAddress) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Addr.Compare(b.Addr))
	})
	s.SNATExclusions = sortedKeys(d.snatExcl, func(a, b model.SNATExclusion) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	s.SNATInterfaces = sortedKeys(d.snatIfs, func(a, b model.SNATInterface) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), cmp.Compare(a.Family, b.Family))
	})
	s.Timeouts = d.timeouts
	for vrf, max := range d.limits {
		s.SessionLimits = append(s.SessionLimits, model.SessionLimit{VRF: vrf, Max: max})
	}
	slices.SortFunc(s.SessionLimits, func(a, b model.SessionLimit) int { return cmp.Compare(a.VRF, b.VRF) })
	return s
}

// CompareKeys orders translation keys (VRF, VIP, port, proto).
func CompareKeys(a, b model.TranslationKey) int {
	return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
}

func sortedKeys[K comparable](m map[K]bool, cmpf func(a, b K) int) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, cmpf)
	return out
}

func cloneTranslation(t model.Translation) model.Translation {
	t.Backends = slices.Clone(t.Backends)
	return t
}

// begin counts op and returns the error it must fail with, if any. Called
// with d.mu held.
func (d *DP) begin(ctx context.Context, op string, arg any) error {
	d.calls[op]++
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fakedp %s: %w", op, err)
	}
	if !d.connected || d.closed {
		return fmt.Errorf("fakedp %s: %w", op, dataplane.ErrNotConnected)
	}
	if d.fail != nil {
		if err := d.fail(op, arg); err != nil {
			return fmt.Errorf("fakedp %s: %w", op, err)
		}
	}
	return nil
}

// Info implements dataplane.Dataplane.
func (d *DP) Info(ctx context.Context) dataplane.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return dataplane.Info{Name: "fake", Connected: d.connected && !d.closed, Version: "fake 1.0"}
}

// Events implements dataplane.Dataplane.
func (d *DP) Events() <-chan dataplane.Event { return d.events }

// Close implements dataplane.Dataplane.
func (d *DP) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		close(d.events)
	}
	return nil
}

// ListTranslations implements dataplane.Dataplane.
func (d *DP) ListTranslations(ctx context.Context) ([]model.Translation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListTranslations, nil); err != nil {
		return nil, err
	}
	out := make([]model.Translation, 0, len(d.translations))
	for _, t := range d.translations {
		out = append(out, cloneTranslation(t))
	}
	return out, nil
}

// PutTranslation implements dataplane.Dataplane.
func (d *DP) PutTranslation(ctx context.Context, t model.Translation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutTranslation, t); err != nil {
		return err
	}
	d.translations[t.Key] = cloneTranslation(t)
	return nil
}

// DeleteTranslation implements dataplane.Dataplane.
func (d *DP) DeleteTranslation(ctx context.Context, k model.TranslationKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteTranslation, k); err != nil {
		return err
	}
	delete(d.translations, k)
	return nil
}

// ListSNATAddresses implements dataplane.Dataplane.
func (d *DP) ListSNATAddresses(ctx context.Context) ([]model.SNATAddress, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListSNATAddresses, nil); err != nil {
		return nil, err
	}
	return slices.Collect(maps.Keys(d.snatAddrs)), nil
}

// PutSNATAddress implements dataplane.Dataplane.
func (d *DP) PutSNATAddress(ctx context.Context, a model.SNATAddress) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutSNATAddress, a); err != nil {
		return err
	}
	d.snatAddrs[a] = true
	return nil
}

// DeleteSNATAddress implements dataplane.Dataplane.
func (d *DP) DeleteSNATAddress(ctx context.Context, a model.SNATAddress) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteSNATAddress, a); err != nil {
		return err
	}
	delete(d.snatAddrs, a)
	return nil
}

// ListSNATExclusions implements dataplane.Dataplane.
func (d *DP) ListSNATExclusions(ctx context.Context) ([]model.SNATExclusion, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListSNATExclusions, nil); err != nil {
		return nil, err
	}
	return slices.Collect(maps.Keys(d.snatExcl)), nil
}

// PutSNATExclusion implements dataplane.Dataplane.
func (d *DP) PutSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutSNATExclusion, e); err != nil {
		return err
	}
	d.snatExcl[e] = true
	return nil
}

// DeleteSNATExclusion implements dataplane.Dataplane.
func (d *DP) DeleteSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteSNATExcl, e); err != nil {
		return err
	}
	delete(d.snatExcl, e)
	return nil
}

// ListSNATInterfaces implements dataplane.Dataplane.
func (d *DP) ListSNATInterfaces(ctx context.Context) ([]model.SNATInterface, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListSNATInterfaces, nil); err != nil {
		return nil, err
	}
	return slices.Collect(maps.Keys(d.snatIfs)), nil
}

// PutSNATInterface implements dataplane.Dataplane.
func (d *DP) PutSNATInterface(ctx context.Context, i model.SNATInterface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPutSNATInterface, i); err != nil {
		return err
	}
	d.snatIfs[i] = true
	return nil
}

// DeleteSNATInterface implements dataplane.Dataplane.
func (d *DP) DeleteSNATInterface(ctx context.Context, i model.SNATInterface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteSNATIf, i); err != nil {
		return err
	}
	delete(d.snatIfs, i)
	return nil
}

// GetTimeouts implements dataplane.Dataplane.
func (d *DP) GetTimeouts(ctx context.Context) (model.Timeouts, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpGetTimeouts, nil); err != nil {
		return model.Timeouts{}, err
	}
	return d.timeouts, nil
}

// SetTimeouts implements dataplane.Dataplane; zero fields are unchanged.
func (d *DP) SetTimeouts(ctx context.Context, t model.Timeouts) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpSetTimeouts, t); err != nil {
		return err
	}
	if t.UDP != 0 {
		d.timeouts.UDP = t.UDP
	}
	if t.TCPEstablished != 0 {
		d.timeouts.TCPEstablished = t.TCPEstablished
	}
	if t.TCPTransitory != 0 {
		d.timeouts.TCPTransitory = t.TCPTransitory
	}
	if t.ICMP != 0 {
		d.timeouts.ICMP = t.ICMP
	}
	return nil
}

// ListSessionLimits implements dataplane.Dataplane (limits of 0 are not
// listed).
func (d *DP) ListSessionLimits(ctx context.Context) ([]model.SessionLimit, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListSessionLimits, nil); err != nil {
		return nil, err
	}
	var out []model.SessionLimit
	for vrf, max := range d.limits {
		out = append(out, model.SessionLimit{VRF: vrf, Max: max})
	}
	return out, nil
}

// SetSessionLimit implements dataplane.Dataplane.
func (d *DP) SetSessionLimit(ctx context.Context, l model.SessionLimit) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpSetSessionLimit, l); err != nil {
		return err
	}
	if l.Max == 0 {
		delete(d.limits, l.VRF)
	} else {
		d.limits[l.VRF] = l.Max
	}
	return nil
}

// Matches reports whether s matches f, as ListSessions filters.
func Matches(f model.SessionFilter, s model.Session) bool {
	if f.VRF != model.AllVRFs && s.VRF != f.VRF {
		return false
	}
	if f.Proto != 0 && s.Proto != f.Proto {
		return false
	}
	if f.Addr.IsValid() && !f.Addr.Contains(s.Src.Addr()) && !f.Addr.Contains(s.Dst.Addr()) {
		return false
	}
	if f.Port != 0 && s.Src.Port() != f.Port && s.Dst.Port() != f.Port {
		return false
	}
	return true
}

// ListSessions implements dataplane.Dataplane.
func (d *DP) ListSessions(ctx context.Context, f model.SessionFilter, fn func(model.Session) error) error {
	d.mu.Lock()
	if err := d.begin(ctx, OpListSessions, f); err != nil {
		d.mu.Unlock()
		return err
	}
	sessions := slices.Clone(d.sessions)
	d.mu.Unlock()
	for _, s := range sessions {
		if !Matches(f, s) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSession implements dataplane.Dataplane: it deletes the session one
// of whose directions has k's 5-tuple.
func (d *DP) DeleteSession(ctx context.Context, k model.SessionKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpDeleteSession, k); err != nil {
		return err
	}
	d.sessions = slices.DeleteFunc(d.sessions, func(s model.Session) bool {
		if s.VRF != k.VRF || s.Proto != k.Proto {
			return false
		}
		fwd := s.Src == k.Src && s.Dst == k.Dst
		rev := s.NewDst == k.Src && s.NewSrc == k.Dst
		return fwd || rev
	})
	return nil
}

// PurgeSessions implements dataplane.Dataplane.
func (d *DP) PurgeSessions(ctx context.Context, vrf uint32) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpPurgeSessions, vrf); err != nil {
		return 0, err
	}
	n := len(d.sessions)
	d.sessions = slices.DeleteFunc(d.sessions, func(s model.Session) bool {
		return vrf == model.AllVRFs || s.VRF == vrf
	})
	return uint32(n - len(d.sessions)), nil
}

// ListInterfaces implements dataplane.Dataplane.
func (d *DP) ListInterfaces(ctx context.Context) ([]model.Interface, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpListInterfaces, nil); err != nil {
		return nil, err
	}
	return slices.Clone(d.interfaces), nil
}

// Stats implements dataplane.Dataplane.
func (d *DP) Stats(ctx context.Context) (dataplane.Stats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx, OpStats, nil); err != nil {
		return dataplane.Stats{}, err
	}
	return dataplane.Stats{
		Translations: uint32(len(d.translations)),
		Sessions:     uint32(len(d.sessions)),
		Drops:        maps.Clone(d.drops),
	}, nil
}
