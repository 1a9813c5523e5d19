package pipeline_test

// Adversarial review of the webhook push path (Pipeline.Push). Tests
// labelled DEFECT failed on the push path's first version and pin the fix;
// PINS held. The review also found that a replay of Catena's DLQ more than
// the dedup horizon (LOOKBACK) after the polls published those records
// publishes them again: a limit the README states.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

// rawHistory is history read from the simulator directly, past the
// harness's hide and rewrite hooks: what Catena knows and pushes, whatever
// the tail's API answers show yet.
func rawHistory(t *testing.T, h *harness, vehicle string, from, to time.Time) []json.RawMessage {
	t.Helper()
	h.rawOnce.Do(func() {
		url := h.net.serve(t, h.sim)
		c, err := catena.New(catena.Config{APIURL: url, TokenURL: url + "/realms/catena/protocol/openid-connect/token", HTTPClient: h.net.client(t),
			ClientID: "demo", ClientSecret: "demo", RetryInitialInterval: 10 * time.Millisecond, RetryMaxInterval: 100 * time.Millisecond, RetryMaxElapsed: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		h.raw = c
	})
	var items []json.RawMessage
	pager := h.raw.History(vehicle, catena.Window{From: from, To: to}, catena.LocationQuery{Size: 1000}, "")
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

// push calls p.Push and returns its error.
func push(p *pipeline.Pipeline, ctx context.Context, recs []json.RawMessage) error {
	_, err := p.Push(ctx, recs)
	return err
}

// pushOK pushes recs as the receiver does (AckTimeout 2.5s) and fails the
// test unless they were committed.
func pushOK(t *testing.T, h *harness, recs []json.RawMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	if err := push(h.pipe, ctx, recs); err != nil {
		t.Fatalf("push of %d records: %v", len(recs), err)
	}
}

// pushAll pushes each batch as pushOK does, all at once, as Catena's
// deliveries for different vehicles arrive (they share the push linger's
// transaction), and fails the test unless all were committed.
func pushAll(t *testing.T, h *harness, batches [][]json.RawMessage) {
	t.Helper()
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, recs := range batches {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
			defer cancel()
			if err := push(h.pipe, ctx, recs); err != nil {
				errs[i] = fmt.Errorf("push of %d records: %w", len(recs), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// startTail runs the harness's live tail until the returned stop is called.
func startTail(t *testing.T, h *harness) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- h.pipe.Run(ctx) }()
	waitPages(t, h, 2)
	return func() {
		t.Helper()
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// advance moves the simulated clock to each of at in turn, letting the tail
// poll twice and sweep once at each.
func advance(t *testing.T, h *harness, now *time.Time, at ...time.Time) {
	t.Helper()
	for _, a := range at {
		*now = a
		h.clock.Set(a)
		waitPages(t, h, 2)
		waitSweeps(t, h, 1)
	}
}

// TestPushRevLostBatchAdvancesPastGap (DEFECT): a vehicle is offline from
// t0+5m and uploads its backlog at t0+2h. Catena pushes the backlog in
// batches in visibility order; the older batch is lost (Catena's DLQ after
// failed attempts, the simulator's LoseEvery) and the newest one is
// delivered, before the tail's next poll. The pushed newest point moves the
// vehicle's last handled point (liveState.advance) to t0+2h, so the poll's
// gap check (fillGaps: newest - At <= GapThreshold) finds no gap, and the
// sweeps read only LOOKBACK (30m) back. Without the push the gap fill
// publishes the whole backlog; with it, everything from t0+5m to about
// t0+1h30 is never published. "polls and sweeps catch what pushes lose"
// does not hold.
func TestPushRevLostBatchAdvancesPastGap(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, clean(1, 2), t0, tune)
		v := h.sim.Vehicles()[0].ID
		offline, upload := t0.Add(5*time.Minute), t0.Add(2*time.Hour)
		var uploaded atomic.Bool
		hide := func(vid string, at time.Time) bool { return vid == v && at.After(offline) && !uploaded.Load() }
		h.hide.Store(&hide)

		stop := startTail(t, h)
		now := t0
		advance(t, h, &now, t0.Add(10*time.Minute), t0.Add(40*time.Minute), t0.Add(70*time.Minute), t0.Add(100*time.Minute), upload)

		// The backlog becomes visible; Catena's first batch (the older part) is
		// lost, its last batch (the final 10 minutes) is delivered.
		lost := rawHistory(t, h, v, offline.Add(time.Microsecond), upload.Add(-10*time.Minute))
		delivered := rawHistory(t, h, v, upload.Add(-10*time.Minute), upload.Add(time.Microsecond))
		pushOK(t, h, asPushed(t, delivered))
		uploaded.Store(true)

		advance(t, h, &now, upload.Add(time.Minute), upload.Add(2*time.Minute), upload.Add(3*time.Minute))
		waitSweeps(t, h, 2)
		stop()
		t.Logf("backlog of vehicle %s: %d records in the lost batch, %d delivered by push", v, len(lost), len(delivered))
		checkPublished(t, h, t0, upload, v)
	})
}

// TestPushRevOldRecordRedelivered (DEFECT): a record pushed with an
// occurred_at older than the dedup horizon (LOOKBACK before the last sweep,
// less a 10m bucket) is marked in the shared id set under that old time,
// and the next poll's evict drops it at once; only a vehicle's newest point
// survives in its state. So a second delivery of the same records -- a
// retry after a 503 (Push's ctx expired, the commit went through anyway),
// a duplicate delivery, or an operator's replay of Catena's DLQ -- is
// published again:
//   - late: vehicle V's points of [t0+10m, t0+20m) reach Catena at t0+2h (a
//     late upload; only the push can publish them, the sweeps look 30m
//     back). Pushed once, then the same delivery again after two polls.
func TestPushRevOldRecordRedelivered(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, clean(1, 2), t0, tune)
		v := h.sim.Vehicles()[0].ID
		lateFrom, lateTo := t0.Add(10*time.Minute), t0.Add(20*time.Minute)
		var uploaded atomic.Bool
		hide := func(vid string, at time.Time) bool {
			return vid == v && !at.Before(lateFrom) && at.Before(lateTo) && !uploaded.Load()
		}
		h.hide.Store(&hide)

		stop := startTail(t, h)
		now := t0
		advance(t, h, &now, t0.Add(time.Minute), t0.Add(25*time.Minute), t0.Add(50*time.Minute), t0.Add(80*time.Minute), t0.Add(110*time.Minute), t0.Add(2*time.Hour))

		late := asPushed(t, rawHistory(t, h, v, lateFrom, lateTo))
		uploaded.Store(true)
		pushOK(t, h, late)
		waitPages(t, h, 2) // the polls' evict runs between the attempts
		pushOK(t, h, late)

		advance(t, h, &now, now.Add(time.Minute))
		stop()

		n := idCounts(h)
		count := func(name string, recs []json.RawMessage) {
			t.Helper()
			once, twice := 0, 0
			for _, r := range recs {
				var x struct {
					ID string `json:"id"`
				}
				json.Unmarshal(r, &x)
				switch n[x.ID] {
				case 1:
					once++
				case 0:
				default:
					twice++
				}
			}
			if twice > 0 || once != len(recs) {
				t.Errorf("%s: of %d records delivered twice, %d published once and %d more than once", name, len(recs), once, twice)
			}
		}
		count("late upload pushed and retried", late)
	})
}

// TestPushRevOutOfScopeFleet (DEFECT): the push path ignores the tail's
// fleet filter. A tail run with FLEET_IDS=F1 polls only F1's vehicles, but
// Push publishes whatever a delivery holds: the subscription's filters are
// set apart (webhooks subscribe --fleet-ids; none means every fleet), and
// ownership (ledger.View.Owns) checks only earlier claims, never that the
// record's fleet is in the tail's own claim. F2's records are published by
// the F1 tail, and, with a tail of F2 beside it (claimed later), twice.
func TestPushRevOutOfScopeFleet(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, clean(2, 1), t0, nil)
		f1, f2 := h.sim.Fleets()[0], h.sim.Fleets()[1]
		t1 := h.process("tail-f1", func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f1.ID} })
		h.pipe = t1.pipe
		ctx1, cancel1 := context.WithCancel(t.Context())
		errc1 := make(chan error, 1)
		go func() { errc1 <- t1.pipe.Run(ctx1) }()
		waitCounter(t, func() float64 { return float64(t1.metrics.Counts().Pages) }, 2)

		t2 := h.process("tail-f2", func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f2.ID} })
		ctx2, cancel2 := context.WithCancel(t.Context())
		errc2 := make(chan error, 1)
		go func() { errc2 <- t2.pipe.Run(ctx2) }()
		waitCounter(t, func() float64 { return float64(t2.metrics.Counts().Pages) }, 2)

		v2 := vehiclesOf(h, f2.ID)[0]
		now := t0
		var pushed []json.RawMessage
		for range 3 {
			prev := now
			now = now.Add(time.Minute)
			h.clock.Set(now)
			// An unfiltered subscription delivers F2's points to F1's receiver.
			recs := asPushed(t, rawHistory(t, h, v2, prev, now))
			pushed = append(pushed, recs...)
			if err := push(t1.pipe, t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			waitCounter(t, func() float64 { return float64(t2.metrics.Counts().Pages) }, 2)
		}
		waitCounter(t, func() float64 { return float64(t2.metrics.Counts().Pages) }, 4)
		cancel1()
		cancel2()
		for _, errc := range []chan error{errc1, errc2} {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		n := idCounts(h)
		twice := 0
		for _, r := range pushed {
			var x struct {
				ID string `json:"id"`
			}
			json.Unmarshal(r, &x)
			if n[x.ID] > 1 {
				twice++
			}
		}
		if twice > 0 {
			t.Errorf("F1's tail published F2's pushed records: %d of %d are in the topic twice (F2's tail published them too); F1's tail counts %+v",
				twice, len(pushed), t1.metrics.Counts())
		}
	})
}

