package catena

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestBudgetRevCatchUpStarves (RISK at 5903833, pinned since catchUpTurn):
// the live lane had strict priority and no ceiling. While live requests
// keep one waiter in the limiter (a live demand at or above the rate
// limit: many vehicles' gap fills), a catch-up request never got a token,
// and sweeps, the vehicle list refresh and backfills stopped for as long as
// that lasted.
func TestBudgetRevCatchUpStarves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(10, 1)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 2 { // two live workers, back to back
			wg.Go(func() {
				for b.wait(ctx, LaneLive) == nil {
				}
			})
		}
		time.Sleep(time.Second) // the live lane is busy
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := b.wait(cctx, LaneCatchUp)
		cancel()
		stop()
		wg.Wait()
		if err != nil {
			t.Errorf("a catch-up request got no token in a minute at 10/s while the live lane was busy: %v", err)
		}
	})
}
