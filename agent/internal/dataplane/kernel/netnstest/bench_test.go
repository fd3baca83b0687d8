package netnstest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

// The kernel dataplane's scale figures (make bench runs these through
// scripts/bench/kernel.sh). Sizes can be lowered with CN_BENCH_SCALE
// (a divisor) for a quick look. Each reports its figure as a metric.

func benchScale() int {
	if v, err := strconv.Atoi(os.Getenv("CN_BENCH_SCALE")); err == nil && v > 0 {
		return v
	}
	return 1
}

func benchLab(b *testing.B) (*nslab.Lab, *kernel.Dataplane) {
	lab := natLab(b)
	d, err := kernel.Open(context.Background(), kernelCfg, kernel.WithNetNS(lab.NS("r")), kernel.WithHostCheck(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	<-d.Events()
	return lab, d
}

// BenchmarkKernelProgram: 10,000 translations x 8 backends programmed
// into an empty table, in bulk (PutTranslations, as a full sync does) and
// one by one (PutTranslation, as single API writes do).
func BenchmarkKernelProgram(b *testing.B) {
	n := 10000 / benchScale()
	for i := 0; i < b.N; i++ {
		_, d := benchLab(b)
		ts := scaleTranslations(n, 8)
		s, cpu := time.Now(), cpuTime()
		if err := d.PutTranslations(context.Background(), ts); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(s).Seconds(), "s/10k-x8-bulk")
		b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s/10k-x8-bulk")
		must(b, d.Remove(context.Background()))
		took := putAll(b, d, ts)
		b.ReportMetric(took.Seconds(), "s/10k-x8-one-by-one")
		b.ReportMetric(float64(took.Microseconds())/float64(n), "us/put")
	}
}

// BenchmarkKernelLarge: a table of 100,000 translations x 4 backends; one
// more change (put, replace, delete: median of 30 each), the time to list
// it, and the repair after `nft delete table inet cloudnat` (from the
// delete until the table is whole again); then new-flow and packet rates
// through it against a table of 10 translations.
func BenchmarkKernelLarge(b *testing.B) {
	n := 100000 / benchScale()
	for i := 0; i < b.N; i++ {
		lab, d := benchLab(b)
		// A second lab with 10 translations: the rates are measured
		// alternately through both, so background load hits both alike.
		labS, dS := benchLab(b)
		putAll(b, dS, scaleTranslations(10, 4))
		ts := scaleTranslations(n, 4)
		s := time.Now()
		if err := d.PutTranslations(context.Background(), ts); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(s).Seconds(), "s/fill-bulk")
		c := context.Background()
		var put, del []time.Duration
		for j := 0; j < 30; j++ {
			x := ts[j]
			x.Key.Port = 81
			s := time.Now()
			if err := d.PutTranslation(c, x); err != nil {
				b.Fatal(err)
			}
			put = append(put, time.Since(s))
			s = time.Now()
			if err := d.DeleteTranslation(c, x.Key); err != nil {
				b.Fatal(err)
			}
			del = append(del, time.Since(s))
		}
		b.ReportMetric(median(put).Seconds()*1000, "ms/put-at-100k")
		b.ReportMetric(median(del).Seconds()*1000, "ms/delete-at-100k")
		s = time.Now()
		got, err := d.ListTranslations(c)
		if err != nil || len(got) != n {
			b.Fatalf("list: %d, %v", len(got), err)
		}
		b.ReportMetric(time.Since(s).Seconds()*1000, "ms/list-100k")
		d2, err := kernel.Open(c, kernelCfg, kernel.WithNetNS(lab.NS("r")), kernel.WithHostCheck(0))
		if err != nil {
			b.Fatal(err)
		}
		s = time.Now()
		if got, err := d2.ListTranslations(c); err != nil || len(got) != n {
			b.Fatalf("reload: %d, %v", len(got), err)
		}
		b.ReportMetric(time.Since(s).Seconds(), "s/load-100k")
		d2.Close()
		nc := nftConn(b, lab, "r")
		before := d.DriftRepairs()
		cpu := cpuTime()
		deleteTableForeign(b, nc)
		rep := waitRepaired(b, d, before, 60*time.Second)
		b.ReportMetric(rep.Seconds(), "s/resync-100k")
		b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s/resync-100k")
		var c10, c100, p10, p100 []float64
		for r := 0; r < 3; r++ {
			cps, pps := rates(b, labS, dS)
			c10, p10 = append(c10, cps), append(p10, pps)
			cps, pps = rates(b, lab, d)
			c100, p100 = append(c100, cps), append(p100, pps)
		}
		b.ReportMetric(medianF(c10), "conn/s-10")
		b.ReportMetric(medianF(c100), "conn/s-100k")
		b.ReportMetric(medianF(p10), "pkt/s-10")
		b.ReportMetric(medianF(p100), "pkt/s-100k")
	}
}

