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
		published bool // the old record was published (advances the vehicle's last point)
	}{
		{"published", true},
		{"dead-lettered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]lastPoint{}, lastIDs: map[string]dedup.ID{}, newest: map[string]seenPoint{}}
			old := now.Add(-3 * 24 * time.Hour)
			if !st.mark(id(1), old, "v1") {
				t.Fatal("first sight of the record refused")
			}
			if tc.published {
				st.advance("run/x/", []published{{vehicleID: "v1", id: id(1), at: old}})
			}
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
