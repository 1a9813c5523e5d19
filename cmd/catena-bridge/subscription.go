package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catena-bridge/catena-bridge/internal/catena"
)

// subscriptionWatch checks the webhook subscription run receives for: a
// subscription that Catena's circuit breaker made stale, or that was paused,
// delivers nothing until it is activated, and what it failed to deliver
// waits in Catena's DLQ until a replay. The tail's polling covers the gap
// either way; the watch makes it visible, and with autoRecover ends it.
type subscriptionWatch struct {
	client      *catena.Client
	id          string
	autoRecover bool
	mayRecover  func() bool // with autoRecover: whether to act now (a standby does not); nil: always
	every       time.Duration
	log         *slog.Logger
	status      *prometheus.GaugeVec // catena_bridge_webhook_subscription{status}: 1 for the current one
	current     atomic.Pointer[string]
}

var subscriptionStatuses = []string{"active", "paused", "stale", "deleted", "unknown"}

func newSubscriptionWatch(client *catena.Client, id string, autoRecover bool, every time.Duration, log *slog.Logger, reg prometheus.Registerer) *subscriptionWatch {
	w := &subscriptionWatch{client: client, id: id, autoRecover: autoRecover, every: every, log: log,
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "catena_bridge", Name: "webhook_subscription",
			Help: "The webhook subscription's status (WEBHOOK_ID): 1 for the current one."}, []string{"status"})}
	reg.MustRegister(w.status)
	return w
}

// run checks the subscription at once, then every interval, until ctx ends.
func (w *subscriptionWatch) run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// check reads the subscription's status; with autoRecover it activates a
// stale or paused one and asks for a replay of its DLQ.
func (w *subscriptionWatch) check(ctx context.Context) {
	sub, err := w.client.Webhook(ctx, w.id)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("webhook subscription: could not read it", "webhook_id", w.id, "err", err)
			w.set("unknown")
		}
		return
	}
	w.set(sub.Status)
	if sub.Status == "active" {
		return
	}
	w.log.Warn("webhook subscription is not active: Catena delivers nothing (polling goes on)", "webhook_id", w.id, "status", sub.Status,
		"auto_recover", w.autoRecover)
	if !w.autoRecover || sub.Status == "deleted" || (w.mayRecover != nil && !w.mayRecover()) {
		return
	}
	if _, err := w.client.ActivateWebhook(ctx, w.id); err != nil {
		w.log.Warn("webhook subscription: activate failed", "webhook_id", w.id, "err", err)
		return
	}
	if err := w.client.ReplayWebhook(ctx, w.id); err != nil {
		w.log.Warn("webhook subscription: activated, but the replay request failed", "webhook_id", w.id, "err", err)
	}
	w.log.Info("webhook subscription activated and its dead-lettered deliveries replayed", "webhook_id", w.id)
	w.set("active")
}

func (w *subscriptionWatch) set(status string) {
	w.current.Store(&status)
	for _, s := range subscriptionStatuses {
		v := 0.0
		if s == status {
			v = 1
		}
		w.status.WithLabelValues(s).Set(v)
	}
}

// ready is a /readyz check: a subscription that is not active is a detail
// an operator must see.
func (w *subscriptionWatch) ready() error {
	if s := w.current.Load(); s != nil && *s != "active" && *s != "unknown" {
		return fmt.Errorf("webhook subscription %s is %s: no pushes arrive (polling goes on); activate it (catena-bridge webhooks activate --id %s) or set WEBHOOK_AUTO_RECOVER=true", w.id, *s, w.id)
	}
	return nil
}
