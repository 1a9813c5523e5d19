package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// Regression tests of exactly once per topic: reruns, overlapping jobs, a
// backfill beside the live tail, gap retries, a predecessor's open
// transaction and the cost of a restart. Each failed on the main of
// 2026-11-27, before the topic's coverage ledger.

// clean is a simulator without faults: what each job must publish is known.
func clean(fleets, vehicles int) catenasim.Config {
	return catenasim.Config{Seed: 7, Fleets: fleets, VehiclesPerFleet: vehicles, ReportInterval: time.Minute}
}

// idCounts returns how many times each id is in the events topic.
func idCounts(h *harness) map[string]int {
	events, _ := h.readBack()
	n := map[string]int{}
	for _, r := range events {
		n[verify.Header(r, "catena-id")]++
	}
	return n
}

// checkOnce checks that the events topic holds every valid record of
// [from, to) exactly once, and nothing else twice.
func checkOnce(t *testing.T, h *harness, from, to time.Time) {
	t.Helper()
	valid, _ := h.truth(from, to, h.now.Now())
	n := idCounts(h)
	twice, missing := 0, 0
	for id, c := range n {
		if c > 1 {
			twice++
			if twice <= 3 {
				t.Errorf("id %s published %d times", id, c)
			}
		}
	}
	for id, p := range valid {
		if n[id] == 0 {
			missing++
			if missing <= 3 {
				t.Errorf("id %s (vehicle %s, occurred %s) never published", id, p.VehicleID, p.OccurredAt)
			}
		}
	}
	if twice > 0 || missing > 0 {
		t.Errorf("%d ids published more than once, %d of %d records of [%s, %s) missing", twice, missing, len(valid), from, to)
	}
}

// TestBackfillOpenEndRerun: a backfill without an end is one job, whose end
// is resolved on its first run: stopped part-way and run again (the clock
// having moved on), and run once more after it finished, it publishes each
// record once and the last run publishes nothing.
func TestBackfillOpenEndRerun(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(2, 3), t0, nil)
		from := t0.Add(-4 * time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		h.cancelAtPage(5, cancel)
		if _, err := h.pipe.Backfill(ctx, from, time.Time{}); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped backfill: %v", err)
		}
		for run := range 2 {
			h.clock.Set(t0.Add(time.Duration(run+1) * 10 * time.Minute)) // "now" moves on between runs
			h.start(nil)
			res, err := h.pipe.Backfill(t.Context(), from, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.To.Equal(t0) {
				t.Errorf("run %d: the job's end is %s, want the first run's now, %s", run+2, res.To, t0)
			}
			if run == 0 && res.Resumed == 0 {
				t.Error("run 2 resumed nothing: the first run was not stopped part-way")
			}
			if run == 1 && (!res.AlreadyComplete || h.metrics.Counts().Fetched != 0) {
				t.Errorf("run 3 of a finished job: already complete %v, fetched %d; want true, 0", res.AlreadyComplete, h.metrics.Counts().Fetched)
			}
		}
		checkOnce(t, h, from, t0)
	})
}

// TestBackfillOverlap: two backfills with overlapping ranges, then the first
// again, then one inside both: each record once, and the ones inside publish
// nothing.
func TestBackfillOverlap(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(2, 3), t0, nil)
		a := [2]time.Time{t0.Add(-8 * time.Hour), t0.Add(-2 * time.Hour)}
		b := [2]time.Time{t0.Add(-6 * time.Hour), t0}
		inside := [2]time.Time{t0.Add(-7 * time.Hour), t0.Add(-time.Hour)}
		for i, r := range [][2]time.Time{a, b, a, inside} {
			h.start(nil)
			res, err := h.pipe.Backfill(t.Context(), r[0], r[1])
			if err != nil {
				t.Fatalf("backfill %d: %v", i+1, err)
			}
			c := h.metrics.Counts()
			if i >= 2 && c.Published != 0 {
				t.Errorf("backfill %d [%s, %s) published %d; its range was covered", i+1, r[0], r[1], c.Published)
			}
			if i == 1 && c.Elsewhere == 0 && c.Published > 0 {
				t.Logf("backfill 2 fetched only its own part (%d records)", c.Fetched)
			}
			_ = res
		}
		checkOnce(t, h, a[0], t0)
	})
}

