package catena

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Lane is the share of the request budget (Config.RateLimit) a request is
// spent from. The live lane has strict priority: a catch-up request waits
// while a live request waits, and takes a token only when one is free now,
// so a long sweep or backfill never delays the newest points by more than
// one token.
type Lane uint8

const (
	// LaneLive is the default: latest snapshots, gap fills of the newest
	// points, and every request outside the live tail's catch-up work.
	LaneLive Lane = iota
	// LaneCatchUp is for history that may wait: sweeps, the first start's
	// LOOKBACK, backfills.
	LaneCatchUp
)

// String returns the lane's metric label: "live" or "catch_up".
func (l Lane) String() string {
	if l == LaneCatchUp {
		return "catch_up"
	}
	return "live"
}

type laneKey struct{}

// WithLane returns a context whose requests are spent from lane.
func WithLane(ctx context.Context, lane Lane) context.Context {
	return context.WithValue(ctx, laneKey{}, lane)
}

// LaneOf returns the lane of ctx's requests (LaneLive unless WithLane set
// another).
func LaneOf(ctx context.Context) Lane {
	l, _ := ctx.Value(laneKey{}).(Lane)
	return l
}

// budget spends the rate limit by lane. The tokens come from an
// x/time/rate limiter; budget adds only the priority: live requests wait
// in the limiter (reserving future tokens in arrival order), catch-up
// requests never reserve ahead, so they cannot queue in front of a live one.
type budget struct {
	lim *rate.Limiter
	// every is the limiter's token interval: how long a catch-up request
	// sleeps before it looks again when no token is free.
	every time.Duration

	mu   sync.Mutex
	live int           // live requests waiting for a token
	idle chan struct{} // closed when live drops to 0, then replaced

	use usage // tokens granted over the last minute, for Utilisation
}

func newBudget(limit float64, burst int) *budget {
	return &budget{
		lim:   rate.NewLimiter(rate.Limit(limit), burst),
		every: time.Duration(float64(time.Second) / limit),
		idle:  make(chan struct{}),
	}
}

// wait blocks until lane may send one request, or ctx ends.
func (b *budget) wait(ctx context.Context, lane Lane) error {
	var err error
	if lane == LaneCatchUp {
		err = b.waitCatchUp(ctx)
	} else {
		err = b.waitLive(ctx)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("rate limit: %w", err) // the wait would pass ctx's deadline
	}
	b.use.add(time.Now())
	return nil
}

func (b *budget) waitLive(ctx context.Context) error {
	b.mu.Lock()
	b.live++
	b.mu.Unlock()
	err := b.lim.Wait(ctx)
	b.mu.Lock()
	if b.live--; b.live == 0 {
		close(b.idle)
		b.idle = make(chan struct{})
	}
	b.mu.Unlock()
	return err
}

// waitCatchUp takes a token only when no live request waits and one is
// free now; otherwise it sleeps until the live lane is idle or the next
// token is due, and looks again.
func (b *budget) waitCatchUp(ctx context.Context) error {
	for {
		b.mu.Lock()
		idle := b.idle
		live := b.live > 0
		ok := !live && b.lim.Allow()
		b.mu.Unlock()
		if ok {
			return nil
		}
		// While live requests wait, the last of them wakes us (wake stays
		// nil); otherwise the next token does.
		var wake <-chan time.Time
		var t *time.Timer
		if !live {
			t = time.NewTimer(b.every)
			wake = t.C
		}
		select {
		case <-idle:
		case <-wake:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Utilisation is the share of the rate limit spent over the last minute,
// from 0 to 1 (a little above 1 with a burst above 1).
func (b *budget) utilisation(now time.Time) float64 {
	return b.use.perSecond(now) / float64(b.lim.Limit())
}

// usage counts events in one-second buckets over the last minute.
type usage struct {
	mu      sync.Mutex
	buckets [60]struct {
		sec int64 // Unix second the bucket counts; older counts are stale
		n   int64
	}
}

func (u *usage) add(now time.Time) {
	s := now.Unix()
	u.mu.Lock()
	b := &u.buckets[s%int64(len(u.buckets))]
	if b.sec != s {
		b.sec, b.n = s, 0
	}
	b.n++
	u.mu.Unlock()
}

// perSecond is the mean rate over the minute before now.
func (u *usage) perSecond(now time.Time) float64 {
	s := now.Unix()
	var n int64
	u.mu.Lock()
	for _, b := range u.buckets {
		if s-b.sec < int64(len(u.buckets)) {
			n += b.n
		}
	}
	u.mu.Unlock()
	return float64(n) / float64(len(u.buckets))
}
