package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/ledger"
)

// What the live tail learns again before each sweep: the vehicle list's
// fleets, which decide its vehicles' records in the ledger as they decide a
// backfill's, and the releases of claims before its own, which hand it
// instants it left to them.

// refresh re-reads the vehicle list and the ledger. A vehicle list that
// cannot be read keeps the last one; a ledger that cannot be read is a
// sink error. The tail's own claim released means it was retired: it stops.
func (l *live) refresh(ctx context.Context) error {
	p := l.p
	l.refreshFleets(ctx)
	saved, err := p.cfg.Sink.LoadSaved(ctx, ledgerPrefix)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // stopping
		}
		return &sinkError{fmt.Errorf("read the ledger: %w", err)}
	}
	claims, self, released, err := claimsIn(saved, claimPrefix+l.job)
	if err != nil {
		return err
	}
	if self == nil {
		return fmt.Errorf("the claim of job %s is gone from the checkpoint topic", l.job)
	}
	if at, ok := released[l.job]; ok {
		return &sinkError{fmt.Errorf("%w: job %s at %s", ErrReleased, l.job, at.Format(time.RFC3339))}
	}
	view := ledger.NewView(*self, claims)
	l.view.Store(view)
	if from, ok := l.absorb(view, released, p.cfg.Now().UTC()); ok {
		// The tail may have published records of other fleets since from
		// whose ids the shared set has evicted: read them back.
		since := time.Now().Add(from.Sub(p.cfg.Now()))
		if _, err := p.restoreIDs(ctx, since, func(id dedup.ID, at time.Time, _ string) {
			if !at.Before(from) {
				l.st.mark(id, at, "")
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// refreshFleets re-reads the vehicle list's fleets. A list that cannot be
// read keeps the last one.
func (l *live) refreshFleets(ctx context.Context) {
	vehicles, err := l.p.listVehicles(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("vehicle list unavailable; vehicles keep the fleets known before", "err", err)
		}
		return
	}
	fleets := make(map[string]string, len(vehicles))
	for _, v := range vehicles {
		fleets[v.ID] = deref(v.FleetID)
	}
	l.st.setListed(fleets)
}

// absorb takes the releases of claims before the tail's own that it has not
// read past yet: the earliest of their instants the tail now owns becomes
// where its next sweep starts, if that is earlier. It returns that instant
// and whether the sweep start moved back past the ids the tail holds.
func (l *live) absorb(view *ledger.View, released map[string]time.Time, now time.Time) (time.Time, bool) {
	p, st := l.p, l.st
	self := view.Claim()
	var known []string
	var from time.Time
	for _, c := range view.Earlier() {
		at, ok := released[c.Job]
		if !ok {
			continue
		}
		known = append(known, c.Job)
		st.mu.Lock()
		done := slices.Contains(st.released, c.Job)
		st.mu.Unlock()
		if done || !at.After(self.From) {
			continue
		}
		if from.IsZero() || at.Before(from) {
			from = at
		}
	}
	slices.Sort(known)
	l.releasedMu.Lock()
	l.releasedKnown = known
	l.releasedMu.Unlock()
	if from.IsZero() || !from.Before(st.sweepFrom(now, p.cfg.Lookback)) {
		return time.Time{}, false
	}
	l.log.Info("ledger: a release hands this tail instants it left to another claim; the next sweep reads from there",
		"from", from)
	st.lowerSweep(from, p.cfg.Lookback)
	return from, true
}
