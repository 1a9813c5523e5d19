package pipeline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// TestSoakLiveTail runs the live tail for six simulated hours, sampled
// hourly (under the race detector two, sampled every half hour) with every
// fault of the simulator on (429s, 5xxs, repeated records across pages,
// late and malformed records), one vehicle whose history answers 503 for
// good, one whose history answers 404, and one record too large for the
// topic. Afterwards a read_committed consumer finds each healthy vehicle's
// points exactly once and nothing lost, no dead letter twice and the
// oversized record dead-lettered; during the run the other vehicles stayed
// fresh, and the dedup id gauge (and, on a real broker, the heap) stayed
// flat after the first LOOKBACK. It runs in make test (kfake) and in make
// test-kafka (the real broker); -short skips it.
func TestSoakLiveTail(t *testing.T) {
	bubble(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: the soak test runs hours of its simulated clock")
		}
		cfg := catenasim.Config{Seed: 9, Fleets: 2, VehiclesPerFleet: 5, ReportInterval: time.Minute,
			Faults: catenasim.Faults{RateLimitEvery: 211, RetryAfter: time.Second, ServerErrorEvery: 37, DuplicateEvery: 3,
				LateEvery: 7, LateBy: 10 * time.Minute, MalformedEvery: 23}}
		// A sweep about every six clock steps of 2 minutes (12 minutes of
		// the simulated day, as SWEEP_INTERVAL's 10 minutes against
		// POLL_INTERVAL's 30 seconds in production).
		tune := liveTune(250 * time.Millisecond)
		lookback := time.Hour
		tuneSoak := func(c *pipeline.Config) { tune(c); c.Lookback = lookback }
		h := newHarness(t, cfg, t0, tuneSoak)
		h.retryMaxElapsed = 200 * time.Millisecond
		h.start(tuneSoak)

		vs := h.sim.Vehicles()
		failing, gone := vs[0].ID, vs[5].ID
		isFailing, isGone := forVehicle(failing), forVehicle(gone)
		answer := func(r *http.Request) int {
			switch {
			case isFailing(r):
				return http.StatusServiceUnavailable
			case isGone(r):
				return http.StatusNotFound
			}
			return 0
		}
		h.answer.Store(&answer)
		var healthy []string
		for _, v := range vs {
			if v.ID != failing && v.ID != gone {
				healthy = append(healthy, v.ID)
			}
		}
		oversized := h.sim.Points(vs[2].ID, t0.Add(90*time.Minute), t0.Add(2*time.Hour))[0].ID
		blob, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", 1_200_000)})
		rw := func(_ bool, item map[string]json.RawMessage) {
			if strings.Contains(string(item["id"]), oversized) {
				item["extras"] = blob
			}
		}
		h.rewrite.Store(&rw)
		h.rewriteOnly.Store(&oversized)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		type sample struct {
			dedup, lag float64
			heap       uint64
		}
		var samples []sample
		now := t0
		const step = 2 * time.Minute
		span, every := 6*time.Hour, time.Hour
		if raceEnabled {
			// Two samples after the first LOOKBACK, at a sixth of the CPU.
			span, every = 2*time.Hour, 30*time.Minute
		}
		for now.Before(t0.Add(span)) {
			now = now.Add(step)
			h.clock.Set(now)
			waitPages(t, h, 2)
			if now.Sub(t0)%every == 0 {
				waitSweeps(t, h, 1)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				s := sample{dedup: testutil.ToFloat64(h.metrics.DedupIDs), lag: testutil.ToFloat64(h.metrics.EventLag), heap: ms.HeapInuse}
				samples = append(samples, s)
				t.Logf("%v: dedup ids %.0f, event lag %.0fs, heap in use %.1f MiB, vehicles failing %.0f",
					now.Sub(t0), s.dedup, s.lag, float64(s.heap)/(1<<20), testutil.ToFloat64(h.metrics.VehiclesFailing))
			}
		}
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}

		// Nothing lost, nothing twice, for every healthy vehicle, late points
		// and the points between polls included.
		n := idCounts(h)
		to := now.Add(-2 * time.Minute)
		missing, total := 0, 0
		for _, v := range healthy {
			for _, p := range h.sim.Points(v, t0.Add(-lookback), to) {
				if p.Malformed != "" || p.VisibleAt.After(to) || p.ID == oversized {
					continue
				}
				total++
				if n[p.ID] == 0 {
					missing++
					if missing <= 3 {
						t.Errorf("vehicle %s: point %s (occurred %s, visible %s) never published", v, p.ID, p.OccurredAt, p.VisibleAt)
					}
				}
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d points of the healthy vehicles never published", missing, total)
		}
		if n[oversized] != 0 {
			t.Errorf("the oversized record was published")
		}
		for id, c := range n {
			if c > 1 {
				t.Errorf("id %s published %d times", id, c)
			}
		}
		counts, dlq := deadLetterCounts(h)
		for id, c := range counts {
			if c > 1 {
				t.Errorf("dead letter %s written %d times", id, c)
			}
		}
		if !slices.ContainsFunc(dlq, func(r *kgo.Record) bool {
			return verify.Header(r, "catena-id") == oversized && verify.Header(r, "catena-error-code") == "too_large"
		}) {
			t.Errorf("the oversized record %s is not dead-lettered as too_large", oversized)
		}
		// Fresh: the newest published point was never far behind the clock.
		for i, s := range samples {
			if s.lag > (5 * time.Minute).Seconds() {
				t.Errorf("at %v: event lag %.0fs: the failing vehicles held the others back", time.Duration(i+1)*every, s.lag)
			}
		}
		// Flat after the first LOOKBACK: the failing vehicle pins nothing. The
		// set spans LOOKBACK plus how far the last sweep lags, which varies
		// with the machine's speed; an id set that grew with the run would
		// add some 600 ids an hour here (10 vehicles, a point a minute).
		if len(samples) >= 3 {
			base := samples[1]
			first := max(samples[0].dedup, samples[1].dedup)
			for i, s := range samples[2:] {
				if s.dedup > 2*first+100 {
					t.Errorf("at %v: %.0f dedup ids against at most %.0f in the first two samples: the id set grows", time.Duration(i+3)*every, s.dedup, first)
				}
				// kfake keeps the topics in this process: only a real
				// broker leaves the heap to the bridge.
				if os.Getenv("KAFKA_BROKERS") != "" && s.heap > base.heap*3/2+8<<20 {
					t.Errorf("at %v: heap in use %.1f MiB against %.1f MiB at %v", time.Duration(i+3)*every, float64(s.heap)/(1<<20), float64(base.heap)/(1<<20), 2*every)
				}
			}
		}
		t.Logf("soak: %d distinct events, %d dead letters, %d samples", len(n), len(dlq), len(samples))
	})
}
