package pipeline

import (
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// A vehicle's own faults in the live tail: one vehicle whose history keeps
// failing is retried with backoff and owes the range it could not read,
// while the other vehicles, the snapshot and the sweep marks go on.

// vehicleFault is a vehicle's run of failures (memory only: a restart
// retries at once).
type vehicleFault struct {
	fails   int
	retryAt time.Time // wall clock
}

// faultBackoff is the wait before a failing vehicle is tried again: the
// poll interval, doubling with each failure up to the sweep interval.
func faultBackoff(fails int, poll, sweep time.Duration) time.Duration {
	d := poll
	for i := 1; i < fails && d < sweep; i++ {
		d *= 2
	}
	return min(d, sweep)
}

// backingOff reports whether the vehicle failed recently and waits for its
// retry.
func (s *liveState) backingOff(vehicle string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	return v != nil && v.fault.fails > 0 && now.Before(v.fault.retryAt)
}

// failed records a failure of the vehicle's history in a window starting
// at from (zero: a gap, which keeps its own progress), and returns the
// vehicle's checkpoint when what it owes moved, and the wait before its
// retry.
func (s *liveState) failed(prefix, vehicle string, from time.Time, poll, sweep time.Duration) (*sink.Checkpoint, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicle(vehicle)
	v.fault.fails++
	wait := faultBackoff(v.fault.fails, poll, sweep)
	v.fault.retryAt = time.Now().Add(wait)
	v.owedIDs = nil
	s.countFailing()
	if from.IsZero() || !v.Owed.IsZero() && !from.Before(v.Owed) {
		return nil, wait
	}
	v.Owed = from
	cp := checkpoint(prefix+"v/"+vehicle, v)
	return &cp, wait
}

// recovered records that the vehicle's history was read from its owed
// start: it owes nothing, and its checkpoint is returned if it did.
func (s *liveState) recovered(prefix, vehicle string) *sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	if v == nil {
		return nil
	}
	// The sweep read the vehicle's history past every gap window it
	// remembered.
	v.fault, v.owedIDs, v.doneIDs = vehicleFault{}, nil, nil
	v.pushedSince, v.polledSince = false, false
	s.countFailing()
	if v.Owed.IsZero() {
		return nil
	}
	v.Owed = time.Time{}
	cp := checkpoint(prefix+"v/"+vehicle, v)
	return &cp
}

// owed returns where the vehicle's next sweep must start, if earlier than
// the sweep's own window.
func (s *liveState) owed(vehicle string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.vehicles[vehicle]; v != nil {
		return v.Owed
	}
	return time.Time{}
}

// setOwedIDs installs the ids read back for a vehicle's owed sweep.
func (s *liveState) setOwedIDs(vehicle string, ids *dedup.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vehicle(vehicle).owedIDs = ids
}

// owing returns the vehicles that owe a sweep range: they are swept however
// long ago they were last active.
func (s *liveState) owing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, v := range s.vehicles {
		if !v.Owed.IsZero() {
			out = append(out, id)
		}
	}
	return out
}

// countFailing sets the failing-vehicles gauge; s.mu is held.
func (s *liveState) countFailing() {
	if s.m == nil {
		return
	}
	n := 0
	for _, v := range s.vehicles {
		if v.fault.fails > 0 {
			n++
		}
	}
	s.m.VehiclesFailing.Set(float64(n))
}

// owe records that the vehicle owes a sweep window starting at from (it
// was skipped while backing off), and returns its checkpoint if that moved
// what it owes.
func (s *liveState) owe(prefix, vehicle string, from time.Time) *sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicle(vehicle)
	if !v.Owed.IsZero() && !from.Before(v.Owed) {
		return nil
	}
	v.Owed = from
	cp := checkpoint(prefix+"v/"+vehicle, v)
	return &cp
}

// keepGap keeps g as the vehicle's gap under way unless it has one: a gap
// that failed on its first page has no progress committed yet.
func (s *liveState) keepGap(vehicle string, g gapProgress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.vehicle(vehicle); v.Gap == nil {
		v.Gap = &g
	}
}

// dropGap ends the vehicle's gap under way and returns its checkpoint.
func (s *liveState) dropGap(prefix, vehicle string) *sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	if v == nil || v.Gap == nil {
		return nil
	}
	v.Gap, v.gapIDs, v.gapRestored = nil, nil, false
	cp := checkpoint(prefix+"v/"+vehicle, v)
	return &cp
}
