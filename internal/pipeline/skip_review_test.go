package pipeline_test

// Adversarial review of a550601 (sweeps skip the vehicles pushes cover).
// DEFECT tests failed on a550601 and pin its fix (full sweeps read from
// Lookback before the previous full sweep); PINS tests held.

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

// skipRevCase is a scenario for skipRevRun.
type skipRevCase struct {
	tune      func(*pipeline.Config)
	steps     int                                           // minutes past t0
	lose      func(vehicle string, at time.Time) bool       // pushes lost for good
	late      func(vehicle string, at time.Time) bool       // not visible before lateUntil
	lateUntil time.Time                                     // when the late points become visible
	restartAt time.Time                                     // restart the process at this clock (zero: none)
	check     func(t *testing.T, h *harness, now time.Time) // after each step
}

// skipRevRun drives a tail whose pushes deliver every point of every
// vehicle minute by minute (the polls see a point only once it was pushed),
// except what lose leaves out (never pushed) and, for the points hidden by
// late (not in the API yet at that clock), until the clock reaches
// lateUntil; restartAt, when not zero, restarts the process at that clock.
// It returns the ids that were never pushed.
func skipRevRun(t *testing.T, c skipRevCase) (h *harness, lost map[string]bool, end time.Time) {
	t.Helper()
	h = newHarness(t, skipRevSim(), t0, c.tune)
	var pushedTo atomic.Int64
	pushedTo.Store(t0.UnixNano())
	var uploaded atomic.Bool
	hide := func(v string, at time.Time) bool {
		if c.late != nil && c.late(v, at) && !uploaded.Load() {
			return true
		}
		return at.UnixNano() >= pushedTo.Load()
	}
	h.hide.Store(&hide)
	stop := startTail(t, h)
	lost = map[string]bool{}
	now := t0
	for range c.steps {
		prev := now
		now = now.Add(time.Minute)
		if !c.restartAt.IsZero() && now.Equal(c.restartAt) {
			stop()
			h.start(c.tune)
			h.clock.Set(now)
			stop = startTail(t, h)
		}
		h.clock.Set(now)
		if c.late != nil && !now.Before(c.lateUntil) {
			uploaded.Store(true)
		}
		var batches [][]json.RawMessage
		for _, v := range h.sim.Vehicles() {
			var recs []json.RawMessage
			for _, r := range rawHistory(t, h, v.ID, prev, now) {
				var x struct {
					ID         string    `json:"id"`
					OccurredAt time.Time `json:"occurred_at"`
				}
				json.Unmarshal(r, &x)
				if c.late != nil && c.late(v.ID, x.OccurredAt) || c.lose != nil && c.lose(v.ID, x.OccurredAt) {
					// The late point's delivery (when it is uploaded) is
					// lost, as is a lost point's.
					lost[x.ID] = true
					continue
				}
				recs = append(recs, r)
			}
			batches = append(batches, asPushed(t, recs))
		}
		pushAll(t, h, batches)
		pushedTo.Store(now.UnixNano())
		waitPages(t, h, 2)
		waitSweeps(t, h, 1)
		if c.check != nil {
			c.check(t, h, now)
		}
	}
	waitSweeps(t, h, 2)
	stop()
	return h, lost, now
}

func skipRevMissing(h *harness, ids map[string]bool) (missing, twice int) {
	n := idCounts(h)
	for id := range ids {
		switch {
		case n[id] == 0:
			missing++
		case n[id] > 1:
			twice++
		}
	}
	return
}

// TestSkipRevLateUploadLostPush (DEFECT): vehicle V's point of t0+20m
// reaches Catena 25 minutes late (t0+45m, less than LOOKBACK 30m) and its
// delivery is lost. Before a550601 the first sweep after t0+45m (window from
// t0+14m) published it: the README's sweeps are "for late records". Now V,
// all of whose other points came by push, is skipped until the next full
// sweep at t0+60m, whose window starts at t0+29m: the point is never
// published. The claim "the next full sweep's window reaches back past the
// vehicle's previous sweep" holds for occurred_at, not for arrival: a point
// that occurred before the previous full sweep but became visible after it
// falls between the two. With the defaults (LOOKBACK 1h, SWEEP_INTERVAL
// 10m) the full sweep's window starts 2×SWEEP_INTERVAL before the previous
// full one, so any lost late record more than ~20m late (up to LOOKBACK)
// that straddles a full sweep is lost. The control (FullSweepEvery 1, the
// behaviour before the change) publishes it.
//
// The test runs that story at a third of its clock, LOOKBACK 10m: the
// point of t0+7m is uploaded at t0+15m (8 minutes late, less than
// LOOKBACK), between the full sweeps of t0+10m and t0+20m; the latter's
// window starts at t0+9m without the fix, at t0+0m with it (LOOKBACK
// before the previous full sweep); the control's first sweep after t0+15m
// reads from t0+4m. A third of the clock steps, each of whose sweeps reads
// a third of the window: under -race 1.3s of CPU instead of 4.4s.
func TestSkipRevLateUploadLostPush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every int
		steps int // the control publishes the point by t0+16m; the default case needs the full sweep at t0+20m
	}{{"every sweep full (before a550601)", 1, 18}, {"default FullSweepEvery", 0, 23}} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				var v string
				lateFrom := t0.Add(7 * time.Minute)
				c := skipRevCase{
					// A sweep about every step (each step waits for one):
					// at 50ms, two or three swept each step, and every sweep
					// of the control is full. LOOKBACK 10m: a full sweep
					// (by default) at t0, t0+10m and t0+20m.
					tune: func(c *pipeline.Config) {
						liveTune(150 * time.Millisecond)(c)
						c.Lookback, c.FullSweepEvery = 10*time.Minute, tc.every
					},
					steps: tc.steps,
					late: func(vid string, at time.Time) bool {
						return vid == v && !at.Before(lateFrom) && at.Before(lateFrom.Add(time.Minute))
					},
					lateUntil: t0.Add(15 * time.Minute),
				}
				// v is set before the tail starts (newHarness in skipRevRun):
				// the first vehicle of the seeded simulator.
				v = clean1Vehicle(t)
				h, lost, end := skipRevRun(t, c)
				if len(lost) == 0 {
					t.Fatal("no late point: the test shows nothing")
				}
				missing, twice := skipRevMissing(h, lost)
				t.Logf("skipped %v vehicle sweeps; %d late points of %s lost by push", testutil.ToFloat64(h.metrics.SweepSkipped), len(lost), v)
				if missing > 0 || twice > 0 {
					t.Errorf("late point(s) visible from t0+%s, push lost: %d of %d never published, %d twice (clock at %s)", c.lateUntil.Sub(t0), missing, len(lost), twice, end.Sub(t0))
				}
			})
		})
	}
}

