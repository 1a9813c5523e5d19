package pipeline

import (
	"github.com/catena-bridge/catena-bridge/internal/record"
	"slices"
	"sync"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// liveState is what the live tail remembers between polls: the ids it
// published that the API can still return, and per vehicle what it
// published and saw last. The poll loop and the sweep share it.
type liveState struct {
	m         *Metrics // for the failing-vehicles gauge; nil in tests
	mu        sync.Mutex
	set       *dedup.Set
	vehicles  map[string]*vehicleState
	lastSweep time.Time // when the last complete sweep started, or the first start began (the bridge's clock); zero before
	lastFull  time.Time // when the last complete full sweep started (sweepMark.FullAt); zero before
	released  []string  // jobs whose claim releases the sweeps have read past (sweepMark.Released)
	// listed is each vehicle's fleet as the API's vehicle list names it,
	// which a backfill's claim decisions follow too; refreshed each sweep.
	listed map[string]string
}

// vehicleState is a vehicle's part of the live tail's state; it is the
// vehicle's checkpoint too.
type vehicleState struct {
	// At is the occurred_at of the newest record handled for the vehicle,
	// published or dead-lettered, and IDs the ids handled at At (usually
	// one): a gap is fetched from At, inclusive, so these come back. A bad
	// record moves At too, or a vehicle sending only bad records would have
	// its whole growing history fetched, and dead-lettered again, each poll.
	At  time.Time `json:"at,omitzero"`
	IDs []string  `json:"ids,omitempty"`
	// Newest is the id of the newest record seen for the vehicle, published
	// or dead-lettered, at NewestAt: the snapshot returns it with every poll
	// however old it is, long after the id set has evicted it.
	Newest   string    `json:"newest,omitempty"`
	NewestAt time.Time `json:"newest_at,omitzero"`
	// Gap is a gap fill under way: a restart resumes it at its cursor. The
	// pages it committed may have moved At past records it has not read
	// yet (the API states no order for history), so At alone cannot say
	// where it stopped.
	Gap *gapProgress `json:"gap,omitempty"`
	// Fleet is the vehicle's fleet as its newest record names it: what
	// decides, in the topic's ledger, which job owns its history.
	Fleet string `json:"fleet,omitempty"`

	ids    []dedup.ID // IDs, parsed
	newest dedup.ID   // Newest, parsed
	known  bool       // Newest is set

	// gapIDs holds what the gap's current window published, for as long
	// as the gap is under way: the shared set evicts by age, and a gap is
	// old history, so a page that fails and a window read again (the
	// API refused the saved cursor) would otherwise publish it twice.
	gapIDs *dedup.Set
	// gapRestored says gapIDs holds what the topics had of the gap's
	// range, read back once because the gap reaches before the dedup
	// horizon (live.gap).
	gapRestored bool

	// Owed is the start of the oldest sweep window this vehicle's history
	// failed in: its next sweep reads from there, so a failure leaves no
	// hole however long it lasts. owedIDs holds, while that sweep runs, the
	// vehicle's ids published since Owed (read back from the topics: the
	// shared set has evicted the older ones).
	Owed    time.Time `json:"owed,omitzero"`
	owedIDs *dedup.Set
	// doneIDs are the id sets of gap windows completed since the
	// vehicle's last successful sweep. A gap reads old history, whose ids
	// the shared set evicts at once; a sweep of the vehicle that owes a
	// range (or a refused cursor) reads that history again, and must know
	// them until it has.
	doneIDs []*dedup.Set

	// pushedSince and polledSince say how the vehicle's new points came
	// since its last sweep: all by push (pushedSince, !polledSince) lets a
	// sweep that is not a full one skip it (live.sweep).
	pushedSince, polledSince bool
	fault                    vehicleFault
}

// gapProgress is a gap fill under way: its walk over [From, To) of the
// vehicle's history stands at At.
type gapProgress struct {
	At walkPos   `json:"at"`
	To time.Time `json:"to"`
	// StartIDs are the ids the vehicle had published at the gap's start
	// (its From, inclusive): they come back with the gap's first page, and
	// once a page has moved the vehicle's state on, only the gap knows them.
	StartIDs []string `json:"start_ids,omitempty"`
}

// gapStep is what a gap page moves: the vehicle's gap progress after the
// page, nil when the gap is complete.
type gapStep struct {
	vehicle string
	next    *gapProgress
	to      time.Time // the gap's end (exclusive)
}

// maxIDsAt bounds vehicleState.IDs: more records of one vehicle at one
// instant than this is not a GPS track.
const maxIDsAt = 16

func (v *vehicleState) parse() {
	v.ids = v.ids[:0]
	for _, s := range v.IDs {
		if id, ok := dedup.ParseID(s); ok {
			v.ids = append(v.ids, id)
		}
	}
	v.newest, v.known = dedup.ParseID(v.Newest)
}

// mark admits a record the live tail has not published (or dead-lettered).
// The id set holds the ids of the sweep's window; older records come back
// only as a vehicle's newest record (the snapshot) or in a gap (fetched from
// the last published point), which the vehicle's state answers for.
func (s *liveState) mark(id dedup.ID, at time.Time, vehicle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	if vehicle == "" || v == nil {
		return s.set.Add(id, at)
	}
	seen := v.known && v.newest == id || slices.Contains(v.ids, id) ||
		v.gapIDs != nil && v.gapIDs.Contains(id, at) || v.owedIDs != nil && v.owedIDs.Contains(id, at) ||
		slices.ContainsFunc(v.doneIDs, func(s *dedup.Set) bool { return s.Contains(id, at) })
	if !seen {
		seen = !s.set.Add(id, at)
	}
	if v.gapIDs != nil {
		// Whatever the vehicle's gap meets is known to it, the records
		// at its start (published before it, known by the vehicle's
		// state until the gap moves that on) included.
		v.gapIDs.Add(id, at)
	}
	if v.owedIDs != nil {
		// And to an owed sweep under way, whose read-back of the topics
		// predates what other pages publish meanwhile.
		v.owedIDs.Add(id, at)
	}
	return !seen
}

// pushHealthy reports whether every new point of the vehicle since its last
// sweep came by push, and it owes nothing: a sweep that is not a full one
// skips it.
func (s *liveState) pushHealthy(vehicle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	return v != nil && v.pushedSince && !v.polledSince && v.Owed.IsZero() && v.fault.fails == 0 && v.Gap == nil
}

// vehicle returns the vehicle's state, created when missing; s.mu is held.
func (s *liveState) vehicle(id string) *vehicleState {
	v := s.vehicles[id]
	if v == nil {
		v = &vehicleState{}
		s.vehicles[id] = v
	}
	return v
}

// gapSet returns the vehicle's gap ids, creating the vehicle's state and
// the set when missing, with the ids at the gap's start.
func (s *liveState) gapSet(vehicle string, startIDs []string) *dedup.Set {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicle(vehicle)
	if v.gapIDs == nil {
		v.gapIDs = newWindowSet()
	}
	for _, id := range startIDs {
		if k, ok := dedup.ParseID(id); ok {
			v.gapIDs.Add(k, v.At)
		}
	}
	return v.gapIDs
}

// advance records what a page publishes and dead-letters, and returns the
// checkpoints of the vehicles whose state moved. It does not depend on the
// order of the API's records.
//
// maxStep, when positive, lets a record move its vehicle's last handled
// point only from no further than maxStep before it (pushed records, and
// the snapshot, published before its gaps are filled: a point further on
// may have a hole in front of it, which only a gap fill from the last
// handled point reads). pushed says the records came by push.
func (s *liveState) advance(prefix string, pub []published, gap *gapStep, maxStep time.Duration, pushed bool, holes *holeRule) []sink.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxStep > 0 {
		// In time order, so that contiguous points move it step by step.
		slices.SortFunc(pub, func(a, b published) int { return a.at.Compare(b.at) })
	}
	var changed []string
	if gap != nil {
		v := s.vehicle(gap.vehicle)
		if gap.next == nil && v.known && v.NewestAt.After(v.At) && v.NewestAt.Before(gap.to) {
			// The gap has read everything before its end, the vehicle's
			// newest point among it: that is handled now, or a newest
			// point the gap met only as a repeat (published first by the
			// snapshot or a push) would never move the vehicle on, and
			// every poll would fill the same, growing gap.
			v.At, v.IDs, v.ids = v.NewestAt, []string{v.Newest}, append(v.ids[:0], v.newest)
		}
		if gap.next == nil || gap.next.At.Cursor == "" {
			// The window is complete: its ids stay known until the
			// vehicle's next sweep (doneIDs), and the next window's
			// records are all new to the gap.
			if v.gapIDs != nil && v.gapIDs.Len() > 0 {
				v.doneIDs = append(v.doneIDs, v.gapIDs)
			}
			v.gapIDs, v.gapRestored = nil, false
			if gap.next != nil {
				v.gapIDs = newWindowSet()
			}
		}
		v.Gap = gap.next
		changed = append(changed, gap.vehicle)
	}
	for _, p := range pub {
		v := s.vehicle(p.vehicleID)
		switch {
		case pushed:
			v.pushedSince = true
		case !p.elsewhere:
			v.polledSince = true // a poll, gap or sweep found a point first
		}
		moved := false
		if p.elsewhere {
			// Another claim's record moves the vehicle on, so gaps do not
			// read it again and again, but is not remembered as seen: if
			// that claim is released, the tail must still publish it.
			if p.at.After(v.At) {
				v.At, v.IDs, v.ids = p.at, nil, v.ids[:0]
				changed = appendOnce(changed, p.vehicleID)
			}
			continue
		}
		step := maxStep
		if holes != nil && !p.synthetic {
			if v.Gap != nil {
				// A gap is under way: its end is fixed, so a point past
				// it moves the vehicle on only from within GapThreshold;
				// fillGaps reads the hole after the gap.
				step = holes.threshold
			} else if g, ok := holes.hole(v.At, p.at, v.IDs); ok {
				v.Gap = &g
				changed = appendOnce(changed, p.vehicleID)
			}
		}
		if !p.synthetic && (step <= 0 || !v.At.IsZero() && p.at.Sub(v.At) <= step) {
			switch {
			case p.at.After(v.At):
				v.At, v.IDs, v.ids = p.at, []string{p.id.String()}, append(v.ids[:0], p.id)
				moved = true
			case p.at.Equal(v.At) && len(v.ids) < maxIDsAt && !slices.Contains(v.ids, p.id):
				v.IDs, v.ids = append(v.IDs, p.id.String()), append(v.ids, p.id)
				moved = true
			}
		}
		if !v.known || !p.at.Before(v.NewestAt) {
			v.Newest, v.NewestAt, v.newest, v.known = p.id.String(), p.at, p.id, true
			moved = true
		}
		if moved {
			changed = appendOnce(changed, p.vehicleID)
		}
	}
	cps := make([]sink.Checkpoint, 0, len(changed))
	for _, id := range changed {
		cps = append(cps, checkpoint(prefix+"v/"+id, s.vehicles[id]))
	}
	return cps
}

