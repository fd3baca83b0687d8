// Package vpp is the dataplane of the cloudnat VPP plugin, driven through
// its binary API with govpp and the bindings in binapi/.
//
// It connects asynchronously (govpp AsyncConnect over the API socket) and
// keeps reconnecting, with backoff, for as long as it is open; each
// (re)connection is reported on Events() as dataplane.Connected, after the
// message CRCs have been checked, so the reconciler can resync a VPP that
// restarted empty. Every request has an explicit reply timeout.
// Requests that have one reply are pipelined over one stream (see pipe.go):
// concurrent callers and the batch calls PutTranslations and
// DeleteTranslations send without waiting for earlier replies.
package vpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sirupsen/logrus"
	"go.fd.io/govpp/adapter"
	"go.fd.io/govpp/adapter/socketclient"
	"go.fd.io/govpp/adapter/statsclient"
	"go.fd.io/govpp/api"
	"go.fd.io/govpp/core"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	interfaces "github.com/cloudnat/cloudnat/binapi/interface"
	"github.com/cloudnat/cloudnat/binapi/ip"
	"github.com/cloudnat/cloudnat/binapi/vpe"
)

const (
	// DefaultAPISocket and DefaultStatsSocket are VPP's defaults.
	DefaultAPISocket   = "/run/vpp/api.sock"
	DefaultStatsSocket = "/run/vpp/stats.sock"
	// DefaultReplyTimeout bounds the wait for each reply from VPP.
	DefaultReplyTimeout = 5 * time.Second

	connectAttempts = 5                      // govpp's own quick retries per AsyncConnect
	connectInterval = 50 * time.Millisecond  // between those
	minBackoff      = 100 * time.Millisecond // then ours, doubling
	maxBackoff      = 500 * time.Millisecond
	healthInterval  = 250 * time.Millisecond // govpp's liveness probe period
	eventBuffer     = 16
)

func init() {
	registry.Register("vpp", open, probe)
}

// Options configure a Dataplane.
type Options struct {
	APISocket    string        // default DefaultAPISocket
	StatsSocket  string        // default DefaultStatsSocket
	ReplyTimeout time.Duration // default DefaultReplyTimeout
	Logger       *slog.Logger  // default slog.Default()

	// NewAdapter makes the binary-API adapter for each connection attempt;
	// default: govpp's socket client on APISocket. Tests pass govpp's mock.
	NewAdapter func() adapter.VppAPI
	// MsgTable returns VPP's message table (name -> CRC) for mismatch
	// reports; default: read it over APISocket.
	MsgTable func(ctx context.Context) (map[string]string, error)
}

// Dataplane implements dataplane.Dataplane on the cloudnat VPP plugin.
type Dataplane struct {
	opts Options
	log  *slog.Logger

	events chan dataplane.Event
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu   sync.RWMutex
	sess *session // nil while disconnected
	info dataplane.Info
	bad  []Mismatch // of the last connection

	ifmu      sync.Mutex
	ifByName  map[string]uint32
	ifByIndex map[uint32]string

	statsMu sync.Mutex
	stats   *statsclient.StatsClient
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// session is one live connection to VPP.
type session struct {
	conn    *core.Connection
	tc      timeoutConn
	cn      cloudnat.RPCService
	ifc     interfaces.RPCService
	ipc     ip.RPCService
	vpe     vpe.RPCService
	timeout time.Duration

	incompatible map[string]Mismatch

	pmu  sync.Mutex
	pipe *pipe
}

var logOnce sync.Once

// slogHook forwards govpp's logrus entries to the agent's slog logger.
type slogHook struct{ log *slog.Logger }

func (h slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	lvl := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		lvl = slog.LevelError
	case e.Level == logrus.WarnLevel:
		lvl = slog.LevelWarn
	case e.Level == logrus.InfoLevel:
		lvl = slog.LevelInfo
	}
	args := make([]any, 0, 2*len(e.Data))
	for k, v := range e.Data {
		args = append(args, k, v)
	}
	h.log.Log(context.Background(), lvl, "govpp: "+e.Message, args...)
	return nil
}

