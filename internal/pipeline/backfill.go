package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// BackfillResult summarises a backfill.
type BackfillResult struct {
	Job             string // checkpoint scope of the job
	Vehicles        int
	Resumed         int  // vehicles that resumed from a checkpoint
	AlreadyComplete bool // the job had finished before; nothing was fetched
}

// Backfill publishes every vehicle's history over [from, to): it lists the
// vehicles, then walks each one's ≤45-day windows page by page, Concurrency
// vehicles at a time. Progress is checkpointed with every page, so a
// backfill that stops — killed, or failing on an API error — resumes where it
// stopped when run again with the same range and filters, and a backfill that
// finished publishes nothing when run again.
func (p *Pipeline) Backfill(ctx context.Context, from, to time.Time) (BackfillResult, error) {
	if !from.Before(to) {
		return BackfillResult{}, fmt.Errorf("backfill: --from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	from, to = from.UTC(), to.UTC()
	job := BackfillJob(from, to, p.cfg.FleetIDs, p.cfg.FleetRefs)
	res := BackfillResult{Job: job}
	prefix := backfillPrefix + job + "/"
	log := p.log.With("job", job)

	saved, err := p.cfg.Sink.LoadCheckpoints(ctx, prefix)
	if err != nil {
		return res, err
	}
	if _, ok := saved[prefix+"done"]; ok {
		res.AlreadyComplete = true
		log.Info("backfill already complete; nothing to do", "from", from, "to", to)
		return res, nil
	}
	meta := backfillMeta{From: from, To: to, FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs, StartedAt: time.Now().UTC()}
	if b, ok := saved[prefix+"meta"]; ok {
		if err := decodeCheckpoint(prefix+"meta", b, &meta); err != nil {
			return res, err
		}
	}
	progress := map[string]vehicleProgress{}
	for k, b := range saved {
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
	windows := catena.Windows(from, to, catena.MaxHistoryWindow)

	// Ids of the pages already committed in a window that is half done: the
	// API may return a record again on a later page of the same window.
	sets := map[string]*dedup.Set{}
	for v, vp := range progress {
		if !vp.Done {
			res.Resumed++
			if vp.Cursor != "" && vp.Window < len(windows) {
				sets[v] = dedup.NewSet(dedupBucket)
			}
		}
	}
	if len(sets) > 0 {
		n := 0
		restore := func(key dedup.ID, h sink.EventHeaders) {
			set, ok := sets[h.VehicleID]
			if !ok {
				return
			}
			w := windows[progress[h.VehicleID].Window]
			if !h.OccurredAt.Before(w.From) && h.OccurredAt.Before(w.To) {
				set.Add(key, h.OccurredAt)
				n++
			}
		}
		since := meta.StartedAt.Add(-time.Minute)
		err := p.cfg.Sink.ScanEvents(ctx, since, func(h sink.EventHeaders) {
			if id, ok := dedup.ParseID(h.ID); ok {
				restore(id, h)
			}
		})
		if err == nil {
			err = p.cfg.Sink.ScanDeadLetters(ctx, since, func(h sink.EventHeaders) {
				restore(deadLetterKey(h.ID, h.Value), h)
			})
		}
		if err != nil {
			return res, fmt.Errorf("rebuild dedup state from the topics: %w", err)
		}
		log.Info("resuming backfill", "vehicles_in_progress", len(sets), "ids_restored", n)
	}

	meta.Vehicles = len(vehicles)
	var done atomic.Int64
	todo := make([]string, 0, len(vehicles))
	for _, v := range vehicles {
		if progress[v].Done {
			done.Add(1)
			continue
		}
		todo = append(todo, v)
	}
	p.m.Vehicles.WithLabelValues("total").Set(float64(len(vehicles)))
	p.m.Vehicles.WithLabelValues("done").Set(float64(done.Load()))
	log.Info("backfill starting", "from", from, "to", to, "vehicles", len(vehicles), "already_done", done.Load(), "windows_per_vehicle", len(windows), "concurrency", p.cfg.Concurrency)

	err = p.withCommitter(ctx, func(ctx context.Context, c *committer) error {
		// The meta checkpoint goes first, so a resumed job knows when it
		// started (the rebuild reads events from then on).
		if err := c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(prefix+"meta", meta)}}); err != nil {
			return err
		}
		stopProgress := p.progress(ctx, "backfill", func() []any {
			return []any{"vehicles_done", done.Load(), "vehicles", len(vehicles)}
		})
		defer stopProgress()

		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		work := make(chan string)
		var wg sync.WaitGroup
		var firstErr error
		var errOnce sync.Once
		for range min(p.cfg.Concurrency, max(1, len(todo))) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := range work {
					vp := progress[v]
					set := sets[v]
					if err := p.backfillVehicle(ctx, c, prefix, v, windows, vp, set); err != nil {
						errOnce.Do(func() { firstErr = err; cancel(err) })
						return
					}
					p.m.Vehicles.WithLabelValues("done").Set(float64(done.Add(1)))
				}
			}()
		}
	feed:
		for _, v := range todo {
			select {
			case work <- v:
			case <-ctx.Done():
				break feed
			}
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		meta.DoneAt = time.Now().UTC()
		return c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(prefix+"done", meta)}})
	})
	if err != nil {
		return res, err
	}
	c := p.m.Counts()
	log.Info("backfill complete", "vehicles", len(vehicles), "published", c.Published, "duplicates", c.Duplicates, "dead_letters", c.DeadLetters)
	return res, nil
}

