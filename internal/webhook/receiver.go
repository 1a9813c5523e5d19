package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Path is where the receiver is served.
const Path = "/webhooks/catena"

// EventLocationAdded is the event the receiver takes; deliveries of other
// events are answered 202 and dropped.
const EventLocationAdded = "vehicle_location.added"

// Defaults of Config.
const (
	DefaultMaxCompressedBytes = 4 << 20
	DefaultMaxBodyBytes       = 16 << 20
	DefaultMaxAge             = 5 * time.Minute
	DefaultMaxAhead           = time.Minute
	DefaultAckTimeout         = 2500 * time.Millisecond
	DefaultConcurrency        = 8
)

// Delivery is a verified delivery: its records, as sent, and who sent it.
type Delivery struct {
	WebhookID  string            // X-Webhook-ID, or the envelope's webhook_id
	EventID    string            // the envelope's id (a UUID v7), "" when absent
	RequestID  string            // X-Request-ID: this attempt
	Attempt    int               // X-Delivery-Attempt, 1 for the first
	Records    []json.RawMessage // the envelope's data
	ReceivedAt time.Time         // the receiver's clock
}

// Config configures a Receiver. Secret and Accept are required.
type Config struct {
	// Secret is the subscription's secret, the HMAC key.
	Secret []byte
	// Accept commits a delivery's records and returns nil once they are in
	// a committed transaction, and whether none of them was new (a repeated
	// delivery); ctx ends at AckTimeout. Safe for concurrent use.
	Accept func(ctx context.Context, d *Delivery) (duplicate bool, err error)

	MaxCompressedBytes int64         // on the wire, default 4 MiB
	MaxBodyBytes       int64         // decompressed, default 16 MiB
	MaxAge             time.Duration // oldest X-Catena-Timestamp taken, default 5m
	MaxAhead           time.Duration // furthest ahead of the clock, default 1m
	AckTimeout         time.Duration // for Accept, default 2.5s (Catena waits 3s)
	// Concurrency bounds the deliveries read and committed at once (and so
	// the memory they hold, MaxBodyBytes each), default 8; beyond it a
	// delivery is answered 503 and Catena retries it.
	Concurrency int
	Now         func() time.Time // default time.Now
	Metrics     *Metrics         // default: unregistered
	Logger      *slog.Logger     // default slog.Default()
}

// Receiver is the http.Handler of Catena's deliveries.
type Receiver struct {
	cfg   Config
	slots chan struct{}
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Receiver, error) {
	if len(cfg.Secret) == 0 || cfg.Accept == nil {
		return nil, errors.New("webhook: Secret and Accept are required")
	}
	setDefault(&cfg.MaxCompressedBytes, DefaultMaxCompressedBytes)
	setDefault(&cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&cfg.MaxAge, DefaultMaxAge)
	setDefault(&cfg.MaxAhead, DefaultMaxAhead)
	setDefault(&cfg.AckTimeout, DefaultAckTimeout)
	setDefault(&cfg.Concurrency, DefaultConcurrency)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Receiver{cfg: cfg, slots: make(chan struct{}, cfg.Concurrency)}, nil
}