// quietGovpp sends govpp's logrus output (warnings and errors only: its
// connection retries log at info level) to log, once per process.
func quietGovpp(log *slog.Logger) {
	logOnce.Do(func() {
		l := logrus.New()
		l.SetOutput(io.Discard)
		l.SetLevel(logrus.WarnLevel)
		l.AddHook(slogHook{log})
		core.SetLogger(l)
		socketclient.SetLogger(l)
		statsclient.Log.SetOutput(io.Discard)
		statsclient.Log.SetLevel(logrus.ErrorLevel)
		statsclient.Log.AddHook(slogHook{log})
		// Probe often (default 1 s): a VPP that stops answering should be
		// seen and resynced quickly. A crash needs no timeout at all (the
		// probe fails on the closed socket); the reply timeout only decides
		// when a live but busy VPP counts as hung, so it is generous: a
		// main thread busy with a burst of API calls under barrier, on a
		// loaded host, must not look dead (3 silent seconds do).
		core.HealthCheckProbeInterval = healthInterval
		core.HealthCheckReplyTimeout = time.Second
	})
}

// New starts connecting to VPP in the background and returns at once.
func New(opts Options) *Dataplane {
	if opts.APISocket == "" {
		opts.APISocket = DefaultAPISocket
	}
	if opts.StatsSocket == "" {
		opts.StatsSocket = DefaultStatsSocket
	}
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NewAdapter == nil {
		sock := opts.APISocket
		opts.NewAdapter = func() adapter.VppAPI {
			c := socketclient.NewVppClient(sock)
			c.SetClientName("cloudnat-agent")
			c.SetConnectTimeout(opts.ReplyTimeout)
			return c
		}
	}
	if opts.MsgTable == nil {
		sock := opts.APISocket
		opts.MsgTable = func(ctx context.Context) (map[string]string, error) { return socketMsgTable(ctx, sock) }
	}
	quietGovpp(opts.Logger.With("dataplane", "vpp"))
	d := &Dataplane{
		opts:   opts,
		log:    opts.Logger.With("dataplane", "vpp"),
		events: make(chan dataplane.Event, eventBuffer),
		closed: make(chan struct{}),
		info:   dataplane.Info{Name: "vpp"},
	}
	d.wg.Add(1)
	go d.run()
	return d
}

func open(_ context.Context, cfg registry.Config) (dataplane.Dataplane, error) {
	return New(Options{APISocket: cfg.VPPAPISocket, StatsSocket: cfg.VPPStatsSocket}), nil
}

// probe: the API socket accepts a connection and answers show_version
// within about a second.
func probe(ctx context.Context, cfg registry.Config) error {
	sock := cfg.VPPAPISocket
	if sock == "" {
		sock = DefaultAPISocket
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return Probe(ctx, sock)
}

// Probe connects to the API socket, asks VPP's version and disconnects.
func Probe(ctx context.Context, socket string) error {
	quietGovpp(slog.Default().With("dataplane", "vpp"))
	type result struct {
		conn *core.Connection
		err  error
	}
	c := socketclient.NewVppClient(socket)
	c.SetClientName("cloudnat-probe")
	c.SetConnectTimeout(time.Second)
	ch := make(chan result, 1)
	go func() {
		conn, err := core.Connect(c)
		ch <- result{conn, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Disconnect()
			}
		}()
		return fmt.Errorf("vpp: connect %s: %w", socket, ctx.Err())
	}
	if r.err != nil {
		return fmt.Errorf("vpp: connect %s: %w", socket, r.err)
	}
	defer r.conn.Disconnect()
	if _, err := vpe.NewServiceClient(r.conn).ShowVersion(ctx, &vpe.ShowVersion{}); err != nil {
		return fmt.Errorf("vpp: show_version on %s: %w", socket, err)
	}
	return nil
}

// ---------------------------------------------------------------- connection

