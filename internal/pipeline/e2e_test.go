package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// t0 is the simulated "now" of the end-to-end tests.
var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// faulty is a simulator with every fault that reaches the bridge switched on.
func faulty(fleets, vehicles int, interval time.Duration) catenasim.Config {
	return catenasim.Config{
		Seed: 7, Fleets: fleets, VehiclesPerFleet: vehicles, ReportInterval: interval,
		Faults: catenasim.Faults{
			RateLimitEvery:   23,
			RetryAfter:       time.Second,
			ServerErrorEvery: 17,
			DuplicateEvery:   2,
			MalformedEvery:   29,
		},
	}
}

func TestBackfillEndToEnd(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, faulty(3, 4, time.Minute), t0, nil)
		// Four hours: 240 records a vehicle, three pages of 100, and
		// every fault below injected (the test checks it is).
		from, to := t0.Add(-4*time.Hour), t0
		res, err := h.pipe.Backfill(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if res.Vehicles != 12 {
			t.Errorf("backfill saw %d vehicles, want 12", res.Vehicles)
		}
		valid, malformed := h.truth(from, to, t0)
		events, dlq := h.readBack()
		verify.Topic(t, events, dlq, valid, malformed, 6)
		for _, fault := range []string{catenasim.FaultRateLimit, catenasim.FaultServerError, catenasim.FaultDuplicate, catenasim.FaultMalformed} {
			if h.sim.Stats().Faults[fault] == 0 {
				t.Errorf("the simulator injected no %s fault: the test does not show the bridge survives it", fault)
			}
		}
		c := h.metrics.Counts()
		if c.Duplicates == 0 {
			t.Error("no duplicates counted: the simulator's repeated records did not reach the dedup stage")
		}

		// The job is checkpointed as complete: running it again publishes nothing.
		h.start(nil)
		res, err = h.pipe.Backfill(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !res.AlreadyComplete {
			t.Error("second run of a finished backfill did not find it complete")
		}
		events2, dlq2 := h.readBack()
		if len(events2) != len(events) || len(dlq2) != len(dlq) {
			t.Errorf("second run published: events %d -> %d, dead letters %d -> %d", len(events), len(events2), len(dlq), len(dlq2))
		}
	})
}

// TestBackfillResume stops a backfill part-way (context cancelled after some
// pages) and runs it again: the result is still exactly once.
func TestBackfillResume(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, faulty(2, 3, time.Minute), t0, nil)
		// Four hours: three pages of 100 a vehicle, the stop at the sixth
		// page request leaves windows half done (the checks below say so).
		from, to := t0.Add(-4*time.Hour), t0
		ctx, cancel := context.WithCancel(t.Context())
		h.cancelAtPage(6, cancel)
		if _, err := h.pipe.Backfill(ctx, from, to); err == nil {
			t.Log("backfill finished before it was stopped")
		} else if !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped backfill: %v", err)
		}
		h.start(nil)
		// The saved cursors have expired meanwhile: the first one is refused.
		h.refuseCursors.Store(1)
		res, err := h.pipe.Backfill(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if h.refuseCursors.Load() >= 0 {
			t.Error("no request with a cursor was refused: the resume started no window half-way")
		}
		if res.Resumed == 0 {
			t.Error("nothing resumed: the first run was not stopped part-way")
		}
		valid, malformed := h.truth(from, to, t0)
		events, dlq := h.readBack()
		verify.Topic(t, events, dlq, valid, malformed, 6)
	})
}

// TestBackfillAPIOutage takes the API down (503 to every request) for
// longer than the client retries one request: the backfill waits for it
// instead of failing, and finishes with every record exactly once.
func TestBackfillAPIOutage(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, faulty(2, 2, time.Minute), t0, func(c *pipeline.Config) {
			c.OutageRetryInterval = 20 * time.Millisecond
		})
		h.retryMaxElapsed = 100 * time.Millisecond
		h.start(func(c *pipeline.Config) { c.OutageRetryInterval = 20 * time.Millisecond })
		from, to := t0.Add(-4*time.Hour), t0
		// Down until the backfill has given up on a request three times.
		down := func(*http.Request) int {
			if testutil.ToFloat64(h.metrics.PollErrors) < 3 {
				return http.StatusServiceUnavailable
			}
			return 0
		}
		h.answer.Store(&down)
		if _, err := h.pipe.Backfill(t.Context(), from, to); err != nil {
			t.Fatalf("backfill failed during an API outage: %v", err)
		}
		valid, malformed := h.truth(from, to, t0)
		events, dlq := h.readBack()
		verify.Topic(t, events, dlq, valid, malformed, 6)
	})
}

