package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/verify"
	"github.com/catena-bridge/catena-bridge/internal/webhook"
)

// TestRunWebhook runs `run` with WEBHOOK_ADDR and posts deliveries to it as
// Catena would: a genuine one is answered 202 once its record is committed,
// the same delivery retried is answered 202 and not published again, a
// forged one is refused and never published.
func TestRunWebhook(t *testing.T) {
	_, api := newSim(t, catenasim.Config{Seed: 3, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Second})
	k := newKafkaEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "whsec-cli-test-secret"
	env := k.env(api, "POLL_INTERVAL", "1h", "SWEEP_INTERVAL", "1h", "LOOKBACK", "1m", "LOG_LEVEL", "info",
		"WEBHOOK_ADDR", addr, "WEBHOOK_SECRET", secret)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var code int
	var stderr string
	exited := make(chan struct{})
	go func() {
		code, _, stderr = cli(ctx, env, "run")
		close(exited)
	}()

	id := "0b3a1f40-4444-4444-8444-444444444444"
	now := time.Now().UTC()
	record := fmt.Sprintf(`{"id":%q,"fleet_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","fleet_ref":null,"connection_id":"9b2f1c2e-3d4e-4f50-8a61-7b8c9d0e1f20",`+
		`"source_name":"samsara","source_id":"s-1","created_at":%q,"updated_at":%q,"occurred_at":%q,"vehicle_id":"5f0c6b1e-8f3a-4d2b-9e7c-1a2b3c4d5e6f",`+
		`"location":{"type":"Point","coordinates":[-87.62979,41.87811]},"h3_index_11":626740323024326655,"future_field":1}`,
		id, now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	body := []byte(`{"version":"1.0","event_name":"vehicle_location.added","webhook_id":"6c3f0d9e-3f7e-4b8e-9f7e-0d6c3f0d9e3f","data":[` + record + `]}`)
	post := func(sig string, attempt int) int {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		ts := time.Now().UTC().Format(time.RFC3339)
		if sig == "" {
			sig = webhook.Sign([]byte(secret), ts, body)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+webhook.Path, &buf)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Catena-Timestamp", ts)
		req.Header.Set("X-Catena-Signature", sig)
		req.Header.Set("X-Event-Type", "vehicle_location.added")
		req.Header.Set("X-Delivery-Attempt", fmt.Sprint(attempt))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The receiver is up once the tail runs; until then a delivery gets a
	// connection error or a 503, which Catena would retry.
	deadline := time.Now().Add(time.Minute)
	status := 0
	for status != http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatalf("no 202 within a minute (last status %d); stderr:\n%s", status, stderr)
		}
		select {
		case <-exited:
			t.Fatalf("run exited %d; stderr:\n%s", code, stderr)
		case <-time.After(50 * time.Millisecond): // the child starts; no event to wait on
		}
		status = post("", 1)
	}
	if s := post("", 2); s != http.StatusAccepted {
		t.Errorf("the retried delivery: %d, want 202", s)
	}
	if s := post("Zm9yZ2Vk", 1); s != http.StatusUnauthorized {
		t.Errorf("a forged delivery: %d, want 401", s)
	}
	stop()
	<-exited
	if code != exitOK {
		t.Fatalf("run: exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "webhook receiver listening") {
		t.Errorf("run did not log its receiver:\n%s", stderr)
	}
	r, err := sink.NewReader(sink.Config{Brokers: k.brokers, Topic: k.topic})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	if err := r.ReadAll(context.Background(), k.topic, func(rec *kgo.Record) {
		if verify.Header(rec, "catena-id") == id {
			n++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the pushed record is in the topic %d times, want 1", n)
	}
}

// TestRunWebhookSubscription: run watches its subscription (WEBHOOK_ID). A
// paused one is reported; with WEBHOOK_AUTO_RECOVER it is activated again
// and its dead-lettered deliveries replayed.
func TestRunWebhookSubscription(t *testing.T) {
	_, api := newSim(t, catenasim.Config{Seed: 3, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Second})
	client, err := catena.New(catena.Config{APIURL: api, TokenURL: api + catenasim.TokenPath, ClientID: "demo", ClientSecret: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret := "whsec-cli-subscription"
	subs, err := client.CreateWebhook(ctx, catena.WebhookCreate{URL: "http://127.0.0.1:9/webhooks/catena", EventName: "vehicle_location.added", Secret: &secret})
	if err != nil {
		t.Fatal(err)
	}
	id := subs[0].ID
	if _, err := client.PauseWebhook(ctx, id); err != nil {
		t.Fatal(err)
	}
	k := newKafkaEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := k.env(api, "CATENA_CLIENT_SECRET", "demo", "POLL_INTERVAL", "1h", "SWEEP_INTERVAL", "1h", "LOOKBACK", "1m", "LOG_LEVEL", "info",
		"WEBHOOK_ADDR", addr, "WEBHOOK_SECRET", secret, "WEBHOOK_ID", id, "WEBHOOK_CHECK_INTERVAL", "50ms", "WEBHOOK_AUTO_RECOVER", "true")
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var code int
	var stderr string
	exited := make(chan struct{})
	go func() {
		code, _, stderr = cli(rctx, env, "run")
		close(exited)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		sub, err := client.Webhook(ctx, id)
		if err == nil && sub.Status == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paused subscription was not activated within a minute (%v, %v)", sub, err)
		}
		select {
		case <-exited:
			t.Fatalf("run exited %d; stderr:\n%s", code, stderr)
		case <-time.After(50 * time.Millisecond): // run checks every 50ms; nothing to wait on
		}
	}
	stop()
	<-exited
	for _, want := range []string{"webhook subscription is not active", "status=paused", "activated and its dead-lettered deliveries replayed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("run's log lacks %q:\n%s", want, stderr)
		}
	}
}

// TestSimServesAndStops: `sim` serves the API (and pushes to what
// subscribes) until it is stopped, then exits 0.
func TestSimServesAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var code int
	exited := make(chan struct{})
	go func() {
		code, _, _ = cli(ctx, map[string]string{}, "sim", "--addr", addr)
		close(exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sim did not answer /healthz within 30s: %v", err)
		}
		select {
		case <-exited:
			t.Fatalf("sim exited %d", code)
		case <-time.After(20 * time.Millisecond): // the server starts; nothing to wait on
		}
	}
	stop()
	<-exited
	if code != exitOK {
		t.Errorf("sim: exit %d after the stop, want 0", code)
	}
}
