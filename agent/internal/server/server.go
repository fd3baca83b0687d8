// Package server implements cloudnat's gRPC services (cloudnat.v1).
//
// Writes follow one pattern: the request is validated (package validate,
// then the dataplane's own dataplane.Checker when it has one; an invalid
// or inexpressible request changes nothing), the new intent is persisted
// (package store), then the objects the request touches are reconciled to
// the dataplane synchronously (package reconcile). The RPC succeeds once
// the intent is stored: its response's sync says whether the dataplane has
// it (SYNCED), will get it (PENDING: not connected, or the sync did not
// finish within SyncTimeout) or refused it and is being retried (FAILED),
// with the error. The one exception is an ErrUnsupported refusal during
// that sync: the dataplane can never express that intent, so the change is
// rolled back and the RPC fails with FAILED_PRECONDITION.
//
// Cancellation: a write whose client cancels or whose deadline passes
// before the intent is committed is not stored at all (CANCELLED or
// DEADLINE_EXCEEDED, nothing changed). Once committed (written to disk) it
// is carried through whatever the client does: the dataplane sync runs to
// its end, and the change is visible in Get/List (with its sync state) and
// in status. So a client that saw no reply looks the object up to know.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// SyncTimeout bounds the synchronous reconcile of a write.
const SyncTimeout = 15 * time.Second

// Config is what a Server is built from.
type Config struct {
	Store      *store.Store
	Reconciler *reconcile.Reconciler
	Dataplane  dataplane.Dataplane
	// DataplaneKind is "vpp" or "kernel" (or "fake" in tests); SelectedBy is
	// "auto" or "config".
	DataplaneKind, SelectedBy string
	Version                   string
	Logger                    *slog.Logger
	// SyncTimeout bounds a write's synchronous reconcile; default
	// SyncTimeout.
	SyncTimeout time.Duration
}

// Server implements every cloudnat.v1 service.
type Server struct {
	pb.UnimplementedTranslationServiceServer
	pb.UnimplementedSNATServiceServer
	pb.UnimplementedSessionServiceServer
	pb.UnimplementedInterfaceServiceServer
	pb.UnimplementedStatusServiceServer

	cfg Config
	log *slog.Logger

	// writeSem serialises writes so a rollback restores exactly; a
	// waiting writer gives up when its client does.
	writeSem chan struct{}
}

// New returns a Server.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = SyncTimeout
	}
	return &Server{cfg: cfg, log: log, writeSem: make(chan struct{}, 1)}
}

// lockWrites takes the write lock unless ctx ends first.
func (s *Server) lockWrites(ctx context.Context) error {
	select {
	case s.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return notStored(ctx.Err())
	}
}

func (s *Server) unlockWrites() { <-s.writeSem }

// notStored is the status of a write abandoned before its commit.
func notStored(err error) error {
	code := codes.Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	return status.Errorf(code, "not stored: the request ended before its change was committed (%v); nothing changed", err)
}

// checker is the dataplane's own pre-store check, if it has one.
func (s *Server) checker() dataplane.Checker {
	c, _ := s.cfg.Dataplane.(dataplane.Checker)
	return c
}

// refused maps a dataplane.Checker refusal: FAILED_PRECONDITION for what
// the dataplane cannot express, INVALID_ARGUMENT otherwise.
func refused(field string, err error) error {
	if errors.Is(err, dataplane.ErrUnsupported) {
		return status.Error(codes.FailedPrecondition, capMessage(err.Error()))
	}
	return InvalidArgument(&validate.FieldError{Field: field, Msg: err.Error()})
}

// checkTranslation asks the dataplane whether it can hold t, with its key
// as the reconciler will hand it over (reconcile.NormalizeKey: the API's
// ICMP with an IPv6 VIP is ICMPv6).
func (s *Server) checkTranslation(ctx context.Context, t model.Translation) error {
	c := s.checker()
	if c == nil {
		return nil
	}
	t.Key = reconcile.NormalizeKey(t.Key)
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := c.CheckTranslation(cctx, t); err != nil {
		return refused("translation", err)
	}
	return nil
}

