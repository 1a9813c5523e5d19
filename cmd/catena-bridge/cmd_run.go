package main

import (
	"context"
	"errors"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/standby"
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
With STANDBY=true it is one replica of a hot standby: replicas with the same settings (the same
KAFKA_TRANSACTIONAL_ID) join one Kafka consumer group, named after that id, on the checkpoint
topic; the replica the group assigns it publishes, the others wait (/readyz 503 "standby:
another replica is active", pushes answered 503) and one takes over within about 10 s when the
active one dies (a 6 s session timeout), at once when it is stopped. A replica whose producer
is fenced by another stands by again instead of exiting.
`)
	var f bridgeFlags
	f.bind(e, fs)
	var wh config.Webhook
	wh.Bind(f.loader)
	var sb config.Standby
	sb.Bind(f.loader)
	if code, ok := parse(e, fs, args, func() error { return errors.Join(f.validate(), wh.Validate()) }); !ok {
		return code
	}
	f.work = "run-" + pipeline.LiveScope(f.pipeline.FleetIDs, f.pipeline.FleetRefs)
	f.standby = sb.Enabled
	b, err := newBridge(ctx, e, &f)
	if err != nil {
		return fail(e, ctx, "run", err)
	}
	now := f.now
	if now == nil {
		now = time.Now
	}
	var member *standby.Member
	tail, active := b.pipe.Run, func() bool { return true }
	if sb.Enabled { // b.pipe is nil: each term wires its own
		if member, err = b.newStandby(); err != nil {
			b.close()
			return fail(e, ctx, "run", err)
		}
		tail = func(ctx context.Context) error { return member.Run(ctx, b.term) }
		active = member.Active
	}
	b.registerActive(member)
	work, err := withWebhooks(b, wh, now, tail, active)
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
