package pipeline_test

// Adversarial review of "publish the snapshot first" (95e0502) and the
// rate-limit lanes (5903833). Tests labelled DEFECT failed on 95e0502 and
// pass since the snapshot records the holes it opens as gaps under way, and
// a completed gap moves its vehicle on to its newest point.

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// historyUpTo makes every history request (sweeps, gap fills) answer only
// points up to the instant upTo holds (Unix ns): the test then decides that
// a new point is seen by the snapshot before any history read, as it is
// whenever the poll comes first (the usual order in production: polls
// every 30s, sweeps every 10m). Without it, a sweep racing the poll could
// publish the point first and hide the defect.
func historyUpTo(h *harness, upTo *atomic.Int64) {
	f := func(r *http.Request) int {
		q := r.URL.Query()
		if q.Get("only_latest") != "false" {
			return 0
		}
		lim := time.Unix(0, upTo.Load()+1).UTC()
		from, _ := time.Parse(time.RFC3339Nano, q.Get("from_datetime"))
		if lim.Before(from) {
			lim = from
		}
		if to, err := time.Parse(time.RFC3339Nano, q.Get("to_datetime")); err != nil || to.After(lim) {
			q.Set("to_datetime", lim.Format(time.RFC3339Nano))
			r.URL.RawQuery = q.Encode()
		}
		return 0
	}
	h.answer.Store(&f)
}

// livePages is the number of snapshot pages the tail committed.
func livePages(h *harness) float64 {
	return testutil.ToFloat64(h.metrics.Pages.WithLabelValues("live"))
}

func gapPages(h *harness) float64 { return testutil.ToFloat64(h.metrics.Pages.WithLabelValues("gap")) }

// stepPolled moves the clock to now and waits until a poll that started
// after the move published its snapshot, then lets history reads see it.
func stepPolled(t *testing.T, h *harness, upTo *atomic.Int64, now time.Time) {
	t.Helper()
	h.clock.Set(now)
	waitCounter(t, func() float64 { return livePages(h) }, 2)
	upTo.Store(now.UnixNano())
	waitCounter(t, func() float64 { return livePages(h) }, 1)
}

// TestSnapRevParkedVehicleStalls (DEFECT): a vehicle that reports once a
// minute is silent for 7 minutes (more than GAP_THRESHOLD, 2m), then
// reports again. The snapshot publishes its first point after the silence
// first (maxStep: it does not move the vehicle's last handled point At,
// being more than GAP_THRESHOLD after it), and the gap fill after it finds
// nothing new (the point is a duplicate now), so At stays before the
// silence. Every later point is again published by the snapshot first and
// is again more than GAP_THRESHOLD after At: At never moves again. Every
// poll gap-fills [At, newest] again, a window that grows without end, and
// once the dedup set has evicted the points the snapshots published
// (LOOKBACK after the sweeps), the gap fills publish them a second time.
// Before 95e0502 the gap fill ran before the snapshot page and published
// the point itself, moving At.
func TestSnapRevParkedVehicleStalls(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(1, 1), t0, liveTune(150*time.Millisecond))
		v := h.sim.Vehicles()[0].ID
		silentFrom, silentTo := t0.Add(5*time.Minute), t0.Add(12*time.Minute)
		hide := func(vid string, at time.Time) bool {
			return vid == v && at.After(silentFrom) && at.Before(silentTo)
		}
		h.hide.Store(&hide)
		var upTo atomic.Int64
		upTo.Store(t0.UnixNano())
		historyUpTo(h, &upTo)

		stop := startTail(t, h)
		waitSweeps(t, h, 1) // the first start's LOOKBACK
		now := t0
		var gapsAt30, gapsAt40 float64
		for i := 1; i <= 75; i++ {
			now = now.Add(time.Minute)
			stepPolled(t, h, &upTo, now)
			switch i {
			case 30:
				gapsAt30 = gapPages(h)
			case 40:
				gapsAt40 = gapPages(h)
			}
		}
		waitSweeps(t, h, 1)
		stop()

		// 18 minutes after the silence, the vehicle has reported once a
		// minute for long: a healthy tail fills no gap in minutes 30..40.
		if n := gapsAt40 - gapsAt30; n > 0 {
			t.Errorf("%v gap pages in 10 polled minutes long after the silence ended (want 0): the vehicle's last handled point is stuck before the silence, every poll gap-fills it again", n)
		}
		n := idCounts(h)
		twice := 0
		for _, p := range h.sim.Points(v, t0.Add(-30*time.Minute), now) {
			if c := n[p.ID]; c > 1 {
				twice++
				if twice <= 3 {
					t.Errorf("point %s (occurred %s) published %d times", p.ID, p.OccurredAt.Format(time.TimeOnly), c)
				}
			}
		}
		if twice > 0 {
			t.Errorf("%d points of the vehicle published more than once", twice)
		}
		missing := 0
		for _, p := range h.sim.Points(v, t0.Add(-30*time.Minute), now.Add(-time.Minute)) {
			if !hide(v, p.OccurredAt) && n[p.ID] == 0 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%d points never published", missing)
		}
		_ = context.Background
	})
}

