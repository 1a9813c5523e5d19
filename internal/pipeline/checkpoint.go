package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// Checkpoint keys in the compacted <topic>.checkpoints topic. Every key starts
// with the mode and a scope derived from what is being fetched, so a backfill
// of another range, or a live tail of other fleets, keeps its own progress.
//
//	backfill/<job>/meta          backfillMeta: the job's range, filters, start time
//	backfill/<job>/v/<vehicle>   vehicleProgress: next window and cursor, or done
//	backfill/<job>/done          backfillMeta: the job finished
//	run/<scope>/v/<vehicle>      vehicleState: the vehicle's last published and newest seen records
//	run/<scope>/sweep            sweepMark: when the last sweep finished
const (
	backfillPrefix = "backfill/"
	runPrefix      = "run/"
)

// BackfillJob names a backfill: a short hash of its range and fleet filters,
// stable across runs. Its checkpoints are kept under it, and the bridge's
// default transactional id includes it.
func BackfillJob(from, to time.Time, fleetIDs, fleetRefs []string) string {
	return scopeID("backfill", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), filterKey(fleetIDs, fleetRefs))
}

// LiveScope names a live tail by its fleet filters, like BackfillJob.
func LiveScope(fleetIDs, fleetRefs []string) string {
	return scopeID("run", filterKey(fleetIDs, fleetRefs))
}

// scopeID names a set of filters: a short hash, stable across runs.
func scopeID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func filterKey(fleetIDs, fleetRefs []string) string {
	ids := append([]string(nil), fleetIDs...)
	refs := append([]string(nil), fleetRefs...)
	sort.Strings(ids)
	sort.Strings(refs)
	return "ids=" + strings.Join(ids, ",") + ";refs=" + strings.Join(refs, ",")
}

type backfillMeta struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	FleetIDs  []string  `json:"fleet_ids,omitempty"`
	FleetRefs []string  `json:"fleet_refs,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Vehicles  int       `json:"vehicles,omitempty"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// vehicleProgress is where a vehicle's backfill resumes: window Window of the
// job's windows, at Cursor ("" = the window's first page). Done means every
// window was committed.
type vehicleProgress struct {
	Window int    `json:"window"`
	Cursor string `json:"cursor,omitempty"`
	Done   bool   `json:"done,omitempty"`
}

type sweepMark struct {
	At time.Time `json:"at"`
}

func checkpoint(key string, v any) sink.Checkpoint {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal checkpoint %q: %v", key, err)) // only our own types
	}
	return sink.Checkpoint{Key: key, Value: b}
}

func decodeCheckpoint(key string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode checkpoint %q: %w", key, err)
	}
	return nil
}
