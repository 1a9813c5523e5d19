package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

// asPushed turns REST records into webhook records: the REST record less
// source_data, source_data_hash and the unit fields.
func asPushed(t *testing.T, items []json.RawMessage) []json.RawMessage {
	t.Helper()
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(it, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"source_data", "source_data_hash", "speed_unit", "odometer_unit", "fuel_value_unit", "oil_pressure_unit", "coolant_temperature_unit"} {
			delete(m, k)
		}
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	return out
}

// history returns a vehicle's REST records over [from, to).
func history(t *testing.T, h *harness, vehicle string, from, to time.Time) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	pager := h.client.History(vehicle, catena.Window{From: from, To: to}, catena.LocationQuery{Size: 1000}, "")
	for {
		pg, err := pager.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if pg == nil {
			return items
		}
		items = append(items, pg.Items...)
	}
}

// TestRunPush: records pushed by webhook join the live tail: published once
// whether they come by push, by poll or by both, and by two delivery
// attempts; a bad pushed record is dead-lettered once; a push answered
// before the tail runs is refused, so Catena retries it.
func TestRunPush(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, clean(1, 3), t0, tune)
		if _, err := h.pipe.Push(t.Context(), nil); !errors.Is(err, pipeline.ErrNotTailing) {
			t.Errorf("Push with no tail running: %v, want ErrNotTailing", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := t0
		bad := json.RawMessage(`{"id":"0b3a1f40-2222-4222-8222-222222222222","fleet_id":"not-a-uuid","created_at":"2026-11-20T12:00:00Z","updated_at":"2026-11-20T12:00:00Z","connection_id":"0b3a1f40-3333-4333-8333-333333333333","source_name":"x","source_id":"y","occurred_at":"2026-11-20T12:00:00Z"}`)
		for step := range 5 {
			prev := now
			now = now.Add(time.Minute)
			h.clock.Set(now)
			// Catena pushes what became visible this minute, some of it twice
			// (a retried delivery), before the tail's next poll sees it.
			for _, v := range h.sim.Vehicles() {
				recs := asPushed(t, history(t, h, v.ID, prev, now))
				pctx, pcancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
				if _, err := h.pipe.Push(pctx, recs); err != nil {
					t.Fatalf("push: %v", err)
				}
				if step%2 == 0 {
					dup, err := h.pipe.Push(pctx, recs)
					if err != nil {
						t.Fatalf("push again: %v", err)
					}
					if !dup && len(recs) > 0 {
						t.Errorf("the same delivery again was not reported a duplicate")
					}
				}
				pcancel()
			}
			if step == 0 {
				for range 2 {
					if _, err := h.pipe.Push(t.Context(), []json.RawMessage{bad}); err != nil {
						t.Fatalf("push a bad record: %v", err)
					}
				}
			}
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		checkPublished(t, h, t0.Add(-30*time.Minute), now.Add(-time.Minute))
		if n := testutil.ToFloat64(h.metrics.Pages.WithLabelValues("push")); n == 0 {
			t.Error("no push page committed")
		}
		counts, dlq := deadLetterCounts(h)
		if counts["0b3a1f40-2222-4222-8222-222222222222"] != 1 {
			t.Errorf("the bad pushed record is in the dead-letter topic %d times, want 1 (of %d dead letters)", counts["0b3a1f40-2222-4222-8222-222222222222"], len(dlq))
		}
	})
}

// TestRunPushNoExtraGapFills: pushed points that follow a vehicle's last
// handled point within GAP_THRESHOLD move it on, so healthy pushes cost the
// tail no gap fills (a pushed record that moved nothing would have made
// every vehicle a gap every GAP_THRESHOLD).
func TestRunPushNoExtraGapFills(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(time.Hour) // no sweep after the first
		h := newHarness(t, clean(1, 3), t0, tune)
		// The polls see a point only once it was pushed: pushes come first.
		var pushedTo atomic.Int64
		pushedTo.Store(t0.UnixNano())
		hide := func(_ string, at time.Time) bool { return at.UnixNano() >= pushedTo.Load() }
		h.hide.Store(&hide)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := t0
		gapsBefore := testutil.ToFloat64(h.metrics.Pages.WithLabelValues("gap"))
		for range 8 {
			prev := now
			now = now.Add(time.Minute)
			h.clock.Set(now)
			for _, v := range h.sim.Vehicles() {
				if _, err := h.pipe.Push(t.Context(), asPushed(t, rawHistory(t, h, v.ID, prev, now))); err != nil {
					t.Fatal(err)
				}
			}
			pushedTo.Store(now.UnixNano())
			waitPages(t, h, 2)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := testutil.ToFloat64(h.metrics.Pages.WithLabelValues("gap")) - gapsBefore; n > 0 {
			t.Errorf("%v gap pages with every point pushed in time, want 0", n)
		}
		checkPublished(t, h, t0, now.Add(-time.Minute))
	})
}

// TestRunPushSparesSweeps: with pushes delivering every point, sweeps that
// are not full skip the vehicles whose points all came by push (requests
// saved); a point whose push was lost, and that no poll shows (it is not a
// vehicle's newest), is still published, by the next full sweep.
func TestRunPushSparesSweeps(t *testing.T) {
	bubble(t, func(t *testing.T) {
		// LOOKBACK 5m, not liveTune's 30m: the lost point is at most a few
		// minutes old when a full sweep comes (every fourth sweep, two or
		// three a step), and every sweep reads LOOKBACK of three vehicles'
		// history, at a point every 20s.
		tune := func(c *pipeline.Config) {
			liveTune(50 * time.Millisecond)(c)
			c.FullSweepEvery, c.Lookback = 4, 5*time.Minute
		}
		cfg := clean(1, 3)
		cfg.ReportInterval = 20 * time.Second
		h := newHarness(t, cfg, t0, tune)
		var pushedTo atomic.Int64
		pushedTo.Store(t0.UnixNano())
		hide := func(_ string, at time.Time) bool { return at.UnixNano() >= pushedTo.Load() }
		h.hide.Store(&hide)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		lossy := h.sim.Vehicles()[0].ID
		var lost string
		now := t0
		for step := range 8 {
			prev := now
			now = now.Add(time.Minute)
			h.clock.Set(now)
			var batches [][]json.RawMessage
			for _, v := range h.sim.Vehicles() {
				recs := asPushed(t, rawHistory(t, h, v.ID, prev, now))
				if step == 2 && v.ID == lossy && len(recs) > 1 {
					// Catena's delivery of this point is lost; the ones after
					// it arrive.
					var x struct {
						ID string `json:"id"`
					}
					json.Unmarshal(recs[0], &x)
					lost, recs = x.ID, recs[1:]
				}
				batches = append(batches, recs)
			}
			pushAll(t, h, batches)
			pushedTo.Store(now.UnixNano())
			waitPages(t, h, 2)
			waitSweeps(t, h, 1)
		}
		waitSweeps(t, h, 5) // a full sweep among them
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if lost == "" {
			t.Fatal("no push was lost: the test shows nothing")
		}
		if n := testutil.ToFloat64(h.metrics.SweepSkipped); n == 0 {
			t.Error("no sweep skipped a vehicle whose points all came by push")
		}
		if idCounts(h)[lost] != 1 {
			t.Errorf("the point whose push was lost is in the topic %d times, want 1", idCounts(h)[lost])
		}
		checkPublished(t, h, t0, now.Add(-time.Minute))
	})
}
