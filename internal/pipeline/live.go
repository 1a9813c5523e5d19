package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// liveState is what the live tail remembers between polls: the ids it
// published that the API can still return, and each vehicle's newest
// published point. The poll loop and the sweep share it.
type liveState struct {
	mu       sync.Mutex
	set      *dedup.Set
	vehicles map[string]lastPoint
	lastIDs  map[string]dedup.ID
	newest   map[string]seenPoint // each vehicle's newest record marked, published or dead-lettered
	horizon  time.Time            // ids before it were evicted from set
}

// mark admits a record the live tail has not published. The id set holds
// the ids of the last Lookback; an older record can only come back as a
// vehicle's newest point (the snapshot) or the start of a gap, so for those
// the vehicle's last published point decides: its own id, or anything not
// newer than it, was published.
func (s *liveState) mark(id dedup.ID, at time.Time, vehicle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if vehicle != "" {
		if s.lastIDs[vehicle] == id || s.newest[vehicle].id == id {
			return false
		}
		if last, ok := s.vehicles[vehicle]; ok && at.Before(s.horizon) && !at.After(last.At) {
			return false
		}
	}
	if !s.set.Add(id, at) {
		return false
	}
	if vehicle != "" && !at.Before(s.newest[vehicle].at) {
		// Remembered apart from the set: a vehicle's newest record comes back
		// with every snapshot however old it is, and may be a dead letter,
		// which does not move the vehicle's last published point.
		s.newest[vehicle] = seenPoint{id, at}
	}
	return true
}

type seenPoint struct {
	id dedup.ID
	at time.Time
}

// evict forgets the ids older than horizon and reports the state's size.
func (s *liveState) evict(horizon time.Time, m *Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.horizon = horizon
	s.set.EvictBefore(horizon)
	m.DedupIDs.Set(float64(s.set.Len()))
	m.Tracked.Set(float64(len(s.vehicles)))
}

// advance records the points a page publishes and returns the checkpoints of
// the vehicles whose newest point moved.
func (s *liveState) advance(prefix string, pub []published) []sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cps []sink.Checkpoint
	changed := map[string]bool{}
	for _, p := range pub {
		last, ok := s.vehicles[p.vehicleID]
		if ok && !p.at.After(last.At) {
			continue
		}
		s.vehicles[p.vehicleID] = lastPoint{At: p.at, ID: p.id.String()}
		s.lastIDs[p.vehicleID] = p.id
		changed[p.vehicleID] = true
	}
	for v := range changed {
		cps = append(cps, checkpoint(prefix+"v/"+v, s.vehicles[v]))
	}
	return cps
}

func (s *liveState) last(vehicle string) (lastPoint, dedup.ID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lp, ok := s.vehicles[vehicle]
	return lp, s.lastIDs[vehicle], ok
}

// active returns the vehicles whose newest point is at or after since.
func (s *liveState) active(since time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v, lp := range s.vehicles {
		if !lp.At.Before(since) {
			out = append(out, v)
		}
	}
	return out
}

