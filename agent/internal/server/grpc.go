package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/blocklog"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// Interceptors is a pair of interceptors to add to the chain (metrics).
type Interceptors struct {
	Unary  grpc.UnaryServerInterceptor
	Stream grpc.StreamServerInterceptor
}

// GRPCOptions configure NewGRPC.
type GRPCOptions struct {
	// Token, when set, is the bearer token every call but health checks
	// must carry ("authorization: Bearer <token>").
	Token string
	// TLS, when set, serves TLS (with client certificates when its
	// ClientAuth asks for them).
	TLS    *tls.Config
	Logger *slog.Logger
	// Metrics, when set, go first in the chain.
	Metrics *Interceptors
	// BlockLog feeds PoolService.StreamBlockLog (nil: unavailable).
	BlockLog *blocklog.Hub
}

// healthService is exempt from authentication.
const healthService = "grpc.health.v1.Health"

// NewGRPC builds the gRPC server: every cloudnat.v1 service, health and
// reflection, behind the chain metrics → logging → recovery → auth →
// validation.
func NewGRPC(srv *Server, opts GRPCOptions) (*grpc.Server, *health.Server) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if opts.Metrics != nil {
		unary = append(unary, opts.Metrics.Unary)
		stream = append(stream, opts.Metrics.Stream)
	}
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(func(c codes.Code) logging.Level {
			switch c {
			case codes.OK:
				return logging.LevelDebug
			case codes.Internal, codes.Unknown, codes.DataLoss:
				return logging.LevelError
			}
			return logging.LevelInfo
		}),
	}
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "internal error: %v", p)
	})
	unary = append(unary,
		logging.UnaryServerInterceptor(logger, logOpts...),
		recovery.UnaryServerInterceptor(rec),
	)
	stream = append(stream,
		logging.StreamServerInterceptor(logger, logOpts...),
		recovery.StreamServerInterceptor(rec),
	)
	if opts.Token != "" {
		authFn := TokenAuth(opts.Token)
		notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return c.Service != healthService })
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), notHealth))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFn), notHealth))
	}
	unary = append(unary, ValidateUnary)
	stream = append(stream, ValidateStream)

	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...),
		// A larger request is RESOURCE_EXHAUSTED before it is decoded.
		grpc.MaxRecvMsgSize(validate.MaxMessageSize),
	}
	if opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	g := grpc.NewServer(sopts...)
	pb.RegisterTranslationServiceServer(g, srv)
	pb.RegisterSNATServiceServer(g, srv)
	pb.RegisterSessionServiceServer(g, srv)
	pb.RegisterInterfaceServiceServer(g, srv)
	pb.RegisterStatusServiceServer(g, srv)
	pb.RegisterPoolServiceServer(g, NewPoolServer(srv, opts.BlockLog))
	pb.RegisterNATGatewayServiceServer(g, NewNATGWService(srv))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	for name := range g.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(g)
	return g, hs
}

// TokenAuth returns an auth function accepting "Bearer <token>" (compared
// in constant time).
func TokenAuth(token string) auth.AuthFunc {
	want := []byte(token)
	return func(ctx context.Context) (context.Context, error) {
		got, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "a bearer token is required")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
		}
		return ctx, nil
	}
}

// ValidateUnary rejects an invalid request with INVALID_ARGUMENT before it
// reaches its handler (package validate holds the rules).
func ValidateUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := validate.Request(req); err != nil {
		return nil, InvalidArgument(err)
	}
	return handler(ctx, req)
}

// ValidateStream validates every message a stream receives.
func ValidateStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &validatingStream{ServerStream: ss})
}

type validatingStream struct{ grpc.ServerStream }

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := validate.Request(m); err != nil {
		return InvalidArgument(err)
	}
	return nil
}

// Listen opens a listener for network "unix" or "tcp". For a unix socket
// it creates the directory, removes a stale socket file (refusing to
// remove anything else) and makes the socket mode 0660.
func Listen(network, address string) (net.Listener, error) {
	if network != "unix" {
		l, err := net.Listen(network, address)
		if err != nil {
			return nil, fmt.Errorf("listen %s %s: %w", network, address, err)
		}
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(address), 0o755); err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", address, err)
	}
	if fi, err := os.Lstat(address); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("listen unix %s: exists and is not a socket", address)
		}
		if c, err := net.Dial("unix", address); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen unix %s: another process is serving on it", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("listen unix %s: removing stale socket: %w", address, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listen unix %s: %w", address, err)
	}
	l, err := net.Listen("unix", address)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", address, err)
	}
	if err := os.Chmod(address, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen unix %s: %w", address, err)
	}
	return l, nil
}
