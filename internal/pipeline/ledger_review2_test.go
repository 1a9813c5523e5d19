package pipeline_test

// A second adversarial review of the ledger, after the first one's fixes:
// tests marked DEFECT failed then and pin the fix; LIMITATION tests show a
// case the README states as not promised, and are skipped; PINS held.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Second adversarial review of the coverage ledger: the vehicle-fleet
// ownership rule, releases, FLEET_REFS resolution and crash points. Tests
// marked DEFECT fail on 4388630 and show a duplicate or a loss; tests marked
// PINS hold and pin a property the review checked.

// fleetProxy sits in front of the harness's API (it takes over h.apiURL, so
// processes made after it use it) and lets a test move vehicles between
// fleets: the vehicle list and the snapshot's fleet filters follow the
// vehicle's current fleet as the proxy says it, and location items can name
// another fleet than the simulator's.
type fleetProxy struct {
	h  *harness
	mu sync.Mutex
	// current is a vehicle's fleet now (the vehicle list's fleet_id, and
	// what fleet_ids/fleet_refs filters of the list and the snapshot
	// select); absent: the simulator's.
	current map[string]catenasim.Fleet
	// unlisted reports whether the vehicle list leaves a vehicle out (not
	// in any fleet yet).
	unlisted func(vehicle string) bool
	// record, when set, is the fleet a location item names.
	record func(vehicle string, at time.Time, latest bool) (catenasim.Fleet, bool)
}

