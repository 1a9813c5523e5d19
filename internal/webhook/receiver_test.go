package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testSecret = "whsec-test-SECRET-never-logged"

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// delivery builds a signed request as Catena sends it.
type delivery struct {
	body      []byte // uncompressed
	wire      io.Reader
	ts        string
	sig       string
	encoding  string
	method    string
	eventType string
}

func genuine(body string) *delivery {
	ts := now.Format(time.RFC3339)
	return &delivery{body: []byte(body), ts: ts, sig: Sign([]byte(testSecret), ts, []byte(body)), encoding: "gzip", method: http.MethodPost, eventType: EventLocationAdded}
}

func (d *delivery) request() *http.Request {
	wire := d.wire
	if wire == nil {
		wire = bytes.NewReader(gz(d.body))
	}
	r := httptest.NewRequest(d.method, Path, wire)
	r.Header.Set("Content-Type", "application/json")
	if d.encoding != "" {
		r.Header.Set("Content-Encoding", d.encoding)
	}
	r.Header.Set("X-Catena-Timestamp", d.ts)
	r.Header.Set("X-Catena-Signature", d.sig)
	r.Header.Set("X-Event-Type", d.eventType)
	r.Header.Set("X-Webhook-ID", "6c3f0d9e-3f7e-4b8e-9f7e-0d6c3f0d9e3f")
	r.Header.Set("X-Request-ID", "0b3a1f40-1111-4111-8111-111111111111")
	r.Header.Set("X-Delivery-Attempt", "2")
	return r
}

const envelope = `{"version":"1.0","event_name":"vehicle_location.added","webhook_id":"6c3f0d9e-3f7e-4b8e-9f7e-0d6c3f0d9e3f",` +
	`"id":"01938a8e-0000-7000-8000-000000000001","delivery_attempt":2,"timestamp":"2026-11-20T12:00:00Z","future_field":{"x":1},` +
	`"data":[{"id":"a"},{"id":"b"}]}`

// bomb streams gzip of n zero bytes without holding them.
func bomb(n int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
		zeros := make([]byte, 64<<10)
		for n > 0 {
			k := min(n, int64(len(zeros)))
			if _, err := zw.Write(zeros[:k]); err != nil {
				pw.CloseWithError(err)
				return
			}
			n -= k
		}
		zw.Close()
		pw.Close()
	}()
	return pr
}

