package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// Regression tests of hostile input: one bad vehicle, record or response
// must not stop or stall the rest. Each failed on the main of 2026-11-27.

// TestRunFutureTime: a snapshot record with occurred_at in year 9999 is
// dead-lettered (future_time) once; it bounds no gap fill (the old bridge
// started ~64,700 45-day windows to reach it), and the vehicle's real points
// are still published.
func TestRunFutureTime(t *testing.T) {
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(1, 2), t0, tune)
	v := h.sim.Vehicles()[0].ID
	future := json.RawMessage(`"9999-12-31T00:00:00Z"`)
	rw := func(latest bool, item map[string]json.RawMessage) {
		var vid string
		json.Unmarshal(item["vehicle_id"], &vid)
		if latest && vid == v { // a record of its own, not an edit of a real one
			item["occurred_at"] = future
			item["id"] = json.RawMessage(`"ffffffff-ffff-4fff-8fff-ffffffffffff"`)
		}
	}
	h.rewrite.Store(&rw)
	now := t0
	runSteps(t, h, &now, 5)
	if n := h.sim.Stats().Requests[catenasim.EndpointVehicleLocations]; n > 500 {
		t.Errorf("%d location requests for 5 minutes of 2 vehicles: the future point bounded a fetch", n)
	}
	counts, dlq := deadLetterCounts(h)
	future1 := 0
	for _, r := range dlq {
		if verify.Header(r, "catena-error-code") == "future_time" {
			future1++
		}
	}
	if future1 != 1 {
		t.Errorf("%d future_time dead letters among %d, want 1", future1, len(dlq))
	}
	for id, c := range counts {
		if c > 1 {
			t.Errorf("dead letter %s %d times", id, c)
		}
	}
	// The vehicle's history keeps coming by gap fills and sweeps.
	checkPublished(t, h, t0.Add(-20*time.Minute), now.Add(-2*time.Minute), v)
}

// TestBackfillOversizedRecord: a record whose event exceeds the topic's
// max.message.bytes (1.2 MB of extras) was MESSAGE_TOO_LARGE, fatal: the
// backfill stopped at its page on every rerun. It is now a dead letter
// (too_large, its value cut to fit, its id kept) and the rest is published.
func TestBackfillOversizedRecord(t *testing.T) {
	h := newHarness(t, clean(1, 2), t0, nil)
	from, to := t0.Add(-time.Hour), t0
	victim := h.sim.Points(h.sim.Vehicles()[0].ID, from, to)[7].ID
	blob, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", 1_200_000)})
	rw := func(_ bool, item map[string]json.RawMessage) {
		if strings.Contains(string(item["id"]), victim) {
			item["extras"] = blob
		}
	}
	h.rewrite.Store(&rw)
	if _, err := h.pipe.Backfill(context.Background(), from, to); err != nil {
		t.Fatalf("backfill with one oversized record: %v", err)
	}
	_, dlq := deadLetterCounts(h)
	found := false
	for _, r := range dlq {
		if verify.Header(r, "catena-id") != victim {
			continue
		}
		found = true
		if code := verify.Header(r, "catena-error-code"); code != "too_large" {
			t.Errorf("dead letter code %q, want too_large", code)
		}
		if reason := verify.Header(r, "catena-error"); !strings.Contains(reason, "bytes") || !strings.Contains(reason, "cut") {
			t.Errorf("dead letter reason %q: want the size and that the value was cut", reason)
		}
	}
	if !found {
		t.Fatalf("the oversized record %s is not in the dead-letter topic", victim)
	}
	n := idCounts(h)
	valid, _ := h.truth(from, to, t0)
	for id := range valid {
		if id != victim && n[id] != 1 {
			t.Errorf("record %s published %d times, want 1", id, n[id])
		}
	}
}
