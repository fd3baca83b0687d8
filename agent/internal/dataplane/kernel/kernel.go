package kernel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
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

// Dataplane implements dataplane.Dataplane with nf_tables and conntrack.
// It keeps no copy of the intent: every list reads cloudnat's table back
// from the kernel, and every change reads it, edits it and writes it
// whole in one batch (see apply.go), under mu.
type Dataplane struct {
	mu     sync.Mutex
	table  string
	ns     netns.NsHandle // -1: the process's namespace
	nl     *netlink.Handle
	events chan dataplane.Event
	closed bool
	// lastHost is the host view the table was last written with.
	lastHost *hostView
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Open opens the kernel dataplane. It changes nothing in the kernel: the
// table is written on the first change, and an existing table (left by a
// previous agent) is what the lists report.
func Open(ctx context.Context, cfg registry.Config, opts ...Option) (*Dataplane, error) {
	o := options{ns: -1, hostCheck: DefaultHostCheck}
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
	d := &Dataplane{table: table, ns: o.ns, nl: h, events: make(chan dataplane.Event, 1), stop: make(chan struct{})}
	d.events <- dataplane.Connected
	if o.hostCheck > 0 {
		d.wg.Add(1)
		go d.watch(o.hostCheck)
	}
	return d, nil
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

// conn returns a fresh nf_tables connection in the dataplane's namespace.
func (d *Dataplane) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if d.ns >= 0 {
		opts = append(opts, nftables.WithNetNSFd(int(d.ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: nf_tables netlink: %w", err)
	}
	return c, nil
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
	return nil
}

// Remove deletes cloudnat's table (all its chains, rules and timeout
// objects) and nothing else. Conntrack entries stay until they expire.
func (d *Dataplane) Remove(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.begin(ctx); err != nil {
		return err
	}
	c, err := d.conn()
	if err != nil {
		return err
	}
	nftMu.Lock()
	defer nftMu.Unlock()
	if _, err := c.ListTableOfFamily(d.table, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("kernel dataplane: list table inet %s: %w", d.table, err)
	}
	c.DelTable(&nftables.Table{Name: d.table, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("kernel dataplane: delete table inet %s: %w", d.table, err)
	}
	return nil
}
