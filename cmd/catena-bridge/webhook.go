package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/oklog/run"

	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/webhook"
)

// withWebhooks returns work that runs tail (the live tail, or a standby
// member running it) beside the receiver of Catena's pushed deliveries on
// wh.Addr, or the tail alone without an address. The listener is opened
// here, so a busy address fails the start. The receiver answers a delivery
// once its records are committed by the tail (pipeline.Push), and 503 while
// no tail runs here (a standby listens all the same, so that it takes
// pushes the moment it takes over); stopping the tail stops it. active
// tells whether this replica may recover the subscription
// (WEBHOOK_AUTO_RECOVER): only the active one does.
func withWebhooks(b *bridge, wh config.Webhook, now func() time.Time, tail func(ctx context.Context) error, active func() bool) (func(ctx context.Context) error, error) {
	if wh.Addr == "" {
		return tail, nil
	}
	secret, err := wh.SecretValue()
	if err != nil {
		return nil, err
	}
	rc, err := webhook.New(webhook.Config{
		Secret:       []byte(secret),
		Accept:       func(ctx context.Context, d *webhook.Delivery) (bool, error) { return b.push(ctx, d.Records) },
		MaxBodyBytes: wh.MaxBodyBytes,
		Now:          now,
		Metrics:      webhook.NewMetrics(b.reg),
		Logger:       b.log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", wh.Addr)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_ADDR=%q: %w", wh.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, rc)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	scheme := "http"
	if wh.TLSCertFile != "" {
		scheme = "https"
	}
	b.log.Info("webhook receiver listening", "url", scheme+"://"+ln.Addr().String()+webhook.Path)
	var watch *subscriptionWatch
	if wh.ID != "" {
		watch = newSubscriptionWatch(b.client, wh.ID, wh.AutoRecover, wh.CheckInterval, b.log, b.reg)
		watch.mayRecover = active
		if b.admin != nil {
			b.admin.AddCheck("webhook-subscription", watch.ready)
		}
	}
	return func(ctx context.Context) error {
		var g run.Group
		tctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { return tail(tctx) }, func(error) { cancel() })
		if watch != nil {
			wctx, wcancel := context.WithCancel(ctx)
			g.Add(func() error { return watch.run(wctx) }, func(error) { wcancel() })
		}
		g.Add(func() error {
			var err error
			if wh.TLSCertFile != "" {
				err = srv.ServeTLS(ln, wh.TLSCertFile, wh.TLSKeyFile)
			} else {
				err = srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("webhook receiver: %w", err)
		}, func(error) {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
		})
		return g.Run()
	}, nil
}
