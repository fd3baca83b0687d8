package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// InvalidArgument turns a validation error into an INVALID_ARGUMENT status
// whose message is the error ("field: what") and whose details carry a
// BadRequest naming the field.
func InvalidArgument(err error) error {
	st := status.New(codes.InvalidArgument, capMessage(err.Error()))
	if fe, ok := validate.AsFieldError(err); ok {
		if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
			Field: capMessage(fe.Field), Description: capMessage(fe.Msg),
		}}}); derr == nil {
			st = d
		}
	}
	return st.Err()
}

// MaxErrorMessage bounds an error message the server returns (and logs):
// validation quotes at most a short prefix of bad input (validate.Quote),
// and this cap catches whatever else could grow with the input.
const MaxErrorMessage = 1024

// capMessage cuts msg to MaxErrorMessage bytes, saying how long it was.
func capMessage(msg string) string {
	if len(msg) <= MaxErrorMessage {
		return msg
	}
	return fmt.Sprintf("%s…(%d bytes)", validate.Prefix8(msg, MaxErrorMessage), len(msg))
}

// dataplaneError maps a dataplane error to a status.
func dataplaneError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, dataplane.ErrNotConnected):
		code = codes.Unavailable
	case errors.Is(err, dataplane.ErrUnsupported):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, capMessage("dataplane: "+err.Error()))
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func protoPB(p model.Proto) pb.Protocol {
	switch p {
	case model.ProtoTCP:
		return pb.Protocol_PROTOCOL_TCP
	case model.ProtoUDP:
		return pb.Protocol_PROTOCOL_UDP
	case model.ProtoICMP:
		return pb.Protocol_PROTOCOL_ICMP
	case model.ProtoICMPv6:
		return pb.Protocol_PROTOCOL_ICMPV6
	}
	return pb.Protocol(p)
}

var hashFieldOrder = []struct {
	bit model.HashFields
	pb  pb.HashField
}{
	{model.HashSrcAddr, pb.HashField_HASH_FIELD_SRC_ADDR},
	{model.HashDstAddr, pb.HashField_HASH_FIELD_DST_ADDR},
	{model.HashSrcPort, pb.HashField_HASH_FIELD_SRC_PORT},
	{model.HashDstPort, pb.HashField_HASH_FIELD_DST_PORT},
	{model.HashProto, pb.HashField_HASH_FIELD_PROTO},
}

// TranslationPB converts a translation; ICMPv6 keys are reported as ICMP.
func TranslationPB(t model.Translation) *pb.Translation {
	k := reconcile.NormalizeKey(t.Key)
	if k.Proto == model.ProtoICMPv6 {
		k.Proto = model.ProtoICMP // the API's convention for translations
	}
	out := &pb.Translation{
		Vrf: k.VRF, Vip: addrString(k.VIP), Port: uint32(k.Port), Proto: protoPB(k.Proto),
		Kind: pb.TranslationKind_TRANSLATION_KIND_VIP, Lb: pb.LBMethod_LB_METHOD_HASH,
		MaglevLen: t.MaglevLen,
	}
	if t.Kind == model.KindReal {
		out.Kind = pb.TranslationKind_TRANSLATION_KIND_REAL
	}
	if t.LB == model.LBMaglev {
		out.Lb = pb.LBMethod_LB_METHOD_MAGLEV
	}
	for _, h := range hashFieldOrder {
		if t.HashFields&h.bit != 0 {
			out.HashFields = append(out.HashFields, h.pb)
		}
	}
	for _, b := range t.Backends {
		out.Backends = append(out.Backends, &pb.Backend{
			SrcAddr: addrString(b.SrcAddr), SrcPort: uint32(b.SrcPort),
			DstAddr: addrString(b.DstAddr), DstPort: uint32(b.DstPort),
		})
	}
	return out
}

func syncPB(r reconcile.Result) *pb.Sync {
	out := &pb.Sync{State: syncStatePB(r.State)}
	if r.Err != nil {
		out.Error = r.Err.Error()
	}
	return out
}

func syncStatePB(s reconcile.SyncState) pb.SyncState {
	switch s {
	case reconcile.Pending:
		return pb.SyncState_SYNC_STATE_PENDING
	case reconcile.Failed:
		return pb.SyncState_SYNC_STATE_FAILED
	}
	return pb.SyncState_SYNC_STATE_SYNCED
}

func timeoutsPB(t model.Timeouts) *pb.Timeouts {
	return &pb.Timeouts{
		Udp:            durationpb.New(t.UDP),
		TcpEstablished: durationpb.New(t.TCPEstablished),
		TcpTransitory:  durationpb.New(t.TCPTransitory),
		Icmp:           durationpb.New(t.ICMP),
	}
}

var tcpStates = map[model.TCPState]pb.TCPState{
	model.TCPNone:        pb.TCPState_TCP_STATE_UNSPECIFIED,
	model.TCPSynSent:     pb.TCPState_TCP_STATE_SYN_SENT,
	model.TCPEstablished: pb.TCPState_TCP_STATE_ESTABLISHED,
	model.TCPFinWait:     pb.TCPState_TCP_STATE_FIN_WAIT,
	model.TCPClosed:      pb.TCPState_TCP_STATE_CLOSED,
}

func sessionPB(s model.Session) *pb.Session {
	return &pb.Session{
		Vrf: s.VRF, Proto: protoPB(s.Proto),
		SrcAddr: addrString(s.Src.Addr()), SrcPort: uint32(s.Src.Port()),
		DstAddr: addrString(s.Dst.Addr()), DstPort: uint32(s.Dst.Port()),
		NewSrcAddr: addrString(s.NewSrc.Addr()), NewSrcPort: uint32(s.NewSrc.Port()),
		NewDstAddr: addrString(s.NewDst.Addr()), NewDstPort: uint32(s.NewDst.Port()),
		Snat: s.SNAT, TcpState: tcpStates[s.TCPState],
		ExpiresIn: durationpb.New(s.ExpiresIn), Packets: s.Packets,
	}
}

func optVRFPB(vrf uint32) *uint32 {
	if vrf == model.AllVRFs {
		return nil
	}
	return &vrf
}
