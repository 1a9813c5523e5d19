package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/webhook"
	"github.com/catena-bridge/catena-bridge/schemas"
)

func cmdDemo(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "demo", "[flags]", `Runs the whole bridge in one process with nothing to install: the simulated Catena API
(with duplicates, malformed records, late records, 429s and 5xxs switched on), an in-process
Kafka (franz-go kfake) and an in-process Schema Registry (srfake). It backfills a simulated
day, tails live for a few seconds on a fast simulated clock, then prints what it fetched,
published, skipped and dead-lettered, three decoded events and the spread over partitions.
`)
	l := e.newLoader(fs)
	var sf simFlags
	// Every fault that reaches the bridge, on by default.
	sf.bind(l, 4, 5, time.Minute, 60, catenasim.Faults{
		RateLimitEvery: 40, ServerErrorEvery: 53, DuplicateEvery: 2, MalformedEvery: 97, LateEvery: 50, LateBy: 2 * time.Minute,
	})
	var history, liveFor time.Duration
	var a config.Admin
	l.Duration(&history, "history", "", 24*time.Hour, "simulated history to backfill")
	l.Duration(&liveFor, "live", "", 8*time.Second, "how long to tail live (real time)")
	a.BindLog(l)
	code, ok := parse(e, fs, args, func() error { return errors.Join(l.Err(), sf.validate(), a.Validate()) })
	if !ok {
		return code
	}
	if e.getenv("LOG_LEVEL") == "" && !flagSet(fs, "log-level") {
		a.LogLevel = "warn" // the demo's own report says what happens; logs only for trouble
	}
	if err := demo(ctx, e, sf, a, history, liveFor); err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func demo(ctx context.Context, e *env, sf simFlags, a config.Admin, history, liveFor time.Duration) error {
	start := time.Now()
	clock := catenasim.NewClock(time.Now().UTC().Truncate(time.Minute), sf.speed)
	sf.cfg.Clock = clock
	sf.cfg.TokenClock = catenasim.NewClock(time.Now(), 1) // expires_in is in real seconds
	sim, err := catenasim.New(sf.cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	apiURL := "http://" + ln.Addr().String()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("start in-process Kafka: %w", err)
	}
	defer cluster.Close()
	registry := srfake.New()
	defer registry.Close()

	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	say("catena-bridge demo")
	say("  simulated Catena API  %s  (%d fleets × %d vehicles, one point per %v, clock ×%g)", apiURL, sf.cfg.Fleets, sf.cfg.VehiclesPerFleet, sf.cfg.ReportInterval, sf.speed)
	say("  in-process Kafka      %s", strings.Join(cluster.ListenAddrs(), ","))
	say("  in-process registry   %s", registry.URL())
	say("  faults: 429 every %d requests, 5xx every %d, a repeated record every %d history pages, malformed every %d points, late every %d points",
		sf.cfg.Faults.RateLimitEvery, sf.cfg.Faults.ServerErrorEvery, sf.cfg.Faults.DuplicateEvery, sf.cfg.Faults.MalformedEvery, sf.cfg.Faults.LateEvery)

	f := &bridgeFlags{
		catena: config.Catena{
			APIURL: apiURL, TokenURL: apiURL + "/realms/catena/protocol/openid-connect/token",
			ClientID: sf.cfg.ClientID, ClientSecret: sf.cfg.ClientSecret,
			RateLimit: 200, RequestTimeout: 10 * time.Second, RetryMaxElapsed: time.Minute,
		},
		kafka: config.Kafka{
			Brokers: cluster.ListenAddrs(), Topic: config.DefaultTopic, Partitions: 12, ReplicationFactor: 1,
			Compression: "snappy", RegistryURL: registry.URL(),
		},
		pipeline: config.Pipeline{
			H3Resolutions: "9,7,5", BackfillConcurrency: 8, PageSize: 500,
			// Live tail on the simulated clock: a poll per real second is a
			// simulated minute at ×60.
			PollInterval: time.Second, GapThreshold: 3 * sf.cfg.ReportInterval,
			SweepInterval: 3 * time.Second, Lookback: 15 * time.Minute,
		},
		admin: a,
		now:   clock.Now,
		work:  "demo",
	}
	b, err := newBridge(ctx, e, f)
	if err != nil {
		return err
	}
	defer b.sink.Close()
	to := clock.Now().Truncate(time.Minute)
	from := to.Add(-history)
	say("\n1. backfill %s .. %s (simulated time)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	stop := demoProgress(ctx, e, b, "   backfill")
	res, err := b.pipe.Backfill(ctx, from, to)
	stop()
	if err != nil {
		return err
	}
	c := b.m.Counts()
	say("   done: %d vehicles, %d records published, %d dead-lettered, %d duplicates skipped (%.1fs)", res.Vehicles, c.Published, c.DeadLettered(), c.Duplicates, time.Since(start).Seconds())

	say("\n2. live tail for %v (poll every %v real = %v simulated), with Catena's webhook pushes", liveFor, f.pipeline.PollInterval, time.Duration(float64(f.pipeline.PollInterval)*sf.speed))
	before := c.Published
	lctx, cancel := context.WithTimeout(ctx, liveFor)
	push, err := demoPush(lctx, b, sim, clock)
	if err != nil {
		cancel()
		return err
	}
	say("   webhook receiver %s, subscription %s", push.url, push.id)
	stop = demoProgress(lctx, e, b, "   live")
	err = b.pipe.Run(lctx)
	stop()
	cancel()
	push.wait()
	if err != nil {
		return err
	}
	c = b.m.Counts()
	say("   live tail published %d new records", c.Published-before)
	say("   %s", push.summary())

	say("\n3. report")
	say("   fetched from the API      %d", c.Fetched)
	say("   published (exactly once)  %d", c.Published)
	say("   duplicates skipped        %d", c.Duplicates)
	reasons := make([]string, 0, len(c.DeadLetters))
	for r := range c.DeadLetters {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	say("   dead-lettered             %d", c.DeadLettered())
	for _, r := range reasons {
		say("     %-24s %d", r, c.DeadLetters[r])
	}
	return demoReport(ctx, e, b, f, registry.URL(), start)
}

// demoReport reads the topic back as a consumer would: three decoded events
// and the spread of events over partitions.
func demoReport(ctx context.Context, e *env, b *bridge, f *bridgeFlags, registryURL string, start time.Time) error {
	scfg, err := sinkConfig(f.kafka, "", b.log, nil)
	if err != nil {
		return err
	}
	reader, err := sink.NewReader(scfg)
	if err != nil {
		return err
	}
	defer reader.Close()
	reg, err := newRegistry(f.kafka)
	if err != nil {
		return err
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		return err
	}
	dec := avro.NewDecoder(reg, codec)
	perPartition := map[int32]int{}
	fleets := map[int32]map[string]bool{}
	var samples, spare []*kgo.Record
	total := 0
	err = reader.ReadAll(ctx, f.kafka.Topic, func(r *kgo.Record) {
		total++
		perPartition[r.Partition]++
		if fleets[r.Partition] == nil {
			fleets[r.Partition] = map[string]bool{}
		}
		fleets[r.Partition][string(r.Key)] = true
		// Three events from different partitions where there are three.
		if len(samples) < 3 && (len(samples) == 0 || samples[len(samples)-1].Partition != r.Partition) {
			samples = append(samples, r)
		} else if len(spare) < 3 {
			spare = append(spare, r)
		}
	})
	if err != nil {
		return err
	}
	for len(samples) < 3 && len(spare) > 0 {
		samples, spare = append(samples, spare[0]), spare[1:]
	}
	fmt.Fprintf(e.stdout, "\n   three events, decoded through the registry (catena-bridge tail shows the same):\n")
	for _, r := range samples {
		ev, err := dec.Decode(ctx, r.Value)
		if err != nil {
			return fmt.Errorf("decode %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		line, err := avro.JSON(ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "   %s\n", line)
	}
	fmt.Fprintf(e.stdout, "\n   %d events in topic %s, keyed by fleet_id:\n", total, f.kafka.Topic)
	parts := make([]int32, 0, len(perPartition))
	for p := range perPartition {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		fmt.Fprintf(e.stdout, "     partition %2d: %6d events, %d fleet(s)\n", p, perPartition[p], len(fleets[p]))
	}
	fmt.Fprintf(e.stdout, "\ndemo finished in %.1fs\n", time.Since(start).Seconds())
	if total == 0 {
		return errors.New("no events in the topic")
	}
	return nil
}

// demoProgress prints the counters every second until stop is called.
func demoProgress(ctx context.Context, e *env, b *bridge, label string) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c := b.m.Counts()
				fmt.Fprintf(e.stdout, "%s: fetched %d, published %d, dead-lettered %d, duplicates %d\n", label, c.Fetched, c.Published, c.DeadLettered(), c.Duplicates)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

// demoPushed is the demo's push path: a receiver in front of the tail, the
// simulator pushing to it, and how long each delivery took to commit.
type demoPushed struct {
	url, id string
	srv     *http.Server
	done    chan error
	mu      sync.Mutex
	took    []time.Duration // received → committed, per accepted delivery
	records int
}

// demoPush subscribes a receiver to the simulator's vehicle_location.added
// deliveries and starts the simulator's pusher until ctx ends.
func demoPush(ctx context.Context, b *bridge, sim *catenasim.Server, clock catenasim.Clock) (*demoPushed, error) {
	const secret = "demo-webhook-secret"
	d := &demoPushed{done: make(chan error, 1)}
	rc, err := webhook.New(webhook.Config{Secret: []byte(secret), Now: clock.Now, Logger: b.log,
		Metrics: webhook.NewMetrics(b.reg),
		Accept: func(ctx context.Context, dl *webhook.Delivery) (bool, error) {
			start := time.Now()
			dup, err := b.pipe.Push(ctx, dl.Records)
			if err == nil {
				d.mu.Lock()
				d.took = append(d.took, time.Since(start))
				d.records += len(dl.Records)
				d.mu.Unlock()
			}
			return dup, err
		}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, rc)
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go d.srv.Serve(ln)
	d.url = "http://" + ln.Addr().String() + webhook.Path
	s := secret
	subs, err := b.client.CreateWebhook(ctx, catena.WebhookCreate{URL: d.url, EventName: catenasim.EventVehicleLocationAdded, Secret: &s})
	if err != nil {
		d.srv.Close()
		return nil, fmt.Errorf("subscribe the demo's receiver: %w", err)
	}
	d.id = subs[0].ID
	go func() { d.done <- sim.Push(ctx) }()
	return d, nil
}

// wait stops the pusher's receiver once the pusher has stopped.
func (d *demoPushed) wait() {
	<-d.done
	d.srv.Close()
}

func (d *demoPushed) summary() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.took) == 0 {
		return "no webhook delivery was committed"
	}
	took := slices.Clone(d.took)
	slices.Sort(took)
	q := func(f float64) time.Duration { return took[int(f*float64(len(took)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("pushed: %d deliveries, %d records (each published once with the polled ones); received → committed p50 %v, p99 %v, max %v",
		len(took), d.records, q(0.5), q(0.99), took[len(took)-1].Round(time.Millisecond))
}
