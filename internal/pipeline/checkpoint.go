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

// Checkpoint keys in the compacted <topic>.checkpoints topic. A job's keys
// start with the mode and a scope derived from what it fetches, so a backfill
// of another range, or a live tail of other fleets, keeps its own progress;
// the claims of every job share one prefix, the topic's coverage ledger.
//
//	ledger/claim/<mode>-<job>    ledger.Claim: what the job publishes, written once
//	ledger/release/<mode>-<job>  ledger.Release: where an operator ended the claim
//	backfill/<job>/v/<vehicle>   vehicleProgress: where the vehicle's walk stands, or done
//	backfill/<job>/done          backfillDone: the job finished
//	run/<scope>/v/<vehicle>      vehicleState: the vehicle's last published and newest seen records
//	run/<scope>/sweep            sweepMark: when the last sweep finished
const (
	ledgerPrefix   = "ledger/"
	claimPrefix    = "ledger/claim/"
	releasePrefix  = "ledger/release/"
	backfillPrefix = "backfill/"
	runPrefix      = "run/"
)

// BackfillJob names a backfill: a short hash of its range and fleet filters,
// stable across runs. A zero to is a range up to "now", resolved when the job
// first runs and kept in its claim, so the same command resumes the same job.
// Its checkpoints are kept under it, and the bridge's default transactional
// id includes it.
func BackfillJob(from, to time.Time, fleetIDs, fleetRefs []string) string {
	end := "now"
	if !to.IsZero() {
		end = to.UTC().Format(time.RFC3339Nano)
	}
	return scopeID("backfill", from.UTC().Format(time.RFC3339Nano), end, filterKey(fleetIDs, fleetRefs))
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

// backfillDone marks a finished backfill.
type backfillDone struct {
	Vehicles int       `json:"vehicles"`
	DoneAt   time.Time `json:"done_at"`
}

// vehicleProgress is where a vehicle's backfill resumes, or Done.
type vehicleProgress struct {
	At   walkPos `json:"at"`
	Done bool    `json:"done,omitempty"`
	Gone bool    `json:"gone,omitempty"` // done because the API refused its history (403/404)
}

type sweepMark struct {
	At time.Time `json:"at"`
	// FullAt is when the last full sweep (one that skipped no vehicle
	// covered by pushes) started: the next one reads from LOOKBACK before.
	FullAt time.Time `json:"full_at,omitzero"`
	// Released are the jobs whose claim releases the tail has swept past:
	// a release hands the tail the instants after it, which it reads once.
	Released []string `json:"released,omitempty"`
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
