// Command scalebench measures catena-bridge at fleet scale inside the API's
// request budget: the simulator in-process (real-time clock) with -vehicles
// vehicles and a per-client rate limit of -rate-limit requests/s, Kafka
// in-process (kfake) unless -brokers is given, a Schema Registry in-process
// (srfake), and `catena-bridge run` as a subprocess with CATENA_RATE_LIMIT
// set to the same budget. With -push the simulator also pushes
// vehicle_location.added to the bridge's webhook receiver.
//
// After -duration it prints a table:
//
//   - from the bridge's first snapshot request (as the simulator saw it) to
//     the moment every vehicle's newest point as of that request (or a newer one) was read
//     (read_committed) from the events topic; the target is POLL_INTERVAL + 2s;
//
//   - the simulator's requests per second by kind (mean and peak second),
//     the 429s it returned, and requests per vehicle per hour;
//
//   - exactly once (verify.Window, the end-to-end tests' checker): every valid
//     point visible between the bridge's start and the end minus -margin is
//     in the topic once; points of LOOKBACK before the start and of the margin
//     may be, at most once;
//
//   - the bridge's peak RSS (VmHWM) and its /metrics lines about sweeps,
//     budget and API requests.
//
//     make bench-scale BENCH_SCALE_FLAGS='-vehicles 100000 -push -duration 5m'
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/verify"
	"github.com/catena-bridge/catena-bridge/scripts/benchenv"
)

