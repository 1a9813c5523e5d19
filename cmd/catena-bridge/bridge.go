package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/catena-bridge/catena-bridge/internal/admin"
	"github.com/catena-bridge/catena-bridge/internal/avro"
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

	// standby: newBridge creates the topics but leaves the producer and
	// the pipeline to each term of the standby (see standby.go).
	standby bool
}

func (b *bridgeFlags) bind(e *env, fs *flag.FlagSet) {
	b.loader = e.newLoader(fs)
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
	sink   *sink.Sink         // nil with standby: each term opens its own
	pipe   *pipeline.Pipeline // nil with standby
	admin  *admin.Server
	client *catena.Client

	f    *bridgeFlags
	scfg sink.Config
	enc  *avro.Encoder
	enr  *geo.Enricher

	// The sink and pipeline at work now (b.sink and b.pipe, or a standby
	// term's), for the "kafka" readiness check and pushed deliveries.
	liveSink atomic.Pointer[sink.Sink]
	livePipe atomic.Pointer[pipeline.Pipeline]

	adminDone chan error             // the admin server's Serve result
	step      atomic.Pointer[string] // start-up step under way; nil once started
}

// newBridge connects to the broker and the registry (waiting while they are
// unreachable), creates missing topics and wires the pipeline. The admin
// endpoint serves from the start: /readyz says what start-up waits for.
// With f.standby it wires no pipeline and keeps no producer: a standby term
// opens both (openSink, newPipeline).
func newBridge(ctx context.Context, e *env, f *bridgeFlags) (_ *bridge, err error) {
	log := newLogger(e.stderr, f.admin)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := pipeline.NewMetrics(reg)
	b := &bridge{log: log, reg: reg, m: m, f: f}
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
		b.admin.AddCheck("kafka", b.kafkaReady)
	}
	client, err := newCatenaClient(f.catena, log, m)
	if err != nil {
		return nil, err
	}
	b.client = client
	b.scfg, err = sinkConfig(f.kafka, f.work, log, reg)
	if err != nil {
		return nil, err
	}
	s, err := b.openSink(ctx)
	if err != nil {
		return nil, err
	}
	b.sink = s
	b.starting("registering the event schema")
	srcl, err := newRegistry(f.kafka)
	if err != nil {
		return nil, err
	}
	b.enc, err = newEncoder(ctx, srcl, f.kafka.Topic+"-value", log)
	if err != nil {
		return nil, err
	}
	res, _ := geo.ParseResolutions(f.pipeline.H3Resolutions)
	b.enr, err = geo.NewEnricher(res)
	if err != nil {
		return nil, err
	}
	if f.standby {
		// The topics exist now, which the standby's group needs. The
		// producer never asked for its producer id (a Sink does so on
		// its first read or commit), so closing it fenced no one.
		b.liveSink.Store(nil)
		b.sink = nil
		s.Close()
	} else if b.pipe, err = b.newPipeline(s); err != nil {
		return nil, err
	} else {
		b.livePipe.Store(b.pipe)
	}
	b.step.Store(nil)
	return b, nil
}

// openSink creates a transactional producer for the bridge's work and the
// topics it writes, when missing. Creating it does not take the
// transactional id over; its first read or commit does.
func (b *bridge) openSink(ctx context.Context) (*sink.Sink, error) {
	s, err := sink.New(ctx, b.scfg)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka: %w", err)
	}
	b.liveSink.Store(s)
	if err := s.EnsureTopics(ctx); err != nil {
		b.liveSink.Store(nil)
		s.Close()
		return nil, fmt.Errorf("ensure topics: %w", kafkaAuthHint(err, b.f.kafka))
	}
	return s, nil
}

// kafkaAuthHint names the setting to check when err is the broker refusing
// the SASL credentials or its certificate failing verification: both end
// start-up at once (the sink does not retry them), and the client's own
// wording does not say which variable is wrong. No secret is printed.
func kafkaAuthHint(err error, k config.Kafka) error {
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("SASL authentication to Kafka failed for user %q with %s (check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM): %w",
			k.SASLUsername, strings.ToUpper(k.SASLMechanism), err)
	case sink.IsTLSVerifyError(err):
		if k.TLSCAFile == "" {
			return fmt.Errorf("the Kafka broker's TLS certificate failed verification against the system roots (set KAFKA_TLS_CA_FILE to the CA that signed it): %w", err)
		}
		return fmt.Errorf("the Kafka broker's TLS certificate failed verification against KAFKA_TLS_CA_FILE=%s: %w", strconv.Quote(k.TLSCAFile), err)
	}
	return err
}

// newPipeline wires the pipeline to s.
func (b *bridge) newPipeline(s *sink.Sink) (*pipeline.Pipeline, error) {
	f := b.f
	return pipeline.New(pipeline.Config{
		Client:        b.client,
		Sink:          s,
		Encoder:       b.enc,
		Enricher:      b.enr,
		Metrics:       b.m,
		Logger:        b.log,
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
}

// kafkaReady is the "kafka" readiness check: the producer at work's last
// broker interaction. A standby has none; its own check says why it is not
// ready.
func (b *bridge) kafkaReady() error {
	if s := b.liveSink.Load(); s != nil {
		return s.Ready()
	}
	return nil
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
	if b.sink != nil {
		defer b.sink.Close()
	}
	var g run.Group
	wctx, cancel := context.WithCancel(ctx)
	g.Add(func() error { return work(wctx) }, func(error) { cancel() })
	if b.admin != nil {
		g.Add(func() error { return <-b.adminDone }, func(error) { b.admin.Shutdown() })
	}
	return g.Run()
}

// fail reports err and returns exit code 1.
func fail(e *env, _ context.Context, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "catena-bridge %s: %v\n", cmd, err)
	return exitFailure
}