// Run tails the API live until ctx is done: every PollInterval it pages
// through the latest snapshot and publishes what is new; a vehicle whose new
// point lies more than GapThreshold after its last published one gets its
// history for the gap; every SweepInterval each active vehicle's last
// Lookback of history is re-read for records that reached the API late. The
// first start of a scope begins with a sweep, so a new deployment starts with
// the last Lookback of history. Run returns nil when ctx is cancelled after
// committing the page in flight, and an error when the sink fails (fencing).
func (p *Pipeline) Run(ctx context.Context) error {
	scope := LiveScope(p.cfg.FleetIDs, p.cfg.FleetRefs)
	prefix := runPrefix + scope + "/"
	log := p.log.With("scope", scope)
	st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]lastPoint{}, lastIDs: map[string]dedup.ID{}, newest: map[string]seenPoint{}}

	saved, err := p.cfg.Sink.LoadCheckpoints(ctx, prefix)
	if err != nil {
		return fmt.Errorf("run: load checkpoints: %w", err)
	}
	var lastSweep time.Time
	for k, b := range saved {
		switch {
		case k == prefix+"sweep":
			var sm sweepMark
			if err := decodeCheckpoint(k, b, &sm); err != nil {
				return err
			}
			lastSweep = sm.At
		case strings.HasPrefix(k, prefix+"v/"):
			var lp lastPoint
			if err := decodeCheckpoint(k, b, &lp); err != nil {
				return err
			}
			v := strings.TrimPrefix(k, prefix+"v/")
			st.vehicles[v] = lp
			if id, ok := dedup.ParseID(lp.ID); ok {
				st.lastIDs[v] = id
			}
		}
	}
	// Ids the API can still return: those of the last Lookback. Records are
	// produced after they occur, so reading from Lookback (plus a margin for
	// clock skew) before now by produce time finds them all.
	horizon := p.cfg.Now().Add(-p.cfg.Lookback - dedupBucket)
	st.horizon = horizon
	restored := 0
	since := time.Now().Add(-p.cfg.Lookback - dedupBucket - 10*time.Minute)
	err = p.cfg.Sink.ScanEvents(ctx, since, func(h sink.EventHeaders) {
		if id, ok := dedup.ParseID(h.ID); ok && !h.OccurredAt.Before(horizon) {
			st.set.Add(id, h.OccurredAt)
			restored++
		}
	})
	if err == nil {
		// Dead letters too: a bad record that is a vehicle's newest point
		// comes back with every snapshot.
		err = p.cfg.Sink.ScanDeadLetters(ctx, since, func(h sink.EventHeaders) {
			at := h.OccurredAt
			if at.IsZero() {
				at = h.Timestamp
			}
			st.set.Add(deadLetterKey(h.ID, h.Value), at)
			restored++
		})
	}
	if err != nil {
		return fmt.Errorf("run: rebuild dedup state from the topics: %w", err)
	}
	log.Info("live tail starting", "vehicles_known", len(st.vehicles), "ids_restored", restored,
		"poll_interval", p.cfg.PollInterval, "gap_threshold", p.cfg.GapThreshold, "sweep_interval", p.cfg.SweepInterval, "lookback", p.cfg.Lookback)

	return p.withCommitter(ctx, func(ctx context.Context, c *committer) error {
		l := &live{p: p, c: c, st: st, prefix: prefix, log: log}
		firstSweep := lastSweep.IsZero()
		var wg sync.WaitGroup
		sweepDone := make(chan error, 1)
		sweeping := false
		startSweep := func(vehicles []string) {
			sweeping = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				sweepDone <- l.sweep(ctx, vehicles)
			}()
		}
		defer wg.Wait()

		poll := time.NewTicker(p.cfg.PollInterval)
		defer poll.Stop()
		sweepEvery := time.NewTicker(p.cfg.SweepInterval)
		defer sweepEvery.Stop()
		for {
			if err := l.poll(ctx, firstSweep); err != nil {
				if isSinkErr(err) {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				p.m.PollErrors.Inc()
				log.Error("poll failed; retrying at the next poll", "err", err)
			} else {
				firstSweep = false
			}
			select {
			case <-ctx.Done():
				return nil
			case err := <-sweepDone:
				sweeping = false
				if err != nil {
					if isSinkErr(err) {
						return err
					}
					if ctx.Err() != nil {
						return nil
					}
					p.m.PollErrors.Inc()
					log.Error("sweep failed; retrying at the next sweep", "err", err)
				}
			case <-sweepEvery.C:
				if !sweeping {
					startSweep(st.active(p.cfg.Now().Add(-p.cfg.Lookback)))
				}
			case <-poll.C:
			}
			st.evict(p.cfg.Now().Add(-p.cfg.Lookback-dedupBucket), p.m)
		}
	})
}

// sinkError marks errors from the committer, which are all fatal: the sink
// already retried what can be retried.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