// noteFleets records each snapshot record's fleet as its vehicle's.
func (s *liveState) noteFleets(items []decoded) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range items {
		loc := &items[i].loc
		if !validVehicle(loc.VehicleID) || !record.IsUUID(loc.FleetID) {
			continue
		}
		v := s.vehicle(*loc.VehicleID)
		v.Fleet = loc.FleetID
	}
}

// setFleet records the vehicle's fleet.
func (s *liveState) setFleet(vehicle, fleet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicle(vehicle)
	v.Fleet = fleet
}

// setListed replaces the vehicle list's fleets.
func (s *liveState) setListed(fleets map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed = fleets
}

// uncoveredSince is the oldest instant whose late records no sweep has
// read yet: the start of the last complete sweep, or the oldest window a
// failing vehicle owes; zero before the first sweep.
func (s *liveState) uncoveredSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.lastSweep
	for _, v := range s.vehicles {
		if !v.Owed.IsZero() && (from.IsZero() || v.Owed.Before(from)) {
			from = v.Owed
		}
	}
	return from
}

// lowerSweep moves where the next sweep starts back to from, if it is
// later.
func (s *liveState) lowerSweep(from time.Time, lookback time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastSweep.IsZero() || s.lastSweep.Add(-lookback).After(from) {
		s.lastSweep = from.Add(lookback)
	}
}

