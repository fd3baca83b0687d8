// Package reconcile makes a dataplane hold the agent's intent by
// dump-and-diff.
//
// A full sync lists everything the dataplane has, diffs it against intent
// (semantically: see EqualTranslations) and applies the minimal Put/Delete
// calls; objects already as intended are not touched. The reconciler keeps
// what it believes the dataplane holds (the last dump plus the changes it
// applied since), so a targeted sync of a few objects (after an API write)
// costs only their own calls. Failed objects are kept as items (pending
// while the dataplane is not connected, failed otherwise), each with its
// own attempt count and exponential backoff (MinBackoff doubling up to
// MaxBackoff, ±20% jitter), so one object that cannot be applied never
// delays the others and never makes a hot loop. An object the dataplane
// refuses as unsupported (dataplane.ErrUnsupported) is not retried on a
// timer at all: only an intent change or a full sync tries it again. A
// Connected event invalidates the belief and runs a full sync; a periodic
// full sync repairs drift.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Source gives read access to intent; store.Store implements it.
type Source interface {
	View(fn func(d *model.Desired))
}

// SyncState says whether an object is in the dataplane as intended.
type SyncState int

const (
	Synced SyncState = iota
	// Pending: not applied because the dataplane is not connected.
	Pending
	// Failed: the dataplane returned an error; retried with backoff.
	Failed
)

func (s SyncState) String() string {
	switch s {
	case Pending:
		return "pending"
	case Failed:
		return "failed"
	}
	return "synced"
}

// Result is the outcome of syncing one or several objects: the worst
// state among them and its error.
type Result struct {
	State SyncState
	Err   error
}

// Item is an object not (yet) as intended in the dataplane.
type Item struct {
	ID       ID
	Op       string // "put" or "delete"
	State    SyncState
	Err      error
	Attempts int
	Since    time.Time
	// Next is when the item is retried; zero when only a change or a full
	// sync retries it (the dataplane refused it as unsupported).
	Next time.Time
}

// Status is a snapshot for the status API and metrics.
type Status struct {
	Items        []Item
	LastFullSync time.Time // last successful full sync
	LastErr      error     // the last full sync's error
	InSync       bool      // the belief of the dataplane's state is valid
}

// Options tune a Reconciler; zero fields take the defaults.
type Options struct {
	Interval   time.Duration // periodic full sync; default 30s
	MinBackoff time.Duration // first retry delay; default 250ms
	MaxBackoff time.Duration // retry delay cap; default 30s
	OpTimeout  time.Duration // per dataplane call; default 10s
	Logger     *slog.Logger
	// Observe, when set, is called after every sync (metrics).
	Observe func(full bool, took time.Duration, ops int, err error)
}

// Reconciler drives one dataplane towards intent. It is safe for
// concurrent use; dataplane calls are serialised.
type Reconciler struct {
	dp   dataplane.Dataplane
	src  Source
	opts Options
	log  *slog.Logger
	kick chan struct{}

	// syncSem serialises syncs (dataplane calls) and guards actual; a
	// targeted sync waits for it only as long as its context allows.
	syncSem chan struct{}
	actual  *State // belief of the dataplane's state; nil = unknown

	// smu guards the status below; it is never held across dataplane
	// calls, so status reads do not wait for a sync. Order: syncSem, smu.
	smu      sync.Mutex
	known    bool // actual != nil
	items    map[ID]*Item
	lastFull time.Time
	lastErr  error

	// qmu guards queue: the Sync calls waiting to be applied (group
	// commit). Order: syncSem, qmu.
	qmu   sync.Mutex
	queue []*syncWaiter
}

// New returns a Reconciler; call Run to start its loop.
func New(dp dataplane.Dataplane, src Source, opts Options) *Reconciler {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{
		dp: dp, src: src, opts: opts, log: log,
		kick:    make(chan struct{}, 1),
		syncSem: make(chan struct{}, 1),
		items:   map[ID]*Item{},
	}
}

// lockSync takes the sync lock unless ctx ends first.
func (r *Reconciler) lockSync(ctx context.Context) error {
	select {
	case r.syncSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dataplane busy with another change: %w", ctx.Err())
	}
}