// TestBackfillConcurrentOverlap: two overlapping backfills at the same time,
// each its own process: each record once.
func TestBackfillConcurrentOverlap(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(2, 4), t0, nil)
		ranges := [][2]time.Time{{t0.Add(-8 * time.Hour), t0.Add(-2 * time.Hour)}, {t0.Add(-6 * time.Hour), t0}}
		var wg sync.WaitGroup
		errs := make([]error, len(ranges))
		for i, r := range ranges {
			p := h.process("backfill-"+string(rune('a'+i)), nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = p.pipe.Backfill(t.Context(), r[0], r[1])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		checkOnce(t, h, ranges[0][0], t0)
	})
}

// TestBackfillBesideLiveTail: the live tail and a backfill over the same
// hour run at the same time, each in its own process: each record once,
// and every record of the hour and of the tail's run published.
func TestBackfillBesideLiveTail(t *testing.T) {
	for _, tailFirst := range []bool{true, false} {
		name := map[bool]string{true: "tail claims first", false: "backfill claims first"}[tailFirst]
		t.Run(name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				tune := liveTune(100 * time.Millisecond)
				h := newHarness(t, clean(2, 3), t0, tune)
				tail := h.process("tail", tune)
				bf := h.process("backfill", nil)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				tailErr := make(chan error, 1)
				bfErr := make(chan error, 1)
				backfill := func() {
					_, err := bf.pipe.Backfill(t.Context(), t0.Add(-time.Hour), t0)
					bfErr <- err
				}
				if tailFirst {
					go func() { tailErr <- tail.pipe.Run(ctx) }()
					waitCounter(t, func() float64 { return float64(tail.metrics.Counts().Pages) }, 1)
					go backfill()
				} else {
					go backfill()
					waitCounter(t, func() float64 { return float64(bf.metrics.Counts().Pages) }, 1)
					go func() { tailErr <- tail.pipe.Run(ctx) }()
				}
				now := t0
				for range 5 {
					now = now.Add(time.Minute)
					h.clock.Set(now)
					waitCounter(t, func() float64 { return float64(tail.metrics.Counts().Pages) }, 2)
				}
				if err := <-bfErr; err != nil {
					t.Fatal(err)
				}
				// Two sweeps: one began after the clock's last move.
				waitCounter(t, func() float64 { return testutil.ToFloat64(tail.metrics.Sweeps) }, 2)
				cancel()
				if err := <-tailErr; err != nil {
					t.Fatal(err)
				}
				checkOnce(t, h, t0.Add(-time.Hour), now)
				tc, bc := tail.metrics.Counts(), bf.metrics.Counts()
				t.Logf("tail published %d (left to the backfill %d), backfill published %d (left to the tail %d)",
					tc.Published, tc.Elsewhere, bc.Published, bc.Elsewhere)
				// The job that claimed second fetched only what the first
				// left: the backfill the half hour before the tail's
				// LOOKBACK, or the tail the minutes after the backfill's end.
				second := map[bool]int64{true: bc.Published, false: tc.Published}[tailFirst]
				if hour := int64(len(h.sim.Vehicles()) * 60); second >= hour/2+int64(len(h.sim.Vehicles())) {
					t.Errorf("the job that claimed second published %d records; the hour holds %d, of which the first claim owns at least half", second, hour)
				}
			})
		})
	}
}

// TestRunGapRetry: a gap fill commits its first page and the next fails;
// by the next poll the shared id set has evicted the first page's ids (they
// are older than the horizon), and the API refuses the saved cursor, so the
// window is read again from its first page: nothing is published twice.
func TestRunGapRetry(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := liveTune(50 * time.Millisecond)
		h := newHarness(t, clean(1, 2), t0, tune)
		h.retryMaxElapsed = 50 * time.Millisecond // a failing page fails the poll quickly
		h.start(tune)
		v := h.sim.Vehicles()[0].ID
		silentFrom := t0.Add(2 * time.Minute)
		hide := func(vid string, at time.Time) bool { return vid == v && !at.Before(silentFrom) }
		h.hide.Store(&hide)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.pipe.Run(ctx) }()
		waitPages(t, h, 2)
		now := t0
		for range 3 {
			now = now.Add(time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 2)
		}
		// Three hours on, the vehicle uploads what it recorded meanwhile: a gap
		// of ~180 records, two pages of 100. Its second page fails.
		now = t0.Add(3 * time.Hour)
		h.clock.Set(now)
		waitSweeps(t, h, 2) // the horizon moves past the gap's first page
		failPage2 := func(r *http.Request) bool {
			q := r.URL.Query()
			return q.Get("cursor") != "" && strings.Contains(strings.Join(q["vehicle_ids"], ","), v)
		}
		h.fail.Store(&failPage2)
		h.hide.Store(nil)
		pollErrs := func() float64 { return float64(h.metrics.Counts().Pages) }
		waitCounter(t, func() float64 { return testutil.ToFloat64(h.metrics.VehicleErrors.WithLabelValues("gap")) }, 2)
		waitCounter(t, pollErrs, 3) // polls evict by the horizon meanwhile
		h.refuseCursors.Store(1)    // the saved cursor has expired
		h.fail.Store(nil)
		waitSweeps(t, h, 2)
		waitPages(t, h, 3)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if h.refuseCursors.Load() >= 0 {
			t.Error("no cursor was refused: the gap did not resume part-way")
		}
		checkPublished(t, h, t0, now, v)
	})
}