// fleet returns the vehicle's fleet, "" when unknown: the vehicle list's,
// else its newest record's.
func (s *liveState) fleet(vehicle string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.listed[vehicle]; f != "" {
		return f
	}
	if v := s.vehicles[vehicle]; v != nil {
		return v.Fleet
	}
	return ""
}

// holeRule is how a snapshot page records the holes its points open
// (liveState.advance).
type holeRule struct {
	unknownFrom time.Time     // where the history of a vehicle not seen yet begins
	threshold   time.Duration // GapThreshold
	now         time.Time     // a point after now bounds its hole at now
}

// hole returns the gap a point at at opens after from, if it lies more than
// GapThreshold beyond it: [from, at] (a point in the future bounds it at
// now), from inclusive (its records come back and are dropped by dedup), to
// exclusive, so one microsecond past the point.
func (r *holeRule) hole(from, at time.Time, startIDs []string) (gapProgress, bool) {
	if from.IsZero() {
		from = r.unknownFrom
	}
	to := earlier(at, r.now)
	if to.Sub(from) <= r.threshold {
		return gapProgress{}, false
	}
	return gapProgress{At: walkPos{From: from}, To: to.Add(time.Microsecond), StartIDs: slices.Clone(startIDs)}, true
}

// restoreGap adds to the vehicle's gap id set the ids read back for it, and
// marks the set restored; it reports false when it already was.
func (s *liveState) restoreGap(vehicle string, ids []idAt) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicle(vehicle)
	if v.gapRestored || v.gapIDs == nil {
		return false
	}
	for _, r := range ids {
		v.gapIDs.Add(r.id, r.at)
	}
	v.gapRestored = true
	return true
}

