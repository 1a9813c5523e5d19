package catena

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Lane is the share of the request budget (Config.RateLimit) a request is
// spent from. The live lane has priority: a catch-up request waits while a
// live request waits, and takes a token only when one is free now, so a long
// sweep or backfill never delays the newest points by more than one token.
// The priority is not absolute: when the live lane keeps the limiter busy,
// every catchUpTurn-th token goes to a waiting catch-up request, so sweeps
// and backfills slow down but never stop.
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

	mu     sync.Mutex
	live   int           // requests waiting in the limiter
	streak int           // tokens the live lane took in a row while catch-up requests waited
	idle   chan struct{} // closed when live drops to 0, then replaced

	use usage // tokens granted over the last minute, for Utilisation
}

func newBudget(limit float64, burst int) *budget {
	return &budget{
		lim:   rate.NewLimiter(rate.Limit(limit), burst),
		every: time.Duration(float64(time.Second) / limit),
		idle:  make(chan struct{}),
	}
}

// catchUpTurn: of this many tokens in a row taken while catch-up requests
// wait, the last goes to one of them (a floor of 20% of the limit).
const catchUpTurn = 5

// wait blocks until lane may send one request, or ctx ends.
func (b *budget) wait(ctx context.Context, lane Lane) error {
	var err error
	if lane == LaneCatchUp {
		err = b.waitCatchUp(ctx)
	} else {
		err = b.waitLimiter(ctx, LaneLive)
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

// waitLimiter waits in the limiter, reserving the next token in arrival
// order: how live requests wait, and a catch-up request on its turn.
func (b *budget) waitLimiter(ctx context.Context, lane Lane) error {
	b.mu.Lock()
	b.live++
	b.mu.Unlock()
	err := b.lim.Wait(ctx)
	b.mu.Lock()
	if err == nil && lane == LaneLive {
		b.streak++
	}
	if b.live--; b.live == 0 {
		close(b.idle)
		b.idle = make(chan struct{})
	}
	b.mu.Unlock()
	return err
}

// waitCatchUp takes a token only when no request waits in the limiter and
// one is free now, or on its turn (catchUpTurn); otherwise it sleeps until
// the limiter is idle or the next token is due, and looks again.
func (b *budget) waitCatchUp(ctx context.Context) error {
	for {
		b.mu.Lock()
		idle := b.idle
		busy := b.live > 0
		turn := busy && b.streak >= catchUpTurn-1
		ok := !busy && b.lim.Allow()
		if ok || turn {
			b.streak = 0
		}
		b.mu.Unlock()
		switch {
		case ok:
			return nil
		case turn:
			return b.waitLimiter(ctx, LaneCatchUp)
		}
		t := time.NewTimer(b.every)
		select {
		case <-idle:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
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