func (r *Reconciler) unlockSync() { <-r.syncSem }

// Run is the reconcile loop: a full sync at start, on every Connected
// event and every Interval; retries of failed items when their backoff
// ends, and of a failed full sync with a backoff of its own. It returns
// when ctx is done.
func (r *Reconciler) Run(ctx context.Context) {
	events := r.dp.Events()
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	fullBackoff := time.Duration(0) // of failed full syncs (dump errors)

	// after schedules the next retry; grow says a full sync was just
	// tried, so its backoff grows.
	after := func(grow bool) {
		if r.needsFullSync() {
			if grow || fullBackoff == 0 {
				fullBackoff = r.backoff(fullBackoff)
			}
			retry.Reset(jitter(fullBackoff))
			return
		}
		fullBackoff = 0
		if next, ok := r.nextRetry(); ok {
			retry.Reset(max(time.Until(next), time.Millisecond))
			return
		}
		retry.Stop()
	}

	r.fullSync(ctx, "start")
	after(true)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev {
			case dataplane.Connected:
				r.log.Info("reconcile: dataplane connected, full resync")
				r.Invalidate()
				fullBackoff = 0
				r.fullSync(ctx, "connected")
			case dataplane.Disconnected:
				r.log.Warn("reconcile: dataplane disconnected")
				r.Invalidate()
			}
			after(false)
		case <-tick.C:
			r.fullSync(ctx, "periodic")
			after(true)
		case <-retry.C:
			full := r.retry(ctx)
			after(full)
		case <-r.kick:
			// A targeted sync changed the items: reschedule.
			after(false)
		}
	}
}

// backoff is the delay after prev: MinBackoff first, then doubling up to
// MaxBackoff.
func (r *Reconciler) backoff(prev time.Duration) time.Duration {
	if prev <= 0 {
		return r.opts.MinBackoff
	}
	return min(2*prev, r.opts.MaxBackoff)
}

// jitter spreads d by ±20% so agents and items do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func (r *Reconciler) fullSync(ctx context.Context, why string) {
	if err := r.SyncAll(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("reconcile: full sync incomplete", "trigger", why, "err", err)
	}
}

// retry runs a full sync when the dataplane's state is not known (or the
// last full sync failed), else a targeted sync of the items whose backoff
// has ended. It says whether it ran a full sync.
func (r *Reconciler) retry(ctx context.Context) (full bool) {
	if r.needsFullSync() {
		r.fullSync(ctx, "retry")
		return true
	}
	now := time.Now()
	r.smu.Lock()
	var ids []ID
	for id, it := range r.items {
		if !it.Next.IsZero() && !it.Next.After(now) {
			ids = append(ids, id)
		}
	}
	r.smu.Unlock()
	if len(ids) == 0 {
		return false
	}
	if res := r.Sync(ctx, ids...); res.Err != nil && ctx.Err() == nil {
		r.log.Warn("reconcile: retry incomplete", "items", len(ids), "err", res.Err)
	}
	return false
}

func (r *Reconciler) needsFullSync() bool {
	r.smu.Lock()
	defer r.smu.Unlock()
	return !r.known || r.lastErr != nil
}

// nextRetry is the earliest retry time among the items, if any is
// retried on a timer.
func (r *Reconciler) nextRetry() (time.Time, bool) {
	r.smu.Lock()
	defer r.smu.Unlock()
	var next time.Time
	for _, it := range r.items {
		if !it.Next.IsZero() && (next.IsZero() || it.Next.Before(next)) {
			next = it.Next
		}
	}
	return next, !next.IsZero()
}

// setActual sets the belief; called with r.syncSem held.
func (r *Reconciler) setActual(a *State) {
	r.actual = a
	r.smu.Lock()
	r.known = a != nil
	r.smu.Unlock()
}

// Invalidate forgets what the dataplane holds; the next sync dumps it.
func (r *Reconciler) Invalidate() {
	r.syncSem <- struct{}{}
	defer r.unlockSync()
	r.setActual(nil)
}

