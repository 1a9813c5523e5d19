package main

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// TestCrashPush kills `run` with SIGKILL while the simulator pushes to it,
// and starts it again on the same address at once: deliveries that were
// in flight were never acknowledged, so the simulator retries them, and
// every record visible during the run lands exactly once.
func TestCrashPush(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash test runs the bridge as child processes")
	}
	start := time.Now().UTC()
	clock := catenasim.NewClock(start, 1)
	sim := catenasim.Config{Seed: 13, Fleets: 2, VehiclesPerFleet: 5, ReportInterval: 200 * time.Millisecond,
		Clock: clock, PushInterval: 50 * time.Millisecond}
	e := newCrashEnv(t, sim)
	client, err := catena.New(catena.Config{APIURL: e.api, TokenURL: e.api + catenasim.TokenPath, ClientID: "demo", ClientSecret: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	secret := "whsec-crash-push-secret"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := client.CreateWebhook(ctx, catena.WebhookCreate{URL: "http://" + addr + "/webhooks/catena", EventName: "vehicle_location.added", Secret: &secret}); err != nil {
		t.Fatal(err)
	}
	pushDone := make(chan error, 1)
	go func() { pushDone <- e.sim.Push(ctx) }()
	env := []string{"WEBHOOK_ADDR=" + addr, "WEBHOOK_SECRET=" + secret, "POLL_INTERVAL=1h", "SWEEP_INTERVAL=1h", "LOOKBACK=10s"}
	// acked waits until the simulator has had n more deliveries
	// acknowledged (the process polls a counter; no timing assumption).
	acked := func(c *child, n int64) {
		t.Helper()
		want := e.sim.WebhookStats().Acknowledged + n
		deadline := time.Now().Add(time.Minute)
		for e.sim.WebhookStats().Acknowledged < want {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d deliveries acknowledged in a minute; bridge output:\n%s", n, c.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first := e.start(env, "run")
	acked(first, 5)
	retriedBefore := e.sim.WebhookStats().Retried
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.wait(t, time.Minute)
	second := e.start(env, "run")
	acked(second, 5)
	end := clock.Now()
	// Later deliveries acknowledged: what was visible by end has arrived.
	acked(second, 10)
	second.cmd.Process.Signal(syscall.SIGTERM)
	if code := second.wait(t, time.Minute); code != 0 {
		t.Fatalf("run exit %d on SIGTERM:\n%s", code, second.stderr)
	}
	cancel()
	<-pushDone
	st := e.sim.WebhookStats()
	t.Logf("webhook stats %+v (retried before the kill: %d)", st, retriedBefore)
	if st.Retried == retriedBefore {
		t.Error("the simulator retried no delivery after the kill: nothing was in flight")
	}
	events, _ := e.readTopics()
	n := map[string]int{}
	for _, r := range events {
		n[verify.Header(r, "catena-id")]++
	}
	valid, _ := verify.Truth(e.sim, start, end, end)
	missing := 0
	for id := range valid {
		if n[id] == 0 {
			missing++
		}
	}
	twice := 0
	for _, c := range n {
		if c > 1 {
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("%d of %d records visible during the run missing, %d published more than once", missing, len(valid), twice)
	}
	if strings.Contains(first.stderr.String()+second.stderr.String(), secret) {
		t.Error("the webhook secret is in the bridge's output")
	}
}
