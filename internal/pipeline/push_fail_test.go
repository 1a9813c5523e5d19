package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestPushCommitFailsWithIDlessRecord: a delivery holding a record without
// an id (a dead letter) whose commit fails gets the sink's error back; the pusher, which has no page to look at then, neither
// panics nor calls the record fresh.
func TestPushCommitFailsWithIDlessRecord(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		k := newOrderKafka(t)
		l := k.live(t, now, 0)
		l.pushes = make(chan *pushReq, 1)
		// The committer has stopped (a sink error before): every commit fails.
		l.c = newCommitter(k.sink, l.p.m, l.log)
		l.c.err = errors.New("kafka: gone for good")
		l.c.once.Do(func() { close(l.c.dead) })
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- l.pusher(ctx) }()
		req := &pushReq{items: []json.RawMessage{json.RawMessage(`{"id":"","fleet_id":null}`)}, done: make(chan error, 1)}
		l.pushes <- req
		if err := <-req.done; err == nil {
			t.Fatal("the delivery's commit succeeded with every produce refused")
		}
		if req.fresh {
			t.Error("a delivery whose commit failed is called fresh")
		}
		if err := <-stopped; err == nil {
			t.Error("the pusher goes on after a sink error")
		}
	})
}