// TestReceiver: each way a delivery can be wrong is refused with its status
// and its outcome metric, nothing reaches Accept, and no secret or
// signature is logged; a genuine one reaches Accept and is answered 202
// only after Accept returns.
func TestReceiver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       func() *delivery
		accept  func(ctx context.Context, d *Delivery) error
		status  int
		outcome string
		records int // records Accept got
	}{
		{"genuine, unknown fields tolerated", func() *delivery { return genuine(envelope) }, nil, 202, OutcomeAccepted, 2},
		{"another event type", func() *delivery { d := genuine(envelope); d.eventType = "vehicle.added"; return d }, nil, 202, OutcomeIgnored, 0},
		{"bad signature", func() *delivery {
			d := genuine(envelope)
			d.sig = Sign([]byte("not-the-secret"), d.ts, d.body)
			return d
		}, nil, 401, OutcomeBadSignature, 0},
		{"signature not Base64", func() *delivery { d := genuine(envelope); d.sig = "%%%"; return d }, nil, 401, OutcomeBadSignature, 0},
		{"body changed after signing", func() *delivery {
			d := genuine(envelope)
			d.body = bytes.Replace(d.body, []byte(`"a"`), []byte(`"z"`), 1)
			return d
		}, nil, 401, OutcomeBadSignature, 0},
		{"stale timestamp (replayed 10 minutes later)", func() *delivery {
			d := genuine(envelope)
			d.ts = now.Add(-10 * time.Minute).Format(time.RFC3339)
			d.sig = Sign([]byte(testSecret), d.ts, d.body)
			return d
		}, nil, 401, OutcomeStaleTimestamp, 0},
		{"timestamp two minutes ahead", func() *delivery {
			d := genuine(envelope)
			d.ts = now.Add(2 * time.Minute).Format(time.RFC3339)
			d.sig = Sign([]byte(testSecret), d.ts, d.body)
			return d
		}, nil, 401, OutcomeStaleTimestamp, 0},
		{"timestamp a Unix epoch", func() *delivery { d := genuine(envelope); d.ts = "1732789800"; return d }, nil, 401, OutcomeStaleTimestamp, 0},
		{"not gzip", func() *delivery {
			d := genuine(envelope)
			d.encoding = "identity"
			d.wire = bytes.NewReader(d.body)
			return d
		}, nil, 415, OutcomeBadEncoding, 0},
		{"brotli", func() *delivery { d := genuine(envelope); d.encoding = "br"; return d }, nil, 415, OutcomeBadEncoding, 0},
		{"gzip header, broken stream", func() *delivery { d := genuine(envelope); d.wire = bytes.NewReader(gz(d.body)[:20]); return d }, nil, 415, OutcomeBadEncoding, 0},
		{"oversized on the wire", func() *delivery {
			d := genuine(envelope)
			d.wire = bytes.NewReader(append(gz(d.body), make([]byte, 5<<20)...))
			return d
		}, nil, 413, OutcomeTooLarge, 0},
		{"gzip bomb (1 GiB of zeros)", func() *delivery { d := genuine(envelope); d.wire = bomb(1 << 30); return d }, nil, 413, OutcomeTooLarge, 0},
		{"not an envelope", func() *delivery { return genuine(`{"data":"nope"}`) }, nil, 400, OutcomeBadPayload, 0},
		{"GET", func() *delivery { d := genuine(envelope); d.method = http.MethodGet; return d }, nil, 405, OutcomeBadMethod, 0},
		{"commit fails", func() *delivery { return genuine(envelope) }, func(context.Context, *Delivery) error { return errors.New("broker down") }, 503, OutcomeFailed, 2},
		{"commit too slow", func() *delivery { return genuine(envelope) }, func(ctx context.Context, _ *Delivery) error { <-ctx.Done(); return ctx.Err() }, 503, OutcomeCommitTimeout, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := NewMetrics(nil)
			var got []*Delivery
			var mu sync.Mutex
			rc, err := New(Config{
				Secret: []byte(testSecret), Metrics: m, Now: func() time.Time { return now },
				Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				AckTimeout: 100 * time.Millisecond,
				Accept: func(ctx context.Context, d *Delivery) (bool, error) {
					mu.Lock()
					got = append(got, d)
					mu.Unlock()
					if tc.accept != nil {
						return false, tc.accept(ctx, d)
					}
					return false, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			d := tc.d()
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, d.request())
			if w.Code != tc.status {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.status)
			}
			if n := testutil.ToFloat64(m.Deliveries.WithLabelValues(tc.outcome)); n != 1 {
				t.Errorf("deliveries{outcome=%s} = %v, want 1", tc.outcome, n)
			}
			records := 0
			for _, g := range got {
				records += len(g.Records)
				if g.Attempt != 2 || g.RequestID == "" || g.WebhookID == "" {
					t.Errorf("delivery %+v: want attempt 2, request and webhook ids", g)
				}
			}
			if records != tc.records {
				t.Errorf("Accept got %d records, want %d", records, tc.records)
			}
			for _, secret := range []string{testSecret, d.sig} {
				if secret != "" && strings.Contains(logs.String()+w.Body.String(), secret) {
					t.Errorf("a secret or signature is in the log or the answer:\n%s", logs.String())
				}
			}
		})
	}
}

// TestReceiverBombMemory: a gzip bomb is abandoned at the decompressed
// limit; what it costs is bounded by the limit, not by what it expands to.
func TestReceiverBombMemory(t *testing.T) {
	rc, err := New(Config{Secret: []byte(testSecret), MaxBodyBytes: 1 << 20, Now: func() time.Time { return now },
		Accept: func(context.Context, *Delivery) (bool, error) { return false, nil }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	d := genuine(envelope)
	d.wire = bomb(4 << 30) // 4 GiB of zeros, about 4 MiB compressed
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, d.request())
	runtime.ReadMemStats(&after)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", w.Code)
	}
	// The bomb's own compressor (this test's goroutine) allocates too; the
	// receiver's share is the 1 MiB limit and its buffer's doublings.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("a 4 GiB bomb cost %d MiB of allocations; want it bounded by the limit", alloc>>20)
	}
}

// TestReceiverDuplicate: a delivery whose records were all published
// before (a retry, or records the poll found first) is answered 202 and
// counted as a duplicate.
func TestReceiverDuplicate(t *testing.T) {
	m := NewMetrics(nil)
	rc, err := New(Config{Secret: []byte(testSecret), Metrics: m, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
		Accept: func(context.Context, *Delivery) (bool, error) { return true, nil }})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, genuine(envelope).request())
	if w.Code != http.StatusAccepted || testutil.ToFloat64(m.Deliveries.WithLabelValues(OutcomeDuplicate)) != 1 {
		t.Errorf("status %d, duplicates %v; want 202 and 1", w.Code, testutil.ToFloat64(m.Deliveries.WithLabelValues(OutcomeDuplicate)))
	}
}
