package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// liveState is what the live tail remembers between polls: the ids it
// published that the API can still return, and per vehicle what it
// published and saw last. The poll loop and the sweep share it.
type liveState struct {
	mu        sync.Mutex
	set       *dedup.Set
	vehicles  map[string]*vehicleState
	lastSweep time.Time // when the last complete sweep started, or the first start began (the bridge's clock); zero before
}

// vehicleState is a vehicle's part of the live tail's state; it is the
// vehicle's checkpoint too.
type vehicleState struct {
	// At is the occurred_at of the newest record handled for the vehicle,
	// published or dead-lettered, and IDs the ids handled at At (usually
	// one): a gap is fetched from At, inclusive, so these come back. A bad
	// record moves At too, or a vehicle sending only bad records would have
	// its whole growing history fetched, and dead-lettered again, each poll.
	At  time.Time `json:"at,omitzero"`
	IDs []string  `json:"ids,omitempty"`
	// Newest is the id of the newest record seen for the vehicle, published
	// or dead-lettered, at NewestAt: the snapshot returns it with every poll
	// however old it is, long after the id set has evicted it.
	Newest   string    `json:"newest,omitempty"`
	NewestAt time.Time `json:"newest_at,omitzero"`
	// Gap is a gap fill under way: a restart resumes it at its cursor. The
	// pages it committed may have moved At past records it has not read
	// yet (the API states no order for history), so At alone cannot say
	// where it stopped.
	Gap *gapProgress `json:"gap,omitempty"`

	ids    []dedup.ID // IDs, parsed
	newest dedup.ID   // Newest, parsed
	known  bool       // Newest is set
}

// gapProgress is where a gap fill stands: the window starting at From is
// read up to Cursor ("" = from its first page), and the gap ends at To.
// Started is when it began (wall clock), from when a restart reads back the
// ids it published.
type gapProgress struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Cursor  string    `json:"cursor,omitempty"`
	Started time.Time `json:"started"`
}

// gapStep is what a gap page moves: the vehicle's gap progress after the
// page, nil when the gap is complete.
type gapStep struct {
	vehicle string
	next    *gapProgress
}

// maxIDsAt bounds vehicleState.IDs: more records of one vehicle at one
// instant than this is not a GPS track.
const maxIDsAt = 16

func (v *vehicleState) parse() {
	v.ids = v.ids[:0]
	for _, s := range v.IDs {
		if id, ok := dedup.ParseID(s); ok {
			v.ids = append(v.ids, id)
		}
	}
	v.newest, v.known = dedup.ParseID(v.Newest)
}

// mark admits a record the live tail has not published (or dead-lettered).
// The id set holds the ids of the sweep's window; older records come back
// only as a vehicle's newest record (the snapshot) or at the start of a gap
// (fetched from the last published point), which the vehicle's state
// answers for.
func (s *liveState) mark(id dedup.ID, at time.Time, vehicle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.vehicles[vehicle]; vehicle != "" && v != nil {
		if v.known && v.newest == id {
			return false
		}
		for _, pid := range v.ids {
			if pid == id {
				return false
			}
		}
	}
	return s.set.Add(id, at)
}

// advance records what a page publishes and dead-letters, and returns the
// checkpoints of the vehicles whose state moved. It does not depend on the
// order of the API's records.
func (s *liveState) advance(prefix string, pub []published, gap *gapStep) []sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []string
	if gap != nil {
		v := s.vehicles[gap.vehicle]
		if v == nil {
			v = &vehicleState{}
			s.vehicles[gap.vehicle] = v
		}
		v.Gap = gap.next
		changed = append(changed, gap.vehicle)
	}
	for _, p := range pub {
		v := s.vehicles[p.vehicleID]
		if v == nil {
			v = &vehicleState{}
			s.vehicles[p.vehicleID] = v
		}
		moved := false
		if !p.synthetic {
			switch {
			case p.at.After(v.At):
				v.At, v.IDs, v.ids = p.at, []string{p.id.String()}, append(v.ids[:0], p.id)
				moved = true
			case p.at.Equal(v.At) && len(v.ids) < maxIDsAt && !slices.Contains(v.ids, p.id):
				v.IDs, v.ids = append(v.IDs, p.id.String()), append(v.ids, p.id)
				moved = true
			}
		}
		if !v.known || !p.at.Before(v.NewestAt) {
			v.Newest, v.NewestAt, v.newest, v.known = p.id.String(), p.at, p.id, true
			moved = true
		}
		if moved && !slices.Contains(changed, p.vehicleID) {
			changed = append(changed, p.vehicleID)
		}
	}
	cps := make([]sink.Checkpoint, 0, len(changed))
	for _, id := range changed {
		cps = append(cps, checkpoint(prefix+"v/"+id, s.vehicles[id]))
	}
	return cps
}