type options struct {
	bin            string
	brokers        string
	vehicles       int
	fleets         int
	reportInterval time.Duration
	rateLimit      float64
	duration       time.Duration
	pollInterval   time.Duration
	sweepInterval  time.Duration
	lookback       time.Duration
	gapThreshold   time.Duration
	pushBatch      int
	margin         time.Duration
	push           bool
	partitions     int
	workdir        string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/catena-bridge", "catena-bridge binary (make build)")
	flag.StringVar(&o.brokers, "brokers", "", "Kafka seed brokers, comma-separated (default: an in-process kfake cluster)")
	flag.IntVar(&o.vehicles, "vehicles", 10_000, "simulated vehicles (a multiple of -fleets)")
	flag.IntVar(&o.fleets, "fleets", 10, "simulated fleets")
	flag.DurationVar(&o.reportInterval, "report-interval", 30*time.Second, "each vehicle reports one point per interval")
	flag.Float64Var(&o.rateLimit, "rate-limit", 25, "the simulator's per-client limit and the bridge's CATENA_RATE_LIMIT, requests/s")
	flag.DurationVar(&o.duration, "duration", 3*time.Minute, "how long the bridge runs")
	flag.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "POLL_INTERVAL")
	flag.DurationVar(&o.sweepInterval, "sweep-interval", 5*time.Minute, "SWEEP_INTERVAL")
	flag.DurationVar(&o.lookback, "lookback", 10*time.Minute, "LOOKBACK")
	flag.DurationVar(&o.gapThreshold, "gap-threshold", time.Minute, "GAP_THRESHOLD: above -report-interval, or every new point costs a gap fill")
	flag.DurationVar(&o.margin, "margin", 30*time.Second, "points visible in the last margin of the run need not be published yet")
	flag.BoolVar(&o.push, "push", false, "subscribe the bridge to the simulator's webhook pushes")
	flag.IntVar(&o.pushBatch, "push-batch", 500, "records per push delivery (Catena documents no maximum); the simulator sends one delivery at a time per subscription, each answered after its commit, so this bounds the push throughput")
	flag.IntVar(&o.partitions, "partitions", 12, "KAFKA_PARTITIONS")
	flag.StringVar(&o.workdir, "workdir", ".cache/scalebench", "where the bridge's log goes")
	flag.Parse()
	if flag.NArg() != 0 || o.fleets < 1 || o.vehicles < o.fleets || o.vehicles%o.fleets != 0 || o.duration <= o.margin {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s scalebench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// firstSnapshot wraps the simulator and notes when the first snapshot
// request (vehicle-locations, only_latest not false) arrives.
type firstSnapshot struct {
	h  http.Handler
	at atomic.Pointer[time.Time]
}

func (f *firstSnapshot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == catenasim.VehicleLocationsPath && f.at.Load() == nil {
		if ol := r.URL.Query().Get("only_latest"); ol == "" || ol == "true" {
			now := time.Now()
			f.at.CompareAndSwap(nil, &now)
		}
	}
	f.h.ServeHTTP(w, r)
}

func run(ctx context.Context, o *options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (make build)", o.bin, err)
	}
	topic := fmt.Sprintf("scalebench.%d", time.Now().Unix())
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return err
	}

	// Kafka and the registry.
	brokers := o.brokers
	if brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("kfake: %w", err)
		}
		defer c.Close()
		brokers = strings.Join(c.ListenAddrs(), ",")
	}
	registry := srfake.New()
	defer registry.Close()

	// The simulator, real time, speed 1.
	sim, err := catenasim.New(catenasim.Config{Fleets: o.fleets, VehiclesPerFleet: o.vehicles / o.fleets,
		ReportInterval: o.reportInterval, RateLimit: o.rateLimit, PushBatch: o.pushBatch})
	if err != nil {
		return err
	}
	first := &firstSnapshot{h: sim}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	api := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: first, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	env := []string{
		"CATENA_API_URL=" + api, "CATENA_TOKEN_URL=" + api + catenasim.TokenPath,
		"CATENA_CLIENT_ID=demo", "CATENA_CLIENT_SECRET=demo",
		"CATENA_RATE_LIMIT=" + strconv.FormatFloat(o.rateLimit, 'g', -1, 64),
		"KAFKA_BROKERS=" + brokers, "KAFKA_TOPIC=" + topic, "KAFKA_PARTITIONS=" + strconv.Itoa(o.partitions),
		"SCHEMA_REGISTRY_URL=" + registry.URL(),
		"POLL_INTERVAL=" + o.pollInterval.String(), "SWEEP_INTERVAL=" + o.sweepInterval.String(), "LOOKBACK=" + o.lookback.String(), "GAP_THRESHOLD=" + o.gapThreshold.String(),
		"LOG_LEVEL=info", "LOG_FORMAT=json",
	}
	pctx, stopPush := context.WithCancel(context.Background())
	defer stopPush()
	pushDone := make(chan error, 1)
	if o.push {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		secret := "scalebench-webhook-secret"
		cl, err := catena.New(catena.Config{APIURL: api, TokenURL: api + catenasim.TokenPath, ClientID: "demo", ClientSecret: "demo"})
		if err != nil {
			return err
		}
		if _, err := cl.CreateWebhook(ctx, catena.WebhookCreate{URL: "http://" + addr + "/webhooks/catena",
			EventName: "vehicle_location.added", Secret: &secret}); err != nil {
			return fmt.Errorf("subscribe to pushes: %w", err)
		}
		go func() { pushDone <- sim.Push(pctx) }()
		env = append(env, "WEBHOOK_ADDR="+addr, "WEBHOOK_SECRET="+secret)
	} else {
		close(pushDone)
	}
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	env = append(env, "ADMIN_ADDR="+admin)

	// The consumer: when each record id was first read, read_committed.
	seen := newSeenIDs()
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumerDone := make(chan error, 1)
	go func() { consumerDone <- consume(cctx, brokers, topic, seen) }()

	// The bridge; the simulator's counters from just before it starts.
	series := []catenasim.Stats{sim.Stats()}
	logPath := filepath.Join(o.workdir, topic+".log")
	p, err := startBridge(bin, env, logPath)
	if err != nil {
		return err
	}
	defer p.kill()
	logf("%d vehicles, rate limit %g/s, push %v, topic %s; bridge log %s", o.vehicles, o.rateLimit, o.push, topic, logPath)

	// Sample the simulator's counters every second, the bridge's metrics
	// every 5s, until -duration.
	var lastMetrics []string
	tick := time.NewTicker(time.Second)
	end := p.start.Add(o.duration)
	for time.Now().Before(end) && !p.exited() && ctx.Err() == nil {
		<-tick.C
		series = append(series, sim.Stats())
		if len(series)%5 == 0 {
			if m, err := scrape(admin); err == nil {
				lastMetrics = m
			}
			logf("t+%v: %d records read, RSS peak %s", time.Since(p.start).Round(time.Second), seen.len(), mib(p.peakRSS()))
		}
	}
	tick.Stop()
	endAt := time.Now()
	if m, err := scrape(admin); err == nil {
		lastMetrics = m
	}
	exited := p.exited()
	p.terminate(30 * time.Second)
	stopPush()
	<-pushDone
	stopConsumer()
	<-consumerDone
	if exited {
		return fmt.Errorf("the bridge exited before the end of the run (log %s): %v", logPath, p.waitErr)
	}

	// Newest point of every vehicle as of the first snapshot request, and
	// the points after it: the snapshot page that holds a vehicle is served
	// a little later than the first request, and may show a newer point.
	var newest [][]string
	t0p := first.at.Load()
	if t0p != nil {
		for _, v := range sim.Vehicles() {
			ps := sim.Points(v.ID, t0p.Add(-2*o.reportInterval), endAt)
			for i := len(ps) - 1; i >= 0; i-- {
				if !ps[i].VisibleAt.After(*t0p) {
					if ps[i].Malformed == "" {
						var ids []string
						for _, q := range ps[i:] {
							ids = append(ids, q.ID)
						}
						newest = append(newest, ids)
					}
					break
				}
			}
		}
	}

	// Exactly once, with the end-to-end tests' checker.
	events, dlq, err := readTopics(ctx, brokers, topic)
	if err != nil {
		return err
	}
	must := endAt.Add(-o.margin)
	valid, malformed := verify.Truth(sim, p.start.Add(-o.reportInterval), must, must)
	for id, pt := range valid {
		if pt.VisibleAt.Before(p.start) {
			delete(valid, id)
		}
	}
	maybe, maybeBad := verify.Truth(sim, p.start.Add(-o.lookback-time.Minute), endAt.Add(time.Minute), endAt.Add(time.Minute))
	for id, pt := range maybeBad {
		maybe[id] = pt
	}
	for id := range maybe {
		if _, ok := valid[id]; ok {
			delete(maybe, id)
		}
	}
	for id := range malformed {
		delete(maybe, id)
	}
	var rep reporter
	verify.Window(&rep, events, dlq, valid, malformed, maybe, o.partitions)

	var wh *catenasim.WebhookStats
	if o.push {
		st := sim.WebhookStats()
		wh = &st
	}
	report(o, p, t0p, newest, seen, series, wh, endAt, lastMetrics, len(valid), len(events), &rep)
	return nil
}

