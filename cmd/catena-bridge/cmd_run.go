package main

import (
	"context"
	"errors"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

func cmdRun(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "run", "[flags]", `Tails the Catena API live: every POLL_INTERVAL it reads the latest location of every
vehicle and publishes what is new; a vehicle whose new point lies more than GAP_THRESHOLD
after its last published one gets its history for the gap; every SWEEP_INTERVAL each active
vehicle's last LOOKBACK of history is re-read for records that reached the API late. The first
start publishes the last LOOKBACK of history. Progress is checkpointed in <topic>.checkpoints
with every transaction; a restart resumes without duplicates. SIGINT/SIGTERM stop it cleanly:
the transaction in flight is committed, then it exits 0. With WEBHOOK_ADDR it also receives
Catena's vehicle_location.added deliveries at /webhooks/catena (verified with WEBHOOK_SECRET)
and answers each once its records are committed; polling goes on and catches what pushes lose.
`)
	var f bridgeFlags
	f.bind(e, fs)
	var wh config.Webhook
	wh.Bind(f.loader)
	if code, ok := parse(e, fs, args, func() error { return errors.Join(f.validate(), wh.Validate()) }); !ok {
		return code
	}
	f.work = "run-" + pipeline.LiveScope(f.pipeline.FleetIDs, f.pipeline.FleetRefs)
	b, err := newBridge(ctx, e, &f)
	if err != nil {
		return fail(e, ctx, "run", err)
	}
	now := f.now
	if now == nil {
		now = time.Now
	}
	work, err := withWebhooks(b, wh, now)
	if err != nil {
		b.close()
		return fail(e, ctx, "run", err)
	}
	err = b.serve(ctx, work)
	c := b.m.Counts()
	b.log.Info("stopped", "fetched", c.Fetched, "published", c.Published, "duplicates", c.Duplicates, "dead_letters", c.DeadLetters)
	if err != nil {
		return fail(e, ctx, "run", err)
	}
	return exitOK
}