// TestRunEndToEnd tails the simulator live while its clock moves: steady
// polls, a gap longer than GAP_THRESHOLD, and late records that only a sweep
// can find.
func TestRunEndToEnd(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := faulty(2, 3, time.Minute)
		cfg.Faults.LateEvery = 7
		cfg.Faults.LateBy = 4 * time.Minute
		cfg.Faults.RateLimitEvery = 29 // each costs a 1s Retry-After
		lookback := 30 * time.Minute
		h := newHarness(t, cfg, t0, func(c *pipeline.Config) {
			c.PollInterval = 20 * time.Millisecond
			c.SweepInterval = 100 * time.Millisecond
			c.GapThreshold = 2 * time.Minute
			c.Lookback = lookback
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		runErr := make(chan error, 1)
		go func() { runErr <- h.pipe.Run(ctx) }()

		// Minute steps, then a 10-minute jump (a gap), then minute steps.
		steps := []time.Duration{}
		for range 10 {
			steps = append(steps, time.Minute)
		}
		steps = append(steps, 10*time.Minute)
		for range 8 {
			steps = append(steps, time.Minute)
		}
		end := t0
		for _, d := range steps {
			end = end.Add(d)
		}
		// Everything visible at the end, from the first start's lookback on.
		valid, malformed := h.truth(t0.Add(-lookback), end, end)
		polled := func(at time.Time) {
			// A poll after the clock moved publishes the new latest points.
			pages := h.metrics.Counts().Pages
			waitFor(t, 30*time.Second, fmt.Sprintf("a poll at simulated %s", at), func() bool { return h.metrics.Counts().Pages >= pages+2 })
		}
		polled(t0)
		now := t0
		for _, d := range steps {
			now = now.Add(d)
			h.clock.Set(now)
			polled(now)
		}
		// The last late points become visible LateBy after they occur; a sweep
		// after that finds them.
		waitFor(t, time.Minute, fmt.Sprintf("%d published, %d dead-lettered", len(valid), len(malformed)), func() bool {
			c := h.metrics.Counts()
			return c.Published >= int64(len(valid)) && sumDL(c.DeadLetters) >= int64(len(malformed))
		})
		cancel()
		if err := <-runErr; err != nil {
			t.Fatalf("run: %v", err)
		}
		events, dlq := h.readBack()
		for _, fault := range []string{catenasim.FaultRateLimit, catenasim.FaultServerError, catenasim.FaultMalformed} {
			if h.sim.Stats().Faults[fault] == 0 {
				t.Errorf("the simulator injected no %s fault: the test does not show the tail survives it", fault)
			}
		}
		for _, mode := range []string{"live", "gap", "sweep"} {
			if n := testutil.ToFloat64(h.metrics.Pages.WithLabelValues(mode)); n == 0 {
				t.Errorf("no %s pages: that path of the live tail was not exercised", mode)
			}
		}
		verify.Topic(t, events, dlq, valid, malformed, 6)

		// A restart republishes nothing: it resumes from the checkpoint and the
		// ids in the events topic.
		h.start(func(c *pipeline.Config) {
			c.PollInterval = 20 * time.Millisecond
			c.SweepInterval = 100 * time.Millisecond
			c.GapThreshold = 2 * time.Minute
			c.Lookback = lookback
		})
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() { runErr <- h.pipe.Run(ctx2) }()
		polled(now)
		polled(now)
		cancel2()
		if err := <-runErr; err != nil {
			t.Fatalf("restarted run: %v", err)
		}
		events2, dlq2 := h.readBack()
		if len(events2) != len(events) || len(dlq2) != len(dlq) {
			t.Errorf("restart published again: events %d -> %d, dead letters %d -> %d", len(events), len(events2), len(dlq), len(dlq2))
		}
	})
}

