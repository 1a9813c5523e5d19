package pipeline_test

// Adversarial review of e0e3076 ("record the holes a snapshot opens as gaps
// under way"). Each test labelled DEFECT failed on e0e3076 and passes since
// sweeps move a vehicle's last handled point only from within GAP_THRESHOLD.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

// gate blocks the API requests match selects, while armed, until released.
type gate struct {
	armed    atomic.Bool
	once     sync.Once
	blocked  chan struct{}
	released chan struct{}
}

func newGate() *gate { return &gate{blocked: make(chan struct{}), released: make(chan struct{})} }

func (g *gate) hold(match bool) {
	if match && g.armed.Load() {
		g.once.Do(func() { close(g.blocked) })
		<-g.released
	}
}

func (g *gate) release() { g.armed.Store(false); close(g.released) }

func isVehicleList(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/telematics/vehicles")
}
func isSnapshot(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "vehicle-locations") && r.URL.Query().Get("only_latest") != "false"
}

// TestRev2PushThenSweepOvertakes (DEFECT): TestPushRevLostBatchAdvancesPastGap
// with a sweep between the push and the next poll. A vehicle is offline
// from t0+5m, uploads its backlog at t0+2h; Catena loses the older push
// batch and delivers the last 10 minutes. The pushed points do not move the
// vehicle's last handled point At (maxStep) but do move NewestAt, which
// makes the vehicle active for the sweep that starts next. No gap under way
// is recorded (pushes pass no holeRule). The sweep reads [sweepFrom, now]
// (sweepFrom = t0+1h30m), publishes the lost batch's part in it and moves
// At, unbounded, to ~t0+1h50m. The poll's fillGaps then finds only the
// hole [t0+1h50m, t0+2h]: the backlog (t0+5m, t0+1h30m) is never published.
// The same race the snapshot's recorded gaps fixed (TestSnapRevSweepOvertakesGap)
// stays open for pushes. Every sweep is full here (FULL_SWEEP_EVERY=1); with
// the default, one sweep in LOOKBACK/SWEEP_INTERVAL is.
func TestRev2PushThenSweepOvertakes(t *testing.T) {
	bubble(t, func(t *testing.T) {
		// Every sweep full (FULL_SWEEP_EVERY=1); with the default (LOOKBACK /
		// SWEEP_INTERVAL) the race needs the next sweep to be a full one, one in
		// six: a non-full sweep skips the vehicle, all of whose new points came
		// by push.
		tune := func(c *pipeline.Config) { liveTune(100 * time.Millisecond)(c); c.FullSweepEvery = 1 }
		h := newHarness(t, clean(1, 2), t0, tune)
		v := h.sim.Vehicles()[0].ID
		offline, upload := t0.Add(5*time.Minute), t0.Add(2*time.Hour)
		var uploaded atomic.Bool
		hide := func(vid string, at time.Time) bool { return vid == v && at.After(offline) && !uploaded.Load() }
		h.hide.Store(&hide)
		list, poll := newGate(), newGate()
		hook := func(r *http.Request) int {
			list.hold(isVehicleList(r))
			poll.hold(isSnapshot(r))
			return 0
		}
		h.answer.Store(&hook)

		stop := startTail(t, h)
		now := t0
		advance(t, h, &now, t0.Add(10*time.Minute), t0.Add(40*time.Minute), t0.Add(70*time.Minute), t0.Add(100*time.Minute), upload)

		list.armed.Store(true)
		<-list.blocked // a sweep has started: it reads the vehicle list
		poll.armed.Store(true)
		<-poll.blocked // the next poll waits for its snapshot

		lost := rawHistory(t, h, v, offline.Add(time.Microsecond), upload.Add(-10*time.Minute))
		delivered := rawHistory(t, h, v, upload.Add(-10*time.Minute), upload.Add(time.Microsecond))
		pushOK(t, h, asPushed(t, delivered))
		uploaded.Store(true)

		list.release() // the sweep computes its vehicles now: the pushed one is active
		waitSweeps(t, h, 1)
		poll.release()

		advance(t, h, &now, upload.Add(time.Minute), upload.Add(2*time.Minute), upload.Add(3*time.Minute))
		waitSweeps(t, h, 2)
		stop()
		t.Logf("backlog of vehicle %s: %d records in the lost batch, %d delivered by push", v, len(lost), len(delivered))
		checkPublished(t, h, t0, upload, v)
		if testing.Verbose() {
			t.Log(h.logs)
		}
	})
}

// forVehicleHistory selects the history requests of vehicle v whose window
// lies in [from, to): a window of its history the API keeps refusing.
func forVehicleHistory(v string, from, to time.Time) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		q := r.URL.Query()
		if q.Get("only_latest") != "false" || q.Get("vehicle_ids") != v {
			return false
		}
		f, _ := time.Parse(time.RFC3339Nano, q.Get("from_datetime"))
		e, _ := time.Parse(time.RFC3339Nano, q.Get("to_datetime"))
		return !f.Before(from) && e.Before(to)
	}
}

