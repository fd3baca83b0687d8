#!/usr/bin/env bash
# scripts/bench/report.sh <bench output dir>: the table of a bench run.
#
# Reads results.tsv (plugin family scenario rep nat_clk path_clk vec/call
# delivered packets), memory.tsv and meta.txt written by scripts/bench.sh;
# prints the table (medians over repetitions) and writes report.md and, when
# gnuplot is installed, plot.png next to them.
set -euo pipefail
dir=${1:?usage: report.sh <bench output dir>}
res=$dir/results.tsv
mem=$dir/memory.tsv
meta=$dir/meta.txt
[ -f "$res" ] || {
	echo "report: no $res" >&2
	exit 1
}
[ -f "$mem" ] || : >"$mem"
[ -f "$meta" ] || : >"$meta"

subs=$dir/subscribers.tsv
frag=$dir/fragments.tsv
[ -f "$subs" ] || : >"$subs"
[ -f "$frag" ] || : >"$frag"
: >"$dir/report.md"
: >"$dir/plot.dat"

if awk -F'\t' '$2 == "dnat" || $2 == "snat" { f = 1 } END { exit !f }' "$res"; then
awk -F'\t' -v out_md="$dir/report.md" -v out_plot="$dir/plot.dat" '
function median(key,   n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
	if (n % 2) return a[(n+1)/2]
	return (a[n/2] + a[n/2+1]) / 2
}
function minv(key,   i, m) {
	if (cnt[key] == 0) return ""
	m = val[key, 1]
	for (i = 2; i <= cnt[key]; i++) if (val[key, i] < m) m = val[key, i]
	return m
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
function fmt(v) { return v == "" ? "-" : sprintf("%.1f", v) }
function row(label, c, n, x, ratio, target, verdict) {
	line = sprintf("| %-38s | %9s | %9s | %9s | %6s | %-14s | %-5s |", label, c, n, x, ratio, target, verdict)
	print line
	print line >> out_md
}
FILENAME == ARGV[1] { meta[$1] = $2; next }
FILENAME == ARGV[2] {
	# plugin family scenario rep nat path vpc delivered pk
	add("nat|" $1 "|" $2 "|" $3, $5); add("path|" $1 "|" $2 "|" $3, $6)
	add("vpc|" $1 "|" $2 "|" $3, $7); add("dlv|" $1 "|" $2 "|" $3, $8)
	next
}
FILENAME == ARGV[3] {
	# plugin family sessions heapB/s rssB/s heap rss
	k = $1 "|" $2 "|" ($3 > 10000000 ? "16m" : "1m")
	memh[k] = $4; memr[k] = $5
	next
}
END {
	# report.md was emptied by the script
	hdr = sprintf("| %-38s | %9s | %9s | %9s | %6s | %-14s | %-5s |", "scenario (clocks/packet)", "cloudnat", "cnat", "nat44-ed", "ratio", "target", "")
	sep = "|----------------------------------------|-----------|-----------|-----------|--------|----------------|-------|"
	print hdr; print sep
	print hdr >> out_md; print sep >> out_md
	n = split("dnat|1k|VIP DNAT 1k flows: NAT node|0.5;dnat|1m|VIP DNAT ~1M flows: NAT node|0.35;dnat|create|VIP DNAT new sessions: NAT node|0.4;snat|1k|SNAT 1k flows: NAT node|0.5;snat|1m|SNAT ~1M flows: NAT node|0.35;snat|create|SNAT new sessions: NAT node|0.4", R, ";")
	for (i = 1; i <= n; i++) {
		split(R[i], f, "|")
		c = median("nat|cloudnat|" f[1] "|" f[2]); q = median("nat|cnat|" f[1] "|" f[2]); x = median("nat|nat44|" f[1] "|" f[2])
		ratio = (c != "" && q != "" && q > 0) ? c / q : ""
		verdict = ratio == "" ? "-" : (ratio <= f[4] + 0 ? "PASS" : "MISS")
		row(f[3], fmt(c), fmt(q), fmt(x), ratio == "" ? "-" : sprintf("%.2f", ratio), "<= " f[4] "x cnat", verdict)
		lbl = f[3]; sub(/: NAT node/, "", lbl)
		printf "%s\t%s\t%s\t%s\n", lbl, (c == "" ? 0 : c), (q == "" ? 0 : q), (x == "" ? 0 : x) > out_plot
	}
	# 16M scale point: steady state against the same plugin at 1k flows.
	c = median("nat|cloudnat|dnat|16m"); q = median("nat|cnat|dnat|16m")
	c1 = median("nat|cloudnat|dnat|1k")
	ratio = (c != "" && c1 != "" && c1 > 0) ? c / c1 : ""
	verdict = ratio == "" ? "-" : (ratio <= 1.5 ? "PASS" : "MISS")
	row("VIP DNAT 16M flows: NAT node", fmt(c), fmt(q), "-", ratio == "" ? "-" : sprintf("%.2f", ratio), "<= 1.5x own 1k", verdict)
	if (c != "" || q != "") printf "%s\t%s\t%s\t0\n", "VIP DNAT 16M flows", (c == "" ? 0 : c), (q == "" ? 0 : q) > out_plot
	c = median("nat|cloudnat|dnat|create16m"); q = median("nat|cnat|dnat|create16m")
	ratio = (c != "" && q != "" && q > 0) ? c / q : ""
	row("VIP DNAT 16M new sessions: NAT node", fmt(c), fmt(q), "-", ratio == "" ? "-" : sprintf("%.2f", ratio), "(info)", "")
	# Whole path.
	n = split("dnat|1k|VIP DNAT 1k flows: whole path;dnat|1m|VIP DNAT ~1M flows: whole path;dnat|create|VIP DNAT new sessions: whole path;snat|1k|SNAT 1k flows: whole path;snat|1m|SNAT ~1M flows: whole path;snat|create|SNAT new sessions: whole path;dnat|create16m|VIP DNAT 16M new sessions: whole path;dnat|16m|VIP DNAT 16M flows: whole path", R, ";")
	for (i = 1; i <= n; i++) {
		split(R[i], f, "|")
		c = median("path|cloudnat|" f[1] "|" f[2]); q = median("path|cnat|" f[1] "|" f[2]); x = median("path|nat44|" f[1] "|" f[2])
		ratio = (c != "" && q != "" && q > 0) ? c / q : ""
		row(f[3], fmt(c), fmt(q), fmt(x), ratio == "" ? "-" : sprintf("%.2f", ratio), "(info)", "")
	}
	# Memory.
	c = memh["cloudnat|dnat|16m"]; q = memh["cnat|dnat|16m"]
	ratio = (c != "" && q != "" && q > 0) ? c / q : ""
	verdict = c == "" ? "-" : (c <= 96 ? "PASS" : "MISS")
	row("memory B/session, 16M DNAT", fmt(c), fmt(q), "-", ratio == "" ? "-" : sprintf("%.2f", ratio), "<= 96 B", verdict)
	row("memory B/session, ~1M DNAT", fmt(memh["cloudnat|dnat|1m"]), fmt(memh["cnat|dnat|1m"]), "-", "", "(info)", "")
	row("memory B/session, ~1M SNAT", fmt(memh["cloudnat|snat|1m"]), fmt(memh["cnat|snat|1m"]), fmt(memh["nat44|snat|1m"]), "", "(info)", "")
	# The same NAT-node rows from the least disturbed chunk: other load on the
	# machine only ever adds clocks, so the minimum is the steadier figure.
	t = "\nleast disturbed chunk (minimum over chunks and repetitions), NAT node clocks/packet:"
	print t; print t "\n" >> out_md
	print hdr; print sep; print hdr >> out_md; print sep >> out_md
	n = split("dnat|1k|VIP DNAT 1k flows (min)|0.5;dnat|1m|VIP DNAT ~1M flows (min)|0.35;dnat|create|VIP DNAT new sessions (min)|0.4;snat|1k|SNAT 1k flows (min)|0.5;snat|1m|SNAT ~1M flows (min)|0.35;snat|create|SNAT new sessions (min)|0.4;dnat|16m|VIP DNAT 16M flows (min)|1.5", R, ";")
	for (i = 1; i <= n; i++) {
		split(R[i], f, "|")
		c = minv("nat|cloudnat|" f[1] "|" f[2]); q = minv("nat|cnat|" f[1] "|" f[2]); x = minv("nat|nat44|" f[1] "|" f[2])
		if (f[2] == "16m") {
			c1 = minv("nat|cloudnat|dnat|1k")
			ratio = (c != "" && c1 != "" && c1 > 0) ? c / c1 : ""; tg = "<= 1.5x own 1k"
		} else {
			ratio = (c != "" && q != "" && q > 0) ? c / q : ""; tg = "<= " f[4] "x cnat"
		}
		verdict = ratio == "" ? "-" : (ratio <= f[4] + 0 ? "PASS" : "MISS")
		row(f[3], fmt(c), fmt(q), fmt(x), ratio == "" ? "-" : sprintf("%.2f", ratio), tg, verdict)
	}
	# The floor of this machine for the 16M point: it reads one random bucket line
	# per packet more than the 1k point does (memprobe: "latency L line T
	# huge H bytes B").
	if (meta["memprobe"] != "") {
		split(meta["memprobe"], mp, " ")
		c = median("nat|cloudnat|dnat|16m"); c1 = median("nat|cloudnat|dnat|1k")
		t = sprintf("\nmemory probe (scripts/bench/memprobe.c, %.0f MB table, %s pages): a random 64-byte line costs %.0f clocks alone, %.1f with a frame (256) of them in flight",
			mp[8] / 1e6, mp[6] ? "2 MiB" : "4 KiB", mp[2], mp[4])
		if (c != "" && c1 != "")
			t = t sprintf(";\nthe 16M point adds %.1f clocks/packet to the 1k point (median): the floor for one such line per packet is %.1f, so 1.5x of 1k needs the 1k point at >= %.1f", c - c1, mp[4], 2 * mp[4])
		print t "."; print t "." >> out_md
	}
	info = sprintf("VPP %s; %s, %s cores; %s; median of %s repetitions; main heap on hugepages: %s; %s s.",
		meta["vpp"], meta["cpu"], meta["cores"], meta["date"], meta["reps"], meta["hugepages"] ? "yes" : "no", meta["elapsed"])
	print info
	print "" >> out_md
	print info >> out_md
	if (meta["cloudnat"] != "") { print "cloudnat: " meta["cloudnat"]; print "\ncloudnat: " meta["cloudnat"] >> out_md }
	# NAT-node vectors/call and delivery, for the record.
	printf "\nvectors/call of the NAT node and packets delivered (median):\n"
	printf "\nvectors/call of the NAT node, packets delivered to pg1 (median):\n\n" >> out_md
	split("cloudnat cnat nat44", P, " ")
	split("dnat|1k dnat|create dnat|1m snat|1k snat|create snat|1m dnat|create16m dnat|16m", S, " ")
	for (pi = 1; pi <= 3; pi++) for (si = 1; si <= 8; si++) {
		split(S[si], f, "|")
		v = median("vpc|" P[pi] "|" f[1] "|" f[2]); d = median("dlv|" P[pi] "|" f[1] "|" f[2])
		if (v == "") continue
		l = sprintf("  %-9s %-5s %-10s %6.1f vec/call  %6.1f%% delivered", P[pi], f[1], f[2], v, 100 * d)
		print l; print "    " l >> out_md
	}
}' "$meta" "$res" "$mem"
fi

# CGNAT, static 1:1 and fragments: cloudnat against nat44-ed (and det44).
if awk -F'\t' '$2 == "cgnat" || $2 == "static" || $2 == "frag" { f = 1 } END { exit !f }' "$res"; then
awk -F'\t' -v out_md="$dir/report.md" '
function median(key,   n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
	if (n % 2) return a[(n+1)/2]
	return (a[n/2] + a[n/2+1]) / 2
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
function minv(key,   i, m) {
	if (cnt[key] == 0) return ""
	m = val[key, 1]
	for (i = 2; i <= cnt[key]; i++) if (val[key, i] < m) m = val[key, i]
	return m
}
function fmt(v) { return v == "" ? "-" : sprintf("%.1f", v) }
function out(l) { print l; print l >> out_md }
function row(label, c, n, x, ratio, target, verdict) {
	out(sprintf("| %-46s | %9s | %9s | %9s | %6s | %-17s | %-5s |", label, c, n, x, ratio, target, verdict))
}
FILENAME == ARGV[1] { meta[$1] = $2; next }
FILENAME == ARGV[2] {
	add("nat|" $1 "|" $2 "|" $3, $5); add("path|" $1 "|" $2 "|" $3, $6); add("dlv|" $1 "|" $2 "|" $3, $8)
	next
}
FILENAME == ARGV[3] {
	# plugin subscribers sessions-after heap-before heap-after-first-chunks heap-end
	ses = ($6 - $5) / $3
	sub_b[$1] = ($5 - $4) / $2 - ses; sub_s[$1] = ses; sub_n[$1] = $2; sub_f[$1] = ($5 - $4) / $2
	next
}
FILENAME == ARGV[4] {
	# plugin rep.chunk in-flight held timed-out max-held, after each orphan chunk
	if (!($1 in frn) || $3 > frf[$1]) frf[$1] = $3
	if (!($1 in frn) || $4 > frh[$1]) frh[$1] = $4
	frn[$1]++; frm[$1] = $6
	fr[$1] = sprintf("after %d orphan chunks: at most %d datagrams in flight and %d fragments held (max-held %s)", frn[$1], frf[$1], frh[$1], frm[$1])
	next
}
END {
	out("")
	out("CGNAT, static 1:1 NAT and orphan fragments (NAT node clocks/packet, median):")
	out("")
	out(sprintf("| %-46s | %9s | %9s | %9s | %6s | %-17s | %-5s |", "scenario (clocks/packet)", "cloudnat", "nat44-ed", "det44", "ratio", "target", ""))
	out("|------------------------------------------------|-----------|-----------|-----------|--------|-------------------|-------|")
	n = split("cgnat|1k|CGNAT 1k flows (1k subscribers): NAT node|0.5;cgnat|1m|CGNAT ~1M flows (64k subscribers): NAT node|0.35;cgnat|create|CGNAT new sessions: NAT node|0.4;cgnat|newsub|CGNAT new subscribers (+blocks): NAT node|;cgnat|1k|CGNAT 1k flows: whole path|;cgnat|1m|CGNAT ~1M flows: whole path|;cgnat|create|CGNAT new sessions: whole path|;static|1k|static 1:1 1k flows: NAT node|0.5;static|1m|static 1:1 ~1M flows: NAT node|0.5;static|create|static 1:1 first pass (~1M): NAT node|;static|1k|static 1:1 1k flows: whole path|;static|1m|static 1:1 ~1M flows: whole path|;frag|1k|SNAT 1k flows, no fragments: NAT node|;frag|1k+orph-n|SNAT 1k + 50% orphans: NAT / normal pkt|;frag|1k+orph|SNAT 1k + 50% orphans: NAT / input pkt|;frag|1k+orph-n|SNAT 1k + 50% orphans: path / normal pkt|", R, ";")
	for (i = 1; i <= n; i++) {
		split(R[i], f, "|")
		k = (f[3] ~ /whole path|path \//) ? "path" : "nat"
		c = median(k "|cloudnat|" f[1] "|" f[2]); x = median(k "|nat44|" f[1] "|" f[2]); d = median(k "|det44|" f[1] "|" f[2])
		if (c == "" && x == "" && d == "") continue
		ratio = (c != "" && x != "" && x > 0) ? c / x : ""
		tg = f[4] == "" ? "(info)" : "<= " f[4] "x nat44-ed"
		verdict = (f[4] == "" || ratio == "") ? "" : (ratio <= f[4] + 0 ? "PASS" : "MISS")
		row(f[3], fmt(c), fmt(x), f[1] == "cgnat" ? fmt(d) : "n/a", ratio == "" ? "-" : sprintf("%.2f", ratio), tg, verdict)
	}
	# with / without orphans, per normal packet, each plugin
	for (pi = 1; pi <= 2; pi++) {
		p = pi == 1 ? "cloudnat" : "nat44"
		a = median("nat|" p "|frag|1k"); b = median("nat|" p "|frag|1k+orph-n")
		if (a != "" && b != "" && a > 0) out(sprintf("  %s: NAT clocks per normal packet with orphans / without: %.2f", p == "nat44" ? "nat44-ed" : p, b / a))
	}
	if ("cloudnat" in sub_b) {
		v = sub_b["cloudnat"]
		# nat44-ed and det44 allocate their tables when configured: only
		# their raw growth is shown
		row("CGNAT heap growth, new subscriber + session, B", fmt(sub_f["cloudnat"]), ("nat44" in sub_f) ? fmt(sub_f["nat44"]) : "-", ("det44" in sub_f) ? fmt(sub_f["det44"]) : "-", "", "(info)", "")
		row("CGNAT heap growth per further session, B", fmt(sub_s["cloudnat"]), ("nat44" in sub_s) ? fmt(sub_s["nat44"]) : "-", ("det44" in sub_s) ? fmt(sub_s["det44"]) : "-", "", "(info)", "")
		row("CGNAT state per subscriber beside sessions, B", fmt(v), "n/a", "n/a", "", "<= 64 B", v <= 64 ? "PASS" : "MISS")
	}
	if ("cloudnat" in fr) out("  cloudnat cnat show fragments " fr["cloudnat"])
	# least disturbed chunk: other load only ever adds clocks
	out("")
	out("least disturbed chunk (minimum over chunks and repetitions), NAT node clocks/packet:")
	out("")
	out(sprintf("| %-46s | %9s | %9s | %9s | %6s | %-17s | %-5s |", "scenario (clocks/packet)", "cloudnat", "nat44-ed", "det44", "ratio", "target", ""))
	out("|------------------------------------------------|-----------|-----------|-----------|--------|-------------------|-------|")
	n = split("cgnat|1k|CGNAT 1k flows (min)|0.5;cgnat|1m|CGNAT ~1M flows (min)|0.35;cgnat|create|CGNAT new sessions (min)|0.4;cgnat|newsub|CGNAT new subscribers (min)|;static|1k|static 1:1 1k flows (min)|0.5;static|1m|static 1:1 ~1M flows (min)|0.5;frag|1k|SNAT 1k, no fragments (min)|;frag|1k+orph-n|SNAT 1k + orphans, per normal pkt (min)|", R, ";")
	for (i = 1; i <= n; i++) {
		split(R[i], f, "|")
		c = minv("nat|cloudnat|" f[1] "|" f[2]); x = minv("nat|nat44|" f[1] "|" f[2]); d = minv("nat|det44|" f[1] "|" f[2])
		if (c == "" && x == "" && d == "") continue
		ratio = (c != "" && x != "" && x > 0) ? c / x : ""
		tg = f[4] == "" ? "(info)" : "<= " f[4] "x nat44-ed"
		verdict = (f[4] == "" || ratio == "") ? "" : (ratio <= f[4] + 0 ? "PASS" : "MISS")
		row(f[3], fmt(c), fmt(x), f[1] == "cgnat" ? fmt(d) : "n/a", ratio == "" ? "-" : sprintf("%.2f", ratio), tg, verdict)
	}
	# delivery
	out("")
	out("packets delivered to pg1 (median):")
	split("cloudnat nat44 det44", P, " ")
	split("cgnat|1k cgnat|newsub cgnat|create cgnat|1m static|1k static|create static|1m frag|1k frag|1k+orph-n", S, " ")
	for (pi = 1; pi <= 3; pi++) for (si = 1; si <= 10; si++) {
		split(S[si], f, "|")
		d = median("dlv|" P[pi] "|" f[1] "|" f[2])
		if (d == "") continue
		out(sprintf("  %-9s %-6s %-10s %6.1f%% delivered%s", P[pi], f[1], f[2], 100 * d, f[2] ~ /orph/ ? " (of the normal packets)" : ""))
	}
	if (meta["families"] != "") out(sprintf("\nVPP %s; %s, %s cores; %s; median of %s repetitions; families %s.", meta["vpp"], meta["cpu"], meta["cores"], meta["date"], meta["reps"], meta["families"]))
}' "$meta" "$res" "$subs" "$frag"
fi

if command -v gnuplot >/dev/null 2>&1 && [ -s "$dir/plot.dat" ]; then
	cols=$(awk -F'\t' '{ for (i = 2; i <= 4; i++) if ($i > 0) s[i] = 1 } END { for (i = 2; i <= 4; i++) if (i in s) printf "%d ", i }' "$dir/plot.dat")
	gnuplot -e "datafile='$dir/plot.dat'; outfile='$dir/plot.png'; cols='$cols'" "$(dirname "$0")/plot.gp" ||
		echo "report: gnuplot failed (plot skipped)" >&2
fi
