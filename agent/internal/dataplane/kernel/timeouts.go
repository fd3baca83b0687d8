package kernel

import (
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Names of the ct timeout objects.
var timeoutObjects = []struct {
	name  string
	l3    uint16
	proto model.Proto
}{
	{"cn_tcp", unix.NFPROTO_IPV4, model.ProtoTCP},
	{"cn_udp", unix.NFPROTO_IPV4, model.ProtoUDP},
	{"cn_icmp", unix.NFPROTO_IPV4, model.ProtoICMP},
	{"cn_icmp6", unix.NFPROTO_IPV6, model.ProtoICMPv6},
}

func secs(d time.Duration) uint32 { return uint32(d / time.Second) }

// timeoutPolicy maps cloudnat's four timeouts onto a conntrack timeout
// policy. TCP: established ← established; every other state but close ←
// transitory. UDP: both states ← udp. ICMP: its single timeout.
func timeoutPolicy(p model.Proto, t model.Timeouts) expr.CtStatePolicyTimeout {
	switch p {
	case model.ProtoTCP:
		tr := secs(t.TCPTransitory)
		return expr.CtStatePolicyTimeout{
			expr.CtStateTCPSYNSENT: tr, expr.CtStateTCPSYNRECV: tr,
			expr.CtStateTCPESTABLISHED: secs(t.TCPEstablished),
			expr.CtStateTCPFINWAIT:     tr, expr.CtStateTCPCLOSEWAIT: tr, expr.CtStateTCPLASTACK: tr,
			expr.CtStateTCPTIMEWAIT: tr, expr.CtStateTCPCLOSE: 10, expr.CtStateTCPSYNSENT2: tr,
			expr.CtStateTCPRETRANS: tr, expr.CtStateTCPUNACK: tr,
		}
	case model.ProtoUDP:
		return expr.CtStatePolicyTimeout{expr.CtStateUDPUNREPLIED: secs(t.UDP), expr.CtStateUDPREPLIED: secs(t.UDP)}
	default:
		return expr.CtStatePolicyTimeout{0: secs(t.ICMP)}
	}
}

// readTimeouts reads cloudnat's ct timeout objects; all says whether every
// one was there. The caller holds nftMu.
func readTimeouts(c *nftables.Conn, t *nftables.Table) (model.Timeouts, bool, error) {
	objs, err := c.GetNamedObjects(t)
	if err != nil {
		return model.Timeouts{}, false, fmt.Errorf("list objects of inet %s: %w", t.Name, err)
	}
	// v0.3.0 decodes every policy into one shared map per protocol family
	// (TCP's map also receives ICMP's single value at key 0), so read each
	// object's values right after decoding and only from keys no other
	// protocol writes: TCP established and fin_wait, UDP replied, ICMP 0.
	var out model.Timeouts
	found := 0
	for _, o := range objs {
		no, ok := o.(*nftables.NamedObj)
		if !ok || no.Type != nftables.ObjTypeCtTimeout {
			continue
		}
		ct, ok := no.Obj.(*expr.CtTimeout)
		if !ok {
			continue
		}
		switch no.Name {
		case "cn_tcp":
			out.TCPEstablished = time.Duration(ct.Policy[expr.CtStateTCPESTABLISHED]) * time.Second
			out.TCPTransitory = time.Duration(ct.Policy[expr.CtStateTCPFINWAIT]) * time.Second
			found++
		case "cn_udp":
			out.UDP = time.Duration(ct.Policy[expr.CtStateUDPREPLIED]) * time.Second
			found++
		case "cn_icmp":
			out.ICMP = time.Duration(ct.Policy[0]) * time.Second
			found++
		case "cn_icmp6":
			found++
		}
	}
	return out, found == len(timeoutObjects), nil
}