// TestBackfillRerunFencesPredecessor: a backfill killed mid-transaction
// leaves it open; the rerun, with the same transactional id, aborts it at
// once instead of waiting for the coordinator to time it out. A job that has
// to read past another job's open transaction says so (log and Ready).
func TestBackfillRerunFencesPredecessor(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(1, 2), t0, nil)
		from, to := t0.Add(-2*time.Hour), t0
		job := "backfill-" + pipeline.BackfillJob(from, to, nil, nil)
		openTxn := func(txnID string) {
			cl, err := kgo.NewClient(append(slices.Clone(h.dial), kgo.TransactionalID(txnID), kgo.TransactionTimeout(10*time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			r := &kgo.Record{Topic: h.topic + ".checkpoints", Key: []byte("left-open"), Value: []byte("{}")}
			if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		// The predecessor: same transactional id as the rerun.
		openTxn(job)
		p := h.process(job, nil)
		if _, err := p.pipe.Backfill(t.Context(), from, to); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.logs.String(), "waits for an open transaction") {
			t.Errorf("the rerun waited behind its predecessor's transaction:\n%s", p.logs)
		}
		checkOnce(t, h, from, to)

		// Another job's transaction left open: the read waits for it, and says so.
		openTxn("someone-else")
		q := h.process("backfill-other", nil)
		done := make(chan error, 1)
		go func() {
			_, err := q.pipe.Backfill(t.Context(), t0.Add(-3*time.Hour), to)
			done <- err
		}()
		waitFor(t, time.Minute, "the job logs that it waits for an open transaction", func() bool {
			return strings.Contains(q.logs.String(), "waits for an open transaction")
		})
		if err := q.sink.Ready(); err == nil || !strings.Contains(err.Error(), "open") {
			t.Errorf("Ready while waiting = %v, want an error naming the open transaction", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		checkOnce(t, h, t0.Add(-3*time.Hour), to)
	})
}

// TestBackfillRestartReadsLittle: resuming a backfill reads back only what
// the windows it resumes part-way published, not everything the job
// published since it started.
func TestBackfillRestartReadsLittle(t *testing.T) {
	bubble(t, func(t *testing.T) {
		tune := func(c *pipeline.Config) {
			c.Concurrency, c.ClockSkew = 1, time.Millisecond
			c.OutageMax, c.OutageRetryInterval = 50*time.Millisecond, 5*time.Millisecond
		}
		h := newHarness(t, clean(2, 3), t0, tune)
		h.retryMaxElapsed = 20 * time.Millisecond
		h.start(tune)
		from, to := t0.Add(-8*time.Hour), t0 // 480 records a vehicle: 5 pages of 100
		// The last vehicle's second page fails for good: the job stops with
		// that window half done, every other vehicle finished before it.
		vs := h.sim.Vehicles()
		last := forVehicle(vs[len(vs)-1].ID)
		page2 := func(r *http.Request) int {
			if last(r) && r.URL.Query().Get("cursor") != "" {
				return http.StatusServiceUnavailable
			}
			// Each page takes a while: the records of the vehicles done
			// before the failing window are older than the window, as
			// the restart's read back by time counts on (in a bubble no
			// time passes otherwise).
			elapse(10 * time.Millisecond)
			return 0
		}
		h.answer.Store(&page2)
		if _, err := h.pipe.Backfill(t.Context(), from, to); !errors.Is(err, pipeline.ErrIncomplete) {
			t.Fatalf("backfill with the last vehicle failing: %v, want ErrIncomplete", err)
		}
		h.answer.Store(nil)
		before := len(idCounts(h))
		h.start(tune)
		res, err := h.pipe.Backfill(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("resumed %d vehicles; read back %d records of the %d in the topic", res.Resumed, res.Restored, before)
		if res.Resumed != 1 || res.Restored == 0 || res.Restored > before/3 {
			t.Errorf("the restart read back %d records of the %d in the topic; want some, at most the half-done window's (< %d)", res.Restored, before, before/3)
		}
		checkOnce(t, h, from, to)
	})
}
