// Command restartbench measures catena-bridge's restart figure against a real
// Kafka broker: the time from a process's start to its first new transaction
// commit, the records it reads back from the topics to get there, and its
// peak RSS, with -events (default 2,000,000) events already in the topic.
//
// Steps (make bench-restart runs them, starting a broker when KAFKA_BROKERS
// is unset):
//
//  1. create a fresh topic set <topic>, <topic>.dlq, <topic>.checkpoints
//     (as the bridge would) and fill <topic> with -events records of
//     -value-size bytes with the bridge's headers, keyed by fleet id, their
//     timestamps rising over the 24 hours before now (produced with franz-go,
//     lz4, async); the count is checked by listing end offsets;
//  2. serve the simulator (catena-bridge sim, 1 point per vehicle per minute);
//  3. backfill: run `catena-bridge backfill` over -hours of history, SIGKILL
//     it once -kill-at of the expected events are published, then run the
//     same command again and measure it (to its exit);
//  4. run: run `catena-bridge run` (LOOKBACK -lookback) until -run-sweeps
//     sweeps, SIGTERM it, start it again and measure it until its first
//     sweep after the restart has finished;
//  5. print the table, and delete the topics (unless -keep).
//
// The time to the first commit is from just before fork/exec to the first
// scrape of /metrics (every -poll) showing
// catena_bridge_transactions_committed_total >= 1; "RSS at 1st commit" is
// VmHWM at that scrape, "peak RSS" the highest VmHWM sampled (every 20ms and
// just before the benchmark signals the process) over its whole life.
//
//	go run ./scripts/restartbench -bin bin/catena-bridge -brokers 127.0.0.1:29092
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	bin           string
	brokers       []string
	events        int64
	valueSize     int
	span          time.Duration
	hold          time.Duration
	partitions    int
	topic         string
	keep          bool
	fleets        int
	vehicles      int
	hours         int
	killAt        float64
	concurrency   int
	pageSize      int
	lookback      time.Duration
	runSweeps     int
	sweepInterval time.Duration
	pollInterval  time.Duration
	poll          time.Duration
	workdir       string
	targetFirst   time.Duration
	targetRSS     int64
	strict        bool
	skipBackfill  bool
	skipRun       bool
}

