package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Config wires a Pipeline. Client, Sink, Encoder and Enricher are required.
type Config struct {
	Client   *catena.Client
	Sink     *sink.Sink
	Encoder  *avro.Encoder
	Enricher *geo.Enricher
	Metrics  *Metrics     // default: unregistered metrics
	Logger   *slog.Logger // default: slog.Default()

	// Now is the API's clock, for every instant compared with the API's
	// records and ranges (default time.Now). The demo passes the
	// simulator's faster clock. Waits and elapsed times use package time
	// (see the package doc, Time).
	Now func() time.Time

	FleetIDs  []string // filter of every request, optional
	FleetRefs []string // filter of every request, optional
	PageSize  int      // records per API page, default 1000

	// IncludeSourceData asks the API for each record's raw provider payload
	// (include_source_data), published in the event's source_data. Default
	// off: it multiplies the size of pages and events.
	IncludeSourceData bool

	// Concurrency is how many vehicles are fetched in parallel by a backfill
	// or a sweep, default 8. They share the client's rate limit.
	Concurrency int

	PollInterval  time.Duration // live: default 30s
	GapThreshold  time.Duration // live: default 2×PollInterval
	SweepInterval time.Duration // live: default 10m
	// FullSweepEvery makes every Nth sweep read every active vehicle; the
	// others skip the vehicles whose points all came by push since their
	// last sweep. Default LOOKBACK / SWEEP_INTERVAL (at least 1), so that
	// a vehicle is read at least every LOOKBACK and nothing a lost push
	// held falls out of reach. 1: every sweep is full.
	FullSweepEvery int
	Lookback       time.Duration // live: default 1h

	// FutureTolerance is how far after the bridge's clock a record's
	// occurred_at may lie, default 1h; a record beyond it is dead-lettered
	// (future_time) and bounds no fetch.
	FutureTolerance time.Duration

	// ShutdownGrace bounds how long a stopping pipeline waits for the
	// transaction in flight (the broker may be down), default 30s.
	ShutdownGrace time.Duration

	// ProgressEvery is how often long work logs its progress, default 10s.
	ProgressEvery time.Duration

	// OutageRetryInterval is the first wait of a backfill whose API request
	// failed after the client's own retries because the API is unavailable;
	// waits double up to a minute, up to OutageMax. Default 5s.
	OutageRetryInterval time.Duration
	// ClockSkew is how far apart the clocks of the hosts that run the
	// bridge may be, default 1m. Record timestamps are the producing
	// process's clock, so a restart on another host reads the topics back
	// from this much before the instant it needs.
	ClockSkew time.Duration

	// OutageMax is how long a backfill waits out an unavailable API for one
	// page before it fails (with its progress saved), default 30m.
	OutageMax time.Duration
}

// Pipeline runs backfills and the live tail.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	stages *stages
	tail   atomic.Pointer[live] // the live tail while Run runs, for Push
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Client == nil || cfg.Sink == nil || cfg.Encoder == nil || cfg.Enricher == nil {
		return nil, errors.New("pipeline: Client, Sink, Encoder and Enricher are required")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	setDefault(&cfg.PageSize, 1000)
	setDefault(&cfg.Concurrency, 8)
	setDefault(&cfg.PollInterval, 30*time.Second)
	setDefault(&cfg.GapThreshold, 2*cfg.PollInterval)
	setDefault(&cfg.SweepInterval, 10*time.Minute)
	setDefault(&cfg.Lookback, time.Hour)
	setDefault(&cfg.FullSweepEvery, max(1, int(cfg.Lookback/cfg.SweepInterval)))
	setDefault(&cfg.ShutdownGrace, 30*time.Second)
	setDefault(&cfg.ProgressEvery, 10*time.Second)
	setDefault(&cfg.OutageRetryInterval, 5*time.Second)
	setDefault(&cfg.OutageMax, 30*time.Minute)
	setDefault(&cfg.ClockSkew, time.Minute)
	setDefault(&cfg.FutureTolerance, time.Hour)
	use := cfg.Client.Utilisation
	cfg.Metrics.utilisation.Store(&use)
	if cfg.Lookback > catena.MaxHistoryWindow {
		return nil, fmt.Errorf("pipeline: lookback %v exceeds the API's %v history window", cfg.Lookback, catena.MaxHistoryWindow)
	}
	return &Pipeline{
		cfg:    cfg,
		log:    cfg.Logger,
		m:      cfg.Metrics,
		stages: &stages{enc: cfg.Encoder, enr: cfg.Enricher, future: cfg.FutureTolerance, maxRecord: cfg.Sink.RecordLimit()},
	}, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Metrics returns the pipeline's metrics.
func (p *Pipeline) Metrics() *Metrics { return p.m }

// withCommitter runs fn with a committer whose transactions outlive ctx by
// at most ShutdownGrace: when ctx is cancelled fn stops fetching, and the
// page in flight still commits, unless the broker does not answer in time.
func (p *Pipeline) withCommitter(ctx context.Context, fn func(ctx context.Context, c *committer) error) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	c := newCommitter(p.cfg.Sink, p.m, p.log)
	runErr := make(chan error, 1)
	go func() { runErr <- c.run(cctx) }()

	fnDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-time.After(p.cfg.ShutdownGrace):
				p.log.Warn("shutdown grace period over; abandoning the transaction in flight", "grace", p.cfg.ShutdownGrace)
				cancel()
			case <-fnDone:
			}
		case <-fnDone:
		}
	}()
	err := fn(ctx, c)
	close(fnDone)
	cancel()
	if cerr := <-runErr; cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// commitCtx is the context of a commit: not cancelled by shutdown (the
// committer bounds it), so a page that was fetched is committed.
func commitCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// query is the query of a vehicle's history (the vehicle and window are
// History's arguments).
func (p *Pipeline) query() catena.LocationQuery {
	return catena.LocationQuery{Size: p.cfg.PageSize, IncludeSourceData: p.cfg.IncludeSourceData}
}

// snapshotQuery is the query of the latest snapshot.
func (p *Pipeline) snapshotQuery() catena.LocationQuery {
	q := p.query()
	q.OnlyLatest, q.FleetIDs, q.FleetRefs = true, p.cfg.FleetIDs, p.cfg.FleetRefs
	return q
}
