package pipeline

import (
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
)

// TestLiveMarkOldNewestPoint: a vehicle idle for longer than the dedup
// horizon keeps returning the same newest record with every snapshot; it is
// admitted once, published or dead-lettered, not once per eviction.
func TestLiveMarkOldNewestPoint(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	id := func(b byte) dedup.ID { return dedup.ID{b} }
	for _, tc := range []struct {
		name      string
		published bool // the old record was published (else dead-lettered)
	}{
		{"published", true},
		{"dead-lettered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]*vehicleState{}}
			old := now.Add(-3 * 24 * time.Hour)
			if !st.mark(id(1), old, "v1") {
				t.Fatal("first sight of the record refused")
			}
			st.advance("run/x/", []published{{vehicleID: "v1", id: id(1), at: old, dead: !tc.published}}, nil, 0, false, nil)
			for poll := range 5 {
				st.evict(now.Add(time.Duration(poll)*time.Minute-time.Hour), NewMetrics(nil))
				if st.mark(id(1), old, "v1") {
					t.Fatalf("poll %d admitted the vehicle's old newest record again", poll)
				}
			}
			// A new point of the vehicle is still admitted, and so is an
			// old record of another vehicle.
			if !st.mark(id(2), now, "v1") || !st.mark(id(3), old, "v2") {
				t.Fatal("new records refused")
			}
		})
	}
}

// TestLiveAdvanceAnyOrder: a gap's pages may come newest first, and records
// may share a timestamp across a page boundary; nothing of them is refused
// as a repeat, and what was published is refused when it comes back.
func TestLiveAdvanceAnyOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	id := func(b byte) dedup.ID { return dedup.ID{b} }
	st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]*vehicleState{}}
	pages := [][]published{
		{{vehicleID: "v", id: id(5), at: t0.Add(5 * time.Minute)}, {vehicleID: "v", id: id(4), at: t0.Add(4 * time.Minute)}},
		{{vehicleID: "v", id: id(3), at: t0.Add(3 * time.Minute)}, {vehicleID: "v", id: id(2), at: t0.Add(3 * time.Minute)}},
		{{vehicleID: "v", id: id(1), at: t0}},
	}
	for i, pg := range pages {
		for _, p := range pg {
			if !st.mark(p.id, p.at, p.vehicleID) {
				t.Fatalf("page %d: record %v refused", i, p.id[0])
			}
		}
		st.advance("run/x/", pg, nil, 0, false, nil)
		st.evict(t0.Add(time.Hour), NewMetrics(nil)) // everything older than the horizon
	}
	if v := st.vehicles["v"]; !v.At.Equal(t0.Add(5*time.Minute)) || len(v.ids) != 1 || v.ids[0] != id(5) {
		t.Fatalf("state = %+v, want the newest published point", v)
	}
	if st.mark(id(5), t0.Add(5*time.Minute), "v") {
		t.Error("the newest published record was admitted again")
	}
	// Two records at the newest instant: both are remembered.
	st.mark(id(6), t0.Add(6*time.Minute), "v")
	st.mark(id(7), t0.Add(6*time.Minute), "v")
	st.advance("run/x/", []published{{vehicleID: "v", id: id(6), at: t0.Add(6 * time.Minute)}, {vehicleID: "v", id: id(7), at: t0.Add(6 * time.Minute)}}, nil, 0, false, nil)
	st.evict(t0.Add(2*time.Hour), NewMetrics(nil))
	if st.mark(id(6), t0.Add(6*time.Minute), "v") || st.mark(id(7), t0.Add(6*time.Minute), "v") {
		t.Error("a record published at the vehicle's newest instant was admitted again by a gap fill")
	}
}

// TestSweepFrom: consecutive sweeps overlap by Lookback from the previous
// start, however late the next one is.
func TestSweepFrom(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	st := &liveState{}
	if got := st.sweepFrom(now, time.Hour); !got.Equal(now.Add(-time.Hour)) {
		t.Errorf("first sweep from %v", got)
	}
	st.swept(now.Add(-3 * time.Hour)) // a restart after three hours down
	if got := st.sweepFrom(now, time.Hour); !got.Equal(now.Add(-4 * time.Hour)) {
		t.Errorf("sweep after downtime from %v, want 4h before now", got)
	}
	st.swept(now.Add(-90 * 24 * time.Hour))
	if got := st.sweepFrom(now, time.Hour); !got.Equal(now.Add(-90*24*time.Hour - time.Hour)) {
		t.Errorf("sweep after long downtime from %v, want 90 days and LOOKBACK before now: the tail owns them", got)
	}
}
