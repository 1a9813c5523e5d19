package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// liveTune is the live tail's settings in these tests: polls and sweeps
// fast on the wall clock; GAP_THRESHOLD 2m and LOOKBACK 30m of simulated
// time.
func liveTune(sweep time.Duration) func(*pipeline.Config) {
	return func(c *pipeline.Config) {
		c.PollInterval = 20 * time.Millisecond
		c.SweepInterval = sweep
		c.GapThreshold = 2 * time.Minute
		c.Lookback = 30 * time.Minute
	}
}

// waitPages waits until the tail processed n more pages (polls, gap and
// sweep pages).
func waitPages(t *testing.T, h *harness, n int) {
	t.Helper()
	waitCounter(t, func() float64 { return float64(h.metrics.Counts().Pages) }, n)
}

// waitSweeps waits until the tail completed n more sweeps.
func waitSweeps(t *testing.T, h *harness, n int) {
	t.Helper()
	waitCounter(t, func() float64 { return testutil.ToFloat64(h.metrics.Sweeps) }, n)
}

func waitCounter(t *testing.T, read func() float64, n int) {
	t.Helper()
	want := read() + float64(n)
	waitFor(t, 30*time.Second, fmt.Sprintf("counter at %v", want), func() bool { return read() >= want })
}

// TestRunNewVehicleDuringDowntime: a vehicle that starts reporting while
// the tail is down, for longer than LOOKBACK, is unknown to the restart's
// sweep; the snapshot's gap fill publishes its history from where the sweeps
// reach.
func TestRunNewVehicleDuringDowntime(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute}
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		newV := h.sim.Vehicles()[1].ID
		appear := t0.Add(30 * time.Minute) // during the downtime
		hide := func(v string, at time.Time) bool { return v == newV && at.Before(appear) }
		h.hide.Store(&hide)

		now := t0
		runSteps(t, h, &now, 3)
		now = t0.Add(3 * time.Hour) // downtime of ~3h > LOOKBACK
		h.clock.Set(now)
		h.start(tune)
		runSteps(t, h, &now, 3)

		events, _ := h.readBack()
		got := map[string]bool{}
		for _, r := range events {
			got[verify.Header(r, "catena-id")] = true
		}
		missing, total := 0, 0
		var first, last time.Time
		for _, p := range h.sim.Points(newV, appear, now) {
			if p.Malformed != "" || p.VisibleAt.After(now) {
				continue
			}
			total++
			if !got[p.ID] {
				if missing == 0 {
					first = p.OccurredAt
				}
				last = p.OccurredAt
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("new vehicle: %d of %d points never published, occurred %s .. %s (restart at %s)", missing, total, first, last, now.Add(-3*time.Minute))
		}
	})
}

// TestRunDeadLetterOnceAcrossGap: bad records move the vehicle's last
// handled point like good ones, so a later gap fill does not read them again
// and dead-letter them twice once the id set has evicted them.
func TestRunDeadLetterOnceAcrossGap(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
			Faults: catenasim.Faults{MalformedEvery: 1}}
		tune := liveTune(50 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		v := h.sim.Vehicles()[0].ID
		pts := h.sim.Points(v, t0, t0.Add(time.Hour))
		var g, d1, d2 catenasim.Point
		for i := 0; i+2 < len(pts); i++ {
			if pts[i].Malformed == "" && pts[i+1].Malformed != "" && pts[i+2].Malformed != "" {
				g, d1, d2 = pts[i], pts[i+1], pts[i+2]
				break
			}
		}
		if g.ID == "" {
			t.Fatal("no pattern")
		}
		offEnd := d2.OccurredAt.Add(3 * time.Hour)
		hide := func(vid string, at time.Time) bool { return vid == v && at.After(d2.OccurredAt) && at.Before(offEnd) }
		h.hide.Store(&hide)

		h.clock.Set(g.OccurredAt)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		for _, at := range []time.Time{d1.OccurredAt, d2.OccurredAt, d2.OccurredAt.Add(2 * time.Hour)} {
			h.clock.Set(at)
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2) // sweeps move the horizon past d1
		h.clock.Set(offEnd.Add(90 * time.Second))
		waitPages(t, h, 2)
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		n, _ := deadLetterCounts(h)
		for id, c := range n {
			if c > 1 {
				t.Errorf("dead letter %s (d1=%v d2=%v) in the DLQ %d times", id, id == d1.ID, id == d2.ID, c)
			}
		}
	})
}

