package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// ErrReleased is wrapped by the error of a job whose claim was released
// (ledger.Release): it cannot publish again.
var ErrReleased = errors.New("the job's claim was released")

// job is what a job starts from: what it owns on the topic, and its own
// checkpoints.
type job struct {
	view     *ledger.View
	released map[string]time.Time // releases of the topic's claims: job → where its claim ends
	saved    map[string][]byte    // the job's checkpoints, by key
}

// openJob reads the checkpoint topic once (initialising the producer id
// first, so a predecessor doing the same work is fenced and its open
// transaction aborted) and returns the job's checkpoints under prefix and
// what it owns. The job's claim is read from the ledger, or, on its first
// run, committed as want after resolve has filled in what is decided once
// (the live tail's start, an open-ended backfill's end) from the job's
// checkpoints, and read back: the claims committed before it are then known
// and final (see package ledger). An error of resolve commits nothing.
func (p *Pipeline) openJob(ctx context.Context, want ledger.Claim, prefix string, resolve func(c *ledger.Claim, saved map[string][]byte) error) (*job, error) {
	key := claimPrefix + want.Job
	saved, err := p.cfg.Sink.LoadSaved(ctx, "")
	if err != nil {
		return nil, &sinkError{fmt.Errorf("load checkpoints: %w", err)}
	}
	j := &job{saved: map[string][]byte{}}
	for k, s := range saved {
		if strings.HasPrefix(k, prefix) {
			j.saved[k] = s.Value
		}
	}
	claims, self, released, err := claimsIn(saved, key)
	if err != nil {
		return nil, err
	}
	if self == nil {
		if err := resolve(&want, j.saved); err != nil {
			return nil, err
		}
		want.ClaimedAt = time.Now().UTC()
		if err := p.cfg.Sink.Commit(ctx, &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(key, want)}}); err != nil {
			return nil, &sinkError{fmt.Errorf("commit the claim of job %s: %w", want.Job, err)}
		}
		ledgerOnly, err := p.cfg.Sink.LoadSaved(ctx, ledgerPrefix)
		if err != nil {
			return nil, &sinkError{fmt.Errorf("read the ledger back: %w", err)}
		}
		if claims, self, released, err = claimsIn(ledgerOnly, key); err != nil {
			return nil, err
		}
		if self == nil {
			return nil, fmt.Errorf("the claim of job %s is not in the checkpoint topic after its commit", want.Job)
		}
	}
	if rel, ok := saved[releasePrefix+want.Job]; ok {
		var r ledger.Release
		if err := decodeCheckpoint(releasePrefix+want.Job, rel.Value, &r); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: job %s at %s (on %s); its remaining range belongs to the jobs that claimed after it",
			ErrReleased, want.Job, r.At.Format(time.RFC3339), r.ReleasedAt.Format(time.RFC3339))
	}
	j.view, j.released = ledger.NewView(*self, claims), released
	for _, c := range j.view.Covering() {
		p.log.Warn("ledger: an earlier live tail owns every instant of some of this job's fleets from its start on; "+
			"if it is retired, release its claim (catena-bridge ledger release "+c.Job+"), then restart this job",
			"job", want.Job, "tail", c.Job, "tail_from", c.From, "tail_fleets", c.Fleets)
	}
	if n := len(j.view.Earlier()); n > 0 {
		jobs := make([]string, 0, n)
		for _, c := range j.view.Earlier() {
			jobs = append(jobs, c.Job)
		}
		p.log.Info("ledger: claims committed before this job's own it leaves to their jobs",
			"job", want.Job, "earlier_claims", strings.Join(jobs, ","))
	}
	return j, nil
}

// claimsIn returns the claims among saved checkpoints, each ended by its
// release if it has one, a copy of the one under key (nil when there is
// none), and the releases (job → where its claim ends).
func claimsIn(saved map[string]sink.Saved, key string) ([]ledger.Claim, *ledger.Claim, map[string]time.Time, error) {
	var all []ledger.Claim
	var releases []ledger.Release
	released := map[string]time.Time{}
	for k, s := range saved {
		switch {
		case strings.HasPrefix(k, claimPrefix):
			var c ledger.Claim
			if err := decodeCheckpoint(k, s.Value, &c); err != nil {
				return nil, nil, nil, err
			}
			c.Seq = s.Offset
			all = append(all, c)
		case strings.HasPrefix(k, releasePrefix):
			var r ledger.Release
			if err := decodeCheckpoint(k, s.Value, &r); err != nil {
				return nil, nil, nil, err
			}
			releases = append(releases, r)
			released[r.Job] = r.At
		}
	}
	ledger.Apply(all, releases)
	slices.SortFunc(all, func(a, b ledger.Claim) int { return cmp.Compare(a.Seq, b.Seq) })
	var self *ledger.Claim
	for _, c := range all {
		if claimPrefix+c.Job == key {
			self = &c
		}
	}
	return all, self, released, nil
}

// resolveFleets returns the fleet ids the job's filters select, for its
// claim: none without filters (every fleet), the configured ids, or, with
// fleet_refs, the fleets of the vehicles the API lists for the filters
// (records name their fleet by id; a reference may be missing from them).
func (p *Pipeline) resolveFleets(ctx context.Context) ([]string, error) {
	if len(p.cfg.FleetRefs) == 0 {
		return slices.Clone(p.cfg.FleetIDs), nil
	}
	vehicles, err := p.listVehicles(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve FLEET_REFS to fleet ids: %w", err)
	}
	var ids []string
	for _, v := range vehicles {
		if v.FleetID != nil && !slices.Contains(ids, *v.FleetID) {
			ids = append(ids, *v.FleetID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
