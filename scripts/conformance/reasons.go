package main

// The written reasons of the conformance table: why a requirement does not
// apply to a dataplane, or why its test is not run there. A reason here
// replaces a missing result; a test that ran still shows its result, with
// the reason beside it (a SHOULD that fails on purpose, say).
//
// Keys are requirement ids of ../shared/conformance.md; "vpp" and "kernel"
// are the dataplanes.

// vppReasons: VPP plugin (test/plugin).
var vppReasons = map[string]string{
	"4787-8": "filtering is address-and-port dependent only (the safest default); endpoint-independent and " +
		"address-dependent filtering are refused with UNIMPLEMENTED (docs/design.md), so the RECOMMENDED " +
		"configurable EIF/ADF is not offered",
	"7857-overlap": "MAY: the test shows whether two inside endpoints share an outside port towards different " +
		"destinations; either result conforms",
}

// kernelReasons: Linux kernel dataplane (nf_tables + conntrack,
// agent/internal/dataplane/kernel/netnstest).
var kernelReasons = map[string]string{
	"4787-8": "conntrack NAT filters by the full 5-tuple (address-and-port dependent); the kernel dataplane " +
		"has no filtering setting",
	"5508-8":  "the kernel dataplane has no port blocks or per-subscriber quotas: masquerade fails a flow without an ICMP answer",
	"6888-4":  "the kernel dataplane has no per-subscriber port limit (no pools)",
	"6888-5":  "the kernel dataplane has no per-subscriber session limit (no pools)",
	"6888-8":  "conntrack frees a NAT port with its entry; the kernel dataplane has no reuse delay",
	"6888-12": "the kernel dataplane writes no NAT log (so no destinations either)",
	"6888-13": "the kernel dataplane has no port blocks or block log (no pools)",
}
