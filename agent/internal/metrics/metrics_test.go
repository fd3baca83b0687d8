package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
)

func TestMetrics(t *testing.T) {
	dp := fakedp.New()
	dp.SetDrops(map[string]uint64{"no-translation": 7, "session-limit": 2})
	st, err := store.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(dp, st, reconcile.Options{})
	m := New(Sources{Dataplane: dp, Reconciler: rec, Intent: st})
	m.ObserveSync(true, time.Millisecond, 3, nil)
	m.ObserveSync(false, time.Millisecond, 1, errors.New("x"))
	unary := m.UnaryServerInterceptor()
	unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/cloudnat.v1.StatusService/GetStatus"},
		func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "x") })

	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body := rr.Body.String()
	for _, want := range []string{
		`cloudnat_dataplane_connected{dataplane="fake"} 1`,
		`cloudnat_dataplane_drops_total{reason="no-translation"} 7`,
		`cloudnat_dataplane_drops_total{reason="session-limit"} 2`,
		`cloudnat_dataplane_sessions 0`,
		`cloudnat_dataplane_translations 0`,
		`cloudnat_intent_objects{kind="translation"} 0`,
		`cloudnat_reconcile_items{state="pending"} 0`,
		`cloudnat_reconcile_runs_total{result="ok",scope="full"} 1`,
		`cloudnat_reconcile_runs_total{result="error",scope="targeted"} 1`,
		`cloudnat_reconcile_ops_total{scope="full"} 3`,
		`cloudnat_grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetStatus",grpc_service="cloudnat.v1.StatusService"} 1`,
		`cloudnat_grpc_server_handling_seconds_count{grpc_method="GetStatus",grpc_service="cloudnat.v1.StatusService"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A disconnected dataplane: counters unreadable, said so.
	dp.Disconnect()
	rr = httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	if body := rr.Body.String(); !strings.Contains(body, "cloudnat_dataplane_stats_up 0") || !strings.Contains(body, `cloudnat_dataplane_connected{dataplane="fake"} 0`) {
		t.Errorf("disconnected metrics:\n%s", body)
	}
}

// driftDP is a dataplane that reports drift repairs.
type driftDP struct {
	*fakedp.DP
	n uint64
}

func (d driftDP) DriftRepairs() uint64 { return d.n }

func TestMetricsDrift(t *testing.T) {
	m := New(Sources{Dataplane: driftDP{fakedp.New(), 3}})
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	if body := rr.Body.String(); !strings.Contains(body, "cloudnat_dataplane_drift_repairs_total 3") {
		t.Errorf("no drift counter:\n%s", body)
	}
}
