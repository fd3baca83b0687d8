package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

type env struct {
	dp    *fakedp.DP
	st    *store.Store
	rec   *reconcile.Reconciler
	conn  *grpc.ClientConn
	tr    pb.TranslationServiceClient
	snat  pb.SNATServiceClient
	sess  pb.SessionServiceClient
	ifs   pb.InterfaceServiceClient
	stat  pb.StatusServiceClient
	hc    healthpb.HealthClient
	path  string
	token string
}

type envOpt func(*envConfig)

type envConfig struct {
	token string
	path  string
	dp    *fakedp.DP
	wrap  func(*fakedp.DP) dataplane.Dataplane // the server's dataplane; default dp
}

func withToken(t string) envOpt                { return func(c *envConfig) { c.token = t } }
func withPath(p string) envOpt                 { return func(c *envConfig) { c.path = p } }
func withDP(dp *fakedp.DP) envOpt              { return func(c *envConfig) { c.dp = dp } }
func ctx() context.Context                     { return context.Background() }
func u32(v uint32) *uint32                     { return &v }
func addr(s string) netip.Addr                 { return netip.MustParseAddr(s) }
func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	cfg := envConfig{path: filepath.Join(t.TempDir(), "state.json")}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dp == nil {
		cfg.dp = fakedp.New()
	}
	st, err := store.Open(cfg.path)
	if err != nil {
		t.Fatal(err)
	}
	var sdp dataplane.Dataplane = cfg.dp
	if cfg.wrap != nil {
		sdp = cfg.wrap(cfg.dp)
	}
	rec := reconcile.New(sdp, st, reconcile.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	srv := New(Config{Store: st, Reconciler: rec, Dataplane: sdp, DataplaneKind: "fake", SelectedBy: "config", Version: "test"})
	g, _ := NewGRPC(srv, GRPCOptions{Token: cfg.token})
	lis := bufconn.Listen(1 << 20)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := rec.SyncAll(ctx()); err != nil {
		t.Fatal(err)
	}
	return &env{
		dp: cfg.dp, st: st, rec: rec, conn: conn, path: cfg.path, token: cfg.token,
		tr: pb.NewTranslationServiceClient(conn), snat: pb.NewSNATServiceClient(conn),
		sess: pb.NewSessionServiceClient(conn), ifs: pb.NewInterfaceServiceClient(conn),
		stat: pb.NewStatusServiceClient(conn), hc: healthpb.NewHealthClient(conn),
	}
}

func web() *pb.Translation {
	return &pb.Translation{
		Vip: "30.0.0.2", Port: 80, Proto: pb.Protocol_PROTOCOL_TCP, Lb: pb.LBMethod_LB_METHOD_MAGLEV,
		Backends: []*pb.Backend{{DstAddr: "20.0.0.1", DstPort: 8080}, {SrcAddr: "1.2.3.4", DstAddr: "20.0.0.2", DstPort: 8080}},
	}
}

var webKey = &pb.TranslationKey{Vip: "30.0.0.2", Port: 80, Proto: pb.Protocol_PROTOCOL_TCP}

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("got %v / %q, want %v containing %q", st.Code(), st.Message(), code, msg)
	}
}