func newFleetProxy(h *harness) *fleetProxy {
	px := &fleetProxy{h: h, current: map[string]catenasim.Fleet{}}
	up, err := url.Parse(h.apiURL)
	if err != nil {
		h.t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		r := pr.Out
		q := r.URL.Query()
		if r.URL.Path == catena.EndpointVehicles || r.URL.Path == catena.EndpointVehicleLocations && q.Get("only_latest") != "false" {
			// The proxy applies the fleet filters itself.
			r.Header.Set("X-Want-Fleet-Ids", strings.Join(q["fleet_ids"], ","))
			r.Header.Set("X-Want-Fleet-Refs", strings.Join(q["fleet_refs"], ","))
			r.Header.Set("X-Filtered", "1")
			q.Del("fleet_ids")
			q.Del("fleet_refs")
			r.URL.RawQuery = q.Encode()
		}
		r.Header.Del("Accept-Encoding")
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK || resp.Request == nil {
			return nil
		}
		path := resp.Request.URL.Path
		if path != catena.EndpointVehicles && path != catena.EndpointVehicleLocations {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = px.edit(resp.Request, body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	h.t.Cleanup(srv.Close)
	h.apiURL = srv.URL
	return px
}

// move makes f the vehicle's fleet from now on.
func (px *fleetProxy) move(vehicle string, f catenasim.Fleet) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.current[vehicle] = f
}

func (px *fleetProxy) fleetOf(vehicle string) catenasim.Fleet {
	px.mu.Lock()
	defer px.mu.Unlock()
	if f, ok := px.current[vehicle]; ok {
		return f
	}
	for _, v := range px.h.sim.Vehicles() {
		if v.ID == vehicle {
			for _, f := range px.h.sim.Fleets() {
				if f.ID == v.FleetID {
					return f
				}
			}
		}
	}
	return catenasim.Fleet{}
}

func (px *fleetProxy) edit(req *http.Request, body []byte) []byte {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return body
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(env["items"], &items) != nil {
		return body
	}
	vehicles := req.URL.Path == catena.EndpointVehicles
	filtered := req.Header.Get("X-Filtered") != ""
	latest := !vehicles && req.URL.Query().Get("only_latest") != "false"
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	wantIDs, wantRefs := split(req.Header.Get("X-Want-Fleet-Ids")), split(req.Header.Get("X-Want-Fleet-Refs"))
	kept := []map[string]json.RawMessage{}
	for _, it := range items {
		var vid string
		if vehicles {
			json.Unmarshal(it["id"], &vid)
		} else {
			json.Unmarshal(it["vehicle_id"], &vid)
		}
		cur := px.fleetOf(vid)
		if vehicles {
			if px.unlisted != nil && px.unlisted(vid) {
				continue
			}
			it["fleet_id"], _ = json.Marshal(cur.ID)
			it["fleet_ref"], _ = json.Marshal(cur.Ref)
		} else if px.record != nil {
			var at time.Time
			json.Unmarshal(it["occurred_at"], &at)
			if f, ok := px.record(vid, at, latest); ok {
				it["fleet_id"], _ = json.Marshal(f.ID)
				it["fleet_ref"], _ = json.Marshal(f.Ref)
			}
		}
		if filtered && (len(wantIDs) > 0 && !slices.Contains(wantIDs, cur.ID) || len(wantRefs) > 0 && !slices.Contains(wantRefs, cur.Ref)) {
			continue
		}
		kept = append(kept, it)
	}
	env["items"], _ = json.Marshal(kept)
	if filtered {
		env["total"], _ = json.Marshal(len(kept))
	}
	out, _ := json.Marshal(env)
	return out
}

// runTogether runs the live tails of procs side by side while the clock
// moves steps times by step (calling at, if set, after each move with the
// step's number), then waits for two sweeps of each and stops them.
func runTogether(t *testing.T, h *harness, now *time.Time, steps int, step time.Duration, at func(i int), procs ...*process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, len(procs))
	for _, p := range procs {
		go func() { errs <- p.pipe.Run(ctx) }()
	}
	waitAll := func(n int, read func(p *process) float64) {
		t.Helper()
		for _, p := range procs {
			waitCounter(t, func() float64 { return read(p) }, n)
		}
	}
	pages := func(p *process) float64 { return float64(p.metrics.Counts().Pages) }
	waitAll(2, pages)
	for i := range steps {
		*now = now.Add(step)
		h.clock.Set(*now)
		if at != nil {
			at(i)
		}
		waitAll(2, pages)
	}
	waitAll(2, func(p *process) float64 { return testutil.ToFloat64(p.metrics.Sweeps) })
	cancel()
	for range procs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// vehiclesOf returns the ids of the vehicles of fleet f (the simulator's).
func vehiclesOf(h *harness, f string) []string {
	var out []string
	for _, v := range h.sim.Vehicles() {
		if v.FleetID == f {
			out = append(out, v.ID)
		}
	}
	return out
}

// checkVehicle checks that every valid point of vehicle v in [from, to) was
// published once, and says in one line how many were not.
func checkVehicle(t *testing.T, h *harness, v string, from, to time.Time) {
	t.Helper()
	n := idCounts(h)
	missing, twice, total := 0, 0, 0
	var first, last time.Time
	for _, p := range h.sim.Points(v, from, to) {
		if p.Malformed != "" || p.VisibleAt.After(to) {
			continue
		}
		total++
		if n[p.ID] != 1 {
			if n[p.ID] == 0 {
				missing++
			} else {
				twice++
			}
			if first.IsZero() {
				first = p.OccurredAt
			}
			last = p.OccurredAt
		}
	}
	if missing+twice > 0 {
		t.Errorf("vehicle %s: of %d points in [%s, %s), %d never published and %d more than once (occurred %s .. %s)",
			v, total, from.Format(time.TimeOnly), to.Format(time.TimeOnly), missing, twice, first.Format(time.TimeOnly), last.Format(time.TimeOnly))
	}
}

// dupCount reports every id in the events topic more than once.
func dupCount(t *testing.T, h *harness) int {
	t.Helper()
	twice := 0
	for id, c := range idCounts(h) {
		if c > 1 {
			twice++
			if twice <= 3 {
				t.Errorf("id %s published %d times", id, c)
			}
		}
	}
	return twice
}

// TestRevNewestRecordFleetDisagrees (DEFECT): the backfill decides a
// vehicle's records by the vehicle list's fleet_id, the live tail by the
// fleet_id of the vehicle's newest snapshot record. They differ for a
// vehicle that moved from F1 to F2 and has not reported since (its records,
// the newest included, still name F1). A backfill of F1 that claimed before
// the tail does not list it (the list says F2), and the tail leaves its
// records to the F1 claim (the record says F1): lost. Conversely a backfill
// of F2 publishes them (the list says F2) and the tail, deciding by F1, does
// too: twice.
func TestRevNewestRecordFleetDisagrees(t *testing.T) {
	for _, bfFleet := range []int{0, 1} {
		name := map[int]string{0: "backfill of the records' fleet: lost", 1: "backfill of the list's fleet: twice"}[bfFleet]
		t.Run(name, func(t *testing.T) {
			tune := liveTune(100 * time.Millisecond)
			h := newHarness(t, clean(2, 2), t0, tune)
			f1, f2 := h.sim.Fleets()[0], h.sim.Fleets()[1]
			v := vehiclesOf(h, f2.ID)[0] // in F2 by the vehicle list
			rw := func(_ bool, item map[string]json.RawMessage) {
				if strings.Contains(string(item["vehicle_id"]), v) { // its records still name F1
					item["fleet_id"], _ = json.Marshal(f1.ID)
					item["fleet_ref"], _ = json.Marshal(f1.Ref)
				}
			}
			h.rewrite.Store(&rw)
			bf := []catenasim.Fleet{f1, f2}[bfFleet]
			// The backfill claims first and is held up by an outage while
			// the tail starts (a tail started after it finished would
			// restore its ids from the topic, if it finished less than
			// LOOKBACK ago).
			from := t0.Add(-time.Hour)
			held := func(r *http.Request) bool { return r.URL.Query().Get("from_datetime") == from.Format(time.RFC3339) }
			h.fail.Store(&held)
			h.retryMaxElapsed = 20 * time.Millisecond
			bfp := h.process("bf", func(c *pipeline.Config) {
				c.FleetIDs = []string{bf.ID}
				c.OutageMax, c.OutageRetryInterval = time.Minute, 20*time.Millisecond
			})
			h.retryMaxElapsed = 0
			bfErr := make(chan error, 1)
			go func() {
				_, err := bfp.pipe.Backfill(context.Background(), from, t0)
				bfErr <- err
			}()
			waitCounter(t, func() float64 { return testutil.ToFloat64(bfp.metrics.PollErrors) }, 1)
			h.start(tune) // the tail of every fleet claims after the backfill
			now := t0
			ctx, cancel := context.WithCancel(context.Background())
			tailErr := make(chan error, 1)
			go func() { tailErr <- h.pipe.Run(ctx) }()
			waitPages(t, h, 2)
			h.fail.Store(nil)
			if err := <-bfErr; err != nil {
				t.Fatal(err)
			}
			for range 3 {
				now = now.Add(time.Minute)
				h.clock.Set(now)
				waitPages(t, h, 2)
			}
			waitSweeps(t, h, 2)
			cancel()
			if err := <-tailErr; err != nil {
				t.Fatal(err)
			}
			// The tail's claim starts LOOKBACK (30m) before its start.
			checkVehicle(t, h, v, t0.Add(-30*time.Minute), now.Add(-2*time.Minute))
		})
	}
}

// TestRevVehicleMovedBetweenRunsLost (LIMITATION, skipped): what a claim owns depends on
// each vehicle's fleet when a job fetches it, which can change after the
// claim is read. A backfill of F1 claims and fails before fetching (an
// outage); an unfiltered backfill of the same range claims after it and
// leaves F1's vehicles to it; vehicle v then moves to F2; the F1 backfill is
// run again and no longer lists v. Nobody publishes v's records.
func TestRevVehicleMovedBetweenRunsLost(t *testing.T) {
	t.Skip("known limitation: a vehicle that changes fleet between the runs of fleet-filtered jobs can lose records (README, Delivery guarantee)")
	h := newHarness(t, clean(2, 2), t0, nil)
	h.retryMaxElapsed = 50 * time.Millisecond
	px := newFleetProxy(h)
	f1, f2 := h.sim.Fleets()[0], h.sim.Fleets()[1]
	v := vehiclesOf(h, f1.ID)[0]
	from, to := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	bfTune := func(c *pipeline.Config) {
		c.FleetIDs = []string{f1.ID}
		c.OutageMax, c.OutageRetryInterval = 100*time.Millisecond, 10*time.Millisecond
	}
	history := func(r *http.Request) bool { return r.URL.Query().Get("only_latest") == "false" }
	h.fail.Store(&history)
	if _, err := h.process("bf-f1", bfTune).pipe.Backfill(context.Background(), from, to); err == nil {
		t.Fatal("the F1 backfill did not fail")
	}
	h.fail.Store(nil)
	if _, err := h.process("bf-all", nil).pipe.Backfill(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	px.move(v, f2)
	if _, err := h.process("bf-f1", bfTune).pipe.Backfill(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, h, from, to)
}

// TestRevMovedVehicleKeptByOldFleetTail (LIMITATION, skipped): two live tails, of F1 and
// of F2, each its own scope, run side by side. Vehicle v moves from F1 to
// F2. The F2 tail meets a new vehicle of F2, whose history the F1 claim does
// not select, and publishes it from its coverage on, which the F1 tail
// published already. The F1 tail no longer sees v in its snapshot, so never
// learns its new fleet, but keeps sweeping it (its last point keeps it
// active) as F1 and publishes its new records too: v's records twice, for as
// long as both run.
func TestRevMovedVehicleKeptByOldFleetTail(t *testing.T) {
	t.Skip("known limitation: a vehicle that changes fleet under two fleet-filtered tails can be published by both (README, Delivery guarantee)")
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(2, 2), t0, tune)
	px := newFleetProxy(h)
	f1, f2 := h.sim.Fleets()[0], h.sim.Fleets()[1]
	v := vehiclesOf(h, f1.ID)[0]
	tf1 := h.process("tail-f1", func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f1.ID} })
	tf2 := h.process("tail-f2", func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f2.ID} })
	now := t0
	var moved time.Time
	runTogether(t, h, &now, 12, time.Minute, func(i int) {
		if i != 3 {
			return
		}
		moved = now
		px.mu.Lock()
		px.current[v] = f2
		px.record = func(vid string, at time.Time, _ bool) (catenasim.Fleet, bool) {
			return f2, vid == v && !at.Before(moved)
		}
		px.mu.Unlock()
	}, tf1, tf2)
	n := idCounts(h)
	before, after := 0, 0
	for _, p := range h.sim.Points(v, t0.Add(-30*time.Minute), now) {
		if n[p.ID] > 1 {
			if p.OccurredAt.Before(moved) {
				before++
			} else {
				after++
			}
		}
	}
	if before+after > 0 {
		t.Errorf("vehicle %s, moved from F1 to F2 at %s: %d records from before the move and %d from after it published twice", v, moved, before, after)
	}
}