// seenIDs is when each record id was first read from the events topic.
type seenIDs struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newSeenIDs() *seenIDs { return &seenIDs{at: map[string]time.Time{}} }

func (s *seenIDs) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.at) }

func (s *seenIDs) get(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[id]
	return t, ok
}

// consume reads the events topic read_committed from the start until ctx
// ends, noting the time each record id (header catena-id) is first read.
func consume(ctx context.Context, brokers, topic string, seen *seenIDs) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		seen.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			id := verify.Header(r, "catena-id")
			if _, ok := seen.at[id]; !ok {
				seen.at[id] = now
			}
		})
		seen.mu.Unlock()
	}
	return nil
}

func readTopics(ctx context.Context, brokers, topic string) (events, dlq []*kgo.Record, err error) {
	r, err := sink.NewReader(sink.Config{Brokers: strings.Split(brokers, ","), Topic: topic})
	if err != nil {
		return nil, nil, fmt.Errorf("read back %s: %w", topic, err)
	}
	defer r.Close()
	if err := r.ReadAll(ctx, topic, func(rec *kgo.Record) { events = append(events, rec) }); err != nil {
		return nil, nil, err
	}
	if err := r.ReadAll(ctx, topic+".dlq", func(rec *kgo.Record) { dlq = append(dlq, rec) }); err != nil {
		return nil, nil, err
	}
	return events, dlq, nil
}

// reporter collects what verify reports.
type reporter struct{ errs, logs []string }

