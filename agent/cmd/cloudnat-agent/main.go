// Command cloudnat-agent keeps cloudnat's intent and reconciles a
// dataplane (VPP's cloudnat plugin or the Linux kernel) to it, serving the
// cloudnat.v1 gRPC API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/metrics"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/server"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	"github.com/cloudnat/cloudnat/agent/internal/version"
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "cloudnat-agent:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2) // flag / usage errors
	}
}

func newRootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "cloudnat-agent",
		Short:         "cloudnat agent: keeps NAT intent and reconciles the dataplane to it",
		Args:          cobra.NoArgs,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return &exitError{2, err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := run(ctx, cfg); err != nil {
				return &exitError{1, err}
			}
			return nil
		},
	}
	cmd.SetVersionTemplate(version.Full("cloudnat-agent") + "\n")
	config.RegisterFlags(cmd.Flags())
	cmd.AddCommand(newDumpCmd())
	return cmd
}

// newDumpCmd is `cloudnat-agent dump`: what the dataplane holds, read-only,
// as JSON (translations, SNAT addresses, exclusions, interfaces), e.g. to
// compare with the state file. It takes no lock and changes nothing.
func newDumpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "print the cloudnat objects the dataplane holds (JSON, read-only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return &exitError{2, err}
			}
			ch, err := chooseDataplane(cmd.Context(), cfg)
			if err != nil {
				return &exitError{1, err}
			}
			dp, err := openDataplane(cmd.Context(), ch, cfg)
			if err != nil {
				return &exitError{1, err}
			}
			defer dp.Close()
			d, err := readDataplane(cmd.Context(), dp)
			if err != nil {
				return &exitError{1, fmt.Errorf("reading the %s dataplane: %w", ch.Kind, err)}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(d)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func run(ctx context.Context, cfg config.Config) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	ch, err := chooseDataplane(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("cloudnat-agent starting", "version", version.String(), "dataplane", ch.Kind,
		"selected_by", ch.SelectedBy, "reason", ch.Reason, "config", cfg.File)

	if err := os.MkdirAll(filepath.Dir(cfg.StatePath), 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	unlock, err := store.Lock(cfg.StatePath)
	if err != nil {
		return err
	}
	defer unlock()
	tl, err := lockTarget(ch, cfg)
	if err != nil {
		return err
	}
	defer tl.Unlock()
	st, err := store.Open(cfg.StatePath)
	if err != nil {
		return err
	}
	dp, err := openDataplane(ctx, ch, cfg)
	if err != nil {
		return err
	}
	defer dp.Close()
	prevState := ""
	if tl != nil {
		prevState = tl.PrevState
	}
	if err := guardIntent(ctx, log, cfg, st, prevState, dp); err != nil {
		return err
	}

	var m *metrics.Metrics // set below, before the reconciler runs
	rec := reconcile.New(dp, st, reconcile.Options{
		Interval: cfg.ReconcileInterval, Logger: log,
		Observe: func(full bool, took time.Duration, ops int, err error) { m.ObserveSync(full, took, ops, err) },
	})
	m = metrics.New(metrics.Sources{Dataplane: dp, Reconciler: rec, Intent: st})
	// Block allocation/release records: logged and streamed over gRPC.
	blocks := blocklog.New(dp, blocklog.Options{Logger: log.With("log", "nat-blocks")})
	m.AddPools(dp, blocks)

	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return err
	}
	srv := server.New(server.Config{
		Store: st, Reconciler: rec, Dataplane: dp,
		DataplaneKind: ch.Kind, SelectedBy: ch.SelectedBy,
		Version: version.String(), Logger: log,
	})
	g, health := server.NewGRPC(srv, server.GRPCOptions{
		Token: cfg.GRPCToken, TLS: tlsConf, Logger: log,
		Metrics:  &server.Interceptors{Unary: m.UnaryServerInterceptor(), Stream: m.StreamServerInterceptor()},
		BlockLog: blocks,
	})
	lis, err := server.Listen(cfg.GRPCNetwork, cfg.GRPCAddress)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { rec.Run(rctx) })
	wg.Go(func() { blocks.Run(rctx) })
	errc := make(chan error, 2)
	if cfg.MetricsListen != "" {
		wg.Go(func() {
			if err := m.Serve(rctx, cfg.MetricsListen, log); err != nil {
				errc <- err
			}
		})
	}
	wg.Go(func() {
		log.Info("gRPC listening", "network", cfg.GRPCNetwork, "address", cfg.GRPCAddress,
			"tls", tlsConf != nil, "token", cfg.GRPCToken != "")
		if err := g.Serve(lis); err != nil {
			errc <- fmt.Errorf("gRPC: %w", err)
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("stopping", "err", runErr)
	}
	health.Shutdown() // NOT_SERVING
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.Stop()
	}
	cancel()
	wg.Wait()
	if cfg.GRPCNetwork == "unix" {
		os.Remove(cfg.GRPCAddress)
	}
	return runErr
}