func setDefault[T int | int64 | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// refusal is why a delivery is refused: its answer and outcome.
type refusal struct {
	status  int
	outcome string
	msg     string
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, outcome, format string, args ...any) *refusal {
	return &refusal{status: status, outcome: outcome, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP checks a delivery, hands its records to Accept and answers 202
// once they are committed (see the package doc).
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := rc.cfg.Now()
	select {
	case rc.slots <- struct{}{}:
		defer func() { <-rc.slots }()
	default:
		rc.answer(w, r, refuse(http.StatusServiceUnavailable, OutcomeBusy, "too many deliveries at once; retry"))
		return
	}
	d, ref := rc.read(w, r, received)
	if ref != nil {
		rc.answer(w, r, ref)
		return
	}
	if d == nil { // another event type
		rc.cfg.Metrics.Deliveries.WithLabelValues(OutcomeIgnored).Inc()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), rc.cfg.AckTimeout)
	defer cancel()
	dup, err := rc.cfg.Accept(ctx, d)
	if err != nil {
		outcome := OutcomeFailed
		if ctx.Err() != nil {
			outcome = OutcomeCommitTimeout
		}
		rc.answer(w, r, refuse(http.StatusServiceUnavailable, outcome, "records not committed (%v); retry", err))
		return
	}
	outcome := OutcomeAccepted
	if dup {
		outcome = OutcomeDuplicate
	}
	rc.cfg.Metrics.Deliveries.WithLabelValues(outcome).Inc()
	rc.cfg.Metrics.Records.Add(float64(len(d.Records)))
	rc.cfg.Metrics.Latency.Observe(rc.cfg.Now().Sub(received).Seconds())
	w.WriteHeader(http.StatusAccepted)
}

// answer refuses a delivery: counted, logged (never with the body or the
// signature), answered with a short reason.
func (rc *Receiver) answer(w http.ResponseWriter, r *http.Request, ref *refusal) {
	rc.cfg.Metrics.Deliveries.WithLabelValues(ref.outcome).Inc()
	rc.cfg.Logger.Warn("webhook delivery refused", "outcome", ref.outcome, "status", ref.status, "reason", ref.msg,
		"request_id", r.Header.Get("X-Request-ID"), "attempt", r.Header.Get("X-Delivery-Attempt"), "remote", r.RemoteAddr)
	if ref.status == http.StatusRequestEntityTooLarge {
		w.Header().Set("Connection", "close") // the rest of the body is not read
	}
	http.Error(w, ref.msg, ref.status)
}

// read checks and reads a delivery; nil, nil for a genuine delivery of
// another event.
func (rc *Receiver) read(w http.ResponseWriter, r *http.Request, received time.Time) (*Delivery, *refusal) {
	if r.Method != http.MethodPost {
		return nil, refuse(http.StatusMethodNotAllowed, OutcomeBadMethod, "method %s: deliveries are POSTed", r.Method)
	}
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); !strings.EqualFold(enc, "gzip") {
		return nil, refuse(http.StatusUnsupportedMediaType, OutcomeBadEncoding, "Content-Encoding %q: deliveries are gzip", enc)
	}
	ts := r.Header.Get("X-Catena-Timestamp")
	sent, err := time.Parse(time.RFC3339Nano, ts)
	switch {
	case err != nil:
		return nil, refuse(http.StatusUnauthorized, OutcomeStaleTimestamp, "X-Catena-Timestamp %q: not an RFC 3339 time", truncate(ts))
	case received.Sub(sent) > rc.cfg.MaxAge:
		return nil, refuse(http.StatusUnauthorized, OutcomeStaleTimestamp, "X-Catena-Timestamp %s: older than %v", ts, rc.cfg.MaxAge)
	case sent.Sub(received) > rc.cfg.MaxAhead:
		return nil, refuse(http.StatusUnauthorized, OutcomeStaleTimestamp, "X-Catena-Timestamp %s: more than %v ahead of this clock", ts, rc.cfg.MaxAhead)
	}
	if r.ContentLength > rc.cfg.MaxCompressedBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body of %d bytes: more than %d", r.ContentLength, rc.cfg.MaxCompressedBytes)
	}
	body, ref := rc.body(w, r)
	if ref != nil {
		return nil, ref
	}
	if !verify(rc.cfg.Secret, ts, body, r.Header.Get("X-Catena-Signature")) {
		return nil, refuse(http.StatusUnauthorized, OutcomeBadSignature, "X-Catena-Signature does not match the body")
	}
	var env struct {
		EventName       string            `json:"event_name"`
		Data            []json.RawMessage `json:"data"`
		WebhookID       string            `json:"webhook_id"`
		ID              string            `json:"id"`
		DeliveryAttempt int               `json:"delivery_attempt"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data == nil {
		return nil, refuse(http.StatusBadRequest, OutcomeBadPayload, "body: not an envelope with a data array")
	}
	event := r.Header.Get("X-Event-Type")
	if event == "" {
		event = env.EventName
	}
	if event != "" && event != EventLocationAdded {
		return nil, nil
	}
	d := &Delivery{WebhookID: r.Header.Get("X-Webhook-ID"), EventID: env.ID, RequestID: r.Header.Get("X-Request-ID"),
		Records: env.Data, ReceivedAt: received, Attempt: env.DeliveryAttempt}
	if d.WebhookID == "" {
		d.WebhookID = env.WebhookID
	}
	if n, err := strconv.Atoi(r.Header.Get("X-Delivery-Attempt")); err == nil {
		d.Attempt = n
	}
	return d, nil
}

// body reads the decompressed body as a stream, abandoning it at either
// limit.
func (rc *Receiver) body(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	wire := http.MaxBytesReader(w, r.Body, rc.cfg.MaxCompressedBytes)
	zr, err := gzip.NewReader(wire)
	if err != nil {
		if tooLarge(err) {
			return nil, refuse(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body: more than %d bytes on the wire", rc.cfg.MaxCompressedBytes)
		}
		return nil, refuse(http.StatusUnsupportedMediaType, OutcomeBadEncoding, "body: not gzip (%v)", err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(zr, rc.cfg.MaxBodyBytes+1))
	switch {
	case tooLarge(err):
		return nil, refuse(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body: more than %d bytes on the wire", rc.cfg.MaxCompressedBytes)
	case err != nil:
		return nil, refuse(http.StatusUnsupportedMediaType, OutcomeBadEncoding, "body: broken gzip (%v)", err)
	case n > rc.cfg.MaxBodyBytes:
		return nil, refuse(http.StatusRequestEntityTooLarge, OutcomeTooLarge, "body: more than %d bytes decompressed", rc.cfg.MaxBodyBytes)
	}
	return buf.Bytes(), nil
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// truncate bounds a header value quoted in an answer or a log line.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