func TestTranslationLifecycle(t *testing.T) {
	e := newEnv(t)
	resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("sync %v", resp.GetSync())
	}
	// The dataplane has it when Create returns.
	snap := e.dp.Snapshot()
	if len(snap.Translations) != 1 || snap.Translations[0].LB != model.LBMaglev || len(snap.Translations[0].Backends) != 2 {
		t.Fatalf("dataplane %+v", snap.Translations)
	}
	_, err = e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()})
	wantCode(t, err, codes.AlreadyExists, "translation vrf 0 tcp 30.0.0.2:80 already exists")

	got, err := e.tr.GetTranslation(ctx(), &pb.GetTranslationRequest{Key: webKey})
	if err != nil {
		t.Fatal(err)
	}
	if g := got.GetTranslation(); g.GetVip() != "30.0.0.2" || len(g.GetBackends()) != 2 || g.GetBackends()[1].GetSrcAddr() != "1.2.3.4" ||
		g.GetKind() != pb.TranslationKind_TRANSLATION_KIND_VIP {
		t.Fatalf("get %v", g)
	}

	// Update: missing → NOT_FOUND unless allow_missing.
	other := web()
	other.Vip = "30.0.0.3"
	_, err = e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: other})
	wantCode(t, err, codes.NotFound, "translation vrf 0 tcp 30.0.0.3:80 not found")
	if _, err := e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: other, AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	changed := web()
	changed.Backends = changed.Backends[:1]
	if _, err := e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: changed}); err != nil {
		t.Fatal(err)
	}
	list, err := e.tr.ListTranslations(ctx(), &pb.ListTranslationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.GetTranslations()); n != 2 || len(list.GetTranslations()[0].GetTranslation().GetBackends()) != 1 {
		t.Fatalf("list %v", list)
	}
	if l, _ := e.tr.ListTranslations(ctx(), &pb.ListTranslationsRequest{Vrf: u32(5)}); len(l.GetTranslations()) != 0 {
		t.Fatalf("vrf filter %v", l)
	}
	// An unchanged update does not re-put.
	e.dp.ResetCalls()
	if _, err := e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: changed}); err != nil {
		t.Fatal(err)
	}
	if n := e.dp.Calls(fakedp.OpPutTranslation); n != 0 {
		t.Errorf("unchanged translation re-put %d times", n)
	}

	if _, err := e.tr.DeleteTranslation(ctx(), &pb.DeleteTranslationRequest{Key: webKey}); err != nil {
		t.Fatal(err)
	}
	_, err = e.tr.DeleteTranslation(ctx(), &pb.DeleteTranslationRequest{Key: webKey})
	wantCode(t, err, codes.NotFound, "not found")
	if _, err := e.tr.DeleteTranslation(ctx(), &pb.DeleteTranslationRequest{Key: webKey, AllowMissing: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.tr.GetTranslation(ctx(), &pb.GetTranslationRequest{Key: webKey})
	wantCode(t, err, codes.NotFound, "not found")
	if snap := e.dp.Snapshot(); len(snap.Translations) != 1 || snap.Translations[0].Key.VIP != addr("30.0.0.3") {
		t.Fatalf("dataplane %+v", snap.Translations)
	}
}

func TestInvalidRequestChangesNothing(t *testing.T) {
	e := newEnv(t)
	bad := web()
	bad.Backends[1].DstAddr = "20::1"
	before, _ := os.ReadFile(e.path)
	_, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: bad})
	wantCode(t, err, codes.InvalidArgument, "translation.backends[1].dst_addr: address family IPv6 does not match vip 30.0.0.2")
	// The field is in the details too.
	st, _ := status.FromError(err)
	var field string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	if field != "translation.backends[1].dst_addr" {
		t.Errorf("BadRequest field %q", field)
	}
	after, _ := os.ReadFile(e.path)
	if string(before) != string(after) || len(e.st.Get().Translations) != 0 {
		t.Fatal("intent changed by an invalid request")
	}
	if e.dp.Calls(fakedp.OpPutTranslation) != 0 || len(e.dp.Snapshot().Translations) != 0 {
		t.Fatal("dataplane changed by an invalid request")
	}
	// Every RPC validates, streams too.
	_, err = e.snat.AddSNATExclusion(ctx(), &pb.AddSNATExclusionRequest{Prefix: "10.0.0.1/8"})
	wantCode(t, err, codes.InvalidArgument, "prefix: 10.0.0.1/8 has host bits set")
	stream, err := e.sess.ListSessions(ctx(), &pb.ListSessionsRequest{Addr: "nope"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.InvalidArgument, `addr: "nope" is not a prefix`)
}

