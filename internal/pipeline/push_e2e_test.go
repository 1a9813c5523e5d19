package pipeline_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
	"github.com/catena-bridge/catena-bridge/internal/webhook"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// TestRunPushEndToEnd: the simulator pushes every point as it becomes
// visible, with every delivery fault on (repeated and reordered batches,
// batches lost to Catena's DLQ, forged, stale, oversized, bomb and
// wrongly encoded deliveries), to the receiver in front of the live tail,
// which polls beside it. Every valid record visible during the run is in
// the topic exactly once, those only the poll could find (lost pushes)
// included; no forged record is. It logs the latency of pushed records,
// from the point becoming visible to its event's produce time.
func TestRunPushEndToEnd(t *testing.T) {
	bubble(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: runs several seconds of its clock (the wall clock against a real broker)")
		}
		start := time.Now().UTC()
		clock := catenasim.NewClock(start, 1)
		cfg := catenasim.Config{Seed: 5, Fleets: 2, VehiclesPerFleet: 3, ReportInterval: time.Second, Clock: clock,
			PushInterval: 50 * time.Millisecond,
			WebhookFaults: catenasim.WebhookFaults{DuplicateEvery: 5, ReorderEvery: 7, LoseEvery: 9, ForgeEvery: 4,
				StaleTimestampEvery: 6, OversizedEvery: 11, BombEvery: 13, BombSize: 2 << 20, WrongEncodingEvery: 8}}
		tune := func(c *pipeline.Config) {
			// Polls rarer than pushes: most points come by push, and what
			// pushes lose comes with the next poll or sweep.
			c.PollInterval, c.SweepInterval, c.GapThreshold, c.Lookback = 3*time.Second, 3*time.Second, 10*time.Second, time.Minute
			// Every other sweep is full: a lost push held by no poll is read
			// by the next full one.
			c.FullSweepEvery = 2
		}
		h := newHarness(t, cfg, start, tune)
		var ackMu sync.Mutex
		acked := map[string]time.Time{} // record id → when a delivery holding it was first acknowledged
		const secret = "whsec-e2e-push-secret"
		// A body limit of 1 MiB (the default is 16): the bomb of 2 MiB is
		// refused as it would be at the default, at a quarter of the CPU.
		rc, err := webhook.New(webhook.Config{Secret: []byte(secret), Now: clock.Now, MaxBodyBytes: 1 << 20,
			Accept: func(ctx context.Context, d *webhook.Delivery) (bool, error) {
				dup, err := h.pipe.Push(ctx, d.Records)
				if err == nil {
					// Push returns once the records are committed: note when
					// each was first acknowledged.
					now := time.Now()
					ackMu.Lock()
					for _, raw := range d.Records {
						var rec struct {
							ID string `json:"id"`
						}
						if json.Unmarshal(raw, &rec) == nil {
							if _, ok := acked[rec.ID]; !ok {
								acked[rec.ID] = now
							}
						}
					}
					ackMu.Unlock()
				}
				return dup, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		recvURL := h.net.serve(t, rc)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s := secret
		if _, err := h.client.CreateWebhook(ctx, catena.WebhookCreate{URL: recvURL + webhook.Path, EventName: "vehicle_location.added", Secret: &s}); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		pushc := make(chan error, 1)
		go func() { pushc <- h.sim.Push(ctx) }()

		// Run until every fault has been injected and two sweeps have read
		// what the lost batches held.
		waitCounter(t, func() float64 {
			st := h.sim.WebhookStats()
			for _, n := range st.Faults {
				if n == 0 {
					return 0
				}
			}
			return 1
		}, 1)
		waitSweeps(t, h, 2)
		end := clock.Now()
		waitSweeps(t, h, 3) // a full sweep began after end
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		<-pushc

		events, _ := h.readBack()
		valid, _ := h.truth(start, end, end)
		n := map[string]int{}
		forged := h.sim.ForgedIDs()
		for _, r := range events {
			id := verify.Header(r, "catena-id")
			n[id]++
			if n[id] == 2 {
				t.Errorf("record %s published twice", id)
			}
			if slices.Contains(forged, id) {
				t.Errorf("forged record %s published", id)
			}
		}
		missing := 0
		for id, p := range valid {
			if n[id] == 0 {
				missing++
				t.Errorf("record %s (vehicle %s, visible %s) never published", id, p.VehicleID, p.VisibleAt.Format(time.RFC3339Nano))
			}
		}
		t.Logf("%d events; %d valid records visible during the run, %d missing; %d forged ids sent", len(events), len(valid), missing, len(forged))
		if n := testutil.ToFloat64(h.metrics.Pages.WithLabelValues("push")); n == 0 {
			t.Error("nothing came by push")
		}

		// Latency of what came by push (source_data_hash null): visible →
		// produced, on the clock the simulator's clock follows: the wall
		// clock against a real broker; in a bubble the fake one, which
		// counts the waits (push interval, linger) but not the CPU.
		schema := avro.MustParse(string(schemas.VehicleLocation))
		var lat, toCommit []time.Duration
		for _, r := range events {
			var ev struct {
				ID   string  `avro:"id"`
				Hash *string `avro:"source_data_hash"`
			}
			if err := avro.Unmarshal(schema, r.Value[5:], &ev); err != nil || ev.Hash != nil {
				continue
			}
			if p, ok := valid[ev.ID]; ok {
				lat = append(lat, r.Timestamp.Sub(p.VisibleAt))
				ackMu.Lock()
				at, ok := acked[ev.ID]
				ackMu.Unlock()
				if ok {
					toCommit = append(toCommit, at.Sub(p.VisibleAt))
				}
			}
		}
		if len(lat) == 0 {
			t.Fatal("no pushed event to measure")
		}
		q := func(d []time.Duration, f float64) time.Duration {
			return d[int(f*float64(len(d)-1))].Round(time.Millisecond)
		}
		slices.Sort(lat)
		if !realBroker() {
			t.Log("latencies below are of the bubble's fake clock: waits only")
		}
		t.Logf("pushed events: %d of %d; visible→produced p50 %v, p99 %v, max %v; webhook stats %+v",
			len(lat), len(events), q(lat, 0.5), q(lat, 0.99), q(lat, 1), h.sim.WebhookStats())
		if len(toCommit) == 0 {
			t.Fatal("no pushed event was acknowledged")
		}
		// Push returns after the commit, so visible → acknowledged bounds
		// visible → committed from above.
		slices.Sort(toCommit)
		t.Logf("pushed events acknowledged: %d; visible→committed (acknowledged after the commit) p50 %v, p99 %v, max %v",
			len(toCommit), q(toCommit, 0.5), q(toCommit, 0.99), q(toCommit, 1))
	})
}
