package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// BackfillResult summarises a backfill.
type BackfillResult struct {
	Job             string    // checkpoint scope of the job
	From, To        time.Time // the range, To as resolved on the job's first run
	Vehicles        int
	Resumed         int  // vehicles that resumed part-way
	AlreadyComplete bool // the job had finished before; nothing was fetched
	Restored        int  // records read back from the topics to resume
}

// Backfill publishes every vehicle's history over [from, to): it lists the
// vehicles, then walks each one's ≤45-day windows page by page, Concurrency
// vehicles at a time. A zero to means now, resolved on the job's first run
// and kept in its claim: the same call resumes the same job.
//
// What it publishes is what its claim owns in the topic's ledger: the range
// less what claims committed before it (earlier backfills, a live tail
// started before it) cover, for the fleets they select. Progress is
// checkpointed with every page, so a backfill that stops -- killed, or
// failing on an API error -- resumes where it stopped when run again with the
// same range and filters, and a backfill that finished publishes nothing when
// run again.
func (p *Pipeline) Backfill(ctx context.Context, from, to time.Time) (BackfillResult, error) {
	if !to.IsZero() && !from.Before(to) {
		return BackfillResult{}, fmt.Errorf("backfill: --from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	from = from.UTC()
	if !to.IsZero() {
		to = to.UTC()
	}
	// History that may wait: a live tail in this process (the demo) keeps
	// the rate limit's priority.
	ctx = catena.WithLane(ctx, catena.LaneCatchUp)
	name := BackfillJob(from, to, p.cfg.FleetIDs, p.cfg.FleetRefs)
	res := BackfillResult{Job: name}
	prefix := backfillPrefix + name + "/"
	log := p.log.With("job", name)

	want := ledger.Claim{Job: "backfill-" + name, FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs, From: from, To: to}
	j, err := p.openJob(ctx, want, prefix, func(c *ledger.Claim, _ map[string][]byte) error {
		fleets, err := p.resolveFleets(ctx)
		if err != nil {
			return err
		}
		c.Fleets = fleets
		now := p.cfg.Now().UTC()
		if c.To.IsZero() {
			c.To = now.Truncate(time.Second)
		}
		// A range in the future would be claimed before its records
		// exist: the backfill would read nothing there, and the live
		// tail, claiming later, would leave them to it.
		switch {
		case c.To.After(now):
			return fmt.Errorf("backfill: --to %s is after now (%s): a backfill publishes what the API holds; the live tail (run) publishes what comes next",
				c.To.Format(time.RFC3339), now.Format(time.RFC3339))
		case !c.From.Before(c.To):
			return fmt.Errorf("backfill: --from %s is not before the end of the range, %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	claim := j.view.Claim()
	res.From, res.To = claim.From, claim.To
	log = log.With("from", claim.From, "to", claim.To)
	if _, ok := j.saved[prefix+"done"]; ok {
		res.AlreadyComplete = true
		log.Info("backfill already complete; nothing to do")
		return res, nil
	}
	progress := map[string]vehicleProgress{}
	for k, b := range j.saved {
		if v, ok := strings.CutPrefix(k, prefix+"v/"); ok {
			var vp vehicleProgress
			if err := decodeCheckpoint(k, b, &vp); err != nil {
				return res, err
			}
			progress[v] = vp
		}
	}

	vehicles, err := p.listVehicles(ctx)
	if err != nil {
		return res, fmt.Errorf("list vehicles: %w", err)
	}
	res.Vehicles = len(vehicles)

	// Ids of the windows that are half done: the API may return a record
	// again on a later page of the same window. They were published since
	// the window began, so only that much of the topics is read.
	sets := map[string]*dedup.Set{}
	var since time.Time
	for v, vp := range progress {
		if vp.Done {
			continue
		}
		res.Resumed++
		if vp.At.Cursor != "" {
			sets[v] = newWindowSet()
			if since.IsZero() || vp.At.Started.Before(since) {
				since = vp.At.Started
			}
		}
	}
	if len(sets) > 0 {
		kept := 0
		n, err := p.restoreIDs(ctx, since, func(id dedup.ID, at time.Time, vehicle string) {
			if set, ok := sets[vehicle]; ok && !at.Before(progress[vehicle].At.From) {
				set.Add(id, at)
				kept++
			}
		})
		if err != nil {
			return res, err
		}
		res.Restored = n
		log.Info("resuming backfill", "vehicles_mid_window", len(sets), "records_read", n, "ids_restored", kept, "read_since", since)
	}

	var done atomic.Int64
	todo := make([]catena.Vehicle, 0, len(vehicles))
	for _, v := range vehicles {
		if progress[v.ID].Done {
			done.Add(1)
			continue
		}
		todo = append(todo, v)
	}
	p.m.Vehicles.WithLabelValues("total").Set(float64(len(vehicles)))
	p.m.Vehicles.WithLabelValues("done").Set(float64(done.Load()))
	log.Info("backfill starting", "vehicles", len(vehicles), "already_done", done.Load(), "concurrency", p.cfg.Concurrency)

	var failed vehicleFailures
	err = p.withCommitter(ctx, func(ctx context.Context, c *committer) error {
		stopProgress := p.progress(ctx, "backfill", func() []any {
			return []any{"vehicles_done", done.Load(), "vehicles", len(vehicles), "vehicles_failed", failed.len()}
		})
		defer stopProgress()
		err := forEach(ctx, p.cfg.Concurrency, todo, func(ctx context.Context, v catena.Vehicle) error {
			w := catena.Window{From: claim.From, To: claim.To}
			err := p.backfillVehicle(ctx, c, j.view, prefix, v, w, progress[v.ID].At, sets[v.ID])
			switch {
			case err == nil:
			case isSinkErr(err) || ctx.Err() != nil:
				return err
			case vehicleGone(err):
				// The API no longer serves the vehicle: it has nothing
				// more to backfill, which is not a failure.
				p.m.VehiclesSkipped.WithLabelValues("gone").Inc()
				log.Warn("vehicle's history refused (403/404): the vehicle is gone; skipping it", "vehicle", v.ID, "err", err)
				gone := &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(prefix+"v/"+v.ID, vehicleProgress{Done: true, Gone: true})}}
				if err := c.commit(commitCtx(ctx), gone); err != nil {
					return &sinkError{fmt.Errorf("commit the progress of vehicle %s: %w", v.ID, err)}
				}
			default:
				// One vehicle's failure stops no other: it is listed at
				// the end, and a rerun retries it from its checkpoint.
				p.m.VehicleErrors.WithLabelValues("backfill").Inc()
				log.Error("vehicle's history keeps failing; going on with the others", "vehicle", v.ID, "err", err)
				failed.add(v.ID, err)
				return nil
			}
			p.m.Vehicles.WithLabelValues("done").Set(float64(done.Add(1)))
			return nil
		})
		if err != nil {
			return err
		}
		if failed.len() > 0 {
			return failed.err(len(vehicles))
		}
		return c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{
			checkpoint(prefix+"done", backfillDone{Vehicles: len(vehicles), DoneAt: time.Now().UTC()})}})
	})
	if err != nil {
		return res, err
	}
	cnt := p.m.Counts()
	log.Info("backfill complete", "vehicles", len(vehicles), "published", cnt.Published, "duplicates", cnt.Duplicates,
		"claimed_elsewhere", cnt.Elsewhere, "dead_letters", sum(cnt.DeadLetters))
	return res, nil
}

// dedupBucket is the width of the live tail's dedup set's time buckets.
const dedupBucket = 10 * time.Minute

// newWindowSet returns the dedup set of one window of a vehicle's history:
// one or two buckets, however long the window.
func newWindowSet() *dedup.Set { return dedup.NewSet(catena.MaxHistoryWindow) }

// backfillVehicle walks one vehicle's history over what the job owns of w,
// from pos, committing each page with the checkpoint that moves past it.
// set holds the ids the window at pos published before a restart (nil when
// it starts afresh). A failure is retried from where the walk stands
// (retryVehicle).
func (p *Pipeline) backfillVehicle(ctx context.Context, c *committer, view *ledger.View, prefix string, v catena.Vehicle, w catena.Window, pos walkPos, set *dedup.Set) error {
	key := prefix + "v/" + v.ID
	if set == nil {
		set = newWindowSet()
	}
	spans := fetchSpans(view, deref(v.FleetID), w)
	page := func(items []decoded, next walkPos, done bool) error {
		out := p.stages.runDecoded(items, p.cfg.Now().UTC(), setMarker{set}, owner{view: view, fleet: deref(v.FleetID)})
		out.batch.Checkpoints = append(out.batch.Checkpoints, checkpoint(key, vehicleProgress{At: next, Done: done}))
		if err := c.commit(commitCtx(ctx), &out.batch); err != nil {
			return &sinkError{fmt.Errorf("commit backfill page of vehicle %s: %w", v.ID, err)}
		}
		p.account("backfill", out)
		out.recycle()
		pos = next
		if next.Cursor == "" {
			set = newWindowSet() // the next window's records are all new to it
		}
		return nil
	}
	// The backfill keeps no string of a record once its page is committed
	// (its marker ignores vehicles, and the page decoder's reused values
	// are cleared record by record): its pages' strings share blocks.
	return p.retryVehicle(ctx, v.ID, func() error { return p.walk(ctx, v.ID, spans, pos, true, true, page) })
}

// vehicleAttempts is how many times a backfill tries one vehicle's history
// (an unavailable API is waited out inside each attempt, up to OutageMax).
const vehicleAttempts = 3

// retryVehicle runs fn, a walk over one vehicle's history that resumes
// where the previous attempt stopped, up to vehicleAttempts times with
// backoff (OutageRetryInterval, doubling, at most OutageMax). Sink errors, cancellation and a
// vehicle the API refuses (vehicleRefused) return at once.
func (p *Pipeline) retryVehicle(ctx context.Context, vehicle string, fn func() error) error {
	wait := min(p.cfg.OutageRetryInterval, p.cfg.OutageMax)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || isSinkErr(err) || ctx.Err() != nil || vehicleRefused(err) || attempt == vehicleAttempts {
			return err
		}
		p.m.VehicleErrors.WithLabelValues("backfill_attempt").Inc()
		p.log.Warn("vehicle's history failed; trying again", "vehicle", vehicle, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, p.cfg.OutageMax)
	}
}

// vehicleFailures collects the vehicles a backfill could not finish.
type vehicleFailures struct {
	mu   sync.Mutex
	errs map[string]error
}

func (f *vehicleFailures) add(vehicle string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil {
		f.errs = map[string]error{}
	}
	f.errs[vehicle] = err
}

func (f *vehicleFailures) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs)
}