func TestPendingWhileDisconnectedThenApplied(t *testing.T) {
	e := newEnv(t)
	e.dp.Disconnect()
	e.rec.Invalidate()
	resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_PENDING || !strings.Contains(resp.GetSync().GetError(), "not connected") {
		t.Fatalf("sync %v", resp.GetSync())
	}
	st, err := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetItems()) != 1 || st.GetItems()[0].GetKey() != "vrf 0 tcp 30.0.0.2:80" || st.GetItems()[0].GetState() != pb.SyncState_SYNC_STATE_PENDING ||
		st.GetDataplane().GetConnected() || st.GetLastSyncError() == "" {
		t.Fatalf("status %v", st)
	}
	// Stored: it comes back after the dataplane does.
	e.dp.Connect()
	if err := e.rec.SyncAll(ctx()); err != nil {
		t.Fatal(err)
	}
	if len(e.dp.Snapshot().Translations) != 1 {
		t.Fatal("pending translation not applied on reconnect")
	}
	got, _ := e.tr.GetTranslation(ctx(), &pb.GetTranslationRequest{Key: webKey})
	if got.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("sync after reconnect %v", got.GetSync())
	}
}

func TestFailedIsReported(t *testing.T) {
	e := newEnv(t)
	e.dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpPutTranslation {
			return errors.New("out of memory")
		}
		return nil
	})
	resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_FAILED || !strings.Contains(resp.GetSync().GetError(), "out of memory") {
		t.Fatalf("sync %v", resp.GetSync())
	}
	st, _ := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{})
	if len(st.GetItems()) != 1 || st.GetItems()[0].GetState() != pb.SyncState_SYNC_STATE_FAILED || st.GetItems()[0].GetOp() != "put" {
		t.Fatalf("status items %v", st.GetItems())
	}
}

func TestUnsupportedRollsBack(t *testing.T) {
	e := newEnv(t)
	if _, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()}); err != nil {
		t.Fatal(err)
	}
	e.dp.SetFail(func(op string, arg any) error {
		if t, ok := arg.(model.Translation); ok && op == fakedp.OpPutTranslation && t.Kind == model.KindReal {
			return fmt.Errorf("real translations: %w", dataplane.ErrUnsupported)
		}
		return nil
	})
	real := web()
	real.Kind = pb.TranslationKind_TRANSLATION_KIND_REAL
	_, err := e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: real})
	wantCode(t, err, codes.FailedPrecondition, "real translations: not supported by this dataplane")
	// Intent and dataplane still hold the old translation.
	if d := e.st.Get(); len(d.Translations) != 1 || d.Translations[0].Kind != model.KindVIP {
		t.Fatalf("intent %+v", d.Translations)
	}
	if s := e.dp.Snapshot(); len(s.Translations) != 1 || s.Translations[0].Kind != model.KindVIP {
		t.Fatalf("dataplane %+v", s.Translations)
	}
	if st, _ := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{}); len(st.GetItems()) != 0 {
		t.Fatalf("items after rollback %v", st.GetItems())
	}
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEnv(t, withPath(path))
	if _, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snat.SetSNATAddresses(ctx(), &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	// A new agent on the same state file and a fresh (empty) dataplane.
	dp := fakedp.New()
	e2 := newEnv(t, withPath(path), withDP(dp))
	if _, err := e2.tr.GetTranslation(ctx(), &pb.GetTranslationRequest{Key: webKey}); err != nil {
		t.Fatal(err)
	}
	if s := dp.Snapshot(); len(s.Translations) != 1 || len(s.SNATAddresses) != 1 {
		t.Fatalf("dataplane after restart %+v", s)
	}
}

