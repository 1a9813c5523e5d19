package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Run tails the API live until ctx is done: every PollInterval it pages
// through the latest snapshot and publishes what is new; a vehicle whose new
// point lies more than GapThreshold after its last handled one (and a vehicle
// it has not seen) gets its history for the gap; every SweepInterval, and at
// once after a restart, each active vehicle's history from Lookback before
// the previous sweep is re-read for records that reached the API late and
// the points between two polls. The first start of a scope begins with a
// sweep, so a new deployment starts with the last Lookback of history.
//
// The tail's claim in the topic's ledger is open-ended, from Lookback before
// its first start: it publishes every record from then on that no claim
// committed before it (a backfill running or finished) owns. Run returns nil
// when ctx is cancelled after committing the page in flight, and an error
// when the sink fails (fencing).
func (p *Pipeline) Run(ctx context.Context) error {
	scope := LiveScope(p.cfg.FleetIDs, p.cfg.FleetRefs)
	prefix := runPrefix + scope + "/"
	log := p.log.With("scope", scope)
	st := &liveState{m: p.m, set: dedup.NewSet(dedupBucket), vehicles: map[string]*vehicleState{}}
	want := ledger.Claim{Job: "run-" + scope, FleetIDs: p.cfg.FleetIDs, FleetRefs: p.cfg.FleetRefs}
	loaded := false
	j, err := p.openJob(ctx, want, prefix, func(c *ledger.Claim, saved map[string][]byte) error {
		if err := st.load(prefix, saved); err != nil {
			return err
		}
		loaded = true
		fleets, err := p.resolveFleets(ctx)
		if err != nil {
			return err
		}
		c.Fleets = fleets
		c.From = st.coverageStart(p.cfg.Now().UTC(), p.cfg.Lookback)
		return nil
	})
	if err != nil {
		return err
	}
	if !loaded {
		if err := st.load(prefix, j.saved); err != nil {
			return err
		}
	}
	// A first start has no state at all; one that crashed during its first
	// sweep has vehicles, and is a restart.
	firstStart := st.lastSweep.IsZero() && len(st.vehicles) == 0
	// Only now that load, which takes no lock, is done may a scrape read
	// the state.
	uncovered := func() float64 {
		if from := st.uncoveredSince(); !from.IsZero() {
			return max(0, p.cfg.Now().Sub(from).Seconds())
		}
		return 0
	}
	p.m.uncovered.Store(&uncovered)
	defer p.m.uncovered.Store(nil)

	l := &live{p: p, st: st, prefix: prefix, log: log, job: want.Job, pushes: make(chan *pushReq, 64),
		order: semaphore.NewWeighted(1), inflight: semaphore.NewWeighted(maxInflight)}
	l.view.Store(j.view)
	l.absorb(j.view, j.released, p.cfg.Now().UTC())

	// Ids the API can still return: those from where the next sweep starts,
	// produced since then. And, for gap fills stopped part-way through a
	// window, what that window published since it began.
	now := p.cfg.Now()
	horizon := st.sweepFrom(now, p.cfg.Lookback).Add(-dedupBucket)
	since := time.Now().Add(horizon.Sub(now))
	gaps := st.pendingGaps()
	for v, g := range gaps {
		if g.At.Cursor == "" {
			delete(gaps, v)
			continue
		}
		st.gapSet(v, g.StartIDs)
		since = earlier(since, g.At.Started)
	}
	restored, err := p.restoreIDs(ctx, since, func(id dedup.ID, at time.Time, vehicle string) {
		if g, ok := gaps[vehicle]; ok && !at.Before(g.At.From) && at.Before(g.To) {
			st.vehicles[vehicle].gapIDs.Add(id, at)
		}
		if !at.Before(horizon) {
			st.set.Add(id, at)
		}
	})
	if err != nil {
		return err
	}
	claim := j.view.Claim()
	log.Info("live tail starting", "first_start", firstStart, "claim_from", claim.From, "vehicles_known", len(st.vehicles), "gaps_to_resume", len(st.pendingGaps()),
		"records_read", restored, "poll_interval", p.cfg.PollInterval, "gap_threshold", p.cfg.GapThreshold, "sweep_interval", p.cfg.SweepInterval, "lookback", p.cfg.Lookback)

	return p.withCommitter(ctx, func(ctx context.Context, c *committer) error {
		l.c = c
		l.coverFrom = later(st.sweepFrom(p.cfg.Now(), p.cfg.Lookback), claim.From)
		if firstStart {
			l.refreshFleets(ctx) // a restart's first sweep refreshes them
		}
		// Pushed records join once the tail's state is loaded; a failed
		// commit of theirs stops the tail like any sink error.
		pctx, stopPush := context.WithCancelCause(ctx)
		pushErr := make(chan error, 1)
		go func() {
			err := l.pusher(pctx)
			if err != nil {
				stopPush(err)
			}
			pushErr <- err
		}()
		p.tail.Store(l)
		defer func() { p.tail.Store(nil) }()
		err := l.loop(pctx, firstStart)
		stopPush(nil)
		if perr := <-pushErr; err == nil && perr != nil {
			err = perr
		}
		return err
	})
}