// TestPushRevRestartPushBeforeFirstPoll (DEFECT): the same hole on a
// restart. A vehicle that starts reporting during a 3h downtime is unknown
// to the restart's sweep; only the first snapshot's gap fill, from where
// the sweeps reached (TestRunNewVehicleDuringDowntime), publishes its
// downtime history. Push is accepted as soon as Run has loaded its state,
// before that first poll: when the snapshot is slow or failing for a while
// after the restart (here it answers 503 until the restart's sweep is
// done), a delivery of the new vehicle's latest points creates its state
// with At = now, the poll then sees no gap, and its history from t0+30m to
// LOOKBACK before the restart is never published.
func TestPushRevRestartPushBeforeFirstPoll(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := catenasim.Config{Seed: 7, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute}
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, cfg, t0, tune)
		newV := h.sim.Vehicles()[1].ID
		appear := t0.Add(30 * time.Minute)
		hide := func(v string, at time.Time) bool { return v == newV && at.Before(appear) }
		h.hide.Store(&hide)

		now := t0
		runSteps(t, h, &now, 3)
		now = t0.Add(3 * time.Hour)
		h.clock.Set(now)
		h.start(tune)
		var snapshotDown atomic.Bool
		snapshotDown.Store(true)
		fail := func(r *http.Request) bool {
			return snapshotDown.Load() && strings.Contains(r.URL.Path, "vehicle-locations") && r.URL.Query().Get("only_latest") != "false"
		}
		h.fail.Store(&fail)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitSweeps(t, h, 1) // the restart's sweep, while the first poll retries
		recs := asPushed(t, rawHistory(t, h, newV, now.Add(-3*time.Minute), now.Add(time.Microsecond)))
		pushOK(t, h, recs)
		snapshotDown.Store(false)
		waitPages(t, h, 2)
		for range 3 {
			now = now.Add(time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		checkPublished(t, h, appear, now.Add(-time.Minute), newV)
	})
}