// TestRevRefsTailFleetWithoutVehicles (LIMITATION, skipped): a live tail filtered by
// fleet_refs resolves them to fleet ids once, in its claim, from the vehicle
// list. A fleet being onboarded has no vehicle yet: the claim selects no
// fleet (Fleets empty). Its vehicles join later; the tail, which polls by
// reference, publishes them. Every job that claims later decides by the
// claim's empty Fleets and publishes them again: here a backfill of F1 (by
// id), which is not even warned that a live tail covers its fleet.
func TestRevRefsTailFleetWithoutVehicles(t *testing.T) {
	t.Skip("known limitation: a FLEET_REFS claim holds the fleets that had vehicles when it was made (README, Delivery guarantee)")
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(2, 2), t0, tune)
	px := newFleetProxy(h)
	f1 := h.sim.Fleets()[0]
	joined := t0.Add(5 * time.Minute)
	px.unlisted = func(v string) bool {
		return slices.Contains(vehiclesOf(h, f1.ID), v) && h.clock.Now().Before(joined)
	}
	hide := func(v string, at time.Time) bool {
		return slices.Contains(vehiclesOf(h, f1.ID), v) && at.Before(joined)
	}
	h.hide.Store(&hide)
	tail := h.process("tail-ref", func(c *pipeline.Config) { tune(c); c.FleetRefs = []string{f1.Ref} })
	now := t0
	runProcess(t, h, tail, &now, 10)
	if tail.metrics.Counts().Published == 0 {
		t.Fatal("the tail by reference published nothing once the fleet's vehicles joined")
	}
	r, err := sink.NewReader(h.sinkCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	entries, err := pipeline.ReadLedger(context.Background(), r, h.topic+".checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Logf("claim %s refs=%v fleets=%v from %s", e.Claim.Job, e.Claim.FleetRefs, e.Claim.Fleets, e.Claim.From)
	}
	bf := h.process("bf-f1", func(c *pipeline.Config) { c.FleetIDs = []string{f1.ID} })
	if _, err := bf.pipe.Backfill(context.Background(), t0, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bf.logs.String(), "an earlier live tail owns") {
		t.Log("the F1 backfill was not warned that a live tail of its fleet claimed before it")
	}
	if n := dupCount(t, h); n > 0 {
		t.Errorf("%d ids published more than once", n)
	}
}

