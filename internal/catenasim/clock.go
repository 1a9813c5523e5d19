package catenasim

import (
	"sync"
	"time"
)

// Clock is the simulator's notion of now. It decides which points are
// visible, token expiry and invitation expiry.
type Clock interface{ Now() time.Time }

type scaledClock struct {
	start time.Time // simulated time at origin
	real  time.Time // real time at origin (carries the monotonic reading)
	speed float64
}

// NewClock returns a clock that starts at start and runs speed× real time
// (speed 1 = real time). A speed <= 0 is treated as 1.
func NewClock(start time.Time, speed float64) Clock {
	if speed <= 0 {
		speed = 1
	}
	return &scaledClock{start: start, real: time.Now(), speed: speed}
}

func (c *scaledClock) Now() time.Time {
	el := time.Since(c.real)
	if c.speed != 1 {
		el = time.Duration(float64(el) * c.speed)
	}
	return c.start.Add(el)
}

// ManualClock is a settable clock for tests. It only moves when Set or
// Advance is called. It is safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a ManualClock reading t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the current reading.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the reading to t (it may go backwards).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the reading forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