func (d *Dataplane) run() {
	defer d.wg.Done()
	defer close(d.events)
	// A new API socket (VPP restarted) cuts a backoff wait short.
	var created <-chan fsnotify.Event
	if w, err := fsnotify.NewWatcher(); err == nil {
		defer w.Close()
		if w.Add(filepath.Dir(d.opts.APISocket)) == nil {
			created = w.Events
		}
	}
	backoff := minBackoff
	for {
		conn, evc, err := core.AsyncConnect(d.opts.NewAdapter(), connectAttempts, connectInterval)
		if err == nil {
			var wasUp bool
			wasUp, err = d.watch(conn, evc)
			conn.Disconnect()
			if wasUp {
				backoff = minBackoff
			}
		}
		select {
		case <-d.closed:
			return
		default:
		}
		d.log.Debug("VPP not reachable, retrying", "socket", d.opts.APISocket, "in", backoff, "error", err)
		timer := time.NewTimer(backoff)
	wait:
		for {
			select {
			case <-d.closed:
				timer.Stop()
				return
			case <-timer.C:
				break wait
			case ev := <-created:
				if ev.Name == d.opts.APISocket && ev.Has(fsnotify.Create) {
					timer.Stop()
					break wait
				}
			}
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watch follows one govpp connection until it gives up (Failed) or the
// dataplane is closed. wasUp says whether it ever connected.
func (d *Dataplane) watch(conn *core.Connection, evc chan core.ConnectionEvent) (wasUp bool, err error) {
	defer d.down(nil)
	for {
		select {
		case <-d.closed:
			return wasUp, nil
		case ev := <-evc:
			switch ev.State {
			case core.Connected:
				wasUp = true
				if err := d.up(conn); err != nil {
					// VPP accepted the connection but does not answer;
					// drop it and start over.
					d.log.Warn("VPP connection setup failed", "error", err)
					return wasUp, err
				}
			case core.Disconnected, core.NotResponding:
				d.down(ev.Error)
			case core.Failed:
				return wasUp, ev.Error
			}
		}
	}
}

func (d *Dataplane) up(conn *core.Connection) error {
	s := &session{
		conn:    conn,
		tc:      timeoutConn{c: conn, timeout: d.opts.ReplyTimeout},
		timeout: d.opts.ReplyTimeout,
	}
	s.cn = cloudnat.NewServiceClient(s.tc)
	s.ifc = interfaces.NewServiceClient(s.tc)
	s.ipc = ip.NewServiceClient(s.tc)
	s.vpe = vpe.NewServiceClient(s.tc)

	ctx, cancel := context.WithTimeout(context.Background(), 2*d.opts.ReplyTimeout)
	defer cancel()

	info := dataplane.Info{Name: "vpp", Connected: true}
	ver, err := s.vpe.ShowVersion(ctx, &vpe.ShowVersion{})
	if err != nil {
		return fmt.Errorf("show_version: %w", err)
	}
	info.Version = ver.Version

	bad, summary := d.checkCompatibility(ctx, conn)
	s.incompatible = make(map[string]Mismatch, len(bad))
	for _, m := range bad {
		s.incompatible[m.Name] = m
	}
	if _, ok := s.incompatible[(&cloudnat.CloudnatGetStatus{}).GetMessageName()]; !ok {
		if st, err := s.cn.CloudnatGetStatus(ctx, &cloudnat.CloudnatGetStatus{}); err == nil {
			info.Plugin = st.PluginVersion
		} else {
			d.log.Warn("cloudnat_get_status failed", "error", err)
		}
	}
	if summary != "" {
		d.log.Error("VPP binary API mismatch: calls needing these messages will fail",
			"vpp", info.Version, "detail", summary)
		info.Plugin = fmt.Sprintf("%s (INCOMPATIBLE: %s)", info.Plugin, summary)
	}
	if s.pipe, err = newPipe(conn, s.timeout); err != nil {
		return err
	}

	d.ifmu.Lock()
	d.ifByName, d.ifByIndex = nil, nil
	d.ifmu.Unlock()

	d.mu.Lock()
	d.sess, d.info, d.bad = s, info, bad
	d.mu.Unlock()
	d.log.Info("connected to VPP", "socket", d.opts.APISocket, "version", info.Version, "plugin", info.Plugin)
	d.emit(dataplane.Connected)
	return nil
}

// checkCompatibility checks every message the dataplane uses; it returns
// the mismatches and a one-line summary ("" when all match).
func (d *Dataplane) checkCompatibility(ctx context.Context, conn *core.Connection) ([]Mismatch, string) {
	ch, err := conn.NewAPIChannel()
	if err != nil {
		d.log.Warn("cannot check message compatibility", "error", err)
		return nil, ""
	}
	defer ch.Close()
	err = ch.CheckCompatiblity(usedMessages()...)
	var cerr *api.CompatibilityError
	if err == nil || !errors.As(err, &cerr) {
		if err != nil {
			d.log.Warn("cannot check message compatibility", "error", err)
		}
		return nil, ""
	}
	table, terr := d.opts.MsgTable(ctx)
	if terr != nil {
		d.log.Warn("cannot read VPP's message table", "error", terr)
	}
	bad := mismatches(cerr, table)
	return bad, mismatchSummary(bad, table)
}

func (d *Dataplane) down(cause error) {
	d.mu.Lock()
	s := d.sess
	d.sess = nil
	d.info.Connected = false
	d.mu.Unlock()
	if s == nil {
		return
	}
	s.pmu.Lock()
	if s.pipe != nil {
		s.pipe.close(fmt.Errorf("%w: VPP connection lost", dataplane.ErrNotConnected))
	}
	s.pmu.Unlock()
	d.statsMu.Lock()
	if d.stats != nil {
		_ = d.stats.Disconnect()
		d.stats = nil
	}
	d.statsMu.Unlock()
	d.log.Warn("disconnected from VPP", "socket", d.opts.APISocket, "cause", cause)
	d.emit(dataplane.Disconnected)
}

// emit never blocks: when the reader lags, the oldest event is dropped
// (the newest state is what matters). Only run's goroutine emits.
func (d *Dataplane) emit(ev dataplane.Event) {
	for {
		select {
		case d.events <- ev:
			return
		default:
		}
		select {
		case <-d.events:
		default:
		}
	}
}

// Events implements dataplane.Dataplane.
func (d *Dataplane) Events() <-chan dataplane.Event { return d.events }

// Close disconnects and stops reconnecting; Events is closed.
func (d *Dataplane) Close() error {
	d.once.Do(func() { close(d.closed) })
	d.wg.Wait()
	return nil
}

// Info implements dataplane.Dataplane.
func (d *Dataplane) Info(context.Context) dataplane.Info {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.info
}

// Mismatches lists the messages of the current (or last) connection whose
// CRCs differ from the bindings', empty when all match.
func (d *Dataplane) Mismatches() []Mismatch {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]Mismatch(nil), d.bad...)
}

// session returns the live session, or an error wrapping ErrNotConnected.
// It also refuses calls needing a message VPP has with another CRC.
func (d *Dataplane) session(msgs ...api.Message) (*session, error) {
	d.mu.RLock()
	s := d.sess
	d.mu.RUnlock()
	if s == nil {
		return nil, fmt.Errorf("vpp %s: %w", d.opts.APISocket, dataplane.ErrNotConnected)
	}
	for _, m := range msgs {
		if bad, ok := s.incompatible[m.GetMessageName()]; ok {
			return nil, fmt.Errorf("%w: %s", ErrIncompatible, bad)
		}
	}
	return s, nil
}

// getPipe returns the session's pipe, replacing one that stopped (after a
// reply timeout, say) while the connection stays up.
func (s *session) getPipe() (*pipe, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	select {
	case <-s.pipe.done:
		if errors.Is(s.pipe.err, dataplane.ErrNotConnected) {
			return nil, s.pipe.err
		}
		p, err := newPipe(s.conn, s.timeout)
		if err != nil {
			return nil, err
		}
		s.pipe = p
	default:
	}
	return s.pipe, nil
}

// do sends one request with a single reply through the pipe and returns
// the reply and its retval as an error.
func (s *session) do(ctx context.Context, req api.Message, reply api.Message) error {
	c, err := s.start(ctx, req, reply)
	if err != nil {
		return err
	}
	_, err = c.wait(ctx)
	return err
}

// start queues a request on the pipe; wait gets its reply.
func (s *session) start(ctx context.Context, req api.Message, reply api.Message) (*pending, error) {
	p, err := s.getPipe()
	if err != nil {
		return nil, err
	}
	c, err := p.start(ctx, req, reply)
	if err != nil {
		return nil, err
	}
	return &pending{c: c, name: req.GetMessageName()}, nil
}

type pending struct {
	c    *call
	name string
}

func (p *pending) wait(ctx context.Context) (api.Message, error) {
	msg, err := p.c.wait(ctx)
	if err != nil {
		return nil, transportErr(err)
	}
	if err := api.RetvalToVPPApiError(retvalOf(msg)); err != nil {
		return msg, err
	}
	return msg, nil
}

// retvalOf returns a reply's retval field (0 when it has none).
func retvalOf(msg api.Message) int32 {
	v := reflect.ValueOf(msg)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0
	}
	f := v.Elem().FieldByName("Retval")
	if !f.IsValid() || f.Kind() != reflect.Int32 {
		return 0
	}
	return int32(f.Int())
}

// transportErr marks errors meaning "VPP went away" with ErrNotConnected.
func transportErr(err error) error {
	if err == nil || errors.Is(err, dataplane.ErrNotConnected) {
		return err
	}
	if errors.Is(err, core.ErrNotConnected) || errors.Is(err, errPipeClosed) {
		return fmt.Errorf("%w: %w", dataplane.ErrNotConnected, err)
	}
	return err
}