// gapNeedsRestore reports whether the vehicle's gap id set has not been
// read back from the topics yet.
func (s *liveState) gapNeedsRestore(vehicle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	return v != nil && !v.gapRestored
}

// idAt is a record id and its event time.
type idAt struct {
	id dedup.ID
	at time.Time
}

// nextGap returns the vehicle's gap to fill now: the one under way, else
// the hole between its last handled point and its newest one when that is
// more than threshold (nothing when it has neither).
func (s *liveState) nextGap(vehicle string, threshold time.Duration, unknownFrom, now time.Time) (gapProgress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vehicles[vehicle]
	if v == nil {
		return gapProgress{}, false
	}
	if v.Gap != nil {
		return *v.Gap, true
	}
	if !v.known {
		return gapProgress{}, false
	}
	r := holeRule{unknownFrom: unknownFrom, threshold: threshold, now: now}
	return r.hole(v.At, v.NewestAt, v.IDs)
}

// pendingGaps returns the vehicles with a gap fill under way.
func (s *liveState) pendingGaps() map[string]gapProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]gapProgress{}
	for id, v := range s.vehicles {
		if v.Gap != nil {
			out[id] = *v.Gap
		}
	}
	return out
}

// sweepFrom is where a sweep starting at now begins: Lookback before the
// previous sweep started, so consecutive sweeps leave no hole even when one
// was late (a restart, a slow sweep), however long ago: the tail's claim
// owns every instant since it began, so no other job would publish a hole.
// A sweep longer than the API's history window is read in several windows.
func (s *liveState) sweepFrom(now time.Time, lookback time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := now.Add(-lookback)
	if !s.lastSweep.IsZero() && s.lastSweep.Before(now) {
		from = s.lastSweep.Add(-lookback)
	}
	// Sweeps that skip vehicles covered by pushes read them only at full
	// sweeps: what reached the API late since the last full sweep is read
	// from Lookback before it.
	if !s.lastFull.IsZero() && s.lastFull.Add(-lookback).Before(from) {
		from = s.lastFull.Add(-lookback)
	}
	return from
}

// coverageStart is where the tail's claim begins: where its next sweep
// starts (LOOKBACK before now on a first start), or, for a tail older than
// the ledger, the earliest point its state still has to publish from (a
// vehicle's last handled point, a gap under way).
func (s *liveState) coverageStart(now time.Time, lookback time.Duration) time.Time {
	from := s.sweepFrom(now, lookback)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vehicles {
		if !v.At.IsZero() {
			from = earlier(from, v.At)
		}
		if v.Gap != nil {
			from = earlier(from, v.Gap.At.From)
		}
	}
	return from
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// swept records a complete sweep that started at at.
func (s *liveState) swept(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSweep = at
}

// sweptFull records a complete full sweep that started at at.
func (s *liveState) sweptFull(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastFull = at
}

// fullAt returns when the last complete full sweep started.
func (s *liveState) fullAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastFull
}

// evict forgets the ids older than horizon and reports the state's size.
func (s *liveState) evict(horizon time.Time, m *Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.EvictBefore(horizon)
	m.DedupIDs.Set(float64(s.set.Len()))
	m.Tracked.Set(float64(len(s.vehicles)))
}

// active returns the vehicles with a record at or after since.
func (s *liveState) active(since time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, v := range s.vehicles {
		if !v.At.Before(since) || !v.NewestAt.Before(since) {
			out = append(out, id)
		}
	}
	return out
}

// appendOnce appends id to ids unless it is there.
func appendOnce(ids []string, id string) []string {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}
