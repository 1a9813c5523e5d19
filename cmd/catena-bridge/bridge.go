package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/catena-bridge/catena-bridge/internal/admin"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// bridgeFlags are the settings of the commands that publish (run, backfill).
type bridgeFlags struct {
	catena   config.Catena
	kafka    config.Kafka
	pipeline config.Pipeline
	admin    config.Admin
	loader   *config.Loader

	// now is the pipeline's clock; nil = time.Now. The demo passes the
	// simulator's faster clock.
	now func() time.Time

	// work names what the process does, for the default transactional id.
	work string
}

func (b *bridgeFlags) bind(e *env, fs *flag.FlagSet) {
	b.loader = config.NewLoader(fs, e.getenv)
	b.catena.Bind(b.loader)
	b.kafka.Bind(b.loader)
	b.pipeline.Bind(b.loader)
	b.admin.Bind(b.loader)
}

func (b *bridgeFlags) validate() error {
	var h3err error
	if _, err := geo.ParseResolutions(b.pipeline.H3Resolutions); err != nil {
		h3err = fmt.Errorf("H3_RESOLUTIONS=%q: %v", b.pipeline.H3Resolutions, err)
	}
	return errors.Join(b.loader.Err(), b.catena.Validate(), b.kafka.Validate(), b.pipeline.Validate(), b.admin.Validate(), h3err)
}

// bridge is a wired pipeline with its admin endpoint.
type bridge struct {
	log    *slog.Logger
	reg    *prometheus.Registry
	m      *pipeline.Metrics
	sink   *sink.Sink
	pipe   *pipeline.Pipeline
	admin  *admin.Server
	client *catena.Client

	adminDone chan error             // the admin server's Serve result
	step      atomic.Pointer[string] // start-up step under way; nil once started
}

// newBridge connects to the broker and the registry (waiting while they are
// unreachable), creates missing topics and wires the pipeline. The admin
// endpoint serves from the start: /readyz says what start-up waits for.
func newBridge(ctx context.Context, e *env, f *bridgeFlags) (_ *bridge, err error) {
	log := newLogger(e.stderr, f.admin)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := pipeline.NewMetrics(reg)
	b := &bridge{log: log, reg: reg, m: m}
	defer func() {
		if err != nil {
			b.close()
		}
	}()

	b.starting("connecting to Kafka")
	if f.admin.Addr != "" {
		b.admin = admin.New(reg, log)
		if err := b.admin.Listen(f.admin.Addr); err != nil {
			return nil, err
		}
		b.adminDone = make(chan error, 1)
		go func() { b.adminDone <- b.admin.Serve() }()
		log.Info("admin endpoint listening", "addr", b.admin.Addr(), "paths", "/metrics /healthz /readyz")
		b.admin.AddCheck("startup", b.startupCheck)
		b.admin.AddCheck("catena-api", m.APIReady)
	}
	client, err := newCatenaClient(f.catena, log, m)
	if err != nil {
		return nil, err
	}
	b.client = client
	scfg, err := sinkConfig(f.kafka, f.work, log, reg)
	if err != nil {
		return nil, err
	}
	s, err := sink.New(ctx, scfg)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka: %w", err)
	}
	b.sink = s
	if b.admin != nil {
		b.admin.AddCheck("kafka", s.Ready)
	}
	if err := s.EnsureTopics(ctx); err != nil {
		return nil, fmt.Errorf("ensure topics: %w", err)
	}
	b.starting("registering the event schema")
	srcl, err := newRegistry(f.kafka)
	if err != nil {
		return nil, err
	}
	enc, err := newEncoder(ctx, srcl, f.kafka.Topic+"-value", log)
	if err != nil {
		return nil, err
	}
	res, _ := geo.ParseResolutions(f.pipeline.H3Resolutions)
	enr, err := geo.NewEnricher(res)
	if err != nil {
		return nil, err
	}
	b.pipe, err = pipeline.New(pipeline.Config{
		Client:        client,
		Sink:          s,
		Encoder:       enc,
		Enricher:      enr,
		Metrics:       m,
		Logger:        log,
		FleetIDs:      f.pipeline.FleetIDs,
		FleetRefs:     f.pipeline.FleetRefs,
		PageSize:      f.pipeline.PageSize,
		Concurrency:   f.pipeline.BackfillConcurrency,
		PollInterval:  f.pipeline.PollInterval,
		GapThreshold:  f.pipeline.GapThreshold,
		SweepInterval: f.pipeline.SweepInterval,
		Lookback:      f.pipeline.Lookback,
		Now:           f.now,

		IncludeSourceData: f.pipeline.IncludeSourceData,
		ShutdownGrace:     f.pipeline.ShutdownGrace,
		OutageMax:         f.pipeline.OutageMax,
	})
	if err != nil {
		return nil, err
	}
	b.step.Store(nil)
	return b, nil
}

// starting records the start-up step under way, which /readyz reports.
func (b *bridge) starting(step string) { b.step.Store(&step) }

func (b *bridge) startupCheck() error {
	if s := b.step.Load(); s != nil {
		return errors.New("starting: " + *s)
	}
	return nil
}

// close releases what newBridge set up, when it fails.
func (b *bridge) close() {
	if b.sink != nil {
		b.sink.Close()
	}
	if b.admin != nil && b.adminDone != nil {
		b.admin.Shutdown()
		<-b.adminDone
	}
}

// serve runs work next to the admin endpoint until work returns or ctx ends
// (oklog/run: the first actor to return stops the others).
func (b *bridge) serve(ctx context.Context, work func(ctx context.Context) error) error {
	defer b.sink.Close()
	var g run.Group
	wctx, cancel := context.WithCancel(ctx)
	g.Add(func() error { return work(wctx) }, func(error) { cancel() })
	if b.admin != nil {
		g.Add(func() error { return <-b.adminDone }, func(error) { b.admin.Shutdown() })
	}
	return g.Run()
}

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

// fail reports err and returns exit code 1.
func fail(e *env, _ context.Context, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "catena-bridge %s: %v\n", cmd, err)
	return exitFailure
}
