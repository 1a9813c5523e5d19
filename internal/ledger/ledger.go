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
// Filters by fleet_ref are resolved to fleet ids when a claim is made, and a
// record is decided by its vehicle's fleet: jobs agree on what a claim
// selects whatever the record's own fleet fields say.
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
	Job       string   `json:"job"`
	FleetIDs  []string `json:"fleet_ids,omitempty"`
	FleetRefs []string `json:"fleet_refs,omitempty"`
	// Fleets are the fleet ids the filters select, resolved when the claim
	// is made (fleet_refs name fleets only by the caller's reference, which
	// records may lack); empty with no filter: every fleet.
	Fleets    []string  `json:"fleets,omitempty"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to,omitzero"`
	ClaimedAt time.Time `json:"claimed_at"`

	// Seq is the claim's place in the order: its offset in the checkpoint
	// topic. It is not part of the stored value.
	Seq int64 `json:"-"`
}

// Release ends a claim at At: the instants from At on are no longer its
// job's, and go to the claims after it. An operator releases the claim of a
// job that will not run again (a live tail whose fleet filters changed, a
// backfill abandoned part-way), after fencing it; the released job cannot
// publish again. A Release is written as JSON under the job's release key.
type Release struct {
	Job        string    `json:"job"`
	At         time.Time `json:"at"`
	ReleasedAt time.Time `json:"released_at"`
}

// Apply ends each claim that has a release at the release's At.
func Apply(claims []Claim, releases []Release) {
	for _, r := range releases {
		for i := range claims {
			if c := &claims[i]; c.Job == r.Job && (c.To.IsZero() || r.At.Before(c.To)) {
				c.To = r.At
			}
		}
	}
}

// Span is the half-open range of occurred_at [From, To); a zero To is
// open-ended.
type Span struct{ From, To time.Time }

// empty reports whether s holds no instant (an inverted range included).
func (s Span) empty() bool { return !s.To.IsZero() && !s.From.Before(s.To) }

// contains reports whether t is in s.
func (s Span) contains(t time.Time) bool {
	return !t.Before(s.From) && (s.To.IsZero() || t.Before(s.To))
}

func (c *Claim) span() Span { return Span{c.From, c.To} }

// filtered reports whether c selects some fleets only.
func (c *Claim) filtered() bool { return len(c.FleetIDs) > 0 || len(c.FleetRefs) > 0 }

// matches reports whether c selects the vehicles of fleet fleetID ("" when
// unknown: then only a claim of every fleet does).
func (c *Claim) matches(fleetID string) bool {
	return !c.filtered() || fleetID != "" && slices.Contains(c.Fleets, fleetID)
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
		if c.Seq < self.Seq && c.Job != self.Job && !c.span().empty() {
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

// Covering returns the open-ended claims before the job's own (live tails)
// that select some of the fleets the job's own claim selects: they own
// every instant of those fleets from their start on, which a job usually
// does not expect.
func (v *View) Covering() []Claim {
	var out []Claim
	for _, c := range v.earlier {
		if !c.To.IsZero() {
			continue
		}
		if !v.self.filtered() || !c.filtered() || slices.ContainsFunc(v.self.Fleets, c.matches) {
			out = append(out, c)
		}
	}
	return out
}

// Owns reports whether the job publishes a record that occurred at t of a
// vehicle of fleet fleetID: t is in its claim and in no earlier claim that
// selects the fleet. The fleet is the vehicle's as the job fetched it (the
// vehicle list's, or its newest record's), not the record's own field, so
// that a record without one, or from before the vehicle moved fleet, is
// decided like the vehicle's others.
func (v *View) Owns(fleetID string, t time.Time) bool {
	if v.self.span().empty() || !v.self.span().contains(t) {
		return false
	}
	for i := range v.earlier {
		c := &v.earlier[i]
		if c.span().contains(t) && c.matches(fleetID) {
			return false
		}
	}
	return true
}

// Selects reports whether the job's own claim selects the vehicles of fleet
// fleetID: a claim without filters selects every fleet.
func (v *View) Selects(fleetID string) bool { return v.self.matches(fleetID) }

// Fetch returns the parts of w, a range the job wants to read for a vehicle
// of fleet fleetID, that it owns: w within its claim, less every earlier
// claim that selects the fleet.
func (v *View) Fetch(fleetID string, w Span) []Span {
	out := intersect([]Span{w}, v.self.span())
	for i := range v.earlier {
		if c := &v.earlier[i]; c.matches(fleetID) {
			out = subtract(out, c.span())
		}
	}
	return out
}

// intersect returns the parts of spans within s.
func intersect(spans []Span, s Span) []Span {
	if s.empty() {
		return nil
	}
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
	if s.empty() {
		return spans
	}
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
