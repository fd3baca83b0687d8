// Package blocklog reads a dataplane's block allocation and release
// records, writes each as a structured log line and fans them out to
// subscribers (the gRPC block-log streams).
//
// The reader never blocks on a subscriber: each has a bounded buffer and a
// record that does not fit is counted as lost for that subscriber (and in
// the hub's total), never silently dropped. Records the dataplane itself
// could not deliver are reported in each record's Lost.
package blocklog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// DefaultBuffer is a subscriber's buffer, in records.
const DefaultBuffer = 4096

// Source is where records come from (dataplane.Pools implements it).
type Source interface {
	WatchBlockLog(ctx context.Context, fn func(model.BlockLogRecord)) error
}

// Options tune a Hub; zero fields take the defaults.
type Options struct {
	Logger     *slog.Logger  // records are logged at Info; nil: not logged
	Buffer     int           // per subscriber; default DefaultBuffer
	MinBackoff time.Duration // resubscribe delay; default 1s, doubling
	MaxBackoff time.Duration // default 5s
}

// Hub fans records out. It is safe for concurrent use.
type Hub struct {
	src  Source
	opts Options

	mu   sync.Mutex
	subs map[*Sub]struct{}

	records      atomic.Uint64 // records read
	lostFanout   atomic.Uint64 // records a subscriber missed
	lostUpstream atomic.Uint64 // the dataplane's count, last seen
}

// New returns a Hub reading src; call Run.
func New(src Source, opts Options) *Hub {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		// Short: while the agent is not subscribed the dataplane has no
		// client to send records to.
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	return &Hub{src: src, opts: opts, subs: map[*Sub]struct{}{}}
}

// Run watches the source until ctx is done, resubscribing with backoff
// when the subscription ends (the dataplane went away or restarted).
func (h *Hub) Run(ctx context.Context) {
	backoff := h.opts.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := h.src.WatchBlockLog(ctx, h.Publish)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > h.opts.MaxBackoff {
			backoff = h.opts.MinBackoff
		}
		if h.opts.Logger != nil && !errors.Is(err, dataplane.ErrNotConnected) {
			h.opts.Logger.Warn("block log: subscription ended", "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, h.opts.MaxBackoff)
	}
}

// Publish logs r and hands it to every subscriber; it never blocks.
func (h *Hub) Publish(r model.BlockLogRecord) {
	h.records.Add(1)
	if r.Lost > h.lostUpstream.Load() {
		h.lostUpstream.Store(r.Lost)
	}
	if l := h.opts.Logger; l != nil {
		l.Info("nat block", "event", r.Event(), "time", r.Time.UTC().Format(time.RFC3339Nano),
			"pool", r.Pool, "vrf", r.VRF, "inside", r.InsideAddr.String(), "public", r.OutsideAddr.String(),
			"port_start", r.PortStart, "port_end", r.PortEnd, "lost", r.Lost)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- r:
		default:
			s.lost.Add(1)
			h.lostFanout.Add(1)
		}
	}
}

// Counts are the hub's counters.
type Counts struct {
	Records      uint64 // records read from the dataplane
	LostUpstream uint64 // records the dataplane could not deliver
	LostFanout   uint64 // records subscribers were too slow for
	Subscribers  int
}

// Counts returns the counters.
func (h *Hub) Counts() Counts {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	return Counts{Records: h.records.Load(), LostUpstream: h.lostUpstream.Load(), LostFanout: h.lostFanout.Load(), Subscribers: n}
}

// Sub is one subscriber.
type Sub struct {
	h    *Hub
	c    chan model.BlockLogRecord
	lost atomic.Uint64
}

// Subscribe adds a subscriber; Close it when done.
func (h *Hub) Subscribe() *Sub {
	s := &Sub{h: h, c: make(chan model.BlockLogRecord, h.opts.Buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// C delivers the records.
func (s *Sub) C() <-chan model.BlockLogRecord { return s.c }

// Lost is how many records this subscriber missed.
func (s *Sub) Lost() uint64 { return s.lost.Load() }

// Close removes the subscriber.
func (s *Sub) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
}
