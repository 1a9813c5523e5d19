package pipeline

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Metrics are the pipeline's Prometheus metrics, registered on an injected
// registry (namespace catena_bridge).
type Metrics struct {
	Fetched         *prometheus.CounterVec   // records read from the API, by mode
	Published       prometheus.Counter       // events committed to the topic
	Duplicates      prometheus.Counter       // records skipped as already published
	Elsewhere       prometheus.Counter       // records left to the job whose earlier claim owns them
	Restored        prometheus.Counter       // records read back from the topics to rebuild dedup state
	VehicleErrors   *prometheus.CounterVec   // one vehicle's history failing, by stage
	VehiclesSkipped *prometheus.CounterVec   // vehicles skipped, by reason (gone, bad_id)
	VehiclesFailing prometheus.Gauge         // live: vehicles whose history is failing now
	SweepSkipped    prometheus.Counter       // live: vehicles a sweep skipped, their points all pushed
	DeadLetters     *prometheus.CounterVec   // records committed to the DLQ, by reason code
	Pages           *prometheus.CounterVec   // API pages processed, by mode
	Transactions    prometheus.Counter       // Kafka transactions committed
	CommitTime      prometheus.Histogram     // time to commit one transaction
	EventLag        prometheus.Gauge         // ingested_at − occurred_at of the newest published event, seconds
	PollErrors      prometheus.Counter       // live polls or sweeps that failed and will be retried
	Sweeps          prometheus.Counter       // live sweeps completed
	Vehicles        *prometheus.GaugeVec     // backfill vehicles, by state (total, done)
	DedupIDs        prometheus.Gauge         // ids the live tail holds to drop repeats
	Tracked         prometheus.Gauge         // vehicles whose last published point the live tail keeps
	APIRequests     *prometheus.CounterVec   // API HTTP attempts, by endpoint and status
	APIRetries      *prometheus.CounterVec   // API retries, by endpoint and status
	APILatency      *prometheus.HistogramVec // API attempt latency, by endpoint
	BudgetRequests  *prometheus.CounterVec   // API attempts let through by the rate limit, by lane
	BudgetWait      *prometheus.HistogramVec // time an attempt waited for the rate limit, by lane
	SweepLag        prometheus.Gauge         // live: how far behind its schedule the sweep is, seconds
	SweepDuration   prometheus.Gauge         // live: how long the last sweep took, seconds
	SweepStretched  prometheus.Counter       // live: sweeps that took longer than SWEEP_INTERVAL

	tally tally // what Counts returns, kept beside the Prometheus counters

	apiErr      atomic.Pointer[apiState]       // outcome of the last API attempt, for readiness
	utilisation atomic.Pointer[func() float64] // the client's budget utilisation, once a pipeline has one
	uncovered   atomic.Pointer[func() float64] // the live tail's oldest uncovered instant's age, while it runs
}

