package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

func cmdBackfill(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "backfill", "--from RFC3339 --to RFC3339 [flags]", `Publishes every vehicle's history over [--from, --to): lists the vehicles
(GET /v2/telematics/vehicles), then fetches each one's history in windows of at most 45 days,
BACKFILL_CONCURRENCY vehicles in parallel under the shared CATENA_RATE_LIMIT, and exits 0.
Every page is committed with its checkpoint: a backfill that was stopped resumes where it was
when run again with the same command (without --to, the end resolved on its first run is kept);
one that finished publishes nothing new. Records that a job started before it claimed (another
backfill, the live tail) are left to that job: overlapping runs publish each record once.
`)
	var f bridgeFlags
	f.bind(e, fs)
	var fromS, toS string
	fs.StringVar(&fromS, "from", "", "start of the range, inclusive (RFC3339, e.g. 2026-11-01T00:00:00Z); required")
	fs.StringVar(&toS, "to", "", "end of the range, exclusive (RFC3339); default now, resolved on the job's first run and kept: the same command resumes the same job")
	var from, to time.Time
	code, ok := parse(e, fs, args, func() error {
		err := f.validate()
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		var perr error
		if fromS == "" {
			errs = append(errs, fmt.Errorf("--from is required (RFC3339, e.g. 2026-11-01T00:00:00Z)"))
		} else if from, perr = time.Parse(time.RFC3339, fromS); perr != nil {
			errs = append(errs, fmt.Errorf("--from=%q: not an RFC3339 time (e.g. 2026-11-01T00:00:00Z)", fromS))
		}
		if toS != "" {
			if to, perr = time.Parse(time.RFC3339, toS); perr != nil {
				errs = append(errs, fmt.Errorf("--to=%q: not an RFC3339 time (e.g. 2026-11-02T00:00:00Z)", toS))
			}
		}
		end := to
		if toS == "" {
			end = time.Now() // resolved for good when the job first runs
		}
		if len(errs) == 0 && !from.Before(end) {
			errs = append(errs, fmt.Errorf("--from=%s is not before --to=%s", fromS, end.Format(time.RFC3339)))
		}
		return errors.Join(errs...)
	})
	if !ok {
		return code
	}
	f.work = "backfill-" + pipeline.BackfillJob(from, to, f.pipeline.FleetIDs, f.pipeline.FleetRefs)
	b, err := newBridge(ctx, e, &f)
	if err != nil {
		return fail(e, ctx, "backfill", err)
	}
	var res pipeline.BackfillResult
	err = b.serve(ctx, func(ctx context.Context) error {
		var err error
		res, err = b.pipe.Backfill(ctx, from, to)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "catena-bridge backfill: interrupted; progress is checkpointed: run the same command again to resume")
		}
		return fail(e, ctx, "backfill", err)
	}
	c := b.m.Counts()
	fmt.Fprintf(e.stdout, "backfill %s [%s, %s): %d vehicles, fetched %d, published %d, duplicates skipped %d, left to earlier claims %d, dead-lettered %d%s\n",
		res.Job, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339), res.Vehicles, c.Fetched, c.Published, c.Duplicates, c.Elsewhere,
		c.DeadLettered(), map[bool]string{true: " (already complete)", false: ""}[res.AlreadyComplete])
	return exitOK
}
