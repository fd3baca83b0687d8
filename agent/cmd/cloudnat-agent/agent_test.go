package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func loadConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(fs, []string{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testDataplanes registers stand-ins for the VPP and kernel dataplanes
// when the real ones are not linked in; it reports which it registered.
func testDataplanes() (vpp, kernel bool) {
	have := registry.Names()
	open := func(context.Context, registry.Config) (dataplane.Dataplane, error) { return fakedp.New(), nil }
	if !slices.Contains(have, "vpp") {
		registry.Register("vpp", open, nil)
		vpp = true
	}
	if !slices.Contains(have, "kernel") {
		registry.Register("kernel", open, nil)
		kernel = true
	}
	return vpp, kernel
}

func TestChooseDataplane(t *testing.T) {
	stubVPP, _ := testDataplanes()
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")

	c := loadConfig(t, "--dataplane", "kernel")
	ch, err := chooseDataplane(context.Background(), c)
	if err != nil || ch.Kind != "kernel" || ch.SelectedBy != "config" {
		t.Fatalf("config kernel: %+v %v", ch, err)
	}

	// auto without a VPP socket → kernel.
	c = loadConfig(t, "--vpp.api_socket", sock)
	ch, err = chooseDataplane(context.Background(), c)
	if err != nil || ch.Kind != "kernel" || ch.SelectedBy != "auto" || !strings.Contains(ch.Reason, "VPP not usable") {
		t.Fatalf("auto, no VPP: %+v %v", ch, err)
	}

	if !stubVPP {
		t.Skip("the real VPP dataplane is linked in; its probe needs a real VPP")
	}
	// auto with a socket that answers → vpp.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch, err = chooseDataplane(context.Background(), c)
	if err != nil || ch.Kind != "vpp" || ch.SelectedBy != "auto" {
		t.Fatalf("auto, VPP answers: %+v %v", ch, err)
	}
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ml, _ := net.Listen("tcp", "127.0.0.1:0")
	maddr := ml.Addr().String()
	ml.Close()
	c := loadConfig(t, "--dataplane", "fake", "--grpc.listen", "unix://"+sock,
		"--state.path", filepath.Join(dir, "state.json"), "--metrics.listen", maddr, "--log.level", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c) }()

	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent socket did not appear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	st, err := pb.NewStatusServiceClient(conn).GetStatus(cctx, &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetDataplane().GetKind() != "fake" || st.GetDataplane().GetSelectedBy() != "config" {
		t.Fatalf("status %v", st)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cloudnat_dataplane_connected{dataplane=\"fake\"} 1", "cloudnat_grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetStatus\"", "cloudnat_reconcile_runs_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Error("socket left behind")
	}
}
