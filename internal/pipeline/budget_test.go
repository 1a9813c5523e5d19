package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// budgetHarness is a live tail on the wall clock whose client spends limit
// requests per second, against 60 vehicles reporting every 10s.
func budgetHarness(t *testing.T, limit float64, tune func(*pipeline.Config)) *harness {
	cfg := catenasim.Config{Seed: 11, Fleets: 3, VehiclesPerFleet: 20, ReportInterval: 10 * time.Second}
	cfg.Clock = catenasim.NewClock(time.Now(), 1)
	h := newHarness(t, cfg, time.Time{}, tune)
	h.rateLimit = limit
	h.start(tune) // again, with the rate limit
	return h
}

// The first start publishes the snapshot at once: every vehicle's newest
// point is in the topic within POLL_INTERVAL + 2s, although its LOOKBACK
// of history takes several times that at the rate limit (it follows on the
// catch-up lane), and then the history is complete too.
func TestRunFirstStartSnapshotFirst(t *testing.T) {
	bubble(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: runs several seconds of its clock (the wall clock against a real broker)")
		}
		const poll = time.Second
		h := budgetHarness(t, 10, func(c *pipeline.Config) {
			// 60 vehicles × 60 points in 10 minutes, in pages of 30: about
			// 120 history requests, 12s at 10/s.
			c.PollInterval, c.SweepInterval, c.Lookback, c.PageSize, c.GapThreshold = poll, time.Hour, 10*time.Minute, 30, 30*time.Second
		})
		start := time.Now()
		newest := map[string]time.Time{} // vehicle → its newest point's occurred_at at start
		for _, v := range h.sim.Vehicles() {
			if pts := h.sim.Points(v.ID, start.Add(-time.Minute), start.Add(-time.Second)); len(pts) > 0 {
				newest[v.ID] = pts[len(pts)-1].OccurredAt
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		runErr := make(chan error, 1)
		go func() { runErr <- h.pipe.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-runErr; err != nil {
				t.Error(err)
			}
		}()
		<-time.After(poll + 2*time.Second)
		events, dlq := h.readBack()
		truth, bad := h.truth(start.Add(-time.Hour), time.Now(), time.Now())
		for id, p := range bad {
			truth[id] = p
		}
		reached := map[string]bool{} // vehicles with a point at or after their newest at start
		for _, r := range append(events, dlq...) {
			if p, ok := truth[verify.Header(r, "catena-id")]; ok && !p.OccurredAt.Before(newest[p.VehicleID]) {
				reached[p.VehicleID] = true
			}
		}
		var missing int
		for v := range newest {
			if !reached[v] {
				missing++
			}
		}
		if missing > 0 || len(newest) < 60 {
			t.Fatalf("%d of %d vehicles' newest points not published within POLL_INTERVAL+2s of the first start (%d events in all)", missing, len(newest), len(events))
		}
		// The history is the catch-up lane's: not done yet, and done later.
		if n := len(events); n > 60*60/2 {
			t.Fatalf("%d events after 3s: the LOOKBACK went first, or the rate limit was not applied", n)
		}
		waitFor(t, 90*time.Second, "the first sweep (the LOOKBACK of history)", func() bool {
			return testutil.ToFloat64(h.metrics.Sweeps) >= 1
		})
		events, _ = h.readBack()
		valid, _ := h.truth(start.Add(-10*time.Minute+time.Minute), start.Add(-time.Second), time.Now())
		ids := map[string]int{}
		for _, r := range events {
			ids[verify.Header(r, "catena-id")]++
		}
		for id := range valid {
			if ids[id] != 1 {
				t.Fatalf("record %s of the LOOKBACK published %d times after the first sweep", id, ids[id])
			}
		}
		if live, catchUp := testutil.ToFloat64(h.metrics.BudgetRequests.WithLabelValues("live")), testutil.ToFloat64(h.metrics.BudgetRequests.WithLabelValues("catch_up")); live < 2 || catchUp < 60 {
			t.Fatalf("budget requests: live %v, catch_up %v; want the snapshots live and the LOOKBACK catch-up", live, catchUp)
		}
	})
}

// When the budget cannot cover SWEEP_INTERVAL, sweeps run back to back,
// each counted and logged as stretched, while the newest points keep their
// POLL_INTERVAL.
func TestRunSweepStretchReported(t *testing.T) {
	bubble(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: runs several seconds of its clock (the wall clock against a real broker)")
		}
		const poll, sweep = 500 * time.Millisecond, time.Second
		h := budgetHarness(t, 20, func(c *pipeline.Config) {
			// 60 vehicles, one request each per sweep: 3s at 20/s.
			c.PollInterval, c.SweepInterval, c.Lookback, c.GapThreshold = poll, sweep, time.Minute, 30*time.Second
		})
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		runErr := make(chan error, 1)
		go func() { runErr <- h.pipe.Run(ctx) }()
		<-time.After(10 * time.Second)
		cancel()
		if err := <-runErr; err != nil {
			t.Fatal(err)
		}
		stop := time.Now()
		if n := testutil.ToFloat64(h.metrics.SweepStretched); n < 1 {
			t.Fatalf("sweeps stretched: %v, want at least 1 (a sweep takes ~3s, SWEEP_INTERVAL is 1s)", n)
		}
		if !strings.Contains(h.logs.String(), "sweep took longer than SWEEP_INTERVAL") {
			t.Fatal("no log line reports the stretch")
		}
		if d := testutil.ToFloat64(h.metrics.SweepDuration); d <= sweep.Seconds() {
			t.Fatalf("sweep_duration_seconds = %v, want above SWEEP_INTERVAL", d)
		}
		events, _ := h.readBack()
		valid, _ := h.truth(start.Add(-time.Minute), stop, stop)
		var slow, measured int
		var worst time.Duration
		for _, r := range events {
			p, ok := valid[verify.Header(r, "catena-id")]
			if !ok || p.VisibleAt.Before(start.Add(time.Second)) {
				continue
			}
			measured++
			lat := r.Timestamp.Sub(p.VisibleAt)
			worst = max(worst, lat)
			if lat > poll+2*time.Second {
				slow++
			}
		}
		if measured == 0 || slow > 0 {
			t.Fatalf("%d of %d new points later than POLL_INTERVAL+2s (worst %v) while sweeps were stretched", slow, measured, worst)
		}
		t.Logf("%d new points, worst %v; sweeps %v, stretched %v, last took %.1fs", measured, worst.Round(time.Millisecond),
			testutil.ToFloat64(h.metrics.Sweeps), testutil.ToFloat64(h.metrics.SweepStretched), testutil.ToFloat64(h.metrics.SweepDuration))
	})
}