// load restores the tail's state from its checkpoints.
func (s *liveState) load(prefix string, saved map[string][]byte) error {
	for k, b := range saved {
		switch {
		case k == prefix+"sweep":
			var sm sweepMark
			if err := decodeCheckpoint(k, b, &sm); err != nil {
				return err
			}
			s.lastSweep, s.lastFull, s.released = sm.At, sm.FullAt, sm.Released
		case strings.HasPrefix(k, prefix+"v/"):
			v := &vehicleState{}
			if err := decodeCheckpoint(k, b, v); err != nil {
				return err
			}
			v.parse()
			s.vehicles[strings.TrimPrefix(k, prefix+"v/")] = v
		}
	}
	return nil
}

// live is one run of the live tail.
type live struct {
	p      *Pipeline
	c      *committer
	st     *liveState
	view   atomic.Pointer[ledger.View] // what the tail owns on the topic; refreshed each sweep
	job    string                      // the tail's job name in the ledger
	prefix string
	log    *slog.Logger

	pushes chan *pushReq // Push's deliveries, for the pusher
	sweeps int           // sweeps completed by this process (read by the sweep goroutine only, one at a time)

	// releasedKnown are the releases of earlier claims the tail knows of;
	// a completed sweep records them as read past (sweepMark.Released).
	releasedMu    sync.Mutex
	releasedKnown []string

	// coverFrom is where the sweeps reached when this process started, and
	// polled whether a snapshot was read since: a vehicle first seen in
	// this process's first snapshot may have reported all through a
	// downtime, so its history is fetched from coverFrom; one first seen
	// later had no record at the previous poll.
	coverFrom time.Time
	polled    bool // read by the poll loop only

	// order makes batches reach the committer in the order their
	// checkpoints were computed, so a vehicle's checkpoint in the compacted
	// topic never moves back when the poll and the sweep race. Weight 1.
	order *semaphore.Weighted
	// inflight is held (weight 1) from marking a page's ids to submitting
	// the page, and (all of it, maxInflight) to submit a sweep mark: the
	// mark then commits after every page that claimed ids before it, so a
	// crash cannot leave an id claimed, never committed, and behind where
	// the next sweep starts.
	//
	// Both are held across the hand-over to the committer, which waits
	// while a commit is under way. They are semaphores, not sync mutexes,
	// because a goroutine waiting for a semaphore waits on a channel, which
	// testing/synctest counts as durably blocked: a waiter on a sync.Mutex
	// it does not, and the tests' fake clock would stop while a commit
	// waits for it (a retry's backoff).
	inflight *semaphore.Weighted

	// firstPoll is set while the first poll of a scope's first start
	// publishes its snapshot (only the poll loop reads and writes it).
	firstPoll bool
}

