// Package kernel is cloudnat's Linux kernel dataplane: nf_tables for
// translations and source NAT, conntrack for sessions, conntrack zones for
// VRFs. It registers itself as "kernel".
//
// It owns one table (inet cloudnat) whose objects live in nf_tables sets
// and maps (layout.go, rules.go): every change edits the cached decoded
// table and records only that object's element (and rule) changes
// (plan.go), sent as one transaction (txn.go). The cache is loaded from the
// kernel (load.go), so lists report what the kernel has, and foreign
// changes seen through nf_tables notifications are undone (monitor.go,
// undo.go). Building is pure and unit-tested against a strict simulation
// of nf_tables (sim_test.go). See docs/kernel-dataplane.md for the layout,
// the VRF/zone design and the differences from the VPP plugin.
package kernel