// checkInterface asks the dataplane whether name can be one of its
// interfaces.
func (s *Server) checkInterface(name string) error {
	if c := s.checker(); c != nil {
		if err := c.CheckInterfaceName(name); err != nil {
			return refused("interface", err)
		}
	}
	return nil
}

// checkTimeout bounds a dataplane.Checker call.
const checkTimeout = 5 * time.Second

// change applies fn to the intent, persists it and reconciles ids. fn's
// status errors (NOT_FOUND, ...) are returned as they are.
func (s *Server) change(ctx context.Context, fn func(d *model.Desired) ([]reconcile.ID, error)) (*pb.Sync, error) {
	if err := s.lockWrites(ctx); err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			s.unlockWrites()
		}
	}()
	var ids []reconcile.ID
	var stored model.Desired
	old, err := s.cfg.Store.Update(func(d *model.Desired) error {
		var err error
		if ids, err = fn(d); err != nil {
			return err
		}
		// The commit point: a request that ended by now is not stored.
		if err := ctx.Err(); err != nil {
			return notStored(err)
		}
		stored = *d
		return nil
	})
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		s.log.Error("storing intent", "err", err)
		return nil, status.Errorf(codes.Internal, "storing intent (nothing changed): %v", err)
	}
	// A change of translations only lets the next write in before its
	// dataplane work: the reconciler applies concurrent writes together
	// (one bulk transaction on the kernel dataplane), and an unsupported
	// translation is rolled back by key (rollbackTranslations). Other
	// changes keep the lock until they are applied (their rollback
	// restores the whole intent).
	byKey := translationsOnly(ids)
	if byKey {
		s.unlockWrites()
		locked = false
	}
	// The dataplane work must not stop half-way because the client went.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SyncTimeout)
	defer cancel()
	res := s.cfg.Reconciler.Sync(sctx, ids...)
	if res.State == reconcile.Failed && errors.Is(res.Err, dataplane.ErrUnsupported) {
		var rerr error
		if byKey {
			rerr = s.rollbackTranslations(sctx, ids, old, stored)
		} else {
			rerr = s.cfg.Store.Replace(old)
		}
		if rerr != nil {
			s.log.Error("rolling back unsupported intent", "err", rerr)
			return nil, status.Errorf(codes.Internal, "%v; rolling back failed: %v", res.Err, rerr)
		}
		s.cfg.Reconciler.Sync(sctx, ids...)
		return nil, status.Error(codes.FailedPrecondition, capMessage(res.Err.Error()))
	}
	if res.State != reconcile.Synced {
		s.log.Warn("change stored, dataplane not in sync", "state", res.State.String(), "err", res.Err)
	}
	return syncPB(res), nil
}

func translationsOnly(ids []reconcile.ID) bool {
	for _, id := range ids {
		if id.Kind != reconcile.KindTranslation {
			return false
		}
	}
	return len(ids) > 0
}

// rollbackTranslations puts back, under the write lock, the translations
// ids name as they were before a change (old), each only if it is still
// as that change stored it (a later write of the same key wins).
func (s *Server) rollbackTranslations(ctx context.Context, ids []reconcile.ID, old, stored model.Desired) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	find := func(d *model.Desired, k model.TranslationKey) int {
		return slices.IndexFunc(d.Translations, func(t model.Translation) bool { return reconcile.NormalizeKey(t.Key) == k })
	}
	_, err := s.cfg.Store.Update(func(d *model.Desired) error {
		for _, id := range ids {
			k := id.Translation
			cur, was, want := find(d, k), find(&old, k), find(&stored, k)
			if (cur < 0) != (want < 0) || (cur >= 0 && !reconcile.EqualTranslations(d.Translations[cur], stored.Translations[want])) {
				continue // changed since
			}
			switch {
			case cur >= 0 && was >= 0:
				d.Translations[cur] = old.Translations[was]
			case cur >= 0:
				d.Translations = slices.Delete(d.Translations, cur, cur+1)
			case was >= 0:
				d.Translations = append(d.Translations, old.Translations[was])
			}
		}
		return nil
	})
	return err
}

