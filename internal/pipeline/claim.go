package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// job is what a job starts from: what it owns on the topic, and its own
// checkpoints.
type job struct {
	view  *ledger.View
	saved map[string][]byte // the job's checkpoints, by key
}

// openJob reads the checkpoint topic once (initialising the producer id
// first, so a predecessor doing the same work is fenced and its open
// transaction aborted) and returns the job's checkpoints under prefix and
// what it owns. The job's claim is read from the ledger, or, on its first
// run, committed as want after resolve has filled in what is decided once
// (the live tail's start, an open-ended backfill's end), and read back: the
// claims committed before it are then known and final (see package ledger).
func (p *Pipeline) openJob(ctx context.Context, want ledger.Claim, prefix string, resolve func(*ledger.Claim)) (*job, error) {
	key := claimPrefix + want.Job
	saved, err := p.cfg.Sink.LoadSaved(ctx, "")
	if err != nil {
		return nil, &sinkError{fmt.Errorf("load checkpoints: %w", err)}
	}
	claims, self, err := claimsIn(saved, key)
	if err != nil {
		return nil, err
	}
	if self == nil {
		resolve(&want)
		want.ClaimedAt = time.Now().UTC()
		if err := p.cfg.Sink.Commit(ctx, &sink.Batch{Checkpoints: []sink.Checkpoint{checkpoint(key, want)}}); err != nil {
			return nil, &sinkError{fmt.Errorf("commit the claim of job %s: %w", want.Job, err)}
		}
		ledgerOnly, err := p.cfg.Sink.LoadSaved(ctx, claimPrefix)
		if err != nil {
			return nil, &sinkError{fmt.Errorf("read the ledger back: %w", err)}
		}
		if claims, self, err = claimsIn(ledgerOnly, key); err != nil {
			return nil, err
		}
		if self == nil {
			return nil, fmt.Errorf("the claim of job %s is not in the checkpoint topic after its commit", want.Job)
		}
	}
	j := &job{view: ledger.NewView(*self, claims), saved: map[string][]byte{}}
	for k, s := range saved {
		if strings.HasPrefix(k, prefix) {
			j.saved[k] = s.Value
		}
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

// claimsIn returns the claims among saved checkpoints, and a copy of the one
// under key (nil when there is none).
func claimsIn(saved map[string]sink.Saved, key string) ([]ledger.Claim, *ledger.Claim, error) {
	var all []ledger.Claim
	var self *ledger.Claim
	for k, s := range saved {
		if !strings.HasPrefix(k, claimPrefix) {
			continue
		}
		var c ledger.Claim
		if err := decodeCheckpoint(k, s.Value, &c); err != nil {
			return nil, nil, err
		}
		c.Seq = s.Offset
		all = append(all, c)
		if k == key {
			self = &c
		}
	}
	return all, self, nil
}