// skipRevSim is clean(1, 3) reporting every 20s: three points a minute, so
// the polls (one a clock step) see only one of them.
func skipRevSim() catenasim.Config {
	c := clean(1, 3)
	c.ReportInterval = 20 * time.Second
	return c
}

// clean1Vehicle returns the first vehicle id of clean(1, 3)'s simulator.
func clean1Vehicle(t *testing.T) string {
	h := newHarness(t, skipRevSim(), t0, nil)
	return h.sim.Vehicles()[0].ID
}

// TestSkipRevRestartSkipped (PINS): V's point of t0+1m is never pushed (no
// poll shows it: not V's newest); V is skipped by the sweeps after the
// first, full one; the process restarts at t0+5m, losing the sweep counter
// and lastFull, while the sweep mark moved on with V skipped. The restart's
// first sweep is full and its window (from the last mark less LOOKBACK)
// still reaches t0+1m: published once, nothing twice. At this test's
// LOOKBACK of 10m the next full sweep would be due at t0+10m, after the
// test's last step (t0+9m): only the restart's sweep can publish it. (The
// review ran it at LOOKBACK 30m: the point of t0+2m, the restart at
// t0+20m, 24 steps.)
func TestSkipRevRestartSkipped(t *testing.T) {
	bubble(t, func(t *testing.T) {
		v := clean1Vehicle(t)
		lostAt := t0.Add(time.Minute)
		var skippedBefore float64
		c := skipRevCase{
			tune: func(c *pipeline.Config) {
				liveTune(150 * time.Millisecond)(c) // a sweep about every step
				c.Lookback = 10 * time.Minute       // a full sweep at t0, the next due at t0+10m
			},
			steps: 9,
			lose: func(vid string, at time.Time) bool {
				return vid == v && !at.Before(lostAt) && at.Before(lostAt.Add(time.Minute))
			},
			restartAt: t0.Add(5 * time.Minute),
		}
		c.check = func(t *testing.T, h *harness, now time.Time) {
			if now.Equal(c.restartAt.Add(-time.Minute)) {
				skippedBefore = testutil.ToFloat64(h.metrics.SweepSkipped)
			}
		}
		h, lost, end := skipRevRun(t, c)
		if skippedBefore == 0 {
			t.Fatal("no vehicle was skipped before the restart: the test shows nothing")
		}
		missing, twice := skipRevMissing(h, lost)
		if missing > 0 || twice > 0 {
			t.Errorf("lost push, vehicle skipped across a restart: %d of %d never published, %d twice", missing, len(lost), twice)
		}
		checkPublished(t, h, t0, end.Add(-time.Minute))
	})
}

// TestSkipRevPushesStop (PINS): V's pushes are lost for good from t0+2m;
// the polls then find V's newest points first (polledSince), so the sweeps
// that are not full read V again: by t0+8m (before any second full sweep,
// due at t0+10m at this test's LOOKBACK of 10m) every V point up to a
// minute back is published, the ones between two polls included. (The
// review ran it at LOOKBACK 30m, from t0+5m to t0+20m: the same story at
// two fifths of the clock steps, each of whose sweeps reads a third of the
// window.)
func TestSkipRevPushesStop(t *testing.T) {
	bubble(t, func(t *testing.T) {
		v := clean1Vehicle(t)
		stopAt := t0.Add(2 * time.Minute)
		c := skipRevCase{
			tune: func(c *pipeline.Config) {
				liveTune(150 * time.Millisecond)(c) // a sweep about every step
				c.Lookback = 10 * time.Minute       // a full sweep at t0, the next at t0+10m
			},
			steps: 8,
			lose:  func(vid string, at time.Time) bool { return vid == v && !at.Before(stopAt) },
		}
		h, lost, end := skipRevRun(t, c)
		_ = lost
		if testutil.ToFloat64(h.metrics.SweepSkipped) == 0 {
			t.Fatal("no vehicle was skipped: the test shows nothing")
		}
		checkPublished(t, h, t0, end.Add(-time.Minute), v)
	})
}