func sumDL(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestRunLatency measures how long a record takes from becoming visible at
// the API to being committed to Kafka (the record's timestamp is its
// produce time): a vehicle's newest point within POLL_INTERVAL + 2s, a late
// record within SWEEP_INTERVAL + 2s. Against a real broker that is the wall
// clock; in a bubble (make test) the fake clock, which counts the bridge's
// waits (its scheduling) but not its CPU.
func TestRunLatency(t *testing.T) {
	bubble(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: runs several seconds of its clock (the wall clock against a real broker)")
		}
		const (
			poll  = 500 * time.Millisecond
			sweep = 2 * time.Second
		)
		cfg := faulty(2, 3, time.Second) // a point per vehicle per second: each poll finds new newest points
		cfg.Faults = catenasim.Faults{LateEvery: 5, LateBy: 1500 * time.Millisecond}
		cfg.Clock = catenasim.NewClock(time.Now(), 1)
		h := newHarness(t, cfg, time.Time{}, func(c *pipeline.Config) {
			c.PollInterval, c.SweepInterval, c.Lookback, c.GapThreshold = poll, sweep, time.Minute, time.Minute
		})
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		runErr := make(chan error, 1)
		go func() { runErr <- h.pipe.Run(ctx) }()
		// Run for three sweeps' worth of real time.
		<-time.After(3*sweep + time.Second)
		cancel()
		if err := <-runErr; err != nil {
			t.Fatal(err)
		}
		stop := time.Now()
		events, _ := h.readBack()
		truth := map[string]catenasim.Point{}
		for _, v := range h.sim.Vehicles() {
			for _, p := range h.sim.Points(v.ID, start.Add(-time.Minute), stop) {
				truth[p.ID] = p
			}
		}
		var newest, late, slowNewest, slowLate int
		var worstNewest, worstLate time.Duration
		for _, r := range events {
			p, ok := truth[verify.Header(r, "catena-id")]
			// Only records that became visible while the tail ran, and early
			// enough that a poll or sweep was due before it stopped.
			if !ok || p.VisibleAt.Before(start.Add(sweep)) {
				continue
			}
			lat := r.Timestamp.Sub(p.VisibleAt)
			if p.Late {
				late++
				worstLate = max(worstLate, lat)
				if lat > sweep+2*time.Second {
					slowLate++
				}
			} else {
				newest++
				worstNewest = max(worstNewest, lat)
				if lat > poll+2*time.Second {
					slowNewest++
				}
			}
		}
		if newest == 0 || late == 0 {
			t.Fatalf("measured %d newest points and %d late records: nothing to judge", newest, late)
		}
		if slowNewest > 0 || slowLate > 0 {
			t.Errorf("%d of %d points later than POLL_INTERVAL+2s (worst %v); %d of %d late records later than SWEEP_INTERVAL+2s (worst %v)",
				slowNewest, newest, worstNewest, slowLate, late, worstLate)
		}
		t.Logf("visible→committed: %d points, worst %v (bound %v); %d late records, worst %v (bound %v)",
			newest, worstNewest.Round(time.Millisecond), poll+2*time.Second, late, worstLate.Round(time.Millisecond), sweep+2*time.Second)
	})
}

// TestRunRestartsCatchUp restarts the live tail more often than its
// SWEEP_INTERVAL. Points between two polls (closer than GAP_THRESHOLD) are
// published only by sweeps; every restart sweeps at once from where the last
// complete sweep left off, so after the next start nothing is missing.
func TestRunRestartsCatchUp(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 2, VehiclesPerFleet: 2, ReportInterval: 20 * time.Second}
		lookback := 30 * time.Minute
		tune := liveTune(time.Hour) // a sweep never falls due within one process
		h := newHarness(t, cfg, t0, tune)
		now := t0
		run := func(minutes int) {
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() { errc <- h.pipe.Run(ctx) }()
			waitPages(t, h, 2)
			for range minutes {
				now = now.Add(time.Minute)
				h.clock.Set(now)
				waitPages(t, h, 2)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		for proc := range 3 {
			if proc > 0 {
				h.start(tune)
			}
			run(4)
		}
		// The last process's own between-poll points wait for the next sweep:
		// a fourth start, whose first sweep must find everything.
		h.start(tune)
		valid, malformed := h.truth(t0.Add(-lookback), now, now)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		// Published counts this process only: what the earlier ones missed.
		before, _ := h.readBack()
		missing := int64(len(valid) - len(before))
		waitFor(t, 30*time.Second, fmt.Sprintf("the restarted tail publishes the %d records the earlier processes left", missing), func() bool {
			return h.metrics.Counts().Published >= missing
		})
		if missing <= 0 {
			t.Fatal("the earlier processes left nothing for the restart's sweep: the test shows nothing")
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		events, dlq := h.readBack()
		verify.Topic(t, events, dlq, valid, malformed, 6)
		t.Logf("the restart's sweep published the %d between-poll records the earlier processes left", missing)
	})
}