// lastHandled returns the occurred_at of the vehicle's newest record
// published or dead-lettered (zero if none), and its gap fill under way.
func (s *liveState) lastHandled(vehicle string) (time.Time, *gapProgress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.vehicles[vehicle]; v != nil {
		return v.At, v.Gap
	}
	return time.Time{}, nil
}

// pendingGaps returns the vehicles with a gap fill under way.
func (s *liveState) pendingGaps() map[string]gapProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]gapProgress{}
	for id, v := range s.vehicles {
		if v.Gap != nil {
			out[id] = *v.Gap
		}
	}
	return out
}

// sweepFrom is where a sweep starting at now begins: Lookback before the
// previous sweep started, so consecutive sweeps leave no hole even when one
// was late (a restart, a slow sweep), and never more than the API's history
// window before now.
func (s *liveState) sweepFrom(now time.Time, lookback time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := now.Add(-lookback)
	if !s.lastSweep.IsZero() && s.lastSweep.Before(now) {
		from = s.lastSweep.Add(-lookback)
	}
	return later(from, now.Add(-catena.MaxHistoryWindow))
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// swept records a complete sweep that started at at.
func (s *liveState) swept(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSweep = at
}

// evict forgets the ids older than horizon and reports the state's size.
func (s *liveState) evict(horizon time.Time, m *Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.EvictBefore(horizon)
	m.DedupIDs.Set(float64(s.set.Len()))
	m.Tracked.Set(float64(len(s.vehicles)))
}

// active returns the vehicles with a record at or after since.
func (s *liveState) active(since time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, v := range s.vehicles {
		if !v.At.Before(since) || !v.NewestAt.Before(since) {
			out = append(out, id)
		}
	}
	return out
}

// Run tails the API live until ctx is done: every PollInterval it pages
// through the latest snapshot and publishes what is new; a vehicle whose new
// point lies more than GapThreshold after its last handled one (and a vehicle
// it has not seen) gets its history for the gap; every SweepInterval, and at
// once after a restart, each active vehicle's history from Lookback before
// the previous sweep is re-read for records that reached the API late and
// the points between two polls. The first start of a scope begins with a
// sweep, so a new deployment starts with the last Lookback of history. Run returns nil when ctx is cancelled after
// committing the page in flight, and an error when the sink fails (fencing).
func (p *Pipeline) Run(ctx context.Context) error {
	scope := LiveScope(p.cfg.FleetIDs, p.cfg.FleetRefs)
	prefix := runPrefix + scope + "/"
	log := p.log.With("scope", scope)
	st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]*vehicleState{}}

	saved, err := p.cfg.Sink.LoadCheckpoints(ctx, prefix)
	if err != nil {
		return err
	}
	for k, b := range saved {
		switch {
		case k == prefix+"sweep":
			var sm sweepMark
			if err := decodeCheckpoint(k, b, &sm); err != nil {
				return err
			}
			st.lastSweep = sm.At
		case strings.HasPrefix(k, prefix+"v/"):
			v := &vehicleState{}
			if err := decodeCheckpoint(k, b, v); err != nil {
				return err
			}
			v.parse()
			st.vehicles[strings.TrimPrefix(k, prefix+"v/")] = v
		}
	}
	// A first start has no state at all; one that crashed during its first
	// sweep has vehicles, and is a restart.
	firstStart := st.lastSweep.IsZero() && len(st.vehicles) == 0

	// Ids the API can still return: those from where the next sweep starts.
	// Records are produced after they occur, so reading the topics by
	// produce time from a margin before that finds them all.
	now := p.cfg.Now()
	horizon := st.sweepFrom(now, p.cfg.Lookback).Add(-dedupBucket)
	since := time.Now().Add(horizon.Sub(now) - 10*time.Minute)
	// And the ids of gap fills under way, in their windows, however old:
	// a gap whose saved cursor the API refuses is read again.
	gaps := st.pendingGaps()
	for _, g := range gaps {
		since = earlier(since, g.Started.Add(-10*time.Minute))
	}
	inGap := func(h sink.EventHeaders) bool {
		g, ok := gaps[h.VehicleID]
		return ok && !h.OccurredAt.Before(g.From) && h.OccurredAt.Before(g.To)
	}
	restored := 0
	err = p.cfg.Sink.ScanEvents(ctx, since, func(h sink.EventHeaders) {
		if id, ok := dedup.ParseID(h.ID); ok && (!h.OccurredAt.Before(horizon) || inGap(h)) {
			st.set.Add(id, h.OccurredAt)
			restored++
		}
	})
	if err == nil {
		err = p.cfg.Sink.ScanDeadLetters(ctx, since, func(h sink.EventHeaders) {
			at := cmp.Or(h.OccurredAt, h.Timestamp)
			if !at.Before(horizon) || inGap(h) {
				st.set.Add(deadLetterKey(h.ID, h.Value), at)
				restored++
			}
		})
	}
	if err != nil {
		return fmt.Errorf("rebuild dedup state from the topics: %w", err)
	}
	log.Info("live tail starting", "first_start", firstStart, "vehicles_known", len(st.vehicles), "gaps_to_resume", len(gaps), "ids_restored", restored,
		"poll_interval", p.cfg.PollInterval, "gap_threshold", p.cfg.GapThreshold, "sweep_interval", p.cfg.SweepInterval, "lookback", p.cfg.Lookback)

	return p.withCommitter(ctx, func(ctx context.Context, c *committer) error {
		l := &live{p: p, c: c, st: st, prefix: prefix, log: log, coverFrom: st.sweepFrom(p.cfg.Now(), p.cfg.Lookback)}
		var wg sync.WaitGroup
		sweepDone := make(chan error, 1)
		sweeping := false
		startSweep := func() {
			sweeping = true
			vehicles := st.active(st.sweepFrom(p.cfg.Now(), p.cfg.Lookback))
			wg.Add(1)
			go func() {
				defer wg.Done()
				sweepDone <- l.sweep(ctx, vehicles)
			}()
		}
		// sweepResult handles a finished sweep: nil to go on, or the error
		// that stops the tail.
		sweepResult := func(err error) error {
			sweeping = false
			switch {
			case err == nil || ctx.Err() != nil && !isSinkErr(err):
				return nil
			case isSinkErr(err):
				return err
			}
			p.m.PollErrors.Inc()
			log.Error("sweep failed; retrying at the next sweep", "err", err)
			return nil
		}
		defer func() {
			wg.Wait()
		}()
		if firstStart {
			// Where coverage begins is committed before the first sweep: if
			// that sweep does not finish, the next start knows the tail's
			// history starts LOOKBACK before this one, not before itself.
			now := p.cfg.Now().UTC()
			if err := c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(prefix+"sweep", sweepMark{At: now})}}); err != nil {
				return &sinkError{fmt.Errorf("commit the first start's coverage: %w", err)}
			}
			st.swept(now)
		} else {
			// A restart sweeps at once: the points between polls that only a
			// sweep publishes must not wait for a process that lives longer
			// than SweepInterval.
			startSweep()
		}

		poll := time.NewTicker(p.cfg.PollInterval)
		defer poll.Stop()
		sweepEvery := time.NewTicker(p.cfg.SweepInterval)
		defer sweepEvery.Stop()
		for {
			if err := l.poll(ctx, firstStart); err != nil {
				if isSinkErr(err) {
					return err
				}
				if ctx.Err() != nil {
					break
				}
				p.m.PollErrors.Inc()
				log.Error("poll failed; retrying at the next poll", "err", err)
			} else {
				firstStart = false
				l.polled = true
			}
			select {
			case <-ctx.Done():
			case err := <-sweepDone:
				if err := sweepResult(err); err != nil {
					return err
				}
			case <-sweepEvery.C:
				if !sweeping {
					startSweep()
				}
			case <-poll.C:
			}
			if ctx.Err() != nil {
				break
			}
			st.evict(st.sweepFrom(p.cfg.Now(), p.cfg.Lookback).Add(-dedupBucket), p.m)
		}
		// Stopping: a sweep in flight finishes its page and reports; only a
		// failed commit changes the outcome.
		if sweeping {
			return sweepResult(<-sweepDone)
		}
		return nil
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
	log    *slog.Logger

	// coverFrom is where the sweeps reached when this process started, and
	// polled whether a snapshot was read since: a vehicle first seen in
	// this process's first snapshot may have reported all through a
	// downtime, so its history is fetched from coverFrom; one first seen
	// later had no record at the previous poll.
	coverFrom time.Time
	polled    bool // read by the poll loop only

	// order makes batches reach the committer in the order their
	// checkpoints were computed, so a vehicle's checkpoint in the compacted
	// topic never moves back when the poll and the sweep race.
	order sync.Mutex
	// inflight is held (read) from marking a page's ids to submitting the
	// page, and (write) to submit a sweep mark: the mark then commits after
	// every page that claimed ids before it, so a crash cannot leave an id
	// claimed, never committed, and behind where the next sweep starts.
	inflight sync.RWMutex
}

