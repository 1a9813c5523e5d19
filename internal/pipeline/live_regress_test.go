package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

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
	deadline := time.Now().Add(30 * time.Second)
	for read() < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter at %v, want %v", read(), want)
		}
		time.Sleep(5 * time.Millisecond) // polls a counter of the tail running in the background
	}
}

// TestRunNewVehicleDuringDowntime: a vehicle that starts reporting while
// the tail is down, for longer than LOOKBACK, is unknown to the restart's
// sweep; the snapshot's gap fill publishes its history from where the sweeps
// reach.
func TestRunNewVehicleDuringDowntime(t *testing.T) {
	cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute}
	lookback := 30 * time.Minute
	tune := func(c *pipeline.Config) {
		c.PollInterval = 20 * time.Millisecond
		c.SweepInterval = 100 * time.Millisecond
		c.GapThreshold = 2 * time.Minute
		c.Lookback = lookback
	}
	h := newHarness(t, cfg, t0, tune)
	newV := h.sim.Vehicles()[1].ID
	appear := t0.Add(30 * time.Minute) // during the downtime
	hide := func(v string, at time.Time) bool { return v == newV && at.Before(appear) }
	h.hide.Store(&hide)

	now := t0
	run := func(steps int) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		for range steps {
			now = now.Add(time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	run(3)
	now = t0.Add(3 * time.Hour) // downtime of ~3h > LOOKBACK
	h.clock.Set(now)
	h.start(tune)
	run(3)

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
}

// TestRunDeadLetterOnceAcrossGap: bad records move the vehicle's last
// handled point like good ones, so a later gap fill does not read them again
// and dead-letter them twice once the id set has evicted them.
func TestRunDeadLetterOnceAcrossGap(t *testing.T) {
	cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
		Faults: catenasim.Faults{MalformedEvery: 1}}
	lookback := 30 * time.Minute
	tune := func(c *pipeline.Config) {
		c.PollInterval = 20 * time.Millisecond
		c.SweepInterval = 50 * time.Millisecond
		c.GapThreshold = 2 * time.Minute
		c.Lookback = lookback
	}
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
	ctx, cancel := context.WithCancel(context.Background())
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
	_, dlq := h.readBack()
	n := map[string]int{}
	for _, r := range dlq {
		n[verify.Header(r, "catena-id")]++
	}
	for id, c := range n {
		if c > 1 {
			t.Errorf("dead letter %s (d1=%v d2=%v) in the DLQ %d times", id, id == d1.ID, id == d2.ID, c)
		}
	}
}

// TestRunBadStreak: a vehicle whose records turn bad (broken GPS) after one
// good point: the tail does not gap-fill the growing streak every poll and
// dead-letters each bad record once.
func TestRunBadStreak(t *testing.T) {
	cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
		Faults: catenasim.Faults{MalformedEvery: 1}}
	lookback := 30 * time.Minute
	tune := func(c *pipeline.Config) {
		c.PollInterval = 20 * time.Millisecond
		c.SweepInterval = 50 * time.Millisecond
		c.GapThreshold = 2 * time.Minute
		c.Lookback = lookback
	}
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
	ctx, cancel := context.WithCancel(context.Background())
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
	_, dlq := h.readBack()
	n := map[string]int{}
	for _, r := range dlq {
		n[verify.Header(r, "catena-id")]++
	}
	dups := 0
	for _, c := range n {
		dups += c - 1
	}
	if dups > 0 {
		t.Errorf("%d distinct bad records, %d dead letters (%d duplicates)", len(n), len(dlq), dups)
	}
}