func (s *Server) itemSync(id reconcile.ID) *pb.Sync {
	return syncPB(s.cfg.Reconciler.ItemState(id))
}

// ---------------------------------------------------------- translations

func findTranslation(d *model.Desired, k model.TranslationKey) int {
	k = reconcile.NormalizeKey(k)
	return slices.IndexFunc(d.Translations, func(t model.Translation) bool { return reconcile.NormalizeKey(t.Key) == k })
}

func notFound(k model.TranslationKey) error {
	return status.Errorf(codes.NotFound, "translation %s not found", k)
}

// CreateTranslation implements pb.TranslationServiceServer.
func (s *Server) CreateTranslation(ctx context.Context, req *pb.CreateTranslationRequest) (*pb.TranslationResponse, error) {
	t, err := validate.Translation("translation", req.GetTranslation())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	if err := s.checkTranslation(ctx, t); err != nil {
		return nil, err
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if findTranslation(d, t.Key) >= 0 {
			return nil, status.Errorf(codes.AlreadyExists, "translation %s already exists (use update)", t.Key)
		}
		if err := validate.VIPFree(d, derivedClaims(d), t.Key); err != nil {
			return nil, precondition(err)
		}
		d.Translations = append(d.Translations, t)
		return []reconcile.ID{reconcile.TranslationID(t.Key)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.TranslationResponse{Translation: TranslationPB(t), Sync: sync}, nil
}

// UpdateTranslation implements pb.TranslationServiceServer.
func (s *Server) UpdateTranslation(ctx context.Context, req *pb.UpdateTranslationRequest) (*pb.TranslationResponse, error) {
	t, err := validate.Translation("translation", req.GetTranslation())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	if err := s.checkTranslation(ctx, t); err != nil {
		return nil, err
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if err := validate.VIPFree(d, derivedClaims(d), t.Key); err != nil {
			return nil, precondition(err)
		}
		switch i := findTranslation(d, t.Key); {
		case i >= 0:
			d.Translations[i] = t
		case req.GetAllowMissing():
			d.Translations = append(d.Translations, t)
		default:
			return nil, notFound(t.Key)
		}
		return []reconcile.ID{reconcile.TranslationID(t.Key)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.TranslationResponse{Translation: TranslationPB(t), Sync: sync}, nil
}

// DeleteTranslation implements pb.TranslationServiceServer.
func (s *Server) DeleteTranslation(ctx context.Context, req *pb.DeleteTranslationRequest) (*pb.DeleteTranslationResponse, error) {
	k, err := validate.TranslationKey("key", req.GetKey())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := findTranslation(d, k)
		if i < 0 && !req.GetAllowMissing() {
			return nil, notFound(k)
		}
		if i >= 0 {
			d.Translations = slices.Delete(d.Translations, i, i+1)
		}
		return []reconcile.ID{reconcile.TranslationID(k)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteTranslationResponse{Sync: sync}, nil
}

// GetTranslation implements pb.TranslationServiceServer.
func (s *Server) GetTranslation(ctx context.Context, req *pb.GetTranslationRequest) (*pb.TranslationResponse, error) {
	k, err := validate.TranslationKey("key", req.GetKey())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	var out *pb.TranslationResponse
	s.cfg.Store.View(func(d *model.Desired) {
		if i := findTranslation(d, k); i >= 0 {
			out = &pb.TranslationResponse{Translation: TranslationPB(d.Translations[i])}
		}
	})
	if out == nil {
		return nil, notFound(k)
	}
	out.Sync = s.itemSync(reconcile.TranslationID(k))
	return out, nil
}

// ListTranslations implements pb.TranslationServiceServer.
func (s *Server) ListTranslations(ctx context.Context, req *pb.ListTranslationsRequest) (*pb.ListTranslationsResponse, error) {
	var ts []model.Translation
	s.cfg.Store.View(func(d *model.Desired) {
		for _, t := range d.Translations {
			if req.Vrf == nil || t.Key.VRF == req.GetVrf() {
				ts = append(ts, t)
			}
		}
	})
	slices.SortFunc(ts, func(a, b model.Translation) int { return compareKeys(a.Key, b.Key) })
	out := &pb.ListTranslationsResponse{Translations: make([]*pb.TranslationResponse, 0, len(ts))}
	for _, t := range ts {
		out.Translations = append(out.Translations, &pb.TranslationResponse{
			Translation: TranslationPB(t), Sync: s.itemSync(reconcile.TranslationID(t.Key)),
		})
	}
	return out, nil
}

func compareKeys(a, b model.TranslationKey) int {
	return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
}

// ------------------------------------------------------------------ SNAT

// SetSNATAddresses implements pb.SNATServiceServer.
func (s *Server) SetSNATAddresses(ctx context.Context, req *pb.SetSNATAddressesRequest) (*pb.SetSNATAddressesResponse, error) {
	vrf, addrs, err := validate.SNATAddresses(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		var ids []reconcile.ID
		d.SNATAddresses = slices.DeleteFunc(d.SNATAddresses, func(a model.SNATAddress) bool {
			if a.VRF == vrf {
				ids = append(ids, reconcile.SNATAddressID(a))
				return true
			}
			return false
		})
		for _, a := range addrs {
			d.SNATAddresses = append(d.SNATAddresses, a)
			ids = append(ids, reconcile.SNATAddressID(a))
		}
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SetSNATAddressesResponse{Sync: sync}, nil
}

// AddSNATExclusion implements pb.SNATServiceServer; adding an existing
// exclusion is not an error.
func (s *Server) AddSNATExclusion(ctx context.Context, req *pb.AddSNATExclusionRequest) (*pb.SNATExclusionResponse, error) {
	e, err := validate.SNATExclusion(req.GetVrf(), req.GetPrefix())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		if !slices.Contains(d.SNATExclusions, e) {
			d.SNATExclusions = append(d.SNATExclusions, e)
		}
		return []reconcile.ID{reconcile.SNATExclusionID(e)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SNATExclusionResponse{Sync: sync}, nil
}

// DeleteSNATExclusion implements pb.SNATServiceServer.
func (s *Server) DeleteSNATExclusion(ctx context.Context, req *pb.DeleteSNATExclusionRequest) (*pb.SNATExclusionResponse, error) {
	e, err := validate.SNATExclusion(req.GetVrf(), req.GetPrefix())
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		i := slices.Index(d.SNATExclusions, e)
		if i < 0 && !req.GetAllowMissing() {
			return nil, status.Errorf(codes.NotFound, "SNAT exclusion %s in vrf %d not found", e.Prefix, e.VRF)
		}
		if i >= 0 {
			d.SNATExclusions = slices.Delete(d.SNATExclusions, i, i+1)
		}
		return []reconcile.ID{reconcile.SNATExclusionID(e)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SNATExclusionResponse{Sync: sync}, nil
}

func (s *Server) snatInterface(ctx context.Context, req *pb.SNATInterfaceRequest, enable bool) (*pb.SNATInterfaceResponse, error) {
	ifs, err := validate.SNATInterfaces(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	// Disabling needs no check: it must work for a name stored earlier.
	if enable {
		if err := s.checkInterface(req.GetInterface()); err != nil {
			return nil, err
		}
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		var ids []reconcile.ID
		for _, i := range ifs {
			has := slices.Contains(d.SNATInterfaces, i)
			switch {
			case enable && !has:
				d.SNATInterfaces = append(d.SNATInterfaces, i)
			case !enable && has:
				d.SNATInterfaces = slices.DeleteFunc(d.SNATInterfaces, func(x model.SNATInterface) bool { return x == i })
			}
			ids = append(ids, reconcile.SNATInterfaceID(i))
		}
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SNATInterfaceResponse{Sync: sync}, nil
}

// EnableSNATInterface implements pb.SNATServiceServer.
func (s *Server) EnableSNATInterface(ctx context.Context, req *pb.SNATInterfaceRequest) (*pb.SNATInterfaceResponse, error) {
	return s.snatInterface(ctx, req, true)
}

// DisableSNATInterface implements pb.SNATServiceServer.
func (s *Server) DisableSNATInterface(ctx context.Context, req *pb.SNATInterfaceRequest) (*pb.SNATInterfaceResponse, error) {
	return s.snatInterface(ctx, req, false)
}

// GetSNAT implements pb.SNATServiceServer.
func (s *Server) GetSNAT(ctx context.Context, req *pb.GetSNATRequest) (*pb.GetSNATResponse, error) {
	d := s.cfg.Store.Get()
	out := &pb.GetSNATResponse{}
	slices.SortFunc(d.SNATAddresses, func(a, b model.SNATAddress) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Addr.Compare(b.Addr))
	})
	for _, a := range d.SNATAddresses {
		out.Addresses = append(out.Addresses, &pb.SNATAddress{Vrf: a.VRF, Addr: a.Addr.String(), Sync: s.itemSync(reconcile.SNATAddressID(a))})
	}
	slices.SortFunc(d.SNATExclusions, func(a, b model.SNATExclusion) int {
		return cmp.Or(cmp.Compare(a.VRF, b.VRF), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	for _, e := range d.SNATExclusions {
		out.Exclusions = append(out.Exclusions, &pb.SNATExclusion{Vrf: e.VRF, Prefix: e.Prefix.String(), Sync: s.itemSync(reconcile.SNATExclusionID(e))})
	}
	byName := map[string]*pb.SNATInterface{}
	for _, i := range d.SNATInterfaces {
		x := byName[i.Interface]
		if x == nil {
			x = &pb.SNATInterface{Interface: i.Interface, Sync: &pb.Sync{State: pb.SyncState_SYNC_STATE_SYNCED}}
			byName[i.Interface] = x
			out.Interfaces = append(out.Interfaces, x)
		}
		if i.Family == model.IPv4 {
			x.Ipv4 = true
		} else {
			x.Ipv6 = true
		}
		if st := s.itemSync(reconcile.SNATInterfaceID(i)); st.State > x.Sync.State {
			x.Sync = st
		}
	}
	slices.SortFunc(out.Interfaces, func(a, b *pb.SNATInterface) int { return cmp.Compare(a.Interface, b.Interface) })
	return out, nil
}

// -------------------------------------------------------------- sessions

// ListSessions implements pb.SessionServiceServer.
func (s *Server) ListSessions(req *pb.ListSessionsRequest, stream pb.SessionService_ListSessionsServer) error {
	f, err := validate.SessionFilter(req)
	if err != nil {
		return InvalidArgument(err)
	}
	icmp := f.Proto == model.ProtoICMP
	if icmp {
		f.Proto = 0 // ICMP means ICMP and ICMPv6 here; filtered below
	}
	err = s.cfg.Dataplane.ListSessions(stream.Context(), f, func(x model.Session) error {
		if icmp && x.Proto != model.ProtoICMP && x.Proto != model.ProtoICMPv6 {
			return nil
		}
		return stream.Send(sessionPB(x))
	})
	if err != nil {
		return dataplaneError(err)
	}
	return nil
}

// DeleteSession implements pb.SessionServiceServer.
func (s *Server) DeleteSession(ctx context.Context, req *pb.DeleteSessionRequest) (*pb.DeleteSessionResponse, error) {
	k, err := validate.SessionKey(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	if err := s.cfg.Dataplane.DeleteSession(ctx, k); err != nil {
		return nil, dataplaneError(err)
	}
	return &pb.DeleteSessionResponse{}, nil
}

// PurgeSessions implements pb.SessionServiceServer.
func (s *Server) PurgeSessions(ctx context.Context, req *pb.PurgeSessionsRequest) (*pb.PurgeSessionsResponse, error) {
	vrf, err := validate.PurgeVRF(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	n, err := s.cfg.Dataplane.PurgeSessions(ctx, vrf)
	if err != nil {
		return nil, dataplaneError(err)
	}
	return &pb.PurgeSessionsResponse{Deleted: n}, nil
}

// SetTimeouts implements pb.SessionServiceServer.
func (s *Server) SetTimeouts(ctx context.Context, req *pb.SetTimeoutsRequest) (*pb.TimeoutsResponse, error) {
	t, err := validate.Timeouts(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	var eff model.Timeouts
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		for _, f := range []struct{ dst, src *time.Duration }{
			{&d.Timeouts.UDP, &t.UDP}, {&d.Timeouts.TCPEstablished, &t.TCPEstablished},
			{&d.Timeouts.TCPTransitory, &t.TCPTransitory}, {&d.Timeouts.ICMP, &t.ICMP},
		} {
			if *f.src != 0 {
				*f.dst = *f.src
			}
		}
		eff = reconcile.EffectiveTimeouts(d.Timeouts)
		return []reconcile.ID{reconcile.TimeoutsID()}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.TimeoutsResponse{Timeouts: timeoutsPB(eff), Sync: sync}, nil
}

// GetTimeouts implements pb.SessionServiceServer: the intended timeouts,
// defaults filled in.
func (s *Server) GetTimeouts(ctx context.Context, req *pb.GetTimeoutsRequest) (*pb.TimeoutsResponse, error) {
	var t model.Timeouts
	s.cfg.Store.View(func(d *model.Desired) { t = d.Timeouts })
	return &pb.TimeoutsResponse{Timeouts: timeoutsPB(reconcile.EffectiveTimeouts(t)), Sync: s.itemSync(reconcile.TimeoutsID())}, nil
}

// SetSessionLimit implements pb.SessionServiceServer; max 0 removes the
// limit.
func (s *Server) SetSessionLimit(ctx context.Context, req *pb.SetSessionLimitRequest) (*pb.SessionLimitResponse, error) {
	l, err := validate.SessionLimit(req)
	if err != nil {
		return nil, InvalidArgument(err)
	}
	sync, err := s.change(ctx, func(d *model.Desired) ([]reconcile.ID, error) {
		d.SessionLimits = slices.DeleteFunc(d.SessionLimits, func(x model.SessionLimit) bool { return x.VRF == l.VRF })
		if l.Max != 0 {
			d.SessionLimits = append(d.SessionLimits, l)
		}
		return []reconcile.ID{reconcile.SessionLimitID(l.VRF)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SessionLimitResponse{Sync: sync}, nil
}

// ListSessionLimits implements pb.SessionServiceServer (global first).
func (s *Server) ListSessionLimits(ctx context.Context, req *pb.ListSessionLimitsRequest) (*pb.ListSessionLimitsResponse, error) {
	var ls []model.SessionLimit
	s.cfg.Store.View(func(d *model.Desired) { ls = slices.Clone(d.SessionLimits) })
	slices.SortFunc(ls, func(a, b model.SessionLimit) int {
		rank := func(v uint32) int64 {
			if v == model.AllVRFs {
				return -1
			}
			return int64(v)
		}
		return cmp.Compare(rank(a.VRF), rank(b.VRF))
	})
	out := &pb.ListSessionLimitsResponse{}
	for _, l := range ls {
		out.Limits = append(out.Limits, &pb.SessionLimit{Vrf: optVRFPB(l.VRF), Max: l.Max, Sync: s.itemSync(reconcile.SessionLimitID(l.VRF))})
	}
	return out, nil
}

// ------------------------------------------------------------ interfaces

// ListInterfaces implements pb.InterfaceServiceServer.
func (s *Server) ListInterfaces(ctx context.Context, req *pb.ListInterfacesRequest) (*pb.ListInterfacesResponse, error) {
	ifs, err := s.cfg.Dataplane.ListInterfaces(ctx)
	if err != nil {
		return nil, dataplaneError(err)
	}
	snat := map[model.SNATInterface]bool{}
	s.cfg.Store.View(func(d *model.Desired) {
		for _, i := range d.SNATInterfaces {
			snat[i] = true
		}
	})
	slices.SortFunc(ifs, func(a, b model.Interface) int { return cmp.Compare(a.Name, b.Name) })
	out := &pb.ListInterfacesResponse{}
	for _, i := range ifs {
		x := &pb.Interface{
			Name: i.Name, Up: i.Up, Vrf4: i.VRF4, Vrf6: i.VRF6,
			SnatIpv4: snat[model.SNATInterface{Interface: i.Name, Family: model.IPv4}],
			SnatIpv6: snat[model.SNATInterface{Interface: i.Name, Family: model.IPv6}],
		}
		for _, p := range i.Addrs {
			x.Addrs = append(x.Addrs, p.String())
		}
		out.Interfaces = append(out.Interfaces, x)
	}
	return out, nil
}

// ---------------------------------------------------------------- status

// GetStatus implements pb.StatusServiceServer.
func (s *Server) GetStatus(ctx context.Context, req *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info := s.cfg.Dataplane.Info(ictx)
	kind := s.cfg.DataplaneKind
	if kind == "" {
		kind = info.Name
	}
	out := &pb.GetStatusResponse{
		AgentVersion: s.cfg.Version,
		Dataplane: &pb.DataplaneStatus{
			Kind: kind, SelectedBy: s.cfg.SelectedBy, Connected: info.Connected,
			Version: info.Version, PluginVersion: info.Plugin,
		},
	}
	if st, err := s.cfg.Dataplane.Stats(ictx); err == nil {
		out.Counters = &pb.Counters{Translations: st.Translations, Sessions: st.Sessions, Drops: st.Drops}
	}
	s.cfg.Store.View(func(d *model.Desired) {
		out.Intent = &pb.IntentCounts{
			Translations: uint32(len(d.Translations)), SnatAddresses: uint32(len(d.SNATAddresses)),
			SnatExclusions: uint32(len(d.SNATExclusions)), SnatInterfaces: uint32(len(d.SNATInterfaces)),
			SessionLimits: uint32(len(d.SessionLimits)),
		}
	})
	rs := s.cfg.Reconciler.Status()
	if !rs.LastFullSync.IsZero() {
		out.LastFullSync = timestamppb.New(rs.LastFullSync)
	}
	if rs.LastErr != nil {
		out.LastSyncError = rs.LastErr.Error()
	}
	for _, it := range rs.Items {
		x := &pb.ReconcileItem{
			Kind: string(it.ID.Kind), Key: it.ID.Key(), Op: it.Op, State: syncStatePB(it.State),
			Error: capMessage(errString(it.Err)), Attempts: uint32(it.Attempts), Since: timestamppb.New(it.Since),
		}
		if !it.Next.IsZero() {
			x.NextAttempt = timestamppb.New(it.Next)
		}
		out.Items = append(out.Items, x)
	}
	return out, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// String describes the server for logs.
func (s *Server) String() string {
	return fmt.Sprintf("cloudnat server (dataplane %s, %s)", s.cfg.DataplaneKind, s.cfg.SelectedBy)
}