// Status returns the pending and failed items (sorted) and the last full
// sync's time and error.
func (r *Reconciler) Status() Status {
	r.smu.Lock()
	defer r.smu.Unlock()
	st := Status{LastFullSync: r.lastFull, LastErr: r.lastErr, InSync: r.known}
	for _, it := range r.items {
		st.Items = append(st.Items, *it)
	}
	slices.SortFunc(st.Items, func(a, b Item) int {
		if a.ID.Kind != b.ID.Kind {
			return kindOrder[a.ID.Kind] - kindOrder[b.ID.Kind]
		}
		return compareID(a.ID, b.ID)
	})
	return st
}

// ItemState returns id's state: Synced unless it is a pending or failed
// item.
func (r *Reconciler) ItemState(id ID) Result {
	r.smu.Lock()
	defer r.smu.Unlock()
	if it, ok := r.items[id]; ok {
		return Result{State: it.State, Err: it.Err}
	}
	return Result{State: Synced}
}

func (r *Reconciler) desired() *State {
	var s *State
	r.src.View(func(d *model.Desired) { s = IndexDesired(d) })
	return s
}

// SyncAll dumps the dataplane, diffs it against intent and applies the
// difference. It returns an error when the dump failed or when any change
// failed (joined); the failed objects become items.
func (r *Reconciler) SyncAll(ctx context.Context) error {
	if err := r.lockSync(ctx); err != nil {
		return err
	}
	defer r.unlockSync()
	start := time.Now()
	ops, err := r.syncAllLocked(ctx)
	r.notify(err)
	if r.opts.Observe != nil {
		r.opts.Observe(true, time.Since(start), ops, err)
	}
	return err
}

func (r *Reconciler) syncAllLocked(ctx context.Context) (int, error) {
	actual, err := r.dump(ctx)
	if err != nil {
		r.setActual(nil)
		r.smu.Lock()
		r.lastErr = err
		r.smu.Unlock()
		return 0, err
	}
	desired := r.desired()
	ops := Diff(desired, actual)
	r.setActual(actual)
	failed := r.apply(ctx, ops)
	// Everything not failing now is as intended.
	r.smu.Lock()
	for id := range r.items {
		if _, ok := failed[id]; !ok {
			delete(r.items, id)
		}
	}
	r.lastErr = nil
	r.lastFull = time.Now()
	r.smu.Unlock()
	if len(failed) > 0 {
		r.log.Debug("reconcile: full sync", "ops", len(ops), "failed", len(failed), "ids", opIDs(ops))
		return len(ops), joinFailures(failed)
	}
	if len(ops) > 0 {
		r.log.Info("reconcile: full sync applied changes", "ops", len(ops), "ids", opIDs(ops))
	}
	return len(ops), nil
}

// Sync makes the objects ids names as intended (creating, replacing or
// deleting them) and returns the worst result among them. When the
// dataplane's state is not known it runs a full sync first.
//
// Concurrent calls are coalesced (group commit): a call queues its ids and
// waits for the sync lock; the call that gets it applies the ids of every
// queued call at once (the kernel dataplane then writes their translations
// in one bulk transaction instead of one each) and wakes them; each caller
// returns its own objects' result, after they were applied.
func (r *Reconciler) Sync(ctx context.Context, ids ...ID) Result {
	w := &syncWaiter{ids: ids, done: make(chan struct{})}
	r.qmu.Lock()
	r.queue = append(r.queue, w)
	r.qmu.Unlock()
	select {
	case r.syncSem <- struct{}{}:
		r.lead(ctx)
		r.unlockSync()
		<-w.done // applied by this call or, before it, by another
	case <-w.done:
		// Applied by another call.
	case <-ctx.Done():
		if !r.dequeue(w) {
			<-w.done // being applied right now: its result follows
			break
		}
		// Another sync holds the dataplane past ctx's end: the objects
		// stay pending and the loop applies them (a write is not blocked
		// by someone else's long change).
		err := fmt.Errorf("dataplane busy with another change: %w", ctx.Err())
		desired := r.desired()
		for _, id := range ids {
			r.record(id, verbFor(desired, id), err)
		}
		r.notify(err)
		return Result{State: Pending, Err: err}
	}
	res := Result{State: Synced}
	r.smu.Lock()
	for _, id := range ids {
		if it, ok := r.items[id]; ok && it.State >= res.State {
			res = Result{State: it.State, Err: fmt.Errorf("%s: %w", id, it.Err)}
		}
	}
	r.smu.Unlock()
	r.notify(res.Err)
	return res
}