// err lists the failed vehicles, sorted, with their errors.
func (f *vehicleFailures) err(total int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := slices.Sorted(maps.Keys(f.errs))
	errs := make([]error, 0, len(ids))
	for _, id := range ids {
		errs = append(errs, fmt.Errorf("vehicle %s: %w", id, f.errs[id]))
	}
	return fmt.Errorf("%w: %d of %d vehicles failed (every other vehicle is done; run the same command again to retry these):\n%w",
		ErrIncomplete, len(ids), total, errors.Join(errs...))
}

// ErrIncomplete is wrapped by the error of a backfill that finished every
// vehicle it could and failed on some.
var ErrIncomplete = errors.New("backfill incomplete")

// setMarker marks ids in a set owned by one goroutine.
type setMarker struct{ s *dedup.Set }

func (m setMarker) mark(id dedup.ID, at time.Time, _ string) bool { return m.s.Add(id, at) }

// account counts a committed page.
func (p *Pipeline) account(mode string, out *page) {
	p.m.page(mode, out.fetched, out.dups, out.elsewhere)
}

// listVehicles returns every vehicle matching the fleet filters, once each.
func (p *Pipeline) listVehicles(ctx context.Context) ([]catena.Vehicle, error) {
	pager := p.cfg.Client.Vehicles(catena.VehicleQuery{FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs, Size: p.cfg.PageSize}, "")
	var out []catena.Vehicle
	seen := map[string]bool{}
	for {
		pg, err := nextPage(ctx, p, pager)
		if err != nil {
			return nil, err
		}
		if pg == nil {
			return out, nil
		}
		for _, v := range pg.Items {
			if !record.IsUUID(v.ID) {
				// A history request could not name it; one such entry
				// must not fail the job.
				p.m.VehiclesSkipped.WithLabelValues("bad_id").Inc()
				p.log.Warn("vehicle list entry without a usable id; skipping it", "id", v.ID, "fleet_id", deref(v.FleetID))
				continue
			}
			if !seen[v.ID] {
				seen[v.ID] = true
				out = append(out, catena.Vehicle{ID: v.ID, FleetID: v.FleetID})
			}
		}
	}
}

