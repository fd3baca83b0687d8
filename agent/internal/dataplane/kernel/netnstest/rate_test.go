package netnstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

// BenchmarkKernelRate: the packet rate through a VIP with 10 and with
// 100,000 translations (x 4 backends) in the table, measured in two labs
// alternately (four rounds, every other one starting with the large
// table; medians), so background load hits both alike. With iperf3 installed: a UDP stream of 64-byte datagrams
// (packets/s received by the backend) and a TCP stream (Gbit/s), client
// in "c", server in "b1", through VIP:5201 (TCP and UDP) of translation
// 5's address. Both also report new TCP connections/s and the Go sender's
// UDP packets/s of rates(). The ratios (100,000 / 10) are the figures of
// the target "within 10%".
func BenchmarkKernelRate(b *testing.B) {
	n := 100000 / benchScale()
	_, haveIperf := exec.LookPath("iperf3")
	for i := 0; i < b.N; i++ {
		labS, dS := benchLab(b)
		labL, dL := benchLab(b)
		putAll(b, dS, scaleTranslations(10, 4))
		if err := dL.PutTranslations(context.Background(), scaleTranslations(n, 4)); err != nil {
			b.Fatal(err)
		}
		var m [2]map[string][]float64
		for k, x := range []struct {
			lab *nslab.Lab
			d   *kernel.Dataplane
		}{{labS, dS}, {labL, dL}} {
			m[k] = map[string][]float64{}
			if haveIperf == nil {
				iperfServer(b, x.lab, x.d)
			}
		}
		for r := 0; r < 4; r++ {
			for kk, x := range []struct {
				lab *nslab.Lab
				d   *kernel.Dataplane
			}{{labS, dS}, {labL, dL}} {
				k := kk ^ r&1 // every other round the large table first: no order bias
				if k != kk {
					x.lab, x.d = []*nslab.Lab{labS, labL}[k], []*kernel.Dataplane{dS, dL}[k]
				}
				cps, pps := rates(b, x.lab, x.d)
				m[k]["conn/s"] = append(m[k]["conn/s"], cps)
				m[k]["go-pkt/s"] = append(m[k]["go-pkt/s"], pps)
				if haveIperf == nil {
					udp, tcp := iperfRun(b, x.lab)
					m[k]["iperf-udp-pkt/s"] = append(m[k]["iperf-udp-pkt/s"], udp)
					m[k]["iperf-tcp-Gbit/s"] = append(m[k]["iperf-tcp-Gbit/s"], tcp)
				}
			}
		}
		for _, name := range []string{"conn/s", "go-pkt/s", "iperf-udp-pkt/s", "iperf-tcp-Gbit/s"} {
			if len(m[0][name]) == 0 {
				continue
			}
			small, large := medianF(m[0][name]), medianF(m[1][name])
			b.ReportMetric(small, name+"-10")
			b.ReportMetric(large, name+"-100k")
			if small > 0 {
				b.ReportMetric(large/small, "ratio-"+name)
			}
		}
	}
}

// iperfServer adds translations VIP:5201 (TCP and UDP, one backend, b1)
// and starts iperf3's server in b1 until the benchmark ends.
func iperfServer(b *testing.B, lab *nslab.Lab, d *kernel.Dataplane) {
	for _, p := range []model.Proto{model.ProtoTCP, model.ProtoUDP} {
		t := model.Translation{Key: model.TranslationKey{VIP: scaleVIP(5), Port: 5201, Proto: p}, LB: model.LBHash,
			Backends: []model.Backend{{DstAddr: netip.MustParseAddr("10.20.1.2")}}}
		if err := d.PutTranslation(context.Background(), t); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", lab.Name("b1"), "iperf3", "-s", "-p", "5201")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	time.Sleep(300 * time.Millisecond)
}

// iperfRun measures, for 2 s each, UDP packets/s (64-byte datagrams, as
// fast as the client can send, counted at the receiver) and TCP Gbit/s.
func iperfRun(b *testing.B, lab *nslab.Lab) (udpPPS, tcpGbps float64) {
	vip := scaleVIP(5).String()
	var res struct {
		End struct {
			Sum struct {
				Packets     float64 `json:"packets"`
				LostPackets float64 `json:"lost_packets"`
				Seconds     float64 `json:"seconds"`
			} `json:"sum"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	run := func(args ...string) {
		var out string
		var err error
		for try := 0; try < 5; try++ { // the server takes one client at a time
			out, err = lab.Try("c", append([]string{"iperf3", "-c", vip, "-p", "5201", "-t", "2", "-J"}, args...)...)
			if err == nil {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if err != nil {
			b.Fatalf("iperf3 %v: %v\n%s", args, err, out)
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			b.Fatalf("iperf3 output: %v", err)
		}
	}
	run("-u", "-b", "0", "-l", "64")
	if res.End.Sum.Seconds > 0 {
		udpPPS = (res.End.Sum.Packets - res.End.Sum.LostPackets) / res.End.Sum.Seconds
	}
	run()
	tcpGbps = res.End.SumReceived.BitsPerSecond / 1e9
	if udpPPS <= 0 || tcpGbps <= 0 {
		b.Fatalf("iperf3 measured nothing: %v pkt/s, %v Gbit/s", udpPPS, fmt.Sprint(tcpGbps))
	}
	return udpPPS, tcpGbps
}