// TestRevReleaseAtInFutureLoses (DEFECT): ReleaseClaim refuses an At before
// now but takes one far after it. The release fences the tail, which then
// refuses to run, yet its claim still owns every instant up to At: no job
// that claimed after it may publish them, and none before it does. Here
// --at two hours ahead (a time zone slip): the tail of F1 started after the
// release publishes nothing of them.
func TestRevReleaseAtInFutureLoses(t *testing.T) {
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(2, 2), t0, tune)
	old := h.process("tail-all", tune)
	now := t0
	runProcess(t, h, old, &now, 2)
	released := now
	rel := h.process("tail-all", nil)
	err := pipeline.ReleaseClaim(context.Background(), rel.sink, "run-"+pipeline.LiveScope(nil, nil), released.Add(2*time.Hour), released)
	if err != nil {
		t.Logf("release two hours ahead refused: %v", err)
		return
	}
	t.Errorf("a release at %s, two hours after now (%s), was accepted", released.Add(2*time.Hour), released)
	if err := old.pipe.Run(context.Background()); !errors.Is(err, pipeline.ErrReleased) {
		t.Errorf("the released tail ran again: %v", err)
	}
	f1 := h.sim.Fleets()[0].ID
	tail := h.process("tail-f1", func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f1} })
	runProcess(t, h, tail, &now, 5)
	checkPublished(t, h, released, now.Add(-2*time.Minute), vehiclesOf(h, f1)...)
}