// TestPushRevCommitAfterTimeoutRetried (PINS): a delivery whose Push
// returns on its deadline (the receiver's 503) before the pusher's 50 ms
// linger is over is still committed; Catena's retry, and several copies of
// the same delivery arriving at once (one batch), are deduped: every
// record of recent history is published once.
func TestPushRevCommitAfterTimeoutRetried(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(100 * time.Millisecond)
		h := newHarness(t, clean(1, 2), t0, tune)
		stop := startTail(t, h)
		now := t0
		var all []json.RawMessage
		for step := range 4 {
			prev := now
			now = now.Add(time.Minute)
			h.clock.Set(now)
			for _, v := range h.sim.Vehicles() {
				recs := asPushed(t, history(t, h, v.ID, prev, now))
				all = append(all, recs...)
				if step%2 == 0 {
					ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
					err := push(h.pipe, ctx, recs)
					cancel()
					if err == nil {
						t.Fatalf("push with a 5ms deadline returned nil before the 50ms linger")
					}
					elapse(200 * time.Millisecond) // Catena's backoff; the first attempt commits meanwhile
					pushOK(t, h, recs)
					continue
				}
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
						defer cancel()
						if err := push(h.pipe, ctx, recs); err != nil {
							t.Errorf("concurrent push: %v", err)
						}
					})
				}
				wg.Wait()
			}
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2)
		stop()
		n := idCounts(h)
		for _, r := range all {
			var x struct {
				ID string `json:"id"`
			}
			json.Unmarshal(r, &x)
			if n[x.ID] != 1 {
				t.Errorf("record %s published %d times", x.ID, n[x.ID])
			}
		}
		checkPublished(t, h, t0.Add(-30*time.Minute), now.Add(-time.Minute))
	})
}