// progress logs every ProgressEvery until the returned stop is called.
func (p *Pipeline) progress(ctx context.Context, what string, extra func() []any) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(p.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c := p.m.Counts()
				rate := float64(c.Fetched) / time.Since(start).Seconds()
				args := append([]any{"fetched", c.Fetched, "published", c.Published, "duplicates", c.Duplicates, "dead_letters", sum(c.DeadLetters), "records_per_s", int(rate)}, extra()...)
				p.log.Info(what+" progress", args...)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done) }
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// nextPage is pager.Next for work that should outlast an API outage: when
// the client's own retries run out on one (catena.ErrUnavailable) it waits,
// with backoff up to a minute, and asks for the same page again, for at most
// OutageMax in all (a misspelt URL looks like an outage too). Other errors
// return at once.
func nextPage[T any](ctx context.Context, p *Pipeline, pager *catena.Pager[T]) (*catena.Page[T], error) {
	var b *backoff.ExponentialBackOff
	start := time.Now()
	for {
		pg, err := pager.Next(ctx)
		if err == nil || !errors.Is(err, catena.ErrUnavailable) || ctx.Err() != nil {
			return pg, err
		}
		if time.Since(start) > p.cfg.OutageMax {
			return nil, fmt.Errorf("API unavailable for %v (longer than the outage limit %v): %w", time.Since(start).Round(time.Second), p.cfg.OutageMax, err)
		}
		if b == nil {
			b = backoff.NewExponentialBackOff(backoff.WithInitialInterval(p.cfg.OutageRetryInterval),
				backoff.WithMaxInterval(time.Minute), backoff.WithMaxElapsedTime(0))
		}
		wait := min(b.NextBackOff(), p.cfg.OutageMax-time.Since(start))
		p.m.PollErrors.Inc()
		p.log.Warn("catena API unavailable; waiting before asking for the page again", "err", err, "wait", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}