// TestRevReleaseBeforeFutureDatedRecord (LIMITATION, skipped): a tail publishes records
// with occurred_at up to FutureTolerance (1h) after its clock. ReleaseClaim
// takes At = now, "the tail may have published anything up to now", so such
// a record, published by the old tail, lies after the release: a backfill
// over [At, later) owns it and publishes it again.
func TestRevReleaseBeforeFutureDatedRecord(t *testing.T) {
	t.Skip("known limitation: a released tail's records dated after the release (up to the 1 h future tolerance) can be published again by a backfill (README, Delivery guarantee)")
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(1, 2), t0, tune)
	v := h.sim.Vehicles()[0].ID
	ahead := h.sim.Points(v, t0.Add(20*time.Minute), t0.Add(22*time.Minute))[0] // a point 20m ahead
	var skewed sync.Mutex
	skew := true
	rw := func(latest bool, item map[string]json.RawMessage) {
		skewed.Lock()
		defer skewed.Unlock()
		// While the old tail runs, the device's newest point is dated
		// 20 minutes after the bridge's clock.
		if skew && latest && strings.Contains(string(item["vehicle_id"]), v) {
			item["id"], _ = json.Marshal(ahead.ID)
			item["occurred_at"], _ = json.Marshal(ahead.OccurredAt)
		}
	}
	h.rewrite.Store(&rw)
	old := h.process("tail-all", tune)
	now := t0
	runProcess(t, h, old, &now, 1)
	skewed.Lock()
	skew = false
	skewed.Unlock()
	if idCounts(h)[ahead.ID] != 1 {
		t.Fatalf("the old tail did not publish the point dated %s", ahead.OccurredAt)
	}
	released := now
	rel := h.process("tail-all", nil)
	if err := pipeline.ReleaseClaim(context.Background(), rel.sink, "run-"+pipeline.LiveScope(nil, nil), released, released); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(40 * time.Minute)
	h.clock.Set(now)
	if _, err := h.process("bf", nil).pipe.Backfill(context.Background(), released, now); err != nil {
		t.Fatal(err)
	}
	if n := idCounts(h)[ahead.ID]; n != 1 {
		t.Errorf("point %s (occurred %s, released at %s) published %d times", ahead.ID, ahead.OccurredAt, released, n)
	}
}