// TestSnapRevSweepOvertakesGap (DEFECT): two vehicles are offline for 48
// minutes (longer than LOOKBACK, 30m) and then upload their backlog. A
// sweep has just started and is reading the vehicle list (on the catch-up
// lane, which yields to the polls: slow). The poll publishes both newest
// points first, which makes both vehicles active (NewestAt) while their
// last handled point At stays before the outage. The page's gap fills run
// one vehicle after the other; while the first vehicle's gap is slow (a
// big backlog, the rate limit: here 2s), the sweep computes its vehicles
// (both are active now), reads the second vehicle's [sweepFrom, now] and
// moves its At to the newest point it published (a sweep's step is
// unbounded). When the gap fill reaches the second vehicle, At is within
// GAP_THRESHOLD of its newest point: no gap. Its backlog before sweepFrom
// is never published. Before 95e0502 the gap ran before the snapshot page
// moved NewestAt: the vehicle was not active for a sweep until its gap was
// filled.
func TestSnapRevSweepOvertakesGap(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(1, 2), t0, liveTune(150*time.Millisecond))
		offFrom, offTo := t0.Add(2*time.Minute), t0.Add(50*time.Minute)
		var uploaded atomic.Bool
		hide := func(_ string, at time.Time) bool {
			return !uploaded.Load() && at.After(offFrom) && at.Before(offTo)
		}
		h.hide.Store(&hide)
		lastBefore := map[time.Time]bool{}
		for _, v := range h.sim.Vehicles() {
			pts := h.sim.Points(v.ID, t0, offFrom.Add(time.Nanosecond))
			lastBefore[pts[len(pts)-1].OccurredAt] = true
		}
		var slowed, holdList atomic.Bool
		listBlocked, releaseList := make(chan struct{}), make(chan struct{})
		var blockedOnce sync.Once
		hook := func(r *http.Request) int {
			if holdList.Load() && strings.HasSuffix(r.URL.Path, "/telematics/vehicles") {
				blockedOnce.Do(func() { close(listBlocked) })
				<-releaseList
				return 0
			}
			q := r.URL.Query()
			from, _ := time.Parse(time.RFC3339Nano, q.Get("from_datetime"))
			if q.Get("only_latest") == "false" && lastBefore[from.UTC()] && slowed.CompareAndSwap(false, true) {
				// The snapshot with the uploaded points is staged and the
				// page's first gap fill starts: the sweep's vehicle list
				// answers now, and this gap is slow (the rate limit, a
				// big backlog).
				holdList.Store(false)
				close(releaseList)
				elapse(2 * time.Second)
			}
			return 0
		}
		h.answer.Store(&hook)

		stop := startTail(t, h)
		waitSweeps(t, h, 1)
		now := t0
		for now.Before(offTo) {
			now = now.Add(time.Minute)
			h.clock.Set(now)
			waitPages(t, h, 2)
		}
		waitSweeps(t, h, 2) // the sweeps' window is past the outage's start
		holdList.Store(true)
		<-listBlocked // a sweep is reading the vehicle list
		uploaded.Store(true)
		<-releaseList
		elapse(2500 * time.Millisecond) // the slow gap fill's 2s pass, the page's next one starts
		waitSweeps(t, h, 2)
		waitPages(t, h, 4)
		stop()
		if !slowed.Load() {
			t.Fatal("no gap fill from before the outage")
		}
		n := idCounts(h)
		for _, v := range h.sim.Vehicles() {
			missing := 0
			var first, last time.Time
			for _, p := range h.sim.Points(v.ID, t0.Add(-30*time.Minute), now) {
				if n[p.ID] == 0 {
					if missing == 0 {
						first = p.OccurredAt
					}
					last = p.OccurredAt
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("vehicle %s: %d points never published, occurred %s .. %s", v.ID, missing, first.Format(time.TimeOnly), last.Format(time.TimeOnly))
			}
		}
	})
}

// TestSnapRevNewVehicleNeverHandled (DEFECT, liveness): a vehicle first
// seen after the first poll has no last handled point (At zero). The
// snapshot's maxStep never moves a zero At, and when every point of the
// vehicle is seen by a snapshot first (it reports no more often than the
// polls), its gap fills find only duplicates, which move nothing: At stays
// zero for good, and every poll gap-fills the vehicle's last LOOKBACK
// again (one history read per poll per such vehicle, on the live lane).
func TestSnapRevNewVehicleNeverHandled(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := newHarness(t, clean(1, 2), t0, liveTune(150*time.Millisecond))
		newV := h.sim.Vehicles()[1].ID
		appear := t0.Add(10 * time.Minute)
		hide := func(v string, at time.Time) bool { return v == newV && at.Before(appear) }
		h.hide.Store(&hide)
		var upTo atomic.Int64
		upTo.Store(t0.UnixNano())
		historyUpTo(h, &upTo)

		stop := startTail(t, h)
		waitSweeps(t, h, 1)
		now := t0
		var gapsAt30, gapsAt40 float64
		for i := 1; i <= 40; i++ {
			now = now.Add(time.Minute)
			stepPolled(t, h, &upTo, now)
			switch i {
			case 30:
				gapsAt30 = gapPages(h)
			case 40:
				gapsAt40 = gapPages(h)
			}
		}
		stop()
		if n := gapsAt40 - gapsAt30; n > 0 {
			t.Errorf("%v gap pages in 10 polled minutes, 20 minutes after the new vehicle appeared (want 0): its last handled point never moves", n)
		}
		checkPublished(t, h, appear, now.Add(-time.Minute))
	})
}
