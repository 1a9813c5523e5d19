package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// The operator's view of a topic's ledger: what `catena-bridge ledger`
// lists and releases.

// LedgerEntry is one claim of a topic's ledger as an operator sees it.
type LedgerEntry struct {
	Claim     ledger.Claim    // To is the release's At when released
	Released  *ledger.Release // nil: not released
	Done      bool            // a backfill that finished
	LastSweep time.Time       // a live tail's last completed sweep; zero otherwise
}

// ReadLedger returns the claims of the topic whose checkpoint topic is
// checkpoints, in order. It reads with r, which produces nothing and fences
// no one: it is safe beside running jobs.
func ReadLedger(ctx context.Context, r *sink.Reader, checkpoints string) ([]LedgerEntry, error) {
	saved := map[string]sink.Saved{}
	err := r.ReadAll(ctx, checkpoints, func(rec *kgo.Record) {
		k := string(rec.Key)
		if rec.Value == nil {
			delete(saved, k)
			return
		}
		saved[k] = sink.Saved{Value: rec.Value, Offset: rec.Offset}
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	claims, _, _, err := claimsIn(saved, "")
	if err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, 0, len(claims))
	for _, c := range claims {
		e := LedgerEntry{Claim: c}
		if s, ok := saved[releasePrefix+c.Job]; ok {
			var rel ledger.Release
			if err := decodeCheckpoint(releasePrefix+c.Job, s.Value, &rel); err != nil {
				return nil, err
			}
			e.Released = &rel
		}
		if name, ok := strings.CutPrefix(c.Job, "backfill-"); ok {
			_, e.Done = saved[backfillPrefix+name+"/done"]
		}
		if scope, ok := strings.CutPrefix(c.Job, "run-"); ok {
			if s, ok := saved[runPrefix+scope+"/sweep"]; ok {
				var sm sweepMark
				if decodeCheckpoint(runPrefix+scope+"/sweep", s.Value, &sm) == nil {
					e.LastSweep = sm.At
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// ReleaseClaim ends the claim of a retired live tail, job, at at (see
// ledger.Release), which must be now (the bridge's clock) within a minute:
// the tail may have published anything up to now, and what it published
// stays its own; and the tail, fenced, cannot publish what lies after. s must
// carry the job's transactional id: reading the ledger with it first fences
// the tail's process, if one still runs, and aborts its open transaction, so
// nothing of it can commit after the release. Only live tails are released:
// a backfill's claim ends where its range does, and an unfinished one is
// finished by running it again.
func ReleaseClaim(ctx context.Context, s *sink.Sink, job string, at, now time.Time) error {
	if !strings.HasPrefix(job, "run-") {
		return fmt.Errorf("job %q is not a live tail (run-<scope>): a backfill's claim ends with its range; run an unfinished one again to finish it", job)
	}
	// Before now, the tail may have published records since; after now,
	// the range up to at would belong to a tail fenced for good.
	if at.Before(now.Add(-time.Second)) || at.After(now.Add(time.Minute)) {
		return fmt.Errorf("release at %s: the release must be now (%s), within a minute: before, the tail may have published records since; after, nobody could publish what lies between", at.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	saved, err := s.LoadSaved(ctx, ledgerPrefix)
	if err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	if _, ok := saved[claimPrefix+job]; !ok {
		var jobs []string
		for k := range saved {
			if j, ok := strings.CutPrefix(k, claimPrefix); ok {
				jobs = append(jobs, j)
			}
		}
		slices.Sort(jobs)
		return fmt.Errorf("no claim of job %q in the ledger (jobs: %s)", job, strings.Join(jobs, ", "))
	}
	if prev, ok := saved[releasePrefix+job]; ok {
		var r ledger.Release
		if err := decodeCheckpoint(releasePrefix+job, prev.Value, &r); err != nil {
			return err
		}
		return fmt.Errorf("job %q was released at %s already", job, r.At.Format(time.RFC3339))
	}
	rel := ledger.Release{Job: job, At: at.UTC(), ReleasedAt: time.Now().UTC()}
	if err := s.Commit(ctx, &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(releasePrefix+job, rel)}}); err != nil {
		return fmt.Errorf("commit the release of job %q: %w", job, err)
	}
	return nil
}