func main() {
	var o options
	var brokers string
	var targetRSSMB int64
	flag.StringVar(&o.bin, "bin", "bin/catena-bridge", "catena-bridge binary (make build)")
	flag.StringVar(&brokers, "brokers", envOr("KAFKA_BROKERS", "127.0.0.1:29092"), "Kafka seed brokers, comma-separated (default $KAFKA_BROKERS)")
	flag.Int64Var(&o.events, "events", 2_000_000, "events to put in the topic before the bridge first runs")
	flag.IntVar(&o.valueSize, "value-size", 900, "bytes per prefilled event value")
	flag.DurationVar(&o.span, "span", 24*time.Hour, "the prefilled events' timestamps rise over this span up to now (a restart reads back what falls in its window)")
	flag.DurationVar(&o.hold, "hold", 5*time.Second, "keep the restarted live tail running at least this long after its first commit (its peak RSS covers that)")
	flag.IntVar(&o.partitions, "partitions", 12, "partitions of the events and dead-letter topics (the bridge's default)")
	flag.StringVar(&o.topic, "topic", "", "events topic (default restartbench.<unix time>, a fresh one each run)")
	flag.BoolVar(&o.keep, "keep", false, "keep the topics afterwards (default: delete them)")
	flag.IntVar(&o.fleets, "fleets", 4, "simulated fleets")
	flag.IntVar(&o.vehicles, "vehicles", 25, "simulated vehicles per fleet")
	flag.IntVar(&o.hours, "hours", 8, "hours of history the backfill publishes (1 point per vehicle per minute)")
	flag.Float64Var(&o.killAt, "kill-at", 0.4, "SIGKILL the first backfill once this fraction of its events is published")
	flag.IntVar(&o.concurrency, "concurrency", 4, "BACKFILL_CONCURRENCY")
	flag.IntVar(&o.pageSize, "page-size", 100, "CATENA_PAGE_SIZE")
	flag.DurationVar(&o.lookback, "lookback", time.Hour, "LOOKBACK of the live tail")
	flag.IntVar(&o.runSweeps, "run-sweeps", 2, "stop the first live tail (SIGTERM) after this many sweeps")
	flag.DurationVar(&o.sweepInterval, "sweep-interval", 5*time.Second, "SWEEP_INTERVAL of the live tail")
	flag.DurationVar(&o.pollInterval, "poll-interval", 5*time.Second, "POLL_INTERVAL of the live tail")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often /metrics is scraped while waiting for the first commit")
	flag.StringVar(&o.workdir, "workdir", ".cache/restartbench", "where the processes' logs go")
	flag.DurationVar(&o.targetFirst, "target-first-commit", 10*time.Second, "target: restart to first new commit")
	flag.Int64Var(&targetRSSMB, "target-rss-mb", 256, "target: peak RSS of a restarted process, MiB")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 when a restart misses a target")
	flag.BoolVar(&o.skipBackfill, "skip-backfill", false, "skip the backfill scenario")
	flag.BoolVar(&o.skipRun, "skip-run", false, "skip the live tail scenario")
	flag.Parse()
	if flag.NArg() != 0 || o.events < 0 || o.span <= 0 || o.killAt <= 0 || o.killAt >= 1 || o.hours < 1 {
		flag.Usage()
		os.Exit(2)
	}
	o.brokers = strings.Split(brokers, ",")
	o.targetRSS = targetRSSMB << 20
	if o.topic == "" {
		o.topic = fmt.Sprintf("restartbench.%d", time.Now().Unix())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, &o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restartbench:", err)
		os.Exit(1)
	}
	if !ok && o.strict {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s restartbench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// result is one measured process.
type result struct {
	scenario    string
	restart     bool
	firstCommit time.Duration
	restored    float64
	hwmAtFirst  int64 // VmHWM at the first-commit scrape
	heapAtFirst int64 // go_memstats_heap_inuse_bytes at the first-commit scrape
	maxHeap     int64 // highest go_memstats_heap_inuse_bytes scraped
	dedupIDs    float64
	peakRSS     int64 // VmHWM over its life
	lifetime    time.Duration
	published   float64 // events it published (last scrape)
	offsets     int64   // end-start offsets of the events topic when it started
	note        string
	logPath     string
	timeline    []string
}

func run(ctx context.Context, o *options) (bool, error) {
	start := time.Now()
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(bin); err != nil {
		return false, fmt.Errorf("%s: %w (make build)", o.bin, err)
	}
	dir := filepath.Join(o.workdir, o.topic)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers...))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	{
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := adm.BrokerMetadata(mctx)
		cancel()
		if err != nil {
			return false, fmt.Errorf("broker %s: %w", strings.Join(o.brokers, ","), err)
		}
	}

	// --- 1. the topics, and the events already in them ----------------------
	logf("topic %s (%d partitions), logs in %s", o.topic, o.partitions, dir)
	if err := createTopics(ctx, adm, o.topic, int32(o.partitions)); err != nil {
		return false, err
	}
	if !o.keep {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := adm.DeleteTopics(dctx, o.topic, o.topic+".dlq", o.topic+".checkpoints"); err != nil {
				logf("delete topics: %v", err)
			} else {
				logf("deleted the topics (-keep keeps them)")
			}
		}()
	}
	var pre prefillResult
	if o.events > 0 {
		logf("prefill: producing %d events of %d bytes, timestamps over the previous %v", o.events, o.valueSize, o.span)
		pre, err = prefill(ctx, o.brokers, o.topic, o.events, o.valueSize, time.Now(), o.span, logf)
		if err != nil {
			return false, fmt.Errorf("prefill: %w", err)
		}
	}
	prefilled, err := topicCount(ctx, adm, o.topic)
	if err != nil {
		return false, err
	}
	logf("prefill: %d records (%.0f MB of values) in %v, %.0f records/s; end offsets list %d records",
		pre.Records, float64(pre.Bytes)/1e6, pre.Took.Round(time.Millisecond), float64(pre.Records)/pre.Took.Seconds(), prefilled)
	if prefilled != o.events {
		return false, fmt.Errorf("the events topic holds %d records by its offsets, want %d", prefilled, o.events)
	}

	// --- 2. the simulator ---------------------------------------------------
	simAddr, err := freeAddr()
	if err != nil {
		return false, err
	}
	sim, err := startProc("sim", bin, []string{"sim", "--addr", simAddr, "--fleets", fmt.Sprint(o.fleets),
		"--vehicles", fmt.Sprint(o.vehicles), "--report-interval", "1m", "--seed", "1"}, nil, "", filepath.Join(dir, "sim.log"))
	if err != nil {
		return false, err
	}
	defer sim.stop(syscall.SIGTERM, 5*time.Second)
	if err := waitTCP(ctx, simAddr, 10*time.Second); err != nil {
		return false, fmt.Errorf("simulator: %w (log %s)", err, sim.logPath)
	}

	env := func(admin string, extra ...string) []string {
		return append([]string{
			"CATENA_API_URL=http://" + simAddr,
			"CATENA_TOKEN_URL=http://" + simAddr + "/realms/catena/protocol/openid-connect/token",
			"CATENA_CLIENT_ID=demo", "CATENA_CLIENT_SECRET=demo", "CATENA_RATE_LIMIT=0",
			"KAFKA_BROKERS=" + strings.Join(o.brokers, ","), "KAFKA_TOPIC=" + o.topic,
			fmt.Sprintf("KAFKA_PARTITIONS=%d", o.partitions),
			"ADMIN_ADDR=" + admin, "LOG_LEVEL=info", "LOG_FORMAT=json",
			fmt.Sprintf("CATENA_PAGE_SIZE=%d", o.pageSize), fmt.Sprintf("BACKFILL_CONCURRENCY=%d", o.concurrency),
		}, extra...)
	}
	var results []*result
	var running []*proc
	defer func() {
		for _, p := range running {
			p.stop(syscall.SIGKILL, 5*time.Second)
		}
	}()
	launch := func(name string, args, env []string, admin string) (*proc, error) {
		p, err := startProc(name, bin, args, env, admin, filepath.Join(dir, name+".log"))
		if err == nil {
			running = append(running, p)
		}
		return p, err
	}

	// --- 3. backfill: SIGKILL part-way, then the same command again ---------
	if !o.skipBackfill {
		to := time.Now().UTC().Truncate(time.Minute)
		from := to.Add(-time.Duration(o.hours) * time.Hour)
		args := []string{"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
		expected := float64(o.fleets * o.vehicles * o.hours * 60)
		logf("backfill %s..%s: %d vehicles, ~%.0f events; SIGKILL at %.0f", from.Format(time.RFC3339), to.Format(time.RFC3339),
			o.fleets*o.vehicles, expected, expected*o.killAt)

		admin, _ := freeAddr()
		r1 := &result{scenario: "backfill, first start"}
		r1.offsets, _ = topicCount(ctx, adm, o.topic)
		p, err := launch("backfill-1", args, env(admin), admin)
		if err != nil {
			return false, err
		}
		r1.logPath = p.logPath
		var m map[string]float64
		if r1.firstCommit, m, err = p.waitMetric(ctx, o.poll, 2*time.Minute, atLeast(mTxns, 1)); err != nil {
			return false, err
		}
		r1.hwmAtFirst, _ = p.procStatus()
		r1.heapAtFirst = int64(m[mHeap])
		// Kill once enough is published and some vehicle is part-way
		// through its window (has committed pages, not all), so that the
		// restart has a window to resume and reads the topics back.
		perVehicle := float64(o.hours * 60)
		_, m, err = p.waitMetric(ctx, 5*time.Millisecond, 3*time.Minute, func(m map[string]float64) bool {
			return m[mPublished] >= expected*o.killAt && m[mPublished] > m[mDone]*perVehicle
		})
		if err != nil {
			if errors.Is(err, errExited) {
				err = fmt.Errorf("%w: the backfill finished before %.0f events; raise -hours or lower -kill-at", err, expected*o.killAt)
			}
			return false, err
		}
		p.stop(syscall.SIGKILL, 5*time.Second)
		r1.lifetime = time.Since(p.start)
		r1.published, r1.peakRSS, r1.maxHeap = m[mPublished], p.peakRSS(), p.maxHeap.Load()
		r1.note = fmt.Sprintf("SIGKILLed after %.0f events", m[mPublished])
		results = append(results, r1)
		logf("backfill-1: first commit after %v, SIGKILL at %.0f published", r1.firstCommit.Round(time.Millisecond), m[mPublished])

		r2 := &result{scenario: "backfill, restart after SIGKILL", restart: true}
		if r2.offsets, err = topicCount(ctx, adm, o.topic); err != nil {
			return false, err
		}
		admin, _ = freeAddr()
		p, err = launch("backfill-2", args, env(admin), admin)
		if err != nil {
			return false, err
		}
		r2.logPath = p.logPath
		if err := measureRestart(ctx, o, p, r2, func(last map[string]float64) (bool, error) {
			return false, nil // runs to its exit
		}, 4*time.Minute); err != nil {
			return false, err
		}
		if p.waitErr != nil {
			return false, fmt.Errorf("backfill-2: %v (log %s)", p.waitErr, p.logPath)
		}
		for _, l := range readLog(p.logPath) {
			if l.Msg == "backfill complete" {
				if v, ok := l.Attrs["published"].(float64); ok {
					r2.published = v
				}
			}
		}
		r2.note = fmt.Sprintf("ran to completion in %v", r2.lifetime.Round(time.Millisecond))
		results = append(results, r2)
		logf("backfill-2: first commit after %v, %.0f records read back, peak RSS %s", r2.firstCommit.Round(time.Millisecond), r2.restored, mib(r2.peakRSS))
	}

	// --- 4. live tail: SIGTERM after some sweeps, then start it again --------
	if !o.skipRun {
		extra := []string{"LOOKBACK=" + o.lookback.String(), "SWEEP_INTERVAL=" + o.sweepInterval.String(), "POLL_INTERVAL=" + o.pollInterval.String()}
		admin, _ := freeAddr()
		r3 := &result{scenario: "run, first start"}
		r3.offsets, _ = topicCount(ctx, adm, o.topic)
		p, err := launch("run-1", []string{"run"}, env(admin, extra...), admin)
		if err != nil {
			return false, err
		}
		r3.logPath = p.logPath
		var m map[string]float64
		if r3.firstCommit, m, err = p.waitMetric(ctx, o.poll, 2*time.Minute, atLeast(mTxns, 1)); err != nil {
			return false, err
		}
		r3.hwmAtFirst, _ = p.procStatus()
		r3.heapAtFirst = int64(m[mHeap])
		_, m, err = p.waitMetric(ctx, 100*time.Millisecond, 3*time.Minute, atLeast(mSweeps, float64(o.runSweeps)))
		if err != nil {
			return false, err
		}
		r3.restored, r3.published = m[mRestored], m[mPublished]
		p.stop(syscall.SIGTERM, 30*time.Second)
		r3.lifetime, r3.peakRSS, r3.maxHeap = time.Since(p.start), p.peakRSS(), p.maxHeap.Load()
		r3.note = fmt.Sprintf("SIGTERMed after %d sweeps (exit: %v)", o.runSweeps, exitText(p.waitErr))
		results = append(results, r3)
		logf("run-1: first commit after %v, SIGTERM after %d sweeps", r3.firstCommit.Round(time.Millisecond), o.runSweeps)

		r4 := &result{scenario: "run, restart after SIGTERM", restart: true}
		if r4.offsets, err = topicCount(ctx, adm, o.topic); err != nil {
			return false, err
		}
		admin, _ = freeAddr()
		p, err = launch("run-2", []string{"run"}, env(admin, extra...), admin)
		if err != nil {
			return false, err
		}
		r4.logPath = p.logPath
		if err := measureRestart(ctx, o, p, r4, func(last map[string]float64) (bool, error) {
			// The restart's own sweep is done, and it ran -hold.
			return last[mSweeps] >= 1 && time.Since(p.start) >= r4.firstCommit+o.hold, nil
		}, 3*time.Minute); err != nil {
			return false, err
		}
		r4.note = fmt.Sprintf("SIGTERMed after its first sweep and -hold, %v (exit: %v)", r4.lifetime.Round(time.Millisecond), exitText(p.waitErr))
		results = append(results, r4)
		logf("run-2: first commit after %v, %.0f records read back, peak RSS %s", r4.firstCommit.Round(time.Millisecond), r4.restored, mib(r4.peakRSS))
	}

	final, _ := topicCount(ctx, adm, o.topic)
	ok := report(o, results, prefilled, final, time.Since(start))
	return ok, nil
}