type apiState struct {
	err   error
	since time.Time // when the API started failing
	hard  bool      // credentials rejected: no retry helps
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "catena_bridge"
	m := &Metrics{
		Fetched:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_fetched_total", Help: "Records read from the Catena API."}, []string{"mode"}),
		Published:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_published_total", Help: "Events committed to the events topic."}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_duplicate_total", Help: "Records skipped because their id was already published."}),
		Elsewhere:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_claimed_elsewhere_total", Help: "Records skipped because an earlier claim in the topic's ledger owns them (another job publishes them)."}),
		Restored:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "restore_records_read_total", Help: "Records read back from the events and dead-letter topics to rebuild dedup state on start."}),
		VehicleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "vehicle_errors_total",
			Help: "Failures of one vehicle's history requests, by stage (backfill_attempt, backfill, sweep, gap); the others go on."}, []string{"stage"}),
		VehiclesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "vehicles_skipped_total",
			Help: "Vehicles skipped: gone (history answers 403/404), bad_id (listed without a usable id)."}, []string{"reason"}),
		SweepSkipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sweep_vehicles_skipped_total",
			Help: "Vehicles a sweep did not read because their points all came by push since their last sweep (requests saved)."}),
		VehiclesFailing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "vehicles_failing",
			Help: "Live tail: vehicles whose history is failing and retried with backoff."}),
		DeadLetters:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_dead_lettered_total", Help: "Records committed to the dead-letter topic, by reason."}, []string{"reason"}),
		Pages:        prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "pages_total", Help: "API pages processed."}, []string{"mode"}),
		Transactions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "transactions_committed_total", Help: "Kafka transactions committed."}),
		CommitTime:   prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "commit_duration_seconds", Help: "Time to produce and commit one transaction.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		EventLag:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "event_lag_seconds", Help: "Fetch time minus occurred_at of the newest published event."}),
		PollErrors:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "poll_errors_total", Help: "Live polls or sweeps that failed and will be retried."}),
		Sweeps:       prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sweeps_total", Help: "Live sweeps completed (history re-read for late records)."}),
		Vehicles:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "backfill_vehicles", Help: "Backfill vehicles by state."}, []string{"state"}),
		DedupIDs:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "dedup_ids", Help: "Record ids the live tail holds to drop repeats (bounded by LOOKBACK)."}),
		Tracked:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "vehicles_tracked", Help: "Vehicles whose last published point the live tail keeps."}),
		APIRequests:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_requests_total", Help: "Catena API HTTP attempts."}, []string{"endpoint", "status"}),
		APIRetries:   prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_retries_total", Help: "Catena API retries."}, []string{"endpoint", "status"}),
		APILatency:   prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "api_request_duration_seconds", Help: "Catena API attempt latency.", Buckets: prometheus.DefBuckets}, []string{"endpoint"}),
		BudgetRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_budget_requests_total",
			Help: "Catena API attempts let through by CATENA_RATE_LIMIT, by lane: live (snapshots, gap fills; strict priority) or catch_up (sweeps, first-start history, backfill)."}, []string{"lane"}),
		BudgetWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "api_budget_wait_seconds",
			Help: "Time an API attempt waited for CATENA_RATE_LIMIT, by lane.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"lane"}),
		SweepLag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "sweep_lag_seconds",
			Help: "Live tail: how far behind its schedule (last sweep start + SWEEP_INTERVAL) the sweep is; 0 on schedule."}),
		SweepDuration: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "sweep_duration_seconds",
			Help: "Live tail: how long the last sweep took; above SWEEP_INTERVAL the API budget stretches the sweep cycle."}),
		SweepStretched: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sweeps_stretched_total",
			Help: "Live tail: sweeps that took longer than SWEEP_INTERVAL, so the next one started late."}),
	}
	budgetUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "api_budget_utilisation",
		Help: "Share of CATENA_RATE_LIMIT spent over the last minute (0 to 1); 0 without a limit."}, func() float64 {
		if f := m.utilisation.Load(); f != nil {
			return (*f)()
		}
		return 0
	})
	uncovered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "uncovered_seconds",
		Help: "Live tail: age of the oldest instant whose late records no sweep has read yet (the last complete sweep's start, or a failing vehicle's owed window); 0 when not tailing."}, func() float64 {
		if f := m.uncovered.Load(); f != nil {
			return (*f)()
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(m.Fetched, m.Published, m.Duplicates, m.Elsewhere, m.Restored, m.VehicleErrors, m.VehiclesSkipped, m.VehiclesFailing, m.SweepSkipped, m.DeadLetters, m.Pages, m.Transactions,
			m.CommitTime, m.EventLag, m.PollErrors, m.Sweeps, m.Vehicles, m.DedupIDs, m.Tracked, m.APIRequests, m.APIRetries, m.APILatency,
			m.BudgetRequests, m.BudgetWait, m.SweepLag, m.SweepDuration, m.SweepStretched, budgetUse, uncovered)
	}
	return m
}

// Budget implements catena.Observer.
func (m *Metrics) Budget(lane catena.Lane, waited time.Duration) {
	l := lane.String()
	m.BudgetRequests.WithLabelValues(l).Inc()
	m.BudgetWait.WithLabelValues(l).Observe(waited.Seconds())
}

// apiGrace is how long the API may keep failing (unreachable, 5xx) before
// the bridge reports not ready: the client retries such failures, and one
// of them is no reason to take the bridge out of a rollout.
const apiGrace = 30 * time.Second

