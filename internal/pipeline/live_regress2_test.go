package pipeline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// runSteps runs the tail while the simulated clock moves steps minutes, then
// waits for two sweeps and stops it.
func runSteps(t *testing.T, h *harness, now *time.Time, steps int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
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
	ctx, cancel := context.WithCancel(context.Background())
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
}

// TestRunBadVehicleID: a snapshot record whose vehicle_id is not a UUID is
// dead-lettered; it asks the API for no history (a 422 every poll) and keeps
// no vehicle state a sweep would fail on, so a vehicle parked longer than
// LOOKBACK is still gap-filled when it moves again.
func TestRunBadVehicleID(t *testing.T) {
	cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute}
	tune := func(c *pipeline.Config) {
		c.PollInterval = 20 * time.Millisecond
		c.SweepInterval = 100 * time.Millisecond
		c.GapThreshold = 2 * time.Minute
		c.Lookback = 30 * time.Minute
	}
	h := newHarness(t, cfg, t0, tune)
	a, b := h.sim.Vehicles()[0].ID, h.sim.Vehicles()[1].ID
	parkFrom, parkTo := t0.Add(3*time.Minute), t0.Add(2*time.Hour)
	hide := func(v string, at time.Time) bool { return v == b && !at.Before(parkFrom) && at.Before(parkTo) }
	h.hide.Store(&hide)

	ctx, cancel := context.WithCancel(context.Background())
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
	if n := testutil.ToFloat64(h.metrics.PollErrors); n > 0 {
		t.Errorf("%v polls or sweeps failed: a bad vehicle_id must not fail the tail's requests", n)
	}
	// Vehicle a's newest records came with a bad vehicle_id and went to the
	// dead-letter topic; only b's track is the tail's to complete.
	checkPublished(t, h, parkTo, now, b)
}