// loop is the tail's scheduler: a poll every PollInterval, a sweep every
// SweepInterval (one at a time, beside the polls), until ctx ends. Polls
// and their gap fills spend the rate limit's live lane; sweeps its
// catch-up lane, which waits whenever the live lane does. A sweep starts
// SweepInterval after the previous one started, or as soon as it ends
// when it took longer (the budget stretched it: logged and counted).
func (l *live) loop(ctx context.Context, firstStart bool) error {
	p, st, log := l.p, l.st, l.log
	var wg sync.WaitGroup
	defer wg.Wait()
	sweepDone := make(chan error, 1)
	sweeping := false
	var sweepStart time.Time // wall clock
	sweepCtx := catena.WithLane(ctx, catena.LaneCatchUp)
	startSweep := func() {
		sweeping = true
		sweepStart = time.Now()
		p.m.SweepLag.Set(0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.refresh(sweepCtx); err != nil {
				sweepDone <- err
				return
			}
			vehicles := st.active(st.sweepFrom(p.cfg.Now(), p.cfg.Lookback))
			for _, v := range st.owing() {
				if !slices.Contains(vehicles, v) {
					vehicles = append(vehicles, v)
				}
			}
			sweepDone <- l.sweep(sweepCtx, vehicles)
		}()
	}
	// nextSweep fires when the next sweep is due; while a sweep runs it is
	// re-armed only when that sweep ends.
	nextSweep := time.NewTimer(p.cfg.SweepInterval)
	defer nextSweep.Stop()
	// sweepResult handles a finished sweep: nil to go on, or the error that
	// stops the tail.
	sweepResult := func(err error) error {
		sweeping = false
		took := time.Since(sweepStart)
		p.m.SweepDuration.Set(took.Seconds())
		switch {
		case err == nil || ctx.Err() != nil && !isSinkErr(err):
			if err == nil && took > p.cfg.SweepInterval {
				p.m.SweepStretched.Inc()
				log.Warn("sweep took longer than SWEEP_INTERVAL: the API budget (CATENA_RATE_LIMIT) cannot cover the sweep cadence, so sweeps run back to back and late records wait longer; raise the rate limit or SWEEP_INTERVAL, or subscribe to pushes (WEBHOOK_ADDR) so sweeps skip pushed vehicles",
					"took", took.Round(time.Second), "sweep_interval", p.cfg.SweepInterval, "budget_utilisation", fmt.Sprintf("%.2f", p.cfg.Client.Utilisation()))
			}
			return nil
		case isSinkErr(err):
			return err
		}
		p.m.PollErrors.Inc()
		log.Error("sweep failed; retrying at the next sweep", "err", err)
		return nil
	}
	first := firstStart
	if firstStart {
		// Where coverage begins is committed before the first sweep: if
		// that sweep does not finish, the next start knows the tail's
		// history starts LOOKBACK before this one, not before itself.
		// It is where the claim begins: a first start that was killed
		// after committing its claim left that claim's start behind it,
		// and no other job will publish what lies between.
		mark := earlier(p.cfg.Now().UTC(), l.view.Load().Claim().From.Add(p.cfg.Lookback))
		if err := l.c.commit(commitCtx(ctx), &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(l.prefix+"sweep", sweepMark{At: mark})}}); err != nil {
			return &sinkError{fmt.Errorf("commit the first start's coverage: %w", err)}
		}
		st.swept(mark)
		l.coverFrom = st.sweepFrom(p.cfg.Now(), p.cfg.Lookback)
	} else {
		// A restart sweeps at once: the points between polls that only a
		// sweep publishes must not wait for a process that lives longer
		// than SweepInterval.
		startSweep()
	}

	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	for {
		if err := l.poll(ctx, first); err != nil {
			if isSinkErr(err) {
				return err
			}
			if ctx.Err() != nil {
				break
			}
			p.m.PollErrors.Inc()
			log.Error("poll failed; retrying at the next poll", "err", err)
		} else {
			if first {
				// The first start's snapshot is out: its vehicles'
				// LOOKBACK follows on the catch-up lane.
				first = false
				startSweep()
			}
			l.polled = true
		}
		select {
		case <-ctx.Done():
		case err := <-sweepDone:
			if err := sweepResult(err); err != nil {
				return err
			}
			nextSweep.Reset(max(0, time.Until(sweepStart.Add(p.cfg.SweepInterval))))
		case <-nextSweep.C:
			// Due while the previous sweep still runs, the next starts
			// as soon as that one ends (the Reset above); before the
			// first start's first poll, with it.
			if !sweeping && !first {
				startSweep()
			}
		case <-poll.C:
			if sweeping && time.Since(sweepStart) > p.cfg.SweepInterval {
				p.m.SweepLag.Set(time.Since(sweepStart.Add(p.cfg.SweepInterval)).Seconds())
			}
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
}

// maxInflight is the size of live.inflight: more than the pages that can
// ever be in flight at once (Concurrency vehicles, the poll, the pushes).
const maxInflight = 1 << 30

// lock acquires n of s, waiting as long as it takes (as sync.Mutex.Lock).
func lock(s *semaphore.Weighted, n int64) {
	_ = s.Acquire(context.Background(), n) // never fails: the context never ends
}