// TestRevReleaseStarvedTailRestartedLate (DEFECT): a tail of F1 that claimed
// after the tail of every fleet owns nothing while that claim is open. The
// old claim is released at R; the F1 tail learns it only when it restarts
// ("restart the jobs that claimed after it"). Until then it goes on
// sweeping and polling, moving its sweep mark and its vehicles' last points
// past records it left to the old claim. Restarted more than LOOKBACK after
// the release, it sweeps from LOOKBACK before its last sweep: [R, restart -
// LOOKBACK) is published by no one, and no backfill can publish it (the F1
// tail's claim, earlier, owns it).
func TestRevReleaseStarvedTailRestartedLate(t *testing.T) {
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(2, 2), t0, tune)
	f1 := h.sim.Fleets()[0].ID
	tuneF1 := func(c *pipeline.Config) { tune(c); c.FleetIDs = []string{f1} }
	old := h.process("tail-all", tune)
	now := t0
	runProcess(t, h, old, &now, 1)
	starved := h.process("tail-f1", tuneF1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- starved.pipe.Run(ctx) }()
	waitCounter(t, func() float64 { return float64(starved.metrics.Counts().Pages) }, 2)
	released := now
	if err := pipeline.ReleaseClaim(context.Background(), h.process("tail-all", nil).sink, "run-"+pipeline.LiveScope(nil, nil), released, released); err != nil {
		t.Fatal(err)
	}
	// The F1 tail runs on for an hour of simulated time (LOOKBACK is 30m).
	for range 12 {
		now = now.Add(5 * time.Minute)
		h.clock.Set(now)
		waitCounter(t, func() float64 { return float64(starved.metrics.Counts().Pages) }, 2)
	}
	waitCounter(t, func() float64 { return testutil.ToFloat64(starved.metrics.Sweeps) }, 2)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("the F1 tail before its restart: published %d, left to the released claim %d", starved.metrics.Counts().Published, starved.metrics.Counts().Elsewhere)
	restarted := h.process("tail-f1", tuneF1)
	runProcess(t, h, restarted, &now, 3)
	checkPublished(t, h, released, now.Add(-2*time.Minute), vehiclesOf(h, f1)...)
}

// TestRevTailClaimedNoFirstSweepMark (DEFECT): a tail's first start commits
// its claim (from LOOKBACK before now), then restores ids from the topics,
// then commits its first sweep mark. Killed in between and restarted hours
// later, it finds no state, takes itself for a first start again and sweeps
// from LOOKBACK before the restart: the claim's [From, restart - LOOKBACK)
// is read by no one. A backfill of that range, claiming after the tail,
// leaves it to the tail: the hole cannot be filled.
func TestRevTailClaimedNoFirstSweepMark(t *testing.T) {
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(1, 2), t0, tune)
	job := "run-" + pipeline.LiveScope(nil, nil)
	// The first start at t0 committed this claim and was killed.
	b, _ := json.Marshal(map[string]any{"job": job, "from": t0.Add(-30 * time.Minute), "claimed_at": t0})
	cl := mustClient(t, h)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: h.topic + ".checkpoints", Key: []byte("ledger/claim/" + job), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Hour)
	h.clock.Set(now)
	h.start(tune)
	runSteps(t, h, &now, 2)
	if _, err := h.process("bf", nil).pipe.Backfill(context.Background(), t0.Add(-time.Hour), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, h, t0.Add(-time.Hour), now.Add(-2*time.Minute))
}

// TestRevReleaseFencesRunningTail (PINS): a release while the tail still
// runs. ReleaseClaim reads the ledger with the tail's transactional id
// before it commits the release, which fences the running tail: its next
// commit fails (ErrFenced), and nothing it publishes after the release's
// instant reaches the topic.
func TestRevReleaseFencesRunningTail(t *testing.T) {
	tune := liveTune(100 * time.Millisecond)
	h := newHarness(t, clean(1, 2), t0, tune)
	old := h.process("tail-all", tune)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- old.pipe.Run(ctx) }()
	pages := func() float64 { return float64(old.metrics.Counts().Pages) }
	waitCounter(t, pages, 2)
	now := t0
	for range 2 {
		now = now.Add(time.Minute)
		h.clock.Set(now)
		waitCounter(t, pages, 2)
	}
	released := now
	if err := pipeline.ReleaseClaim(context.Background(), h.process("tail-all", nil).sink, "run-"+pipeline.LiveScope(nil, nil), released, released); err != nil {
		t.Fatal(err)
	}
	var err error
	for step := 0; ; step++ {
		now = now.Add(time.Minute)
		h.clock.Set(now)
		select {
		case err = <-errc:
		case <-time.After(2 * time.Second):
			if step < 5 {
				continue
			}
			t.Fatal("the released tail still runs five minutes after the release")
		}
		break
	}
	if !errors.Is(err, sink.ErrFenced) {
		t.Errorf("the released tail stopped with %v, want ErrFenced", err)
	}
	events, _ := h.readBack()
	for _, r := range events {
		for _, hd := range r.Headers {
			if hd.Key == sink.HeaderOccurredAt {
				if at, _ := time.Parse(time.RFC3339Nano, string(hd.Value)); !at.Before(released) {
					t.Errorf("event occurred %s, after the release at %s, is in the topic", at, released)
				}
			}
		}
	}
}