func TestSNAT(t *testing.T) {
	e := newEnv(t)
	if _, err := e.snat.SetSNATAddresses(ctx(), &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.1", "2001:db8::1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snat.SetSNATAddresses(ctx(), &pb.SetSNATAddressesRequest{Vrf: 2, Addrs: []string{"5.5.5.5"}}); err != nil {
		t.Fatal(err)
	}
	// Replace VRF 0's pool exactly.
	if _, err := e.snat.SetSNATAddresses(ctx(), &pb.SetSNATAddressesRequest{Addrs: []string{"1.1.1.2"}}); err != nil {
		t.Fatal(err)
	}
	want := []model.SNATAddress{{VRF: 0, Addr: addr("1.1.1.2")}, {VRF: 2, Addr: addr("5.5.5.5")}}
	if got := e.dp.Snapshot().SNATAddresses; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dataplane addresses %v, want %v", got, want)
	}
	if _, err := e.snat.AddSNATExclusion(ctx(), &pb.AddSNATExclusionRequest{Prefix: "10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snat.AddSNATExclusion(ctx(), &pb.AddSNATExclusionRequest{Prefix: "10.0.0.0/8"}); err != nil {
		t.Fatal("adding an existing exclusion:", err)
	}
	_, err := e.snat.DeleteSNATExclusion(ctx(), &pb.DeleteSNATExclusionRequest{Prefix: "192.168.0.0/16"})
	wantCode(t, err, codes.NotFound, "SNAT exclusion 192.168.0.0/16 in vrf 0 not found")
	if _, err := e.snat.EnableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: "tap0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.snat.DisableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: "tap0", Ipv4: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.Snapshot().SNATInterfaces; len(got) != 1 || got[0] != (model.SNATInterface{Interface: "tap0", Family: model.IPv6}) {
		t.Fatalf("dataplane interfaces %v", got)
	}
	show, err := e.snat.GetSNAT(ctx(), &pb.GetSNATRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(show.GetAddresses()) != 2 || len(show.GetExclusions()) != 1 || len(show.GetInterfaces()) != 1 ||
		show.GetInterfaces()[0].GetIpv4() || !show.GetInterfaces()[0].GetIpv6() {
		t.Fatalf("show %v", show)
	}
	if _, err := e.snat.DeleteSNATExclusion(ctx(), &pb.DeleteSNATExclusionRequest{Prefix: "10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.Snapshot().SNATExclusions; len(got) != 0 {
		t.Fatalf("exclusions %v", got)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	ap := netip.MustParseAddrPort
	e.dp.AddSession(model.Session{VRF: 0, Proto: model.ProtoTCP, Src: ap("10.0.0.1:1234"), Dst: ap("30.0.0.2:80"), NewSrc: ap("10.0.0.1:1234"), NewDst: ap("20.0.0.1:8080"), TCPState: model.TCPEstablished, ExpiresIn: time.Hour})
	e.dp.AddSession(model.Session{VRF: 1, Proto: model.ProtoUDP, Src: ap("10.0.1.1:53"), Dst: ap("8.8.8.8:53"), NewSrc: ap("1.1.1.1:53"), NewDst: ap("8.8.8.8:53"), SNAT: true})
	e.dp.AddSession(model.Session{VRF: 0, Proto: model.ProtoICMPv6, Src: ap("[2001:db8::1]:7"), Dst: ap("[2001:db8::2]:7")})
	list := func(req *pb.ListSessionsRequest) []*pb.Session {
		t.Helper()
		stream, err := e.sess.ListSessions(ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		var out []*pb.Session
		for {
			s, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	if n := len(list(&pb.ListSessionsRequest{})); n != 3 {
		t.Fatalf("%d sessions", n)
	}
	if got := list(&pb.ListSessionsRequest{Vrf: u32(1)}); len(got) != 1 || !got[0].GetSnat() || got[0].GetNewSrcAddr() != "1.1.1.1" {
		t.Fatalf("vrf 1: %v", got)
	}
	if got := list(&pb.ListSessionsRequest{Proto: pb.Protocol_PROTOCOL_ICMP}); len(got) != 1 || got[0].GetProto() != pb.Protocol_PROTOCOL_ICMPV6 {
		t.Fatalf("icmp: %v", got)
	}
	if got := list(&pb.ListSessionsRequest{Addr: "30.0.0.0/24", Port: 80}); len(got) != 1 || got[0].GetTcpState() != pb.TCPState_TCP_STATE_ESTABLISHED {
		t.Fatalf("addr/port: %v", got)
	}
	if _, err := e.sess.DeleteSession(ctx(), &pb.DeleteSessionRequest{Proto: pb.Protocol_PROTOCOL_TCP, SrcAddr: "10.0.0.1", SrcPort: 1234, DstAddr: "30.0.0.2", DstPort: 80}); err != nil {
		t.Fatal(err)
	}
	if n := len(list(&pb.ListSessionsRequest{})); n != 2 {
		t.Fatalf("%d sessions after delete", n)
	}
	p, err := e.sess.PurgeSessions(ctx(), &pb.PurgeSessionsRequest{Vrf: u32(1)})
	if err != nil || p.GetDeleted() != 1 {
		t.Fatalf("purge vrf 1: %v %v", p, err)
	}
	p, err = e.sess.PurgeSessions(ctx(), &pb.PurgeSessionsRequest{})
	if err != nil || p.GetDeleted() != 1 {
		t.Fatalf("purge all: %v %v", p, err)
	}
	e.dp.Disconnect()
	_, err = e.sess.PurgeSessions(ctx(), &pb.PurgeSessionsRequest{})
	wantCode(t, err, codes.Unavailable, "dataplane not connected")
}

func TestTimeoutsAndLimits(t *testing.T) {
	e := newEnv(t)
	resp, err := e.sess.SetTimeouts(ctx(), &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{Udp: dur(30 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTimeouts().GetUdp().AsDuration() != 30*time.Second || resp.GetTimeouts().GetTcpEstablished().AsDuration() != 7440*time.Second {
		t.Fatalf("timeouts %v", resp.GetTimeouts())
	}
	if _, err := e.sess.SetTimeouts(ctx(), &pb.SetTimeoutsRequest{Timeouts: &pb.Timeouts{Icmp: dur(10 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.Snapshot().Timeouts; got.UDP != 30*time.Second || got.ICMP != 10*time.Second || got.TCPTransitory != 240*time.Second {
		t.Fatalf("dataplane timeouts %+v", got)
	}
	g, _ := e.sess.GetTimeouts(ctx(), &pb.GetTimeoutsRequest{})
	if g.GetTimeouts().GetUdp().AsDuration() != 30*time.Second || g.GetTimeouts().GetIcmp().AsDuration() != 10*time.Second {
		t.Fatalf("get %v", g)
	}

	if _, err := e.sess.SetSessionLimit(ctx(), &pb.SetSessionLimitRequest{Max: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sess.SetSessionLimit(ctx(), &pb.SetSessionLimitRequest{Vrf: u32(2), Max: 5}); err != nil {
		t.Fatal(err)
	}
	ls, _ := e.sess.ListSessionLimits(ctx(), &pb.ListSessionLimitsRequest{})
	if len(ls.GetLimits()) != 2 || ls.GetLimits()[0].Vrf != nil || ls.GetLimits()[0].GetMax() != 1000 || ls.GetLimits()[1].GetVrf() != 2 {
		t.Fatalf("limits %v", ls)
	}
	if _, err := e.sess.SetSessionLimit(ctx(), &pb.SetSessionLimitRequest{Vrf: u32(2), Max: 0}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.Snapshot().SessionLimits; len(got) != 1 || got[0] != (model.SessionLimit{VRF: model.AllVRFs, Max: 1000}) {
		t.Fatalf("dataplane limits %v", got)
	}
}

func TestInterfacesAndStatus(t *testing.T) {
	e := newEnv(t)
	e.dp.SetInterfaces([]model.Interface{
		{Name: "tap1", Index: 7, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		{Name: "tap0", Index: 3, VRF4: 2},
	})
	e.dp.SetDrops(map[string]uint64{"no-translation": 5})
	if _, err := e.snat.EnableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: "tap1", Ipv4: true}); err != nil {
		t.Fatal(err)
	}
	ifs, err := e.ifs.ListInterfaces(ctx(), &pb.ListInterfacesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ifs.GetInterfaces(); len(got) != 2 || got[0].GetName() != "tap0" || got[0].GetVrf4() != 2 ||
		!got[1].GetUp() || !got[1].GetSnatIpv4() || got[1].GetSnatIpv6() || got[1].GetAddrs()[0] != "10.0.0.1/24" {
		t.Fatalf("interfaces %v", got)
	}
	st, err := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetDataplane().GetKind() != "fake" || st.GetDataplane().GetSelectedBy() != "config" || !st.GetDataplane().GetConnected() ||
		st.GetAgentVersion() != "test" || st.GetCounters().GetDrops()["no-translation"] != 5 ||
		st.GetIntent().GetSnatInterfaces() != 1 || st.GetLastFullSync() == nil || len(st.GetItems()) != 0 {
		t.Fatalf("status %v", st)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, withToken("s3cret"))
	// Health needs no token.
	h, err := e.hc.Check(ctx(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v", h, err)
	}
	_, err = e.stat.GetStatus(ctx(), &pb.GetStatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "a bearer token is required")
	bad := metadata.AppendToOutgoingContext(ctx(), "authorization", "Bearer nope")
	_, err = e.stat.GetStatus(bad, &pb.GetStatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "invalid bearer token")
	// Streams are covered too.
	stream, err := e.sess.ListSessions(ctx(), &pb.ListSessionsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "a bearer token is required")
	good := metadata.AppendToOutgoingContext(ctx(), "authorization", "Bearer s3cret")
	if _, err := e.stat.GetStatus(good, &pb.GetStatusRequest{}); err != nil {
		t.Fatal(err)
	}
	// Authentication comes before validation: an unauthenticated bad
	// request learns nothing about its fields.
	_, err = e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
}

func TestPanicIsInternal(t *testing.T) {
	e := newEnv(t)
	e.dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpListInterfaces {
			panic("boom")
		}
		return nil
	})
	_, err := e.ifs.ListInterfaces(ctx(), &pb.ListInterfacesRequest{})
	wantCode(t, err, codes.Internal, "boom")
	// The server is still serving.
	if _, err := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestICMPv6Translation(t *testing.T) {
	e := newEnv(t)
	tr := &pb.Translation{Vip: "2001:db8::10", Proto: pb.Protocol_PROTOCOL_ICMP, Backends: []*pb.Backend{{DstAddr: "2001:db8::20"}}}
	resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: tr})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTranslation().GetProto() != pb.Protocol_PROTOCOL_ICMP {
		t.Fatalf("reported proto %v", resp.GetTranslation().GetProto())
	}
	// The dataplane gets the family's own protocol.
	if s := e.dp.Snapshot(); len(s.Translations) != 1 || s.Translations[0].Key.Proto != model.ProtoICMPv6 {
		t.Fatalf("dataplane %+v", s.Translations)
	}
	// Either spelling names it.
	key := &pb.TranslationKey{Vip: "2001:db8::10", Proto: pb.Protocol_PROTOCOL_ICMPV6}
	if _, err := e.tr.GetTranslation(ctx(), &pb.GetTranslationRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	// A resync changes nothing.
	e.dp.ResetCalls()
	if err := e.rec.SyncAll(ctx()); err != nil || e.dp.Calls(fakedp.OpPutTranslation)+e.dp.Calls(fakedp.OpDeleteTranslation) != 0 {
		t.Fatalf("resync: err %v, %d puts, %d deletes", err, e.dp.Calls(fakedp.OpPutTranslation), e.dp.Calls(fakedp.OpDeleteTranslation))
	}
	key.Proto = pb.Protocol_PROTOCOL_ICMP
	if _, err := e.tr.DeleteTranslation(ctx(), &pb.DeleteTranslationRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
	if s := e.dp.Snapshot(); len(s.Translations) != 0 {
		t.Fatalf("dataplane after delete %+v", s.Translations)
	}
}
