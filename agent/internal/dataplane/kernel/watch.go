package kernel

import (
	"context"
	"reflect"
	"time"

	"github.com/vishvananda/netlink"
)

// DefaultHostCheck is how often the dataplane re-reads the host's
// interface VRFs (ip rules have no change notification); link changes are
// also picked up at once through a netlink subscription.
const DefaultHostCheck = 5 * time.Second

// watch keeps the ct zone assignments and SNAT chain targets in step with
// the host: when an interface joins or leaves a VRF (VRF master change or
// `ip rule iif ... lookup ...`), the table is rewritten. It only rewrites a
// table that exists; it never creates one.
func (d *Dataplane) watch(interval time.Duration) {
	defer d.wg.Done()
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}
	if d.ns >= 0 {
		ns := d.ns
		opts.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		updates = nil // polling only
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-d.stop:
			close(done)
			if updates != nil {
				// Drain until the subscription notices done and closes it.
				go func(ch chan netlink.LinkUpdate) {
					for range ch {
					}
				}(updates)
			}
			return
		case _, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			d.checkHost()
		case <-ticker.C:
			d.checkHost()
		}
	}
}

// checkHost rewrites what follows the host's interface VRFs when they
// changed since the table was last written. It never creates a table.
func (d *Dataplane) checkHost() {
	defer d.repairRoutes()
	hv, err := d.hostView()
	if err != nil {
		return
	}
	d.mu.Lock()
	same := d.closed || (d.c != nil && reflect.DeepEqual(hv, d.c.host))
	d.mu.Unlock()
	if same {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = d.change(ctx, func(c *cache, b *batch) error {
		if !reflect.DeepEqual(hv, c.host) {
			c.setHost(b, hv)
		}
		return nil
	})
	if err != nil {
		d.log.Warn("kernel dataplane: following interface VRF changes failed; retrying at the next check", "err", err)
	}
}