var kernelCfg = registry.Config{}

// cpuTime is the process's user + system CPU time: nf_tables does its
// work in the sending thread's syscall, so on a loaded machine this is a
// truer cost than the wall-clock time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func medianF(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// rates measures, through translation 5, new TCP connections per second
// (each a new conntrack flow through the NAT lookup) and UDP packets per
// second received by the backend from 16 flows sent as fast as possible.
func rates(b *testing.B, lab *nslab.Lab, d *kernel.Dataplane) (cps, pps float64) {
	udp := model.Translation{Key: model.TranslationKey{VIP: scaleVIP(5), Port: 9999, Proto: model.ProtoUDP}, LB: model.LBHash,
		Backends: []model.Backend{{DstAddr: netip.MustParseAddr("10.20.1.2")}, {DstAddr: netip.MustParseAddr("10.20.2.2")}}}
	if err := d.PutTranslation(context.Background(), udp); err != nil {
		b.Fatal(err)
	}
	vipTCP := netip.AddrPortFrom(scaleVIP(5), 80).String()
	end := time.Now().Add(time.Second)
	n := 0
	for time.Now().Before(end) {
		if _, err := lab.TCP("c", vipTCP); err != nil {
			b.Fatalf("connection: %v", err)
		}
		n++
	}
	cps = float64(n)
	// UDP: what b1 and b2 receive on port 9999.
	var recv atomic.Int64
	var socks []net.PacketConn
	for _, ns := range []string{"b1", "b2"} {
		err := lab.Do(ns, func() error {
			pc, err := net.ListenPacket("udp", ":9999")
			socks = append(socks, pc)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, pc := range socks {
		go func(pc net.PacketConn) {
			buf := make([]byte, 2048)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				recv.Add(1)
			}
		}(pc)
	}
	var senders []net.Conn
	err := lab.Do("c", func() error {
		for j := 0; j < 16; j++ {
			conn, err := net.Dial("udp", fmt.Sprintf("%s:9999", scaleVIP(5)))
			if err != nil {
				return err
			}
			senders = append(senders, conn)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	stop := time.Now().Add(1500 * time.Millisecond)
	var start int64
	warm := time.Now().Add(500 * time.Millisecond)
	for k := 0; time.Now().Before(stop); k++ {
		if start == 0 && time.Now().After(warm) {
			start = recv.Load()
		}
		_, _ = senders[k%len(senders)].Write(msg)
	}
	time.Sleep(100 * time.Millisecond)
	pps = float64(recv.Load() - start)
	for _, s := range senders {
		s.Close()
	}
	for _, pc := range socks {
		pc.Close()
	}
	if err := d.DeleteTranslation(context.Background(), udp.Key); err != nil {
		b.Fatal(err)
	}
	return cps, pps
}

// BenchmarkKernelResync: a table of 100,000 translations x 4 backends is
// deleted by someone else (`nft delete table inet cloudnat`), three times;
// reported: the median time from the delete until the table is whole
// again, and the CPU time (user + system) of the process for it.
func BenchmarkKernelResync(b *testing.B) {
	n := 100000 / benchScale()
	for i := 0; i < b.N; i++ {
		lab, d := benchLab(b)
		if err := d.PutTranslations(context.Background(), scaleTranslations(n, 4)); err != nil {
			b.Fatal(err)
		}
		nc := nftConn(b, lab, "r")
		var wall, cpus []float64
		for r := 0; r < 3; r++ {
			before := d.DriftRepairs()
			cpu, start := cpuTime(), time.Now()
			deleteTableForeign(b, nc)
			waitRepaired(b, d, before, 60*time.Second)
			wall = append(wall, time.Since(start).Seconds())
			cpus = append(cpus, (cpuTime() - cpu).Seconds())
		}
		b.ReportMetric(medianF(wall), "s/resync-100k")
		b.ReportMetric(medianF(cpus), "cpu-s/resync-100k")
	}
}