// measureRestart waits for p's first commit, then scrapes /metrics every
// 100ms until done says to stop it (SIGTERM) or it exits by itself, and fills
// r.
func measureRestart(ctx context.Context, o *options, p *proc, r *result, done func(map[string]float64) (bool, error), timeout time.Duration) error {
	first, m, err := p.waitMetric(ctx, o.poll, timeout, atLeast(mTxns, 1))
	if err != nil {
		return err
	}
	r.firstCommit = first
	r.hwmAtFirst, _ = p.procStatus()
	r.restored = m[mRestored]
	r.heapAtFirst = int64(m[mHeap])
	last := m
	deadline := time.Now().Add(timeout)
	for !p.exited() {
		if m, err := p.metrics(); err == nil {
			last = m
		}
		if stop, _ := done(last); stop {
			p.stop(syscall.SIGTERM, 30*time.Second)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(syscall.SIGTERM, 30*time.Second)
			return fmt.Errorf("%s: not done after %v (log %s)", p.name, timeout, p.logPath)
		}
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	<-p.done
	r.lifetime = time.Since(p.start)
	r.peakRSS = p.peakRSS()
	r.maxHeap = p.maxHeap.Load()
	r.dedupIDs = last[mDedupIDs]
	if r.published == 0 {
		r.published = last[mPublished]
	}
	if last[mRestored] > r.restored {
		r.restored = last[mRestored]
	}
	// Where the time to the first commit went: the log up to it.
	for _, l := range readLog(p.logPath) {
		off := l.At.Sub(p.start)
		if off > first+500*time.Millisecond {
			break
		}
		r.timeline = append(r.timeline, fmt.Sprintf("%8.3fs  %-5s %s%s", off.Seconds(), l.Level, l.Msg, attrs(l.Attrs)))
	}
	return nil
}

func attrs(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		switch k {
		case "records_read", "ids_restored", "read_since", "vehicles_mid_window", "vehicles", "already_done",
			"topic", "first_start", "vehicles_known", "job", "err", "claim_from", "took", "from":
			v := m[k]
			if f, ok := v.(float64); ok {
				if k == "took" { // slog's JSON handler writes durations in ns
					v = time.Duration(f).Round(time.Millisecond)
				} else if f == float64(int64(f)) {
					v = int64(f)
				}
			}
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	return b.String()
}

func atLeast(name string, v float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m[name] >= v }
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// report prints the table; false when a restart misses a target.
func report(o *options, rs []*result, prefilled, final int64, took time.Duration) bool {
	ok := true
	w := os.Stdout
	fmt.Fprintf(w, "\n=== catena-bridge restart benchmark (topic %s, %d partitions, %d vehicles; %s) ===\n",
		o.topic, o.partitions, o.fleets*o.vehicles, time.Now().Format(time.RFC3339))
	fmt.Fprintf(w, "events in the topic before the bridge first ran: %d (listed by end offsets; %d-byte values, timestamps over the previous %v)\n",
		prefilled, o.valueSize, o.span)
	fmt.Fprintf(w, "targets for a restart: first new commit < %v, peak RSS < %s\n\n", o.targetFirst, mib(o.targetRSS))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\toffsets in topic at start\tstart→1st commit\trecords read back\tRSS at 1st commit\tpeak RSS\tpeak heap in use\tevents published\tverdict\t")
	for _, r := range rs {
		verdict := "(reference)"
		if r.restart {
			verdict = "OK"
			var miss []string
			if r.firstCommit >= o.targetFirst {
				miss = append(miss, "time")
			}
			if r.peakRSS >= o.targetRSS {
				miss = append(miss, "RSS")
			}
			if len(miss) > 0 {
				verdict = "OVER TARGET: " + strings.Join(miss, "+")
				ok = false
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f s\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t\n", r.scenario, r.offsets, r.firstCommit.Seconds(), r.restored,
			mib(r.hwmAtFirst), mib(r.peakRSS), mib(r.maxHeap), r.published, verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rs {
		fmt.Fprintf(w, "%s: %s; log %s\n", r.scenario, r.note, r.logPath)
		if r.restart {
			fmt.Fprintf(w, "    heap in use at 1st commit %s, highest scraped %s", mib(r.heapAtFirst), mib(r.maxHeap))
			if r.dedupIDs > 0 {
				fmt.Fprintf(w, "; live dedup ids held at the end %.0f", r.dedupIDs)
			}
			fmt.Fprintln(w)
		}
	}
	for _, r := range rs {
		if r.restart && len(r.timeline) > 0 {
			fmt.Fprintf(w, "\n%s, its log up to the first commit (seconds since fork/exec):\n", r.scenario)
			for _, l := range r.timeline {
				fmt.Fprintln(w, "  "+l)
			}
		}
	}
	fmt.Fprintf(w, "\noffsets in the events topic at the end: %d (events plus transaction markers); benchmark took %v\n", final, took.Round(time.Second))
	return ok
}
