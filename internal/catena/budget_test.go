package catena

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A live request waits for at most one token however many catch-up
// requests are queued, and catch-up requests still spend the whole budget
// while the live lane is idle.
func TestBudgetLivePriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", okPage)
		c := f.client(func(cfg *Config) { cfg.RateLimit = 10 })
		ctx, stop := context.WithCancel(context.Background())
		catchUp := WithLane(ctx, LaneCatchUp)
		var done atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for ctx.Err() == nil {
					if _, err := c.Vehicles(VehicleQuery{}, "").Next(catchUp); err == nil {
						done.Add(1)
					}
				}
			})
		}
		time.Sleep(3 * time.Second)
		// About 10/s while the live lane is idle (the first token went to
		// the OAuth token).
		if n := done.Load(); n < 27 || n > 31 {
			t.Fatalf("catch-up requests in 3s at 10/s: %d, want ~29", n)
		}
		for i := range 5 {
			start := time.Now()
			if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Fatalf("live request %d waited %v behind 8 catch-up workers, want at most one token (100ms)", i, d)
			}
			time.Sleep(500 * time.Millisecond)
		}
		stop()
		wg.Wait()
		if u := c.Utilisation(); u < 0.08 || u > 0.15 {
			// 60 one-second buckets, about 6 s at 10/s: ~0.1.
			t.Fatalf("utilisation after ~6s at the limit: %.3f, want ~0.1 (a minute's mean)", u)
		}
	})
}

func TestLaneOf(t *testing.T) {
	ctx := context.Background()
	if LaneOf(ctx) != LaneLive {
		t.Fatal("default lane is not live")
	}
	if l := LaneOf(WithLane(ctx, LaneCatchUp)); l != LaneCatchUp || l.String() != "catch_up" {
		t.Fatalf("lane = %v", l)
	}
}
