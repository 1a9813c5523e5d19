package pipeline_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// Regression tests of hostile input: one bad vehicle, record or response
// must not stop or stall the rest. Each failed on the main of 2026-11-27.

// TestRunFutureTime: a snapshot record with occurred_at in year 9999 is
// dead-lettered (future_time) once, and bounds no gap fill (the issue saw
// the old bridge start a gap of ~64,700 45-day windows; here, on the old
// code, it was published as a normal event); the vehicle's real points are
// still published.
func TestRunFutureTime(t *testing.T) {
	bubble(t, func(t *testing.T) {
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
		h.rewriteOnly.Store(&v) // rw edits only v's items
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
	})
}

// TestBackfillOversizedRecord: a record whose event exceeds the topic's
// max.message.bytes (1.2 MB of extras) was MESSAGE_TOO_LARGE, fatal: the
// backfill stopped at its page on every rerun. It is now a dead letter
// (too_large, its value cut to fit, its id kept) and the rest is published.
func TestBackfillOversizedRecord(t *testing.T) {
	bubble(t, func(t *testing.T) {
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
		h.rewriteOnly.Store(&victim) // rw edits only the victim
		if _, err := h.pipe.Backfill(t.Context(), from, to); err != nil {
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
	})
}

// forVehicle matches the API's history requests of one vehicle.
func forVehicle(v string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		return r.URL.Query().Get("only_latest") == "false" && slices.Contains(r.URL.Query()["vehicle_ids"], v)
	}
}

// TestBackfillOneBadVehicle: one vehicle whose history fails for good, one
// the API no longer serves (404), and vehicle list entries without a usable
// id stopped the whole backfill on every rerun. Now every other vehicle is
// published, the backfill exits with an error listing the failing vehicle
// only, and a rerun once it recovers publishes it and finishes; the gone
// vehicle is skipped, not failed.
func TestBackfillOneBadVehicle(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := func(c *pipeline.Config) {
			c.OutageMax, c.OutageRetryInterval = 50*time.Millisecond, 5*time.Millisecond
		}
		h := newHarness(t, clean(2, 3), t0, tune)
		h.retryMaxElapsed = 20 * time.Millisecond
		h.start(tune)
		vs := h.sim.Vehicles()
		failing, gone := vs[1].ID, vs[4].ID
		isFailing, isGone := forVehicle(failing), forVehicle(gone)
		answer := func(r *http.Request) int {
			switch {
			case isFailing(r):
				return http.StatusBadGateway
			case isGone(r):
				return http.StatusNotFound
			}
			return 0
		}
		h.answer.Store(&answer)
		list := func(items []json.RawMessage) []json.RawMessage {
			return append(items, json.RawMessage(`{"id":"","fleet_id":null}`), json.RawMessage(`{"id":"not-a-uuid","fleet_id":null}`))
		}
		h.vehicleList.Store(&list)

		from, to := t0.Add(-2*time.Hour), t0
		_, err := h.pipe.Backfill(t.Context(), from, to)
		if !errors.Is(err, pipeline.ErrIncomplete) || !strings.Contains(err.Error(), failing) || strings.Contains(err.Error(), gone) {
			t.Fatalf("backfill with one failing vehicle: %v; want ErrIncomplete naming %s only", err, failing)
		}
		if n := testutil.ToFloat64(h.metrics.VehiclesSkipped.WithLabelValues("gone")); n != 1 {
			t.Errorf("vehicles skipped as gone: %v, want 1", n)
		}
		if n := testutil.ToFloat64(h.metrics.VehiclesSkipped.WithLabelValues("bad_id")); n != 2 {
			t.Errorf("vehicles skipped for a bad id: %v, want 2", n)
		}
		// The failing vehicle recovers: the rerun fetches it alone.
		answer2 := func(r *http.Request) int {
			if isGone(r) {
				return http.StatusNotFound
			}
			return 0
		}
		h.answer.Store(&answer2)
		h.start(tune)
		if _, err := h.pipe.Backfill(t.Context(), from, to); err != nil {
			t.Fatalf("rerun after the vehicle recovered: %v", err)
		}
		n := idCounts(h)
		valid, _ := h.truth(from, to, t0)
		for id, p := range valid {
			want := 1
			if p.VehicleID == gone {
				want = 0
			}
			if n[id] != want {
				t.Errorf("record %s of vehicle %s published %d times, want %d", id, p.VehicleID, n[id], want)
			}
		}
	})
}

// TestRunOneFailingVehicle: one vehicle whose history answers 502 for good
// ended every sweep: the sweep mark never moved, the dedup horizon stood
// still and the id set grew without limit. Now the sweeps complete for the
// others and the vehicle owes its range; it is retried with backoff, and
// once it recovers (after a restart, here) its owed range is published,
// each record once.
func TestRunOneFailingVehicle(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(50 * time.Millisecond)
		h := newHarness(t, clean(1, 3), t0, tune)
		h.retryMaxElapsed = 20 * time.Millisecond
		h.start(tune)
		v := h.sim.Vehicles()[0].ID
		isV := forVehicle(v)
		answer := func(r *http.Request) int {
			if isV(r) {
				return http.StatusBadGateway
			}
			return 0
		}
		h.answer.Store(&answer)
		now := t0
		runSteps(t, h, &now, 10)
		if n := testutil.ToFloat64(h.metrics.Sweeps); n < 3 {
			t.Errorf("%v sweeps completed with one failing vehicle", n)
		}
		if n := testutil.ToFloat64(h.metrics.VehiclesFailing); n != 1 {
			t.Errorf("vehicles_failing = %v, want 1", n)
		}
		var others []string
		for _, x := range h.sim.Vehicles()[1:] {
			others = append(others, x.ID)
		}
		checkPublished(t, h, t0.Add(-30*time.Minute), now.Add(-2*time.Minute), others...)

		h.answer.Store(nil) // it recovers; the restart reads what it owes
		h.start(tune)
		runSteps(t, h, &now, 3)
		if n := testutil.ToFloat64(h.metrics.VehiclesFailing); n != 0 {
			t.Errorf("vehicles_failing after recovery = %v, want 0", n)
		}
		checkPublished(t, h, t0.Add(-30*time.Minute), now.Add(-2*time.Minute))
	})
}