func (r *reporter) Helper()           {}
func (r *reporter) Fatal(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *reporter) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *reporter) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func report(o *options, p *bridge, t0 *time.Time, newest [][]string, seen *seenIDs, series []catenasim.Stats, wh *catenasim.WebhookStats,
	endAt time.Time, metrics []string, valid, events int, rep *reporter) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintln(w)
	row("setup", "%d vehicles (%d fleets), 1 point/%v, rate limit %g/s, POLL_INTERVAL %v, SWEEP_INTERVAL %v, LOOKBACK %v, push %v, run %v",
		o.vehicles, o.fleets, o.reportInterval, o.rateLimit, o.pollInterval, o.sweepInterval, o.lookback, o.push, endAt.Sub(p.start).Round(time.Second))
	if t0 == nil {
		row("first snapshot request", "none")
	} else {
		row("first snapshot request", "%v after the bridge's start", t0.Sub(p.start).Round(time.Millisecond))
		var last time.Duration
		missing := 0
		for _, ids := range newest {
			var reached time.Time // when the vehicle's newest point at t0, or a newer one, was read
			for _, id := range ids {
				if at, ok := seen.get(id); ok && (reached.IsZero() || at.Before(reached)) {
					reached = at
				}
			}
			if reached.IsZero() {
				missing++
				continue
			}
			last = max(last, reached.Sub(*t0))
		}
		target := o.pollInterval + 2*time.Second
		if missing == 0 {
			row("newest points of the first poll", "all %d in the topic %v after it (target %v: %s)", len(newest), last.Round(time.Millisecond), target, verdict(last <= target))
		} else {
			row("newest points of the first poll", "%d of %d in the topic by the end (%d missing; target: all within %v: MISSED)", len(newest)-missing, len(newest), missing, target)
		}
	}
	if len(series) > 1 {
		secs := float64(len(series) - 1)
		first, last := series[0], series[len(series)-1]
		var total, refused int64
		for _, k := range []string{catenasim.KindSnapshot, catenasim.KindHistory, catenasim.KindVehicles, catenasim.KindOther} {
			var peak int64
			for i := 1; i < len(series); i++ {
				peak = max(peak, series[i].Kinds[k].Served-series[i-1].Kinds[k].Served)
			}
			served := last.Kinds[k].Served - first.Kinds[k].Served
			total += served
			refused += last.Kinds[k].Refused - first.Kinds[k].Refused
			row("sim "+k+" requests", "%.2f/s mean, %d in the busiest second, %d in all, %d refused (429)",
				float64(served)/secs, peak, served, last.Kinds[k].Refused-first.Kinds[k].Refused)
		}
		row("sim requests served", "%.2f/s mean over %.0fs (limit %g/s)", float64(total)/secs, secs, o.rateLimit)
		row("sim 429s", "%d from the rate limit, %d injected", refused, last.Faults[catenasim.FaultRateLimit])
		row("requests per vehicle per hour", "%.2f", float64(total)/float64(o.vehicles)/(secs/3600))
		row("sim token requests", "%d", last.Requests[catenasim.EndpointToken])
	}
	if wh != nil {
		row("sim pushes", "%d deliveries of %d records, %d acknowledged, %d retried, %d dead-lettered", wh.Deliveries, wh.Records, wh.Acknowledged, wh.Retried, wh.DLQ)
	}
	row("exactly once", "%d valid points visible from the start to end-%v, %d events in the topic: %s", valid, o.margin, events, verdict(len(rep.errs) == 0))
	for _, e := range rep.errs {
		for i, l := range strings.Split(e, "\n") {
			if i < 12 {
				row("", "%s", l)
			}
		}
	}
	row("bridge peak RSS", "%s", mib(p.peakRSS()))
	for _, m := range metrics {
		row("bridge metric", "%s", m)
	}
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// scrape returns the bridge's /metrics lines whose name mentions sweeps,
// the budget or API requests.
func scrape(admin string) ([]string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		if strings.Contains(name, "sweep") || strings.Contains(name, "budget") || strings.Contains(name, "api_requests") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out, sc.Err()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// bridge is the `catena-bridge run` process.
type bridge struct {
	cmd     *exec.Cmd
	start   time.Time
	done    chan struct{}
	waitErr error
	hwm     atomic.Int64
}

func startBridge(bin string, env []string, logPath string) (*bridge, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = append(benchenv.Clean("WEBHOOK_"), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C reaches it through terminate, not the terminal
	p := &bridge{cmd: cmd, done: make(chan struct{}), start: time.Now()}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start the bridge: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	go p.sampleHWM()
	return p, nil
}

// sampleHWM samples VmHWM (the peak RSS of the bridge's own address space;
// see scripts/restartbench for why not ru_maxrss) every 100ms.
func (p *bridge) sampleHWM() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
			for l := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					if kb<<10 > p.hwm.Load() {
						p.hwm.Store(kb << 10)
					}
				}
			}
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

func (p *bridge) peakRSS() int64 { return p.hwm.Load() }

func (p *bridge) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits up to timeout for the exit, then kills.
func (p *bridge) terminate(timeout time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		logf("the bridge did not exit %v after SIGTERM: killing it", timeout)
		p.kill()
	}
}

func (p *bridge) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