// TestRunBadStreak: a vehicle whose records turn bad (broken GPS) after one
// good point: the tail does not gap-fill the growing streak every poll and
// dead-letters each bad record once.
func TestRunBadStreak(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
			Faults: catenasim.Faults{MalformedEvery: 1}}
		tune := liveTune(50 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		v := h.sim.Vehicles()[0].ID
		var g time.Time
		good := map[time.Time]bool{}
		for _, p := range h.sim.Points(v, t0.Add(-time.Hour), t0.Add(4*time.Hour)) {
			if p.Malformed == "" {
				if g.IsZero() && p.OccurredAt.After(t0) {
					g = p.OccurredAt
				}
				good[p.OccurredAt] = true
			}
		}
		hide := func(vid string, at time.Time) bool { return vid == v && at.After(g) && good[at] }
		h.hide.Store(&hide)
		h.clock.Set(g.Add(time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := g
		for range 24 { // 2 hours in 5-minute steps
			now = now.Add(5 * time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 3)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		n, dlq := deadLetterCounts(h)
		dups := 0
		for _, c := range n {
			dups += c - 1
		}
		if dups > 0 {
			t.Errorf("%d distinct bad records, %d dead letters (%d duplicates)", len(n), len(dlq), dups)
		}
	})
}

// runSteps runs the tail while the simulated clock moves steps minutes, then
// waits for two sweeps and stops it.
func runSteps(t *testing.T, h *harness, now *time.Time, steps int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- h.pipe.Run(ctx) }()
	waitPages(t, h, 2)
	for range steps {
		*now = now.Add(time.Minute)
		h.clock.Set(*now)
		waitPages(t, h, 2)
	}
	waitSweeps(t, h, 2)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// checkPublished checks every valid point in [from, to) of the vehicles
// given (default: all) was published exactly once.
func checkPublished(t *testing.T, h *harness, from, to time.Time, only ...string) {
	t.Helper()
	events, _ := h.readBack()
	got := map[string]int{}
	for _, r := range events {
		got[verify.Header(r, "catena-id")]++
	}
	for _, v := range h.sim.Vehicles() {
		if len(only) > 0 && !slices.Contains(only, v.ID) {
			continue
		}
		missing, total := 0, 0
		var first, last time.Time
		for _, p := range h.sim.Points(v.ID, from, to) {
			if p.Malformed != "" || p.VisibleAt.After(to) {
				continue
			}
			total++
			if got[p.ID] == 0 {
				if missing == 0 {
					first = p.OccurredAt
				}
				last = p.OccurredAt
				missing++
			}
			if got[p.ID] > 1 {
				t.Errorf("vehicle %s: %s published %d times", v.ID, p.ID, got[p.ID])
			}
		}
		if missing > 0 {
			t.Errorf("vehicle %s: %d of %d points never published, occurred %s .. %s", v.ID, missing, total, first, last)
		}
	}
}

// TestRunCrashDuringFirstSweep: the first start's sweep is interrupted after
// one vehicle and the tail is down for 3h (> LOOKBACK); the vehicles the
// sweep did not reach still get everything from the first start's coverage on.
func TestRunCrashDuringFirstSweep(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 3, ReportInterval: time.Minute}
		tune := func(c *pipeline.Config) {
			c.PollInterval = 20 * time.Millisecond
			c.SweepInterval = 100 * time.Millisecond
			c.GapThreshold = 2 * time.Minute
			c.Lookback = 30 * time.Minute
			c.Concurrency = 1
		}
		h := newHarness(t, cfg, t0, tune)
		h.retryMaxElapsed = 50 * time.Millisecond
		h.start(tune)
		var hist atomic.Int64
		fail := func(r *http.Request) bool {
			if r.URL.Query().Get("only_latest") == "false" {
				return hist.Add(1) > 1
			}
			return false
		}
		h.fail.Store(&fail)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 1) // first vehicle swept and committed; the rest of the sweep fails
		cancel()           // a crash: nothing more was committed
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		h.fail.Store(nil)

		now := t0.Add(3 * time.Hour)
		h.clock.Set(now)
		h.start(tune)
		runSteps(t, h, &now, 3)
		checkPublished(t, h, t0, now)
	})
}