// dedupBucket is the width of the dedup set's time buckets.
const dedupBucket = 10 * time.Minute

// backfillVehicle walks one vehicle's windows from vp, committing each page
// with the checkpoint that moves past it.
func (p *Pipeline) backfillVehicle(ctx context.Context, c *committer, prefix, vehicle string, windows []catena.Window, vp vehicleProgress, set *dedup.Set) error {
	key := prefix + "v/" + vehicle
	cursor := vp.Cursor
	for wi := vp.Window; wi < len(windows); wi++ {
		if set == nil || cursor == "" {
			set = dedup.NewSet(dedupBucket)
		}
		pager := p.cfg.Client.History(vehicle, windows[wi], p.query(), cursor)
		restarted := false
		for {
			pg, err := nextPage(ctx, p, pager)
			if err != nil && !restarted && cursorRefused(err, pager.Cursor()) {
				// The contract says nothing of a cursor's lifetime; one saved
				// before a long stop may be refused. The window starts over:
				// its ids already published are in set, so only what is new
				// goes out.
				p.log.Warn("API refused a saved cursor; reading the window again from its first page", "vehicle", vehicle, "window", windows[wi], "err", err)
				pager, restarted = p.cfg.Client.History(vehicle, windows[wi], p.query(), ""), true
				continue
			}
			if err != nil {
				return fmt.Errorf("vehicle %s window %s..%s: %w", vehicle, windows[wi].From.Format(time.RFC3339), windows[wi].To.Format(time.RFC3339), err)
			}
			if pg == nil {
				break
			}
			out := p.stages.run(pg.Items, p.cfg.Now().UTC(), setMarker{set})
			next := vehicleProgress{Window: wi, Cursor: pg.NextPage}
			if pg.NextPage == "" {
				next = vehicleProgress{Window: wi + 1, Done: wi+1 == len(windows)}
			}
			out.batch.Checkpoints = append(out.batch.Checkpoints, checkpoint(key, next))
			if err := c.commit(commitCtx(ctx), &out.batch); err != nil {
				return err
			}
			p.account("backfill", out)
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
		}
		cursor = ""
		set = nil
	}
	return nil
}

// setMarker marks ids in a set owned by one goroutine.
type setMarker struct{ s *dedup.Set }

func (m setMarker) mark(id dedup.ID, at time.Time, _ string) bool { return m.s.Add(id, at) }

// account counts a committed page.
func (p *Pipeline) account(mode string, out *page) {
	p.m.Pages.WithLabelValues(mode).Inc()
	p.m.Fetched.WithLabelValues(mode).Add(float64(out.fetched))
	p.m.Duplicates.Add(float64(out.dups))
}

// listVehicles returns the ids of every vehicle matching the fleet filters.
func (p *Pipeline) listVehicles(ctx context.Context) ([]string, error) {
	pager := p.cfg.Client.Vehicles(catena.VehicleQuery{FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs, Size: p.cfg.PageSize}, "")
	var ids []string
	seen := map[string]bool{}
	for {
		pg, err := nextPage(ctx, p, pager)
		if err != nil {
			return nil, err
		}
		if pg == nil {
			return ids, nil
		}
		for _, v := range pg.Items {
			if !seen[v.ID] {
				seen[v.ID] = true
				ids = append(ids, v.ID)
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
		wait := b.NextBackOff()
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

// cursorRefused tells an API error that rejects the cursor of a request
// (400 or 422 to a page requested with a cursor) from other failures.
func cursorRefused(err error, cursor string) bool {
	var ae *catena.APIError
	return cursor != "" && errors.As(err, &ae) && (ae.Status == 400 || ae.Status == 422)
}