// syncWaiter is one Sync call waiting to be applied.
type syncWaiter struct {
	ids  []ID
	done chan struct{}
}

// dequeue removes w from the queue; false when a sync already took it.
func (r *Reconciler) dequeue(w *syncWaiter) bool {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	for i, q := range r.queue {
		if q == w {
			r.queue = slices.Delete(r.queue, i, i+1)
			return true
		}
	}
	return false
}

// lead applies the ids of every queued Sync call at once and wakes them.
// Called with r.syncSem held.
func (r *Reconciler) lead(ctx context.Context) {
	r.qmu.Lock()
	batch := r.queue
	r.queue = nil
	r.qmu.Unlock()
	if len(batch) == 0 {
		return
	}
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	seen := map[ID]bool{}
	var ids []ID
	for _, w := range batch {
		for _, id := range w.ids {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	start := time.Now()
	nops := 0
	var ferr error
	if r.actual == nil {
		nops, ferr = r.syncAllLocked(ctx)
		if r.actual == nil {
			// The dump failed: nothing was applied.
			desired := r.desired()
			for _, id := range ids {
				r.record(id, verbFor(desired, id), ferr)
			}
		}
	} else {
		ops := DiffIDs(r.desiredFor(ids), r.actual, ids)
		nops = len(ops)
		if failed := r.apply(ctx, ops); len(failed) > 0 {
			ferr = joinFailures(failed)
		}
	}
	if r.opts.Observe != nil {
		r.opts.Observe(false, time.Since(start), nops, ferr)
	}
}

// desiredFor is the intent DiffIDs needs for ids: when they are all
// translations, only those (one pass over the intent, instead of indexing
// all of it for every write); else all of it.
func (r *Reconciler) desiredFor(ids []ID) *State {
	want := make(map[model.TranslationKey]bool, len(ids))
	for _, id := range ids {
		if id.Kind != KindTranslation {
			return r.desired()
		}
		want[id.Translation] = true
	}
	s := NewState()
	s.Translations = make(map[model.TranslationKey]model.Translation, len(ids))
	r.src.View(func(d *model.Desired) {
		for _, t := range d.Translations {
			if k := NormalizeKey(t.Key); want[k] {
				s.Translations[k] = t
			}
		}
	})
	return s
}

// verbFor says whether syncing id means a put or a delete.
func verbFor(desired *State, id ID) string {
	for _, op := range DiffIDs(desired, NewState(), []ID{id}) {
		return op.verb()
	}
	return "put"
}

// notify wakes Run so it schedules a retry.
func (r *Reconciler) notify(err error) {
	r.smu.Lock()
	n := len(r.items)
	r.smu.Unlock()
	if err == nil && n == 0 {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func joinFailures(failed map[ID]error) error {
	ids := slices.SortedFunc(maps.Keys(failed), func(a, b ID) int {
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] - kindOrder[b.Kind]
		}
		return compareID(a, b)
	})
	const show = 5
	errs := make([]error, 0, show+1)
	for i, id := range ids {
		if i == show {
			errs = append(errs, fmt.Errorf("and %d more", len(ids)-show))
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", id, failed[id]))
	}
	return errors.Join(errs...)
}

// record sets id's item from the outcome of an op.
func (r *Reconciler) record(id ID, verb string, err error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	if err == nil {
		delete(r.items, id)
		return
	}
	st := Failed
	if errors.Is(err, dataplane.ErrNotConnected) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		st = Pending
	}
	now := time.Now()
	it, ok := r.items[id]
	if !ok {
		it = &Item{ID: id, Since: now}
		r.items[id] = it
	}
	if it.Op != verb {
		// Another change of the same object: its backoff starts again.
		it.Attempts, it.Since = 0, now
	}
	it.Op, it.State, it.Err = verb, st, err
	it.Attempts++
	it.Next = time.Time{}
	if !errors.Is(err, dataplane.ErrUnsupported) {
		d := r.opts.MinBackoff
		for i := 1; i < it.Attempts && d < r.opts.MaxBackoff; i++ {
			d = r.backoff(d)
		}
		it.Next = now.Add(jitter(d))
	}
}

// BatchTranslator is implemented by dataplanes that can program many
// translations in one pipelined call (package vpp): one error per item.
type BatchTranslator interface {
	PutTranslations(ctx context.Context, ts []model.Translation) []error
	DeleteTranslations(ctx context.Context, ks []model.TranslationKey) []error
}

// batchMin is the smallest set of translation ops worth the batch calls.
const batchMin = 16

// bulkMin is the smallest set of translation puts written through
// dataplane.BulkTranslator: two already save a transaction.
const bulkMin = 2

// apply runs ops against the dataplane, keeping r.actual up to date, and
// returns the failed ones. Called with r.syncSem held and r.actual set.
func (r *Reconciler) apply(ctx context.Context, ops []Op) map[ID]error {
	failed := map[ID]error{}
	if b, ok := r.dp.(BatchTranslator); ok {
		ops = r.applyBatches(ctx, b, ops, failed)
	}
	bp, _ := r.dp.(dataplane.BulkPools)
	bulk, _ := r.dp.(dataplane.BulkTranslator)
	if _, ok := r.dp.(BatchTranslator); ok || countPuts(ops) < bulkMin {
		bulk = nil
	}
	for i := 0; i < len(ops); i++ {
		if bulk != nil && ops[i].ID.Kind == KindTranslation && !ops[i].Delete {
			// The translation puts, all at once where the first one is.
			ops = append(ops[:i:i], r.applyBulk(ctx, bulk, ops[i:])...)
			bulk = nil
			if i >= len(ops) {
				break
			}
		}
		if bp != nil {
			// a run of pool bindings and static blocks in one bulk call
			if j := poolRunEnd(ops, i); j-i >= batchMin {
				r.applyPoolRun(ctx, bp, ops[i:j], failed)
				i = j - 1
				continue
			}
		}
		op := ops[i]
		if ctx.Err() != nil {
			// Stopping: what was not tried stays as it is.
			failed[op.ID] = ctx.Err()
			r.record(op.ID, op.verb(), ctx.Err())
			continue
		}
		err := r.call(ctx, op)
		if err != nil && op.Delete && errors.Is(err, errNotFound) {
			err = nil
		}
		r.settle(op, err, failed)
	}
	return failed
}

// errNotFound is never returned by a conforming dataplane (Delete of an
// absent object is nil) but is tolerated for robustness.
var errNotFound = errors.New("not found")

func (r *Reconciler) call(ctx context.Context, op Op) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	defer cancel()
	id := op.ID
	switch id.Kind {
	case KindTranslation:
		if op.Delete {
			return r.dp.DeleteTranslation(ctx, id.Translation)
		}
		t := op.Translation
		t.Key = id.Translation // normalized
		return r.dp.PutTranslation(ctx, t)
	case KindSNATAddress:
		if op.Delete {
			return r.dp.DeleteSNATAddress(ctx, id.SNATAddress)
		}
		return r.dp.PutSNATAddress(ctx, id.SNATAddress)
	case KindSNATExclusion:
		if op.Delete {
			return r.dp.DeleteSNATExclusion(ctx, id.SNATExclusion)
		}
		return r.dp.PutSNATExclusion(ctx, id.SNATExclusion)
	case KindSNATInterface:
		if op.Delete {
			return r.dp.DeleteSNATInterface(ctx, id.SNATInterface)
		}
		return r.dp.PutSNATInterface(ctx, id.SNATInterface)
	case KindTimeouts:
		return r.dp.SetTimeouts(ctx, op.Timeouts)
	case KindSessionLimit:
		return r.dp.SetSessionLimit(ctx, op.SessionLimit)
	case KindPool, KindPoolBinding, KindStaticBlock, KindStaticNAT:
		return r.callPool(ctx, op)
	}
	return fmt.Errorf("reconcile: unknown kind %q", id.Kind)
}

// remember records a successful op in the belief.
func (r *Reconciler) remember(op Op) {
	a, id := r.actual, op.ID
	switch id.Kind {
	case KindTranslation:
		if op.Delete {
			delete(a.Translations, id.Translation)
		} else {
			a.Translations[id.Translation] = op.Translation
		}
	case KindSNATAddress:
		setOp(a.SNATAddresses, id.SNATAddress, op.Delete)
	case KindSNATExclusion:
		setOp(a.SNATExclusions, id.SNATExclusion, op.Delete)
	case KindSNATInterface:
		setOp(a.SNATInterfaces, id.SNATInterface, op.Delete)
	case KindTimeouts:
		a.HaveTimeouts, a.Timeouts = true, op.Timeouts
	case KindSessionLimit:
		if op.SessionLimit.Max == 0 {
			delete(a.SessionLimits, id.VRF)
		} else {
			a.SessionLimits[id.VRF] = op.SessionLimit.Max
		}
	case KindPool, KindPoolBinding, KindStaticBlock, KindStaticNAT:
		rememberPool(a, op)
	}
}

func setOp[K comparable](m map[K]struct{}, k K, del bool) {
	if del {
		delete(m, k)
	} else {
		m[k] = struct{}{}
	}
}

// forget makes the belief of a failed op's object "unknown" so the next
// sync applies it again: a failed put may have half-applied, a failed
// delete may not have.
func (r *Reconciler) forget(op Op) {
	a, id := r.actual, op.ID
	switch id.Kind {
	case KindTranslation:
		if !op.Delete {
			delete(a.Translations, id.Translation)
		}
	case KindSNATAddress:
		if !op.Delete {
			delete(a.SNATAddresses, id.SNATAddress)
		}
	case KindSNATExclusion:
		if !op.Delete {
			delete(a.SNATExclusions, id.SNATExclusion)
		}
	case KindSNATInterface:
		if !op.Delete {
			delete(a.SNATInterfaces, id.SNATInterface)
		}
	case KindTimeouts:
		a.HaveTimeouts = false
	case KindSessionLimit:
		a.SessionLimits[id.VRF] = ^uint32(0) // unknown: differs from any intent
	case KindPool, KindPoolBinding, KindStaticBlock, KindStaticNAT:
		forgetPool(a, op)
	}
}

// dump reads the dataplane's whole state.
func (r *Reconciler) dump(ctx context.Context) (*State, error) {
	s := NewState()
	cctx, cancel := context.WithTimeout(ctx, 4*r.opts.OpTimeout)
	defer cancel()
	ts, err := r.dp.ListTranslations(cctx)
	if err != nil {
		return nil, fmt.Errorf("listing translations: %w", err)
	}
	s.Translations = make(map[model.TranslationKey]model.Translation, len(ts))
	for _, t := range ts {
		s.Translations[NormalizeKey(t.Key)] = t
	}
	as, err := r.dp.ListSNATAddresses(cctx)
	if err != nil {
		return nil, fmt.Errorf("listing SNAT addresses: %w", err)
	}
	for _, a := range as {
		s.SNATAddresses[SNATAddressID(a).SNATAddress] = struct{}{}
	}
	es, err := r.dp.ListSNATExclusions(cctx)
	if err != nil {
		return nil, fmt.Errorf("listing SNAT exclusions: %w", err)
	}
	for _, e := range es {
		s.SNATExclusions[SNATExclusionID(e).SNATExclusion] = struct{}{}
	}
	is, err := r.dp.ListSNATInterfaces(cctx)
	if err != nil {
		return nil, fmt.Errorf("listing SNAT interfaces: %w", err)
	}
	for _, i := range is {
		s.SNATInterfaces[i] = struct{}{}
	}
	t, err := r.dp.GetTimeouts(cctx)
	if err != nil {
		return nil, fmt.Errorf("reading timeouts: %w", err)
	}
	s.HaveTimeouts, s.Timeouts = true, t
	ls, err := r.dp.ListSessionLimits(cctx)
	if err != nil {
		return nil, fmt.Errorf("listing session limits: %w", err)
	}
	for _, l := range ls {
		if l.Max != 0 {
			s.SessionLimits[l.VRF] = l.Max
		}
	}
	if err := r.dumpPools(cctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// applyBatches applies the translation ops through the batch calls and
// returns the other ops (all of them when there are fewer than batchMin
// translation ops). Called like apply.
func (r *Reconciler) applyBatches(ctx context.Context, b BatchTranslator, ops []Op, failed map[ID]error) []Op {
	var puts, dels, rest []Op
	for _, op := range ops {
		switch {
		case op.ID.Kind != KindTranslation:
			rest = append(rest, op)
		case op.Delete:
			dels = append(dels, op)
		default:
			puts = append(puts, op)
		}
	}
	if len(puts)+len(dels) < batchMin {
		return ops
	}
	// Time budget: the per-call timeout for every 1,000 objects.
	budget := func(n int) time.Duration { return r.opts.OpTimeout * time.Duration(1+n/1000) }
	done := func(op Op, err error) { r.settle(op, err, failed) }
	if len(puts) > 0 {
		cctx, cancel := context.WithTimeout(ctx, budget(len(puts)))
		ts := make([]model.Translation, len(puts))
		for i, op := range puts {
			ts[i] = op.Translation
		}
		for i, err := range b.PutTranslations(cctx, ts) {
			done(puts[i], err)
		}
		cancel()
	}
	if len(dels) > 0 {
		cctx, cancel := context.WithTimeout(ctx, budget(len(dels)))
		ks := make([]model.TranslationKey, len(dels))
		for i, op := range dels {
			ks[i] = op.ID.Translation
		}
		for i, err := range b.DeleteTranslations(cctx, ks) {
			done(dels[i], err)
		}
		cancel()
	}
	return rest
}

// opIDs names what ops change (with delete marked), for the log; at most
// 20, then how many more.
func opIDs(ops []Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i == 20 {
			fmt.Fprintf(&b, "; and %d more", len(ops)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if op.Delete {
			b.WriteString("delete ")
		}
		b.WriteString(op.ID.String())
	}
	return b.String()
}

// countPuts counts the translation puts among ops.
func countPuts(ops []Op) int {
	n := 0
	for _, op := range ops {
		if op.ID.Kind == KindTranslation && !op.Delete {
			n++
		}
	}
	return n
}

// applyBulk applies the translation puts among ops in one bulk call (the
// kernel dataplane: a few large transactions instead of one per
// translation) and returns the ops still to apply one by one, in order:
// the others and, when the bulk call failed, its puts again, so each gets
// its own status (a put already applied is a no-op the second time).
// Called like apply.
func (r *Reconciler) applyBulk(ctx context.Context, b dataplane.BulkTranslator, ops []Op) []Op {
	var puts, rest []Op
	for _, op := range ops {
		if op.ID.Kind == KindTranslation && !op.Delete {
			puts = append(puts, op)
		} else {
			rest = append(rest, op)
		}
	}
	ts := make([]model.Translation, len(puts))
	for i, op := range puts {
		ts[i] = op.Translation
		ts[i].Key = op.ID.Translation // normalized
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout*time.Duration(1+len(puts)/1000))
	err := b.PutTranslations(cctx, ts)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("reconcile: bulk write failed; applying its translations one by one", "translations", len(puts), "err", err)
		}
		return append(puts, rest...)
	}
	for _, op := range puts {
		r.settle(op, nil, nil)
	}
	return rest
}

// settle records an applied (or failed) op: a success is remembered as
// what the dataplane holds; a failure is noted in failed and forgotten, so
// the next sync tries it again.
func (r *Reconciler) settle(op Op, err error, failed map[ID]error) {
	r.record(op.ID, op.verb(), err)
	if err != nil {
		failed[op.ID] = err
		r.forget(op)
		return
	}
	r.remember(op)
}