// Request implements catena.Observer.
func (m *Metrics) Request(endpoint string, status int, err error, d time.Duration) {
	m.APIRequests.WithLabelValues(endpoint, statusLabel(status)).Inc()
	m.APILatency.WithLabelValues(endpoint).Observe(d.Seconds())
	switch {
	case status == 401 || errors.Is(err, catena.ErrUnauthorized):
		// Rejected credentials pass by no retry: not ready at once.
		m.apiErr.Store(&apiState{err: err, since: time.Now(), hard: true})
	case status == 0 || status >= 500:
		since := time.Now()
		if prev := m.apiErr.Load(); prev != nil && prev.err != nil && !prev.hard {
			since = prev.since
		}
		m.apiErr.Store(&apiState{err: err, since: since})
	default:
		// An answer: the API is up. A 429 is its rate limit at work,
		// another 4xx the request's fault.
		m.apiErr.Store(&apiState{})
	}
}

// APIReady returns nil unless the API rejects the credentials, or has been
// unreachable or failing (5xx) for apiGrace (30s) or more.
func (m *Metrics) APIReady() error {
	s := m.apiErr.Load()
	switch {
	case s == nil || s.err == nil:
		return nil
	case s.hard:
		return fmt.Errorf("catena api: %w", s.err)
	case time.Since(s.since) >= apiGrace:
		return fmt.Errorf("catena api failing for %v: %w", time.Since(s.since).Round(time.Second), s.err)
	}
	return nil
}

// Retry implements catena.Observer.
func (m *Metrics) Retry(endpoint string, status int, wait time.Duration) {
	m.APIRetries.WithLabelValues(endpoint, statusLabel(status)).Inc()
}

func statusLabel(status int) string {
	if status == 0 {
		return "error"
	}
	return strconv.Itoa(status)
}

// Counts is a point-in-time summary of the counters, for the demo's report
// and for progress logs.
type Counts struct {
	Fetched     int64
	Published   int64
	Duplicates  int64
	Elsewhere   int64 // left to an earlier claim
	DeadLetters map[string]int64
	Pages       int64
}

// DeadLettered is the number of dead letters, every reason together.
func (c Counts) DeadLettered() int64 { return sum(c.DeadLetters) }

// tally keeps the figures of Counts in plain atomics: progress logs and the
// demo's report read them without collecting Prometheus metrics.
type tally struct {
	fetched, published, duplicates, elsewhere, pages atomic.Int64

	mu          sync.Mutex
	deadLetters map[string]int64 // by reason code
}

// page counts one API page processed in mode.
func (m *Metrics) page(mode string, fetched, dups, elsewhere int) {
	m.Pages.WithLabelValues(mode).Inc()
	m.Fetched.WithLabelValues(mode).Add(float64(fetched))
	m.Duplicates.Add(float64(dups))
	m.Elsewhere.Add(float64(elsewhere))
	t := &m.tally
	t.pages.Add(1)
	t.fetched.Add(int64(fetched))
	t.duplicates.Add(int64(dups))
	t.elsewhere.Add(int64(elsewhere))
}

// committed counts what one committed transaction published.
func (m *Metrics) committed(b *sink.Batch) {
	m.Published.Add(float64(len(b.Events)))
	m.tally.published.Add(int64(len(b.Events)))
	if len(b.DeadLetters) == 0 {
		return
	}
	t := &m.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deadLetters == nil {
		t.deadLetters = map[string]int64{}
	}
	for _, dl := range b.DeadLetters {
		m.DeadLetters.WithLabelValues(dl.Code).Inc()
		t.deadLetters[dl.Code]++
	}
}

// Counts reads the counters.
func (m *Metrics) Counts() Counts {
	t := &m.tally
	t.mu.Lock()
	dead := maps.Clone(t.deadLetters)
	t.mu.Unlock()
	if dead == nil {
		dead = map[string]int64{}
	}
	return Counts{
		Fetched:     t.fetched.Load(),
		Published:   t.published.Load(),
		Duplicates:  t.duplicates.Load(),
		Elsewhere:   t.elsewhere.Load(),
		Pages:       t.pages.Load(),
		DeadLetters: dead,
	}
}
