// Package kernel is cloudnat's Linux kernel dataplane: nf_tables for
// translations and source NAT, conntrack for sessions, conntrack zones for
// VRFs. It registers itself as "kernel".
//
// It owns one table (inet cloudnat) and rewrites all of it in one netlink
// batch per change (apply.go) from a state it reads back from the table's
// rule comments (readback.go), so lists always report what the kernel has.
// Rule building is pure (build.go, exprs.go) and unit-tested without root.
// See docs/kernel-dataplane.md for the layout, the VRF/zone design and the
// differences from the VPP plugin.
package kernel