func isSinkErr(err error) bool {
	for err != nil {
		if _, ok := err.(*sinkError); ok {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

type live struct {
	p      *Pipeline
	c      *committer
	st     *liveState
	prefix string
	log    interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
}

func (l *live) commit(ctx context.Context, mode string, out *page) error {
	out.batch.Checkpoints = append(out.batch.Checkpoints, l.st.advance(l.prefix, out.published)...)
	if len(out.batch.Events)+len(out.batch.DeadLetters)+len(out.batch.Checkpoints) > 0 {
		if err := l.c.commit(commitCtx(ctx), &out.batch); err != nil {
			return &sinkError{err}
		}
	}
	l.p.account(mode, out)
	return nil
}

// poll reads the latest snapshot once, all pages (one record per vehicle),
// then publishes it. With sweepFirst (the scope's first start) it first
// sweeps the vehicles the snapshot shows active, so their recent history is
// published before their newest point.
func (l *live) poll(ctx context.Context, sweepFirst bool) error {
	p := l.p
	pager := p.cfg.Client.Locations(catena.LocationQuery{OnlyLatest: true, FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs, Size: p.cfg.PageSize}, "")
	var pages [][]json.RawMessage
	for {
		pg, err := pager.Next(ctx)
		if err != nil {
			return fmt.Errorf("poll latest snapshot: %w", err)
		}
		if pg == nil {
			break
		}
		pages = append(pages, pg.Items)
	}
	now := p.cfg.Now().UTC()
	if sweepFirst {
		var active []string
		for _, items := range pages {
			active = append(active, l.activeIn(items, now.Add(-p.cfg.Lookback))...)
		}
		if err := l.sweep(ctx, active); err != nil {
			return err
		}
	}
	for _, items := range pages {
		if !sweepFirst {
			if err := l.fillGaps(ctx, items); err != nil {
				return err
			}
		}
		out := p.stages.run(items, now, l.st)
		if err := l.commit(ctx, "live", out); err != nil {
			return err
		}
		if n := len(out.batch.Events); n > 0 {
			if last := out.batch.Events[n-1].OccurredAt; !last.IsZero() {
				p.m.EventLag.Set(now.Sub(last).Seconds())
			}
		}
	}
	return nil
}

// activeIn returns the vehicles of a snapshot page whose newest point is at
// or after since.
func (l *live) activeIn(items []json.RawMessage, since time.Time) []string {
	var out []string
	var loc record.Location
	for _, raw := range items {
		loc = record.Location{}
		if record.Decode(raw, &loc) != nil || loc.VehicleID == nil {
			continue
		}
		if t := eventTime(&loc); !t.Before(since) {
			out = append(out, *loc.VehicleID)
		}
	}
	return out
}

// fillGaps fetches, for each vehicle of a snapshot page whose newest point
// lies more than GapThreshold after its last published one, the history in
// between, so its track has no holes.
func (l *live) fillGaps(ctx context.Context, items []json.RawMessage) error {
	p := l.p
	var loc record.Location
	for _, raw := range items {
		loc = record.Location{}
		if record.Decode(raw, &loc) != nil || loc.VehicleID == nil || loc.OccurredAt == nil {
			continue
		}
		v := *loc.VehicleID
		last, _, ok := l.st.last(v)
		if !ok || loc.OccurredAt.Sub(last.At) <= p.cfg.GapThreshold {
			continue
		}
		// [last, newest]: from is inclusive (the last point itself is
		// dropped by dedup), to exclusive, so one microsecond past the newest.
		w := catena.Window{From: last.At, To: loc.OccurredAt.Add(time.Microsecond)}
		if w.To.Sub(w.From) > catena.MaxHistoryWindow {
			w.From = w.To.Add(-catena.MaxHistoryWindow)
		}
		if err := l.history(ctx, "gap", v, w); err != nil {
			return err
		}
	}
	return nil
}

// history publishes one vehicle's history over w, page by page.
func (l *live) history(ctx context.Context, mode, vehicle string, w catena.Window) error {
	p := l.p
	pager := p.cfg.Client.History(vehicle, w, catena.LocationQuery{Size: p.cfg.PageSize}, "")
	for {
		pg, err := pager.Next(ctx)
		if err != nil {
			return fmt.Errorf("%s history of vehicle %s: %w", mode, vehicle, err)
		}
		if pg == nil {
			return nil
		}
		out := p.stages.run(pg.Items, p.cfg.Now().UTC(), l.st)
		if err := l.commit(ctx, mode, out); err != nil {
			return err
		}
	}
}

// sweep re-reads the last Lookback of each vehicle's history, Concurrency
// vehicles at a time, then records that it swept.
func (l *live) sweep(ctx context.Context, vehicles []string) error {
	p := l.p
	now := p.cfg.Now().UTC()
	w := catena.Window{From: now.Add(-p.cfg.Lookback), To: now}
	start := time.Now()
	work := make(chan string)
	errs := make(chan error, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for range min(p.cfg.Concurrency, max(1, len(vehicles))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				if err := l.history(ctx, "sweep", v, w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, v := range vehicles {
		select {
		case work <- v:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	if err != nil {
		return err
	}
	if err := l.c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(l.prefix+"sweep", sweepMark{At: now})}}); err != nil {
		return &sinkError{err}
	}
	l.log.Info("sweep done", "vehicles", len(vehicles), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
