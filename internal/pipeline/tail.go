package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// The live tail's fetchers: the snapshot poll, gap fills and sweeps. Each
// passes its pages through stage, which commits them with the checkpoints of
// the vehicles they move.

// stage runs decoded records through the stages and commits them. fleet is
// the fleet of the vehicle whose history they are ("" for the snapshot).
func (l *live) stage(ctx context.Context, mode string, items []decoded, ingestedAt time.Time, gap *gapStep, fleet string) (*page, error) {
	lock(l.inflight, 1)
	own := owner{view: l.view.Load(), fleet: fleet}
	var mk marker = l.st
	if mode == "live" || mode == "push" {
		own.fleetOf = l.st.fleet
	}
	if mode == "push" {
		// A subscription's filters are set apart from the tail's: a pushed
		// record of a fleet the tail does not select is another job's.
		own.strict = true
		// Pushed ids are kept for LOOKBACK from now, however old the
		// record: Catena retries and repeats deliveries of late uploads,
		// which the shared set would otherwise evict at once.
		mk = pushMarker{l.st, ingestedAt}
	}
	out := l.p.stages.runDecoded(items, ingestedAt, mk, own)
	if mode == "live" && !l.firstPoll {
		// The snapshot is published before its vehicles' gaps are filled,
		// so that a gap's history, which waits for the rate limit, holds
		// back no newest point: each hole a point opens is recorded as its
		// vehicle's gap under way, committed with the page, and the gap
		// fill after the page (or after a restart) reads it, whatever a
		// sweep does to the vehicle meanwhile. The first poll has no gaps
		// to fill: the first sweep reads each active vehicle's LOOKBACK.
		out.holes = &holeRule{unknownFrom: l.unknownFrom(), threshold: l.p.cfg.GapThreshold, now: ingestedAt}
	}
	if mode == "sweep" {
		// Nor does a sweep's: its window may start after the vehicle's
		// last handled point, and a hole before the window that a push
		// (or a point during a gap under way) left unrecorded would be
		// jumped over. From within GAP_THRESHOLD, contiguous points move
		// it step by step; fillGaps reads what is left.
		out.maxStep = l.p.cfg.GapThreshold
	}
	if mode == "push" {
		// A pushed point moves its vehicle's last handled point only from
		// within GAP_THRESHOLD: behind a point further on a delivery may
		// have been lost, and the next poll's gap fill must read there.
		out.maxStep = l.p.cfg.GapThreshold
		out.pushed = true
		// Nor does a pushed record of another job's vehicle make it one of
		// the tail's (its sweeps would then read that vehicle).
		out.published = slices.DeleteFunc(out.published, func(p published) bool { return p.elsewhere })
	}
	req, err := l.submit(ctx, out, gap)
	l.inflight.Release(1)
	if err == nil && req != nil {
		err = l.c.wait(req)
	}
	if err != nil {
		return nil, &sinkError{fmt.Errorf("commit %s page: %w", mode, err)}
	}
	l.p.account(mode, out)
	return out, nil
}

// submit adds the checkpoints of the vehicles a page moves and hands the page
// to the committer; nil when there is nothing to commit.
func (l *live) submit(ctx context.Context, out *page, gap *gapStep) (*commitReq, error) {
	lock(l.order, 1)
	defer l.order.Release(1)
	out.batch.Checkpoints = append(out.batch.Checkpoints, l.st.advance(l.prefix, out.published, gap, out.maxStep, out.pushed, out.holes)...)
	if size(&out.batch) == 0 {
		return nil, nil
	}
	return l.c.submit(commitCtx(ctx), &out.batch)
}

// poll reads the latest snapshot once, all pages (one record per vehicle),
// and publishes it page by page, each page's gaps filled after it. The
// first poll of a scope's first start (first) fills no gaps: the first
// sweep, which follows it on the catch-up lane, publishes each active
// vehicle's LOOKBACK of history.
func (l *live) poll(ctx context.Context, first bool) error {
	p := l.p
	pager := p.cfg.Client.Locations(p.snapshotQuery(), "")
	var pages [][]decoded
	for {
		pg, err := pager.Next(ctx)
		if err != nil {
			return fmt.Errorf("poll latest snapshot: %w", err)
		}
		if pg == nil {
			break
		}
		items := decodeAll(pg.Items)
		l.st.noteFleets(items)
		pages = append(pages, items)
	}
	now := p.cfg.Now().UTC()
	l.firstPoll = first
	seen := map[string]bool{}
	for _, items := range pages {
		for i := range items {
			if v := items[i].loc.VehicleID; validVehicle(v) {
				seen[*v] = true
			}
		}
	}
	for _, items := range pages {
		if ctx.Err() != nil {
			return ctx.Err() // stopping: pages not yet processed are fetched again next time
		}
		out, err := l.stage(ctx, "live", items, now, nil, "")
		if err != nil {
			return err
		}
		if n := len(out.batch.Events); n > 0 {
			if last := out.batch.Events[n-1].OccurredAt; !last.IsZero() {
				p.m.EventLag.Set(now.Sub(last).Seconds())
			}
		}
		out.recycle()
		if !first {
			if err := l.fillGaps(ctx, items); err != nil {
				return err
			}
		}
	}
	if first {
		return nil
	}
	return l.resumeGaps(ctx, seen)
}

