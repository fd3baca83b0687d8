// Command soak drives a real cloudnat-agent on the kernel dataplane in a
// network namespace (or, with -dataplane vpp, beside a private VPP) for a
// while with mixed concurrent writes (creates, updates, deletes, SNAT
// pools, requests cancelled by short deadlines), SIGKILLs and restarts of
// the agent, and tampering with the dataplane (kernel: its nf_tables table
// deleted; VPP: SIGKILLed and restarted empty, or a translation deleted
// behind the agent's back with vppctl), then checks that the dataplane (cloudnat-agent dump), the store (the
// state file) and the acknowledged writes agree. It prints PASS or FAIL
// and exits 1 on FAIL. scripts/soak.sh (make soak) runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	"github.com/cloudnat/cloudnat/test/agentproc"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

type options struct {
	duration    time.Duration
	objects     int
	workers     int
	killEvery   time.Duration
	tamperEvery time.Duration
	interval    time.Duration
	bin, dir    string
	keep        bool
	dataplane   string // kernel or vpp
}

func main() {
	var o options
	minutes := 30.0
	if v := os.Getenv("SOAK_MINUTES"); v != "" {
		fmt.Sscan(v, &minutes)
	}
	flag.DurationVar(&o.duration, "duration", time.Duration(minutes*float64(time.Minute)), "how long to run (default: $SOAK_MINUTES minutes, else 30)")
	flag.IntVar(&o.objects, "objects", 30, "translations in play (the kernel dataplane before its rewrite fails past ~40: ENOBUFS)")
	flag.IntVar(&o.workers, "workers", 4, "concurrent writers")
	flag.DurationVar(&o.killEvery, "kill-every", 20*time.Second, "mean time between agent SIGKILLs")
	flag.DurationVar(&o.tamperEvery, "tamper-every", 15*time.Second, "mean time between deletions of the nf_tables table")
	flag.DurationVar(&o.interval, "reconcile-interval", 30*time.Second, "the agent's --reconcile.interval")
	flag.StringVar(&o.bin, "agent", "", "cloudnat-agent binary (default: build it)")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	o.dataplane = os.Getenv("SOAK_DATAPLANE")
	if o.dataplane == "" {
		o.dataplane = "kernel"
	}
	flag.StringVar(&o.dataplane, "dataplane", o.dataplane, "kernel, or vpp (a private VPP with the built plugin: VPP_PREFIX; default $SOAK_DATAPLANE)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Println("soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

// value is a translation's intended state: absent, or its backend.
type value struct {
	present bool
	backend string // dst address
}

// slot is what the soak knows of one object: the values the store may
// hold (one when the last write was acknowledged or refused as not
// stored; two after a write whose outcome is unknown).
type slot struct {
	mu       sync.Mutex
	possible []value
}

func (s *slot) set(vs ...value) {
	s.mu.Lock()
	s.possible = vs
	s.mu.Unlock()
}

func (s *slot) get() []value {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.possible)
}

type counters struct {
	ops, acked, notStored, notSent, unknown, kills, tampers atomic.Int64
}

type soak struct {
	o      options
	ns     string
	opts   agentproc.Options
	mu     sync.RWMutex
	agent  *agentproc.Proc
	slots  []*slot
	pool   slot // SNAT pool of vrf 0, as a value with backend = joined addrs
	counts counters
	log    func(format string, args ...any)

	// -dataplane vpp: the running VPP and the stable path of its API
	// socket the agent uses (a symlink, re-pointed at each restart)
	vppMu                sync.Mutex
	vpp                  *vppharness.VPP
	apiLink              string
	vppKills, vppTampers atomic.Int64
}

func vip(i int) string { return fmt.Sprintf("10.77.%d.%d", i/250, i%250+1) }

func run(o options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespace, nf_tables)")
	}
	start := time.Now()
	s := &soak{o: o, log: func(format string, args ...any) {
		fmt.Printf("soak: %6.1fs "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "cloudnat-soak.")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	if o.bin == "" {
		root, err := agentproc.RepoRoot()
		if err != nil {
			return err
		}
		if o.bin, err = agentproc.Build(root); err != nil {
			return err
		}
	}
	s.o = o
	s.ns = fmt.Sprintf("cnsoak-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", s.ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", s.ns).Run()
	s.opts = agentproc.Options{
		Bin: o.bin, NetNS: s.ns, State: filepath.Join(o.dir, "state.json"), LockDir: filepath.Join(o.dir, "locks"),
		Sock: filepath.Join(o.dir, "agent.sock"), Log: filepath.Join(o.dir, "agent.log"),
		Args: []string{"--reconcile.interval", o.interval.String()},
	}
	if o.dataplane == "vpp" {
		s.apiLink = filepath.Join(o.dir, "vpp-api.sock")
		if err := s.startVPP(); err != nil {
			return err
		}
		defer func() { s.currentVPP().Stop() }()
		s.opts.NetNS = "" // VPP is in the host's namespace; its API socket is the way in
		s.opts.Args = append(s.opts.Args, "--dataplane", "vpp", "--vpp.api_socket", s.apiLink)
	} else if o.dataplane != "kernel" {
		return fmt.Errorf("-dataplane %q: kernel or vpp", o.dataplane)
	}
	s.slots = make([]*slot, o.objects)
	for i := range s.slots {
		s.slots[i] = &slot{possible: []value{{}}}
	}
	s.pool.possible = []value{{}}
	s.log("namespace %s, %d objects, %d workers, %v, agent log %s", s.ns, o.objects, o.workers, o.duration, s.opts.Log)

	first := s.opts
	first.Args = append(slices.Clone(first.Args), "--init")
	if err := s.startAgent(first); err != nil {
		return err
	}
	defer func() { s.current().Stop() }()

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range o.workers {
		wg.Go(func() { s.worker(ctx, w) })
	}
	wg.Go(func() { s.chaos(ctx) })
	wg.Wait()
	s.log("load done: %d writes: %d acknowledged, %d refused as not stored (cancelled), %d not sent (agent down), %d unknown outcome; %d agent kills, %d table deletions, %d VPP kills, %d translations deleted behind the agent",
		s.counts.ops.Load(), s.counts.acked.Load(), s.counts.notStored.Load(), s.counts.notSent.Load(), s.counts.unknown.Load(),
		s.counts.kills.Load(), s.counts.tampers.Load(), s.vppKills.Load(), s.vppTampers.Load())
	return s.verify()
}

func (s *soak) current() *agentproc.Proc {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.agent
}

func (s *soak) startAgent(o agentproc.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := agentproc.Start(ctx, o)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.agent = p
	s.mu.Unlock()
	return nil
}

// worker writes the objects i with i % workers == w, and worker 0 the
// SNAT pool now and then.
func (s *soak) worker(ctx context.Context, w int) {
	r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	var mine []int
	for i := w; i < s.o.objects; i += s.o.workers {
		mine = append(mine, i)
	}
	for ctx.Err() == nil {
		if w == 0 && r.IntN(20) == 0 {
			s.setPool(r)
			continue
		}
		if len(mine) == 0 {
			return
		}
		i := mine[r.IntN(len(mine))]
		sl := s.slots[i]
		cur := sl.get()
		next := value{present: true, backend: fmt.Sprintf("10.99.%d.%d", r.IntN(4), r.IntN(250)+1)}
		if cur[0].present && r.IntN(2) == 0 {
			next = value{}
		}
		p := s.current()
		timeout := 10 * time.Second
		if r.IntN(25) == 0 {
			timeout = time.Duration(r.IntN(3000)) * time.Microsecond // cancelled on the way
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		var err error
		key := &pb.TranslationKey{Vip: vip(i), Port: 80, Proto: pb.Protocol_PROTOCOL_TCP}
		if next.present {
			t := &pb.Translation{Vip: vip(i), Port: 80, Proto: pb.Protocol_PROTOCOL_TCP,
				Backends: []*pb.Backend{{DstAddr: next.backend, DstPort: 8080}}}
			_, err = p.Tr.UpdateTranslation(cctx, &pb.UpdateTranslationRequest{Translation: t, AllowMissing: true})
		} else {
			_, err = p.Tr.DeleteTranslation(cctx, &pb.DeleteTranslationRequest{Key: key, AllowMissing: true})
		}
		cancel()
		if ctx.Err() != nil && err != nil {
			// The soak's end cut the request: its outcome is unknown.
			sl.set(append(cur, next)...)
			return
		}
		s.outcome(sl, cur, next, err)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // the agent may be restarting
		}
	}
}

// notSent says a gRPC UNAVAILABLE error came from dialling (the agent's
// socket was not there), so the request never reached an agent.
func notSent(msg string) bool {
	for _, s := range []string{"connection refused", "no such file or directory", "error while dialing", "client connection is closing"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// outcome records what a write's reply says about the store.
func (s *soak) outcome(sl *slot, cur []value, next value, err error) {
	s.counts.ops.Add(1)
	st := status.Convert(err)
	switch {
	case err == nil:
		s.counts.acked.Add(1)
		sl.set(next)
	case (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) && strings.Contains(st.Message(), "not stored"):
		s.counts.notStored.Add(1) // the reply says nothing changed
	case (st.Code() == codes.Unavailable || st.Code() == codes.Canceled) && notSent(st.Message()):
		s.counts.notSent.Add(1) // no agent to send it to
	default:
		if s.counts.unknown.Add(1) <= 3 {
			s.log("outcome unknown: %v", err)
		}
		sl.set(append(cur, next)...)
	}
}

func (s *soak) setPool(r *rand.Rand) {
	var addrs []string
	for a := range 8 {
		if r.IntN(2) == 0 {
			addrs = append(addrs, fmt.Sprintf("10.76.0.%d", a+1))
		}
	}
	cur := s.pool.get()
	next := value{present: len(addrs) > 0, backend: strings.Join(addrs, ",")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := s.current().SNAT.SetSNATAddresses(ctx, &pb.SetSNATAddressesRequest{Addrs: addrs})
	cancel()
	s.outcome(&s.pool, cur, next, err)
}

// chaos SIGKILLs and restarts the agent and deletes its table at random
// times around the configured means.
func (s *soak) chaos(ctx context.Context) {
	r := rand.New(rand.NewPCG(99, uint64(time.Now().UnixNano())))
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(r.Int64N(int64(d))) }
	nextKill, nextTamper := time.Now().Add(jitter(s.o.killEvery)), time.Now().Add(jitter(s.o.tamperEvery))
	for {
		wake := nextKill
		if nextTamper.Before(nextKill) {
			wake = nextTamper
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(wake)):
		}
		if !time.Now().Before(nextTamper) {
			if s.o.dataplane == "vpp" {
				s.tamperVPP(r)
			} else if err := agentproc.DeleteTable(s.ns, "cloudnat"); err == nil {
				s.counts.tampers.Add(1)
			}
			nextTamper = time.Now().Add(jitter(s.o.tamperEvery))
		}
		if !time.Now().Before(nextKill) {
			p := s.current()
			p.Kill()
			s.counts.kills.Add(1)
			started := time.Now()
			if err := s.startAgent(s.opts); err != nil {
				s.log("restart after SIGKILL failed: %v", err)
				os.Exit(1)
			}
			s.log("agent SIGKILLed (pid %d) and restarted in %v", p.Pid(), time.Since(started).Round(time.Millisecond))
			nextKill = time.Now().Add(jitter(s.o.killEvery))
		}
	}
}

// Mirrors of the state file and of `cloudnat-agent dump` (package model's
// JSON form).
type translation struct {
	Key struct {
		VRF   uint32
		VIP   string
		Port  uint16
		Proto uint8
	}
	Backends []struct{ DstAddr string }
}

type objects struct {
	Translations  []translation
	SNATAddresses []struct {
		VRF  uint32
		Addr string
	}
}

// view is objects as comparable maps: vip -> backend, and the pool.
type view struct {
	trs  map[string]string
	pool string
}

func (o objects) view() view {
	v := view{trs: map[string]string{}}
	for _, t := range o.Translations {
		b := ""
		if len(t.Backends) > 0 {
			b = t.Backends[0].DstAddr
		}
		v.trs[t.Key.VIP] = b
	}
	var addrs []string
	for _, a := range o.SNATAddresses {
		addrs = append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	v.pool = strings.Join(addrs, ",")
	return v
}

func (s *soak) readStore() (view, error) {
	data, err := os.ReadFile(s.opts.State)
	if err != nil {
		return view{}, err
	}
	var f struct{ Desired objects }
	if err := json.Unmarshal(data, &f); err != nil {
		return view{}, fmt.Errorf("state file: %w", err)
	}
	return f.Desired.view(), nil
}

func (s *soak) readDataplane() (view, error) {
	cmd := exec.Command("ip", "netns", "exec", s.ns, s.o.bin, "dump", "--dataplane", "kernel")
	if s.o.dataplane == "vpp" {
		cmd = exec.Command(s.o.bin, "dump", "--dataplane", "vpp", "--vpp.api_socket", s.apiLink)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return view{}, fmt.Errorf("cloudnat-agent dump: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var o objects
	if err := json.Unmarshal(out, &o); err != nil {
		return view{}, fmt.Errorf("dump: %w", err)
	}
	return o.view(), nil
}

func diffViews(a, b view, aName, bName string) []string {
	var d []string
	for k, v := range a.trs {
		if w, ok := b.trs[k]; !ok {
			d = append(d, fmt.Sprintf("%s in %s, not in %s", k, aName, bName))
		} else if v != w {
			d = append(d, fmt.Sprintf("%s: backend %s in %s, %s in %s", k, v, aName, w, bName))
		}
	}
	for k := range b.trs {
		if _, ok := a.trs[k]; !ok {
			d = append(d, fmt.Sprintf("%s in %s, not in %s", k, bName, aName))
		}
	}
	if a.pool != b.pool {
		d = append(d, fmt.Sprintf("SNAT pool %q in %s, %q in %s", a.pool, aName, b.pool, bName))
	}
	slices.Sort(d)
	return d
}

// verify waits for the agent to converge, then compares dataplane, store
// and the acknowledged writes.
func (s *soak) verify() error {
	p := s.current()
	start := time.Now()
	deadline := start.Add(s.o.interval + 60*time.Second)
	var diffs []string
	for {
		st, err := p.Status.GetStatus(context.Background(), &pb.GetStatusRequest{})
		store, serr := s.readStore()
		dp, derr := s.readDataplane()
		switch {
		case err != nil:
			diffs = []string{"status: " + err.Error()}
		case serr != nil:
			diffs = []string{serr.Error()}
		case derr != nil:
			diffs = []string{derr.Error()}
		case len(st.GetItems()) > 0:
			diffs = []string{fmt.Sprintf("%d items pending or failed, first: %v", len(st.GetItems()), st.GetItems()[0])}
		default:
			diffs = diffViews(store, dp, "store", "dataplane")
		}
		if len(diffs) == 0 {
			s.log("dataplane == store after %v (%d translations, pool %q)", time.Since(start).Round(time.Millisecond), len(store.trs), store.pool)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dataplane != store after %v: %s", time.Since(start).Round(time.Second), strings.Join(first(diffs, 10), "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
	store, err := s.readStore()
	if err != nil {
		return err
	}
	var bad []string
	unknown := 0
	for i, sl := range s.slots {
		got := value{}
		if b, ok := store.trs[vip(i)]; ok {
			got = value{present: true, backend: b}
		}
		poss := sl.get()
		if len(poss) > 1 {
			unknown++
		}
		if !slices.Contains(poss, got) {
			bad = append(bad, fmt.Sprintf("%s: store %+v, acknowledged %+v", vip(i), got, poss))
		}
	}
	if poss := s.pool.get(); !slices.Contains(poss, value{present: store.pool != "", backend: store.pool}) {
		bad = append(bad, fmt.Sprintf("SNAT pool: store %q, acknowledged %+v", store.pool, poss))
	}
	for k := range store.trs {
		if !strings.HasPrefix(k, "10.77.") {
			bad = append(bad, "unexpected translation "+k)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("store != acknowledged writes: %s", strings.Join(first(bad, 10), "; "))
	}
	s.log("store == acknowledged writes for all %d objects and the pool (%d objects open to either outcome after an unanswered write)", len(s.slots), unknown)
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// startVPP starts a private VPP and points the agent's socket path at it.
func (s *soak) startVPP() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v, err := vppharness.StartProcess(ctx, vppharness.Options{})
	if err != nil {
		return fmt.Errorf("start VPP: %w", err)
	}
	tmp := s.apiLink + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(v.APISock, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.apiLink); err != nil {
		return err
	}
	s.vppMu.Lock()
	s.vpp = v
	s.vppMu.Unlock()
	return nil
}

func (s *soak) currentVPP() *vppharness.VPP {
	s.vppMu.Lock()
	defer s.vppMu.Unlock()
	return s.vpp
}

// tamperVPP: half the time VPP is SIGKILLed and restarted empty (the agent
// must program everything again); else one translation is deleted with
// vppctl behind the agent's back (its full sync must put it back).
func (s *soak) tamperVPP(r *rand.Rand) {
	v := s.currentVPP()
	if r.IntN(2) == 0 {
		v.Kill()
		started := time.Now()
		if err := s.startVPP(); err != nil {
			s.log("VPP restart after SIGKILL failed: %v", err)
			os.Exit(1)
		}
		s.vppKills.Add(1)
		s.log("VPP SIGKILLed and restarted empty in %v", time.Since(started).Round(time.Millisecond))
		return
	}
	out, err := v.CLI("cnat show translation")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		// "[<id>] ..." lines: delete the first translation listed
		var id int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "[%d]", &id); err == nil {
			if _, err := v.CLI(fmt.Sprintf("cnat translation del %d", id)); err == nil {
				s.vppTampers.Add(1)
			}
			return
		}
	}
}