// missingOf returns how many of vehicle v's valid points in [from, to) that
// skip does not exclude are not in the events topic, and how many are in
// it more than once.
func missingOf(h *harness, v string, from, to time.Time, skip func(time.Time) bool) (missing, twice int, first, last time.Time) {
	n := idCounts(h)
	for _, p := range h.sim.Points(v, from, to) {
		if p.Malformed != "" || skip != nil && skip(p.OccurredAt) {
			continue
		}
		switch c := n[p.ID]; {
		case c == 0:
			if missing == 0 {
				first = p.OccurredAt
			}
			last = p.OccurredAt
			missing++
		case c > 1:
			if testing.Verbose() {
				fmt.Printf("twice: %s %s x%d\n", p.ID, p.OccurredAt.Format(time.TimeOnly), c)
			}
			twice++
		}
	}
	return
}

// TestRev2SecondHoleWhileGapFails (DEFECT): while a vehicle's gap under way
// G1 fails (its window refused by the API, kept under way and retried with
// backoff), the vehicle goes silent for 70 minutes (> LOOKBACK + a sweep)
// and uploads its backlog. The snapshot point after the silence meets a
// gap under way: it moves neither At (step = GapThreshold) nor records the
// hole; only NewestAt moves. fillGaps retries G1, which fails, and breaks
// before the second round that would read [At, NewestAt]. The vehicle is
// active again (NewestAt), so the next sweep reads it from sweepFrom,
// succeeds, and moves At, unbounded, to the newest point: the hole's part
// before sweepFrom is never read, even once G1 succeeds.
func TestRev2SecondHoleWhileGapFails(t *testing.T) {
	bubble(t, func(t *testing.T) {
		// Polls slower than sweeps here, so that a sweep meets the vehicle
		// between its backoff's end and the poll that retries its gap (in
		// production: any sweep slot in the up to POLL_INTERVAL after a
		// backoff ends; the gap keeps failing, so there are many).
		tune := func(c *pipeline.Config) { liveTune(100 * time.Millisecond)(c); c.PollInterval = 400 * time.Millisecond }
		h := newHarness(t, clean(1, 2), t0, tune)
		h.retryMaxElapsed = 20 * time.Millisecond
		h.start(tune)
		v := h.sim.Vehicles()[0].ID
		silent1 := func(at time.Time) bool { return at.After(t0.Add(5*time.Minute)) && at.Before(t0.Add(19*time.Minute)) }
		silent2From, silent2To := t0.Add(25*time.Minute), t0.Add(95*time.Minute)
		hide := func(vid string, at time.Time) bool {
			if vid != v {
				return false
			}
			return silent1(at) || at.After(silent2From) && at.Before(silent2To) && h.clock.Now().Before(silent2To)
		}
		h.hide.Store(&hide)
		// G1 = [~t0+4m, ~t0+19m]: the API refuses that window of the vehicle's
		// history (a sweep's window ends at now, later than t0+20m).
		refuse := forVehicleHistory(v, t0, t0.Add(20*time.Minute))
		var refusing atomic.Bool
		refusing.Store(true)
		answer := func(r *http.Request) int {
			if refusing.Load() && refuse(r) {
				return http.StatusInternalServerError
			}
			return 0
		}
		h.answer.Store(&answer)

		stop := startTail(t, h)
		now := t0
		step := func(to time.Time, sweeps int) {
			now = to
			h.clock.Set(now)
			waitPages(t, h, 2)
			waitSweeps(t, h, sweeps)
		}
		step(t0.Add(5*time.Minute), 1)
		step(t0.Add(20*time.Minute), 0) // G1 is recorded, and refused
		for now.Before(t0.Add(26 * time.Minute)) {
			step(now.Add(time.Minute), 0)
		}
		for now.Before(silent2To.Add(-10 * time.Minute)) {
			step(now.Add(10*time.Minute), 1)
		}
		step(silent2To, 0) // the backlog is visible: the snapshot sees its newest point
		for range 8 {
			step(now.Add(time.Minute), 2)
		}
		refusing.Store(false) // G1 succeeds from now on
		for range 3 {
			step(now.Add(time.Minute), 1)
		}
		waitSweeps(t, h, 2)
		stop()
		missing, twice, first, last := missingOf(h, v, t0, now.Add(-2*time.Minute), silent1)
		if missing > 0 || twice > 0 {
			t.Errorf("vehicle %s: %d points never published (occurred %s .. %s), %d published more than once",
				v, missing, first.Format(time.TimeOnly), last.Format(time.TimeOnly), twice)
		}
		if testing.Verbose() {
			t.Log(h.logs)
		}
	})
}
