package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Name is the dataplane's registry name.
const Name = "kernel"

// DefaultTable is the nf_tables table (family inet) cloudnat owns.
const DefaultTable = "cloudnat"

func init() {
	registry.Register(Name, func(ctx context.Context, cfg registry.Config) (dataplane.Dataplane, error) {
		return Open(ctx, cfg)
	}, Probe)
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	ns        netns.NsHandle
	hostCheck time.Duration
	log       *slog.Logger
	settle    time.Duration
}

// WithNetNS makes the dataplane work in the network namespace ns (the
// caller keeps ns open until Close) instead of the caller's.
func WithNetNS(ns netns.NsHandle) Option {
	return func(o *options) { o.ns = ns }
}

// WithHostCheck sets how often the host's interface VRFs are re-read
// (default DefaultHostCheck; link changes are seen at once anyway).
func WithHostCheck(d time.Duration) Option {
	return func(o *options) { o.hostCheck = d }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Dataplane implements dataplane.Dataplane with nf_tables and conntrack.
// Objects live in nf_tables sets and maps, so every change is a small
// transaction on the elements of that one object (plan.go). A cache of the
// decoded table (state.go) is loaded from the kernel (load.go) and dropped
// whenever the kernel may differ from it: a failed write, or a change by
// someone else, seen through nf_tables notifications (monitor.go).
type Dataplane struct {
	mu     sync.Mutex
	table  string
	ns     netns.NsHandle // -1: the process's namespace
	nl     *netlink.Handle
	log    *slog.Logger
	events chan dataplane.Event
	closed bool
	// nft is the one nf_tables socket all reads and writes go through; pid
	// is its port id, which the kernel puts in the notifications of our
	// own changes.
	nft *nftables.Conn
	pid uint32
	// raw is nft's netlink socket, on which transactions are sent
	// (wire.go); used under nftMu like nft.
	raw *mnl.Conn
	// c is the decoded table; nil: reload before use.
	c *cache
	// mon is the notification socket (nil: none).
	mon *mnl.Conn
	// txns counts the dataplane's committed transactions (under d.mu).
	txns uint32
	// drift counts changes by others that were repaired.
	drift atomic.Uint64
	// rules are the policy routing rules in place (nil: read them first).
	rules map[routeKey]bool
	// logFn is the block log watcher (nil: none); logMu guards it.
	logMu    sync.Mutex
	logFn    func(model.BlockLogRecord)
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var _ dataplane.Dataplane = (*Dataplane)(nil)
var (
	_ dataplane.Checker        = (*Dataplane)(nil)
	_ dataplane.DriftReporter  = (*Dataplane)(nil)
	_ dataplane.BulkTranslator = (*Dataplane)(nil)
)

// Open opens the kernel dataplane. It changes nothing in the kernel: the
// first call loads an existing table (left by a previous agent: what the
// lists report), repairing what is inconsistent in it, and the first change
// creates the table if there is none.
func Open(ctx context.Context, cfg registry.Config, opts ...Option) (*Dataplane, error) {
	o := options{ns: -1, hostCheck: DefaultHostCheck, log: slog.Default(), settle: 100 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	table := cfg.KernelTable
	if table == "" {
		table = DefaultTable
	}
	if len(table) > 255 {
		return nil, fmt.Errorf("kernel dataplane: table name too long")
	}
	var h *netlink.Handle
	var err error
	if o.ns >= 0 {
		h, err = netlink.NewHandleAt(o.ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: netlink handle: %w", err)
	}
	d := &Dataplane{table: table, ns: o.ns, nl: h, log: o.log, events: make(chan dataplane.Event, 1), stop: make(chan struct{})}
	if err := d.dial(); err != nil {
		h.Close()
		return nil, err
	}
	mon, err := d.subscribe()
	if err != nil {
		d.log.Warn("kernel dataplane: no nf_tables notifications; drift is found at the next reconcile", "err", err)
	}
	d.events <- dataplane.Connected
	if mon != nil {
		d.mon = mon
		d.wg.Add(1)
		go d.monitor(mon, o.settle)
	}
	if o.hostCheck > 0 {
		d.wg.Add(1)
		go d.watch(o.hostCheck)
	}
	return d, nil
}

// dial opens the lasting nf_tables socket with large buffers.
func (d *Dataplane) dial() error {
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *mnl.Conn) error {
		if err := setBuffers(c, sockBuf); err != nil {
			return fmt.Errorf("socket buffers: %w", err)
		}
		pid, err := portID(c)
		d.pid, d.raw = pid, c
		return err
	})}
	if d.ns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(int(d.ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("kernel dataplane: nf_tables netlink: %w", err)
	}
	d.nft = c
	return nil
}

// Probe says whether nf_tables answers over netlink here: it needs
// CAP_NET_ADMIN and the nf_tables module.
func Probe(ctx context.Context, cfg registry.Config) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("kernel dataplane: nf_tables netlink: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("kernel dataplane: nf_tables needs root or CAP_NET_ADMIN: %w", err)
		}
		return fmt.Errorf("kernel dataplane: nf_tables does not answer: %w", err)
	}
	return nil
}

func (d *Dataplane) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.closed {
		return dataplane.ErrNotConnected
	}
	return nil
}

// Info describes the dataplane: name "kernel", version the kernel release.
func (d *Dataplane) Info(ctx context.Context) dataplane.Info {
	var u unix.Utsname
	ver := ""
	if err := unix.Uname(&u); err == nil {
		ver = unix.ByteSliceToString(u.Release[:])
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	return dataplane.Info{Name: Name, Connected: !closed, Version: ver}
}

// Events delivers Connected once (the kernel is always there).
func (d *Dataplane) Events() <-chan dataplane.Event { return d.events }

// Close releases the dataplane's sockets. It leaves cloudnat's table in
// place, so NAT keeps working across an agent restart and the next agent
// lists what is there; Remove deletes it.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	d.stopOnce.Do(func() { close(d.stop) })
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.events)
	d.nl.Close()
	return d.nft.CloseLasting()
}

// Remove deletes cloudnat's table (all its chains, rules, sets and
// timeout objects) and its policy routing rules (iprules.go), nothing
// else. Conntrack entries stay until they expire.
func (d *Dataplane) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx); err != nil {
		return err
	}
	nftMu.Lock()
	defer nftMu.Unlock()
	d.c = nil
	if err := d.removeRules(); err != nil {
		return fmt.Errorf("kernel dataplane: %w", err)
	}
	if _, err := d.nft.ListTableOfFamily(d.table, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("kernel dataplane: list table inet %s: %w", d.table, err)
	}
	d.nft.DelTable(&nftables.Table{Name: d.table, Family: nftables.TableFamilyINet})
	if err := d.nft.Flush(); err != nil {
		return fmt.Errorf("kernel dataplane: delete table inet %s: %w", d.table, err)
	}
	return nil
}

// DriftRepairs counts the changes to cloudnat's table made by someone else
// that the dataplane noticed (and repaired or handed to the reconciler).
func (d *Dataplane) DriftRepairs() uint64 { return d.drift.Load() }
