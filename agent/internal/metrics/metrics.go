// Package metrics exposes the agent's Prometheus metrics: gRPC calls
// (counted and timed by interceptors registered here), reconcile runs and
// items, intent sizes, and the dataplane's own counters (sessions,
// translations, drops by reason) read from dataplane.Stats at scrape time.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
)

// Sources are what the gauges read at scrape time; any may be nil.
type Sources struct {
	Dataplane  dataplane.Dataplane
	Reconciler *reconcile.Reconciler
	Intent     reconcile.Source
}

// Metrics owns a registry with every cloudnat metric.
type Metrics struct {
	Registry *prometheus.Registry

	grpcHandled *prometheus.CounterVec
	grpcSeconds *prometheus.HistogramVec
	syncs       *prometheus.CounterVec
	syncSeconds *prometheus.HistogramVec
	syncOps     *prometheus.CounterVec
}

// New registers every metric in a new registry.
func New(src Sources) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		grpcHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cloudnat_grpc_server_handled_total",
			Help: "gRPC calls completed, by service, method and status code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		grpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cloudnat_grpc_server_handling_seconds",
			Help:    "gRPC call latency, by service and method.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 15},
		}, []string{"grpc_service", "grpc_method"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cloudnat_reconcile_runs_total",
			Help: "Reconcile runs by scope (full, targeted) and result (ok, error).",
		}, []string{"scope", "result"}),
		syncSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cloudnat_reconcile_duration_seconds",
			Help:    "Reconcile run duration by scope.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"scope"}),
		syncOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cloudnat_reconcile_ops_total",
			Help: "Dataplane changes (puts and deletes) attempted by reconcile runs, by scope.",
		}, []string{"scope"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpcHandled, m.grpcSeconds, m.syncs, m.syncSeconds, m.syncOps,
		&stateCollector{src: src},
	)
	return m
}

// ObserveSync is a reconcile.Options.Observe.
func (m *Metrics) ObserveSync(full bool, took time.Duration, ops int, err error) {
	scope := "targeted"
	if full {
		scope = "full"
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.syncs.WithLabelValues(scope, result).Inc()
	m.syncSeconds.WithLabelValues(scope).Observe(took.Seconds())
	m.syncOps.WithLabelValues(scope).Add(float64(ops))
}

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

func (m *Metrics) observe(method string, start time.Time, err error) {
	svc, meth := splitMethod(method)
	m.grpcHandled.WithLabelValues(svc, meth, status.Code(err).String()).Inc()
	m.grpcSeconds.WithLabelValues(svc, meth).Observe(time.Since(start).Seconds())
}

// UnaryServerInterceptor counts and times unary calls.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, start, err)
		return resp, err
	}
}

// StreamServerInterceptor counts and times streaming calls.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		m.observe(info.FullMethod, start, err)
		return err
	}
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Serve serves /metrics on addr until ctx is done.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// stateCollector reads the dataplane, the reconciler and intent at
// scrape time.
type stateCollector struct{ src Sources }

var (
	descConnected    = prometheus.NewDesc("cloudnat_dataplane_connected", "1 when the dataplane is connected.", []string{"dataplane"}, nil)
	descSessions     = prometheus.NewDesc("cloudnat_dataplane_sessions", "Sessions in the dataplane.", nil, nil)
	descTranslations = prometheus.NewDesc("cloudnat_dataplane_translations", "Translations in the dataplane.", nil, nil)
	descDrops        = prometheus.NewDesc("cloudnat_dataplane_drops_total", "Packets dropped by the dataplane, by reason.", []string{"reason"}, nil)
	descStatsUp      = prometheus.NewDesc("cloudnat_dataplane_stats_up", "1 when the dataplane's counters could be read.", nil, nil)
	descTableFill    = prometheus.NewDesc("cloudnat_dataplane_session_table_fill", "Share of the session table's slots in use (VPP: new flows are dropped when it is full), by family.", []string{"family"}, nil)
	descIntent       = prometheus.NewDesc("cloudnat_intent_objects", "Objects of intent, by kind.", []string{"kind"}, nil)
	descItems        = prometheus.NewDesc("cloudnat_reconcile_items", "Objects not as intended in the dataplane, by state.", []string{"state"}, nil)
	descDrift        = prometheus.NewDesc("cloudnat_dataplane_drift_repairs_total", "Changes by someone else to what the dataplane owns (e.g. the kernel table deleted or edited) that it noticed and repaired.", nil, nil)
	descLastFull     = prometheus.NewDesc("cloudnat_reconcile_last_full_sync_timestamp_seconds", "Time of the last successful full sync.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descSessions, descTranslations, descDrops, descStatsUp, descTableFill, descIntent, descItems, descLastFull, descDrift} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if dp := c.src.Dataplane; dp != nil {
		info := dp.Info(ctx)
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, b2f(info.Connected), info.Name)
		if dr, ok := dp.(dataplane.DriftReporter); ok {
			ch <- prometheus.MustNewConstMetric(descDrift, prometheus.CounterValue, float64(dr.DriftRepairs()))
		}
		st, err := dp.Stats(ctx)
		ch <- prometheus.MustNewConstMetric(descStatsUp, prometheus.GaugeValue, b2f(err == nil))
		if err == nil {
			ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(st.Sessions))
			ch <- prometheus.MustNewConstMetric(descTranslations, prometheus.GaugeValue, float64(st.Translations))
			for reason, n := range st.Drops {
				ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), reason)
			}
			for family, fill := range st.SessionTableFill {
				ch <- prometheus.MustNewConstMetric(descTableFill, prometheus.GaugeValue, fill, family)
			}
		}
	}
	if src := c.src.Intent; src != nil {
		src.View(func(d *model.Desired) {
			for kind, n := range map[string]int{
				"translation": len(d.Translations), "snat-address": len(d.SNATAddresses),
				"snat-exclusion": len(d.SNATExclusions), "snat-interface": len(d.SNATInterfaces),
				"session-limit": len(d.SessionLimits),
			} {
				ch <- prometheus.MustNewConstMetric(descIntent, prometheus.GaugeValue, float64(n), kind)
			}
		})
	}
	if r := c.src.Reconciler; r != nil {
		st := r.Status()
		counts := map[reconcile.SyncState]int{}
		for _, it := range st.Items {
			counts[it.State]++
		}
		ch <- prometheus.MustNewConstMetric(descItems, prometheus.GaugeValue, float64(counts[reconcile.Pending]), "pending")
		ch <- prometheus.MustNewConstMetric(descItems, prometheus.GaugeValue, float64(counts[reconcile.Failed]), "failed")
		if !st.LastFullSync.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastFull, prometheus.GaugeValue, float64(st.LastFullSync.UnixNano())/1e9)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
