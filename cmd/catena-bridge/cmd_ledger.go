package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

func cmdLedger(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "ledger", "[--release JOB [--at RFC3339]] [flags]", `Lists the topic's coverage ledger: every job's claim (the backfills and live tails that
publish to the topic), in the order that decides which job publishes which record, with its
range, fleets and state. It reads only, and fences no one.

With --release JOB, ends the claim of a retired live tail (run-<scope>) at --at (default
now): the instants after it go to the jobs that claimed after it, which see it when they
restart. The release first takes over the tail's transactional id, so a process of that tail
still running is fenced and can publish nothing after it. A released tail cannot run again.
`)
	l := e.newLoader(fs)
	var k config.Kafka
	k.BindReader(l)
	l.String(&k.TransactionalID, "transactional-id", "KAFKA_TRANSACTIONAL_ID", "", "with --release: the tail's transactional id, if it was set (default: derived like run's)")
	var a config.Admin
	a.BindLog(l)
	var release, atS string
	fs.StringVar(&release, "release", "", "end the claim of this retired live tail (a job name from the list, run-<scope>)")
	fs.StringVar(&atS, "at", "", "with --release: where the claim ends (RFC3339, not before now); default now")
	var at time.Time
	code, ok := parse(e, fs, args, func() error {
		err := errors.Join(l.Err(), k.ValidateReader(), a.Validate())
		if atS != "" {
			var perr error
			if at, perr = time.Parse(time.RFC3339, atS); perr != nil {
				err = errors.Join(err, fmt.Errorf("--at=%q: not an RFC3339 time", atS))
			}
			if release == "" {
				err = errors.Join(err, fmt.Errorf("--at needs --release"))
			}
		}
		return err
	})
	if !ok {
		return code
	}
	log := newLogger(e.stderr, a)
	if release != "" {
		scfg, err := sinkConfig(k, release, log, nil)
		if err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge ledger: %v\n", err)
			return exitUsage
		}
		s, err := sink.New(ctx, scfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge ledger: %v\n", err)
			return exitUsage
		}
		defer s.Close()
		now := time.Now()
		if at.IsZero() {
			at = now
		}
		if err := pipeline.ReleaseClaim(ctx, s, release, at, now); err != nil {
			return fail(e, ctx, "ledger", err)
		}
		fmt.Fprintf(e.stdout, "released %s at %s: restart the jobs that claimed after it\n", release, at.UTC().Format(time.RFC3339))
		return exitOK
	}
	scfg, err := sinkConfig(k, "", log, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge ledger: %v\n", err)
		return exitUsage
	}
	r, err := sink.NewReader(scfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge ledger: %v\n", err)
		return exitUsage
	}
	defer r.Close()
	entries, err := pipeline.ReadLedger(ctx, r, scfg.CheckpointTopic())
	if err != nil {
		return fail(e, ctx, "ledger", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ORDER\tJOB\tFROM\tTO\tFLEETS\tCLAIMED\tSTATE")
	for _, en := range entries {
		c := en.Claim
		to := "open"
		if !c.To.IsZero() {
			to = c.To.Format(time.RFC3339)
		}
		fleets := "all"
		if len(c.FleetIDs)+len(c.FleetRefs) > 0 {
			fleets = strings.Join(c.Fleets, ",")
			if fleets == "" {
				fleets = "none"
			}
		}
		state := "running or stopped"
		switch {
		case en.Released != nil:
			state = "released " + en.Released.ReleasedAt.Format(time.RFC3339)
		case en.Done:
			state = "done"
		case !en.LastSweep.IsZero():
			state = "tail, last sweep " + en.LastSweep.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.Job, c.From.Format(time.RFC3339), to, fleets, c.ClaimedAt.Format(time.RFC3339), state)
	}
	w.Flush()
	return exitOK
}