// fillGaps fills, for each vehicle of a snapshot page, its gap under way
// (the hole its snapshot point opened, recorded when the page committed),
// then the hole left between its last handled point and its newest one
// when that is more than GapThreshold (a point that came while a gap was
// under way, or by push), so its track has no holes. A record that does
// not decode still has its vehicle's gap filled when its vehicle_id and
// occurred_at are usable. One vehicle's failing gap stops no other
// (gapFailed).
func (l *live) fillGaps(ctx context.Context, items []decoded) error {
	for i := range items {
		loc := &items[i].loc
		if !validVehicle(loc.VehicleID) || loc.OccurredAt == nil {
			continue
		}
		v := *loc.VehicleID
		if l.st.backingOff(v, time.Now()) {
			continue
		}
		// At most two: the gap under way, then the hole after it.
		for range 2 {
			g, ok := l.st.nextGap(v, l.p.cfg.GapThreshold, l.unknownFrom(), l.p.cfg.Now().UTC())
			if !ok {
				break
			}
			if err := l.gap(ctx, v, g); err != nil {
				if err := l.gapFailed(ctx, v, g, err); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// unknownFrom is where the history of a vehicle the tail has not seen
// begins: where this process's coverage begins or, once a snapshot without
// it was read, where its records could have occurred since.
func (l *live) unknownFrom() time.Time {
	if !l.polled {
		return l.coverFrom
	}
	now := l.p.cfg.Now()
	return earlier(l.st.sweepFrom(now, l.p.cfg.Lookback), now.Add(-l.p.cfg.Lookback-l.p.cfg.PollInterval))
}

// resumeGaps resumes the gaps under way of vehicles that are not in the
// snapshot any more (fillGaps resumes the others): a gap left pending would
// never end, and would pull every restart's read-back further into the past.
func (l *live) resumeGaps(ctx context.Context, seen map[string]bool) error {
	for v, g := range l.st.pendingGaps() {
		if seen[v] || l.st.backingOff(v, time.Now()) {
			continue
		}
		if err := l.gap(ctx, v, g); err != nil {
			if err := l.gapFailed(ctx, v, g, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// gap publishes a vehicle's history over a gap from where g stands,
// committing with each page where the gap stands after it. Its ids are kept
// until the gap is complete.
func (l *live) gap(ctx context.Context, vehicle string, g gapProgress) error {
	p := l.p
	l.st.gapSet(vehicle, g.StartIDs)
	// A gap that reaches before the dedup horizon may meet records the
	// shared set has evicted: a sweep published them while the hole waited
	// (a gap kept failing, or one behind it). What the topics hold of the
	// vehicle in the gap's range is read back first, once per gap, as an
	// owed sweep does.
	now := p.cfg.Now()
	if horizon := l.st.sweepFrom(now, p.cfg.Lookback).Add(-dedupBucket); g.At.From.Before(horizon) && l.st.gapNeedsRestore(vehicle) {
		var ids []idAt
		since := time.Now().Add(g.At.From.Sub(now))
		if _, err := p.restoreIDs(ctx, since, func(id dedup.ID, at time.Time, v string) {
			if v == vehicle && !at.Before(g.At.From) && at.Before(g.To) {
				ids = append(ids, idAt{id, at})
			}
		}); err != nil {
			return err
		}
		l.st.restoreGap(vehicle, ids)
	}
	spans := fetchSpans(l.view.Load(), l.st.fleet(vehicle), catena.Window{From: g.At.From, To: g.To})
	return p.walk(ctx, vehicle, spans, g.At, false, false, func(page []decoded, next walkPos, done bool) error {
		step := &gapStep{vehicle: vehicle, next: &gapProgress{At: next, To: g.To, StartIDs: g.StartIDs}, to: g.To}
		if done {
			step.next = nil
		}
		out, err := l.stage(ctx, "gap", page, p.cfg.Now().UTC(), step, l.vehicleFleet(vehicle, page))
		if err != nil {
			return err
		}
		out.recycle()
		return nil
	})
}

// gapFailed handles a vehicle's failed gap fill: a sink error or a stop is
// returned; a vehicle the API no longer serves (403, 404) has its gap
// dropped; any other failure keeps the gap under way, to be resumed after a
// backoff, while the other vehicles and the snapshot go on.
func (l *live) gapFailed(ctx context.Context, vehicle string, g gapProgress, err error) error {
	p := l.p
	switch {
	case isSinkErr(err) || ctx.Err() != nil:
		return err
	case vehicleGone(err):
		p.m.VehiclesSkipped.WithLabelValues("gone").Inc()
		l.log.Warn("gap fill refused (403/404): the vehicle is gone; dropping its gap", "vehicle", vehicle, "err", err)
		return l.commitState(ctx, func() *sink.Checkpoint { return l.st.dropGap(l.prefix, vehicle) })
	}
	l.st.keepGap(vehicle, g)
	_, wait := l.st.failed(l.prefix, vehicle, time.Time{}, p.cfg.PollInterval, p.cfg.SweepInterval)
	p.m.VehicleErrors.WithLabelValues("gap").Inc()
	l.log.Warn("gap fill of one vehicle failed; the others go on, and the gap resumes after a backoff",
		"vehicle", vehicle, "gap_from", g.At.From, "gap_to", g.To, "retry_in", wait, "err", err)
	return nil
}

// commitState commits the checkpoint cp computes (nothing when it returns
// nil), in order with the pages' checkpoints.
func (l *live) commitState(ctx context.Context, cp func() *sink.Checkpoint) error {
	lock(l.order, 1)
	c := cp()
	var req *commitReq
	var err error
	if c != nil {
		req, err = l.c.submit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{*c}})
	}
	l.order.Release(1)
	if err == nil && req != nil {
		err = l.c.wait(req)
	}
	if err != nil {
		return &sinkError{fmt.Errorf("commit vehicle state: %w", err)}
	}
	return nil
}

// sweep re-reads each vehicle's history from where the previous sweep's
// Lookback began (or from what it owes), Concurrency vehicles at a time,
// then records that it swept. A vehicle whose history fails owes the
// window and is retried after a backoff; the sweep, and its mark, go on.
func (l *live) sweep(ctx context.Context, vehicles []string) error {
	p := l.p
	now := p.cfg.Now().UTC()
	w := catena.Window{From: l.st.sweepFrom(now, p.cfg.Lookback), To: now}
	start := time.Now()
	var failed, skipped atomic.Int64
	// A full sweep reads every active vehicle; the others skip those whose
	// points all came by push since their last sweep. Full sweeps come at
	// least every LOOKBACK, so what a lost push held is still read.
	// Counted, and timed too: a slow sweep must not stretch the cycle past
	// LOOKBACK.
	lastFull := l.st.fullAt()
	full := l.sweeps%p.cfg.FullSweepEvery == 0 || lastFull.IsZero() || now.Sub(lastFull) >= p.cfg.Lookback-p.cfg.SweepInterval
	if !full {
		vehicles = slices.DeleteFunc(slices.Clone(vehicles), func(v string) bool {
			if l.st.pushHealthy(v) {
				skipped.Add(1)
				return true
			}
			return false
		})
	}
	// A regular sweep is spread over half its interval rather than sent in
	// one burst: the API sees an even load, and the live lane's requests
	// rarely meet a queue. The first one of a process (a first start's
	// LOOKBACK, or a restart's catch-up) goes as fast as the budget allows.
	var slot func(ctx context.Context) error
	if l.sweeps > 0 && len(vehicles) > 1 {
		every := p.cfg.SweepInterval / 2 / time.Duration(len(vehicles))
		var n atomic.Int64
		slot = func(ctx context.Context) error {
			t := time.NewTimer(time.Until(start.Add(time.Duration(n.Add(1)-1) * every)))
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	err := forEach(ctx, p.cfg.Concurrency, vehicles, func(ctx context.Context, v string) error {
		if slot != nil {
			if err := slot(ctx); err != nil {
				return err
			}
		}
		if l.st.backingOff(v, time.Now()) {
			return l.commitState(ctx, func() *sink.Checkpoint { return l.st.owe(l.prefix, v, w.From) })
		}
		err := l.sweepVehicle(ctx, v, w)
		switch {
		case err == nil:
			return l.commitState(ctx, func() *sink.Checkpoint { return l.st.recovered(l.prefix, v) })
		case isSinkErr(err) || ctx.Err() != nil:
			return err
		case vehicleGone(err):
			p.m.VehiclesSkipped.WithLabelValues("gone").Inc()
			l.log.Warn("history refused (403/404): the vehicle is gone; skipping it", "vehicle", v, "err", err)
			return l.commitState(ctx, func() *sink.Checkpoint { return l.st.recovered(l.prefix, v) })
		}
		failed.Add(1)
		from := w.From
		if o := l.st.owed(v); !o.IsZero() && o.Before(from) {
			from = o
		}
		var wait time.Duration
		cerr := l.commitState(ctx, func() *sink.Checkpoint {
			cp, d := l.st.failed(l.prefix, v, from, p.cfg.PollInterval, p.cfg.SweepInterval)
			wait = d
			return cp
		})
		p.m.VehicleErrors.WithLabelValues("sweep").Inc()
		l.log.Warn("sweep of one vehicle failed; the others go on, and it owes the window until a retry reads it",
			"vehicle", v, "owes_from", from, "retry_in", wait, "err", err)
		return cerr
	})
	if err != nil {
		return err
	}
	l.releasedMu.Lock()
	// A sweep that skipped nothing read everything: it counts as full
	// (without pushes every sweep does, and windows stay LOOKBACK long).
	full = full || skipped.Load() == 0
	mark := sweepMark{At: now, FullAt: lastFull, Released: slices.Clone(l.releasedKnown)}
	if full {
		mark.FullAt = now
	}
	l.releasedMu.Unlock()
	lock(l.inflight, maxInflight)
	req, err := l.c.submit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(l.prefix+"sweep", mark)}})
	l.inflight.Release(maxInflight)
	if err == nil {
		err = l.c.wait(req)
	}
	if err != nil {
		return &sinkError{fmt.Errorf("commit sweep mark: %w", err)}
	}
	l.st.swept(now)
	l.sweeps++
	if full {
		l.st.sweptFull(now)
	}
	p.m.SweepSkipped.Add(float64(skipped.Load()))
	l.st.mu.Lock()
	l.st.released = mark.Released
	l.st.mu.Unlock()
	p.m.Sweeps.Inc()
	l.log.Info("sweep done", "vehicles", len(vehicles), "skipped_pushed", skipped.Load(), "full", full, "failed", failed.Load(), "from", w.From, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// sweepVehicle reads one vehicle's history over w, or from what it owes
// when that is earlier: then the ids it published since are read back
// first, for the shared set has evicted them.
func (l *live) sweepVehicle(ctx context.Context, v string, w catena.Window) error {
	p := l.p
	from := w.From
	if o := l.st.owed(v); !o.IsZero() && o.Before(from) {
		from = o
		set := newWindowSet()
		// The API's clock and the wall clock may differ (the simulator's
		// runs faster): the read starts as far back on the wall clock as
		// from lies before the API's now, which is never too late.
		since := time.Now().Add(from.Sub(p.cfg.Now()))
		if _, err := p.restoreIDs(ctx, since, func(id dedup.ID, at time.Time, vehicle string) {
			if vehicle == v && !at.Before(from) {
				set.Add(id, at)
			}
		}); err != nil {
			return err
		}
		l.st.setOwedIDs(v, set)
	}
	fleet := l.st.fleet(v)
	return p.walk(ctx, v, fetchSpans(l.view.Load(), fleet, catena.Window{From: from, To: w.To}), walkPos{From: from}, false, false,
		func(page []decoded, _ walkPos, _ bool) error {
			if len(page) == 0 {
				return nil
			}
			out, err := l.stage(ctx, "sweep", page, p.cfg.Now().UTC(), nil, l.vehicleFleet(v, page))
			if err != nil {
				return err
			}
			out.recycle()
			return nil
		})
}

// vehicleFleet returns the vehicle's fleet: as its newest record named it,
// or, when none did, as its history's records name it, which is then kept
// as the vehicle's (one fleet decides all of a vehicle's records, as a
// backfill's vehicle list would).
func (l *live) vehicleFleet(vehicle string, page []decoded) string {
	if f := l.st.fleet(vehicle); f != "" {
		return f
	}
	for i := range page {
		if f := page[i].loc.FleetID; record.IsUUID(f) {
			l.st.setFleet(vehicle, f)
			return f
		}
	}
	return ""
}

// validVehicle reports whether a record's vehicle_id can key the tail's
// state and a history request: Validate dead-letters the others.
func validVehicle(id *string) bool { return id != nil && record.IsUUID(*id) }