// TestRunBadVehicleID: a snapshot record whose vehicle_id is not a UUID is
// dead-lettered; it asks the API for no history (a 422 every poll) and keeps
// no vehicle state a sweep would fail on, so a vehicle parked longer than
// LOOKBACK is still gap-filled when it moves again.
func TestRunBadVehicleID(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute}
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		a, b := h.sim.Vehicles()[0].ID, h.sim.Vehicles()[1].ID
		// Parked for 57 minutes, about twice LOOKBACK (30m).
		parkFrom, parkTo := t0.Add(3*time.Minute), t0.Add(time.Hour)
		hide := func(v string, at time.Time) bool { return v == b && !at.Before(parkFrom) && at.Before(parkTo) }
		h.hide.Store(&hide)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := t0
		for range 5 {
			now = now.Add(time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 2)
		}
		// From now on vehicle a's latest record carries a vehicle_id that is not a UUID.
		rw := func(latest bool, m map[string]json.RawMessage) {
			if latest && string(m["vehicle_id"]) == `"`+a+`"` {
				m["vehicle_id"] = json.RawMessage(`"not-a-uuid"`)
			}
		}
		h.rewrite.Store(&rw)
		h.rewriteOnly.Store(&a) // rw edits only a's items
		for now.Before(parkTo.Add(20 * time.Minute)) {
			now = now.Add(5 * time.Minute)
			h.clock.Set(now)
			waitSweeps(t, h, 1)
		}
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := testutil.ToFloat64(h.metrics.PollErrors) + testutil.ToFloat64(h.metrics.VehicleErrors.WithLabelValues("sweep")) +
			testutil.ToFloat64(h.metrics.VehicleErrors.WithLabelValues("gap")); n > 0 {
			t.Errorf("%v polls, sweeps or gap fills failed: a bad vehicle_id must not fail the tail's requests", n)
		}
		// Vehicle a's newest records came with a bad vehicle_id and went to the
		// dead-letter topic; only b's track is the tail's to complete.
		checkPublished(t, h, parkTo, now, b)
	})
}

// TestRunGapResumesNewestFirst: a vehicle offline for hours uploads its
// track at once; the API pages its history newest first (the contract
// states no order) and the tail stops after the gap's first page. The
// restart resumes the gap at its saved cursor: the older pages, behind the
// vehicle's newest committed point and behind the sweeps, are published.
func TestRunGapResumesNewestFirst(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute}
		tune := liveTune(50 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		h.descending.Store(true)
		back := t0.Add(5 * time.Hour) // the vehicle is offline until then, then uploads everything
		hide := func(_ string, at time.Time) bool {
			return at.After(t0) && at.Before(back) && h.clock.Now().Before(back)
		}
		h.hide.Store(&hide)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := t0
		for now.Add(time.Hour).Before(back) { // the sweeps move on while the vehicle is silent
			now = now.Add(time.Hour)
			h.clock.Set(now)
			waitSweeps(t, h, 2)
		}
		// Back online: stop the tail when it asks for the gap's second page.
		stop := func(r *http.Request) bool {
			if r.URL.Query().Get("cursor") == "desc:100" {
				cancel()
				return true
			}
			return false
		}
		h.fail.Store(&stop)
		now = back.Add(time.Minute)
		h.clock.Set(now)
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatal("the tail never asked for the gap's second page")
		}
		if testutil.ToFloat64(h.metrics.Pages.WithLabelValues("gap")) != 1 {
			t.Fatalf("%v gap pages before the stop, want 1", testutil.ToFloat64(h.metrics.Pages.WithLabelValues("gap")))
		}
		h.fail.Store(nil)
		h.start(tune)
		runSteps(t, h, &now, 1)
		checkPublished(t, h, t0.Add(-30*time.Minute), now)
	})
}

// deadLetterCounts reads the dead-letter topic back: how often each id is in
// it, and the records.
func deadLetterCounts(h *harness) (map[string]int, []*kgo.Record) {
	_, dlq := h.readBack()
	n := map[string]int{}
	for _, r := range dlq {
		n[verify.Header(r, "catena-id")]++
	}
	return n, dlq
}
