// Package ledger decides which job publishes which record, so that every
// backfill and the live tail of one topic publish each record once between
// them: the topic's coverage ledger.
//
// # Claims
//
// A job (a backfill's range, the live tail of some fleets) claims the
// instants it means to publish before it fetches anything: a Claim is its
// fleet filters and a range of occurred_at, open-ended for the live tail.
// Claims are records of the topic's checkpoint topic, which has one
// partition, so the claims of every job on the topic have one order: the
// offset at which each was committed. An instant of a record belongs to the
// first claim in that order whose range holds it and whose filters the
// record's fleet matches. A later job gets what remains of its range.
//
// The order is decided by the broker, not by clocks: two jobs that claim at
// the same moment both read the checkpoint topic back, with read_committed,
// up to past their own claim, and both see the same earlier claims. A claim
// is written once (a rerun of the job finds it and keeps its place), and
// nothing in the order can change below a claim once it is read, so what a
// job owns is fixed the moment it has read its claim back. Jobs therefore do
// not need to run at the same time, or ever meet, to agree.
//
// # What a claim promises
//
// The owner of an instant publishes what the API returns for it when the owner
// reads it. A record that reaches the API after its owner read that range (a
// late upload into a finished backfill's range) is published only if the
// owner reads the range again: the live tail does, within its LOOKBACK; a
// finished backfill does not. A claim is kept as long as the checkpoint topic
// exists: a job that never finishes leaves the rest of its range to a rerun of
// the same job.
package ledger

import (
	"slices"
	"time"
)

// Claim is a job's claim on the instants it publishes: records of the fleets
// its filters select with occurred_at in [From, To). A zero To is open-ended
// (the live tail). A Claim is written once, as JSON, under its job's key.
type Claim struct {
	Job       string    `json:"job"`
	FleetIDs  []string  `json:"fleet_ids,omitempty"`
	FleetRefs []string  `json:"fleet_refs,omitempty"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to,omitzero"`
	ClaimedAt time.Time `json:"claimed_at"`

	// Seq is the claim's place in the order: its offset in the checkpoint
	// topic. It is not part of the stored value.
	Seq int64 `json:"-"`
}

// Span is the half-open range of occurred_at [From, To); a zero To is
// open-ended.
type Span struct{ From, To time.Time }

// contains reports whether t is in s.
func (s Span) contains(t time.Time) bool {
	return !t.Before(s.From) && (s.To.IsZero() || t.Before(s.To))
}

func (c *Claim) span() Span { return Span{c.From, c.To} }

// matches reports whether the API would return a record of fleet (id, ref)
// to c's query. The API combines fleet_ids and fleet_refs with AND; an empty
// list selects every fleet. ref is "" when the record has none.
func (c *Claim) matches(fleetID, fleetRef string) bool {
	return (len(c.FleetIDs) == 0 || slices.Contains(c.FleetIDs, fleetID)) &&
		(len(c.FleetRefs) == 0 || fleetRef != "" && slices.Contains(c.FleetRefs, fleetRef))
}

// coversFleet reports whether c certainly selects every record of fleet
// fleetID ("" when unknown), whatever the record's fleet_ref.
func (c *Claim) coversFleet(fleetID string) bool {
	return len(c.FleetRefs) == 0 && (len(c.FleetIDs) == 0 || fleetID != "" && slices.Contains(c.FleetIDs, fleetID))
}

// View is what one job owns: its claim, less the claims before it.
type View struct {
	self    Claim
	earlier []Claim // in order
}

// NewView returns the view of self given every claim of the topic (any
// order; claims after self, and self itself, are ignored). self.Seq must be
// set: the job has read its own claim back.
func NewView(self Claim, all []Claim) *View {
	v := &View{self: self}
	for _, c := range all {
		if c.Seq < self.Seq && c.Job != self.Job {
			v.earlier = append(v.earlier, c)
		}
	}
	slices.SortFunc(v.earlier, func(a, b Claim) int { return int(a.Seq - b.Seq) })
	return v
}

// Claim returns the job's own claim.
func (v *View) Claim() Claim { return v.self }

// Earlier returns the claims before the job's own, in order.
func (v *View) Earlier() []Claim { return v.earlier }

// Owns reports whether the job publishes a record of fleet (fleetID,
// fleetRef) that occurred at t: t is in its claim and in no earlier claim
// that selects the record.
func (v *View) Owns(fleetID, fleetRef string, t time.Time) bool {
	if !v.self.span().contains(t) {
		return false
	}
	for i := range v.earlier {
		c := &v.earlier[i]
		if c.span().contains(t) && c.matches(fleetID, fleetRef) {
			return false
		}
	}
	return true
}

// Fetch returns the parts of w, a range the job wants to read for a vehicle
// of fleet fleetID ("" when unknown), that it may own: w within its claim,
// less every earlier claim that certainly selects the vehicle's records.
// What Fetch keeps may still hold records an earlier claim owns (by
// fleet_ref); Owns decides each record.
func (v *View) Fetch(fleetID string, w Span) []Span {
	out := intersect([]Span{w}, v.self.span())
	for i := range v.earlier {
		if c := &v.earlier[i]; c.coversFleet(fleetID) {
			out = subtract(out, c.span())
		}
	}
	return out
}

// intersect returns the parts of spans within s.
func intersect(spans []Span, s Span) []Span {
	var out []Span
	for _, x := range spans {
		from := later(x.From, s.From)
		to := x.To
		if to.IsZero() || (!s.To.IsZero() && s.To.Before(to)) {
			to = s.To
		}
		if to.IsZero() || from.Before(to) {
			out = append(out, Span{from, to})
		}
	}
	return out
}

// subtract returns the parts of spans outside s.
func subtract(spans []Span, s Span) []Span {
	var out []Span
	for _, x := range spans {
		// Left of s.
		if x.From.Before(s.From) {
			to := x.To
			if to.IsZero() || s.From.Before(to) {
				to = s.From
			}
			out = append(out, Span{x.From, to})
		}
		// Right of s (nothing when s is open-ended).
		if !s.To.IsZero() {
			from := later(x.From, s.To)
			if x.To.IsZero() || from.Before(x.To) {
				out = append(out, Span{from, x.To})
			}
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