// stage runs a page through the stages and commits it.
func (l *live) stage(ctx context.Context, mode string, items []json.RawMessage, ingestedAt time.Time, gap *gapStep) (*page, error) {
	l.inflight.RLock()
	out := l.p.stages.run(items, ingestedAt, l.st)
	req, err := l.submit(ctx, out, gap)
	l.inflight.RUnlock()
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
	l.order.Lock()
	defer l.order.Unlock()
	out.batch.Checkpoints = append(out.batch.Checkpoints, l.st.advance(l.prefix, out.published, gap)...)
	if size(&out.batch) == 0 {
		return nil, nil
	}
	return l.c.submit(commitCtx(ctx), &out.batch)
}

// poll reads the latest snapshot once, all pages (one record per vehicle),
// then publishes it. With sweepFirst (the scope's first start) it first
// sweeps the vehicles the snapshot shows active, so their recent history is
// published before their newest point.
func (l *live) poll(ctx context.Context, sweepFirst bool) error {
	p := l.p
	pager := p.cfg.Client.Locations(p.snapshotQuery(), "")
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
		if ctx.Err() != nil {
			return ctx.Err() // stopping: pages not yet processed are fetched again next time
		}
		if !sweepFirst {
			if err := l.fillGaps(ctx, items); err != nil {
				return err
			}
		}
		out, err := l.stage(ctx, "live", items, now, nil)
		if err != nil {
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
		if record.Decode(raw, &loc) != nil || !validVehicle(loc.VehicleID) {
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
		if record.Decode(raw, &loc) != nil || !validVehicle(loc.VehicleID) || loc.OccurredAt == nil {
			continue
		}
		v := *loc.VehicleID
		last, pending := l.st.lastHandled(v)
		if pending != nil {
			if err := l.gap(ctx, v, *pending); err != nil {
				return err
			}
			last, _ = l.st.lastHandled(v)
		}
		if last.IsZero() {
			// A vehicle the tail has not seen: its history is a gap too,
			// from where this process's coverage begins or, once a
			// snapshot without it was read, from where its records could
			// have occurred since.
			last = l.coverFrom
			if l.polled {
				now := p.cfg.Now()
				last = earlier(l.st.sweepFrom(now, p.cfg.Lookback), now.Add(-p.cfg.Lookback-p.cfg.PollInterval))
			}
		}
		if loc.OccurredAt.Sub(last) <= p.cfg.GapThreshold {
			continue
		}
		// [last, newest]: from is inclusive (the records published at last
		// are dropped by dedup), to exclusive, so one microsecond past the
		// newest.
		g := gapProgress{From: last, To: loc.OccurredAt.Add(time.Microsecond), Started: time.Now().UTC()}
		if err := l.gap(ctx, v, g); err != nil {
			return err
		}
	}
	return nil
}

// gap publishes a vehicle's history over a gap from where g stands, in
// windows the API accepts however long the gap, committing with each page
// where the gap stands after it. An error of the vehicle's own (the API
// refuses its request) is logged, and the gap left for the next poll.
func (l *live) gap(ctx context.Context, vehicle string, g gapProgress) error {
	p := l.p
	cursor, restarted := g.Cursor, false
	for _, w := range catena.Windows(g.From, g.To, catena.MaxHistoryWindow) {
		pager := p.cfg.Client.History(vehicle, w, p.query(), cursor)
		for {
			pg, err := pager.Next(ctx)
			if err != nil && !restarted && cursorRefused(err, pager.Cursor()) {
				// A saved cursor the API no longer takes: read the window
				// again; what was published is in the id set (restored
				// for the gap's window on start).
				pager, restarted = p.cfg.Client.History(vehicle, w, p.query(), ""), true
				continue
			}
			if err != nil {
				err = fmt.Errorf("gap history of vehicle %s: %w", vehicle, err)
				if l.vehicleProblem(err, vehicle) {
					return nil
				}
				return err
			}
			if pg == nil {
				break
			}
			next := &gapProgress{From: w.From, To: g.To, Cursor: pg.NextPage, Started: g.Started}
			if pg.NextPage == "" {
				next = &gapProgress{From: w.To, To: g.To, Started: g.Started}
				if !w.To.Before(g.To) {
					next = nil // the gap is complete
				}
			}
			if _, err := l.stage(ctx, "gap", pg.Items, p.cfg.Now().UTC(), &gapStep{vehicle, next}); err != nil {
				return err
			}
		}
		cursor = ""
	}
	return nil
}

// history publishes one vehicle's history over w, page by page (a sweep's).
func (l *live) history(ctx context.Context, mode, vehicle string, w catena.Window) error {
	p := l.p
	pager := p.cfg.Client.History(vehicle, w, p.query(), "")
	for {
		pg, err := pager.Next(ctx)
		if err != nil {
			return fmt.Errorf("%s history of vehicle %s: %w", mode, vehicle, err)
		}
		if pg == nil {
			return nil
		}
		if _, err := l.stage(ctx, mode, pg.Items, p.cfg.Now().UTC(), nil); err != nil {
			return err
		}
	}
}

// sweep re-reads the last Lookback of each vehicle's history, Concurrency
// vehicles at a time, then records that it swept.
func (l *live) sweep(ctx context.Context, vehicles []string) error {
	p := l.p
	now := p.cfg.Now().UTC()
	w := catena.Window{From: l.st.sweepFrom(now, p.cfg.Lookback), To: now}
	start := time.Now()
	work := make(chan string)
	errs := make(chan error, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for range min(p.cfg.Concurrency, max(1, len(vehicles))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				if err := l.history(ctx, "sweep", v, w); err != nil && !l.vehicleProblem(err, v) {
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
	l.inflight.Lock()
	req, err := l.c.submit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(l.prefix+"sweep", sweepMark{At: now})}})
	l.inflight.Unlock()
	if err == nil {
		err = l.c.wait(req)
	}
	if err != nil {
		return &sinkError{fmt.Errorf("commit sweep mark: %w", err)}
	}
	l.st.swept(now)
	p.m.Sweeps.Inc()
	l.log.Info("sweep done", "vehicles", len(vehicles), "from", w.From, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// validVehicle reports whether a record's vehicle_id can key the tail's
// state and a history request: Validate dead-letters the others.
func validVehicle(id *string) bool { return id != nil && record.IsUUID(*id) }

// vehicleProblem reports, and logs, an API error that concerns one
// vehicle's history request (400, 403, 404, 422: the API will answer the same
// next time); the tail goes on with the other vehicles rather than failing
// every poll or sweep on it. Outages, 429s, auth failures and sink errors are
// not.
func (l *live) vehicleProblem(err error, vehicle string) bool {
	var ae *catena.APIError
	if isSinkErr(err) || !errors.As(err, &ae) || errors.Is(err, catena.ErrUnauthorized) {
		return false
	}
	switch ae.Status {
	case 400, 403, 404, 422:
		l.p.m.PollErrors.Inc()
		l.log.Error("history of one vehicle refused by the API; skipping it this time", "vehicle", vehicle, "err", err)
		return true
	}
	return false
}
