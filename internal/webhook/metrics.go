package webhook

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of a delivery, the label of catena_bridge_webhook_deliveries_total.
const (
	OutcomeAccepted       = "accepted"        // committed, answered 202
	OutcomeDuplicate      = "duplicate"       // committed, nothing new in it (a repeated delivery), answered 202
	OutcomeIgnored        = "ignored"         // another event type, answered 202
	OutcomeBadSignature   = "bad_signature"   // 401
	OutcomeStaleTimestamp = "stale_timestamp" // 401: too old, too far ahead, or unparsable
	OutcomeTooLarge       = "too_large"       // 413
	OutcomeBadEncoding    = "bad_encoding"    // 415: not gzip, or not valid gzip
	OutcomeBadPayload     = "bad_payload"     // 400: not the envelope
	OutcomeCommitTimeout  = "commit_timeout"  // 503: not committed within AckTimeout
	OutcomeFailed         = "failed"          // 503: the commit failed
	OutcomeBusy           = "busy"            // 503: too many deliveries at once
	OutcomeBadMethod      = "bad_method"      // 405
)

// Metrics are the receiver's Prometheus metrics (namespace catena_bridge).
type Metrics struct {
	Deliveries *prometheus.CounterVec // by outcome
	Latency    prometheus.Histogram   // received → answered 202, seconds
	Records    prometheus.Counter     // records in accepted deliveries
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "catena_bridge"
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_deliveries_total",
			Help: "Webhook deliveries received, by outcome (accepted, duplicate, ignored, bad_signature, stale_timestamp, too_large, bad_encoding, bad_payload, commit_timeout, failed, busy, bad_method)."}, []string{"outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "webhook_delivery_seconds",
			Help: "Time from receiving a delivery to answering it 202, its records committed.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		Records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "webhook_records_total",
			Help: "Records in accepted webhook deliveries (before deduplication)."}),
	}
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Latency, m.Records)
	}
	return m
}
