// Package verify checks what a read_committed consumer finds in the topics
// against the simulator's ground truth. It is shared by the end-to-end tests
// (internal/pipeline) and the crash tests (cmd/catena-bridge), against kfake
// or a real broker; it decodes with github.com/twmb/avro, not the encoder's
// library, and computes partitions with its own murmur2.
package verify

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/uber/h3-go/v4"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// Murmur2 is Kafka's Java Utils.murmur2, written here independently of
// franz-go, so the test checks the partitioner rather than trusting it.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Partition is the Java client's default partition of a keyed record:
// Utils.toPositive(Utils.murmur2(key)) % partitions.
func Partition(key []byte, partitions int32) int32 {
	return (Murmur2(key) & 0x7fffffff) % partitions
}

// Reporter is what Topic reports to; *testing.T and *testing.B are ones.
// The package takes it rather than importing testing, which a production
// package must not.
type Reporter interface {
	Helper()
	Fatal(args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// Topic verifies what a read_committed consumer finds against the
// simulator's ground truth: every valid point exactly once as an event
// (decoded with twmb/avro, not the encoder's library), keyed and partitioned
// by fleet_id, H3 parents and coordinates intact; every malformed point
// exactly once in the dead-letter topic with its reason.
func Topic(t Reporter, events, dlq []*kgo.Record, valid, malformed map[string]catenasim.Point, partitions int) {
	t.Helper()
	Window(t, events, dlq, valid, malformed, nil, partitions)
}

// Window is Topic for a run whose edges are not due: a bridge that went on
// publishing, or that reached back before the points it must publish.
// Points in maybe (not in valid or malformed) may be in the topics, at most
// once each and checked like the others, or absent.
func Window(t Reporter, events, dlq []*kgo.Record, valid, malformed, maybe map[string]catenasim.Point, partitions int) {
	t.Helper()
	schema, err := avro.Parse(schemas.VehicleLocation, avro.WithCustomType(avro.CustomType{LogicalType: "timestamp-micros"}))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]int{}
	noLocation := 0
	for _, r := range events {
		if len(r.Value) < 5 || r.Value[0] != 0 {
			bad("%s[%d]@%d: not Confluent framing", r.Topic, r.Partition, r.Offset)
			continue
		}
		var ev map[string]any
		if _, err := schema.Decode(r.Value[5:], &ev); err != nil {
			bad("%s[%d]@%d: decode: %v", r.Topic, r.Partition, r.Offset, err)
			continue
		}
		id, _ := ev["id"].(string)
		seen[id]++
		if Header(r, "catena-id") != id {
			bad("event %s: header catena-id = %q", id, Header(r, "catena-id"))
		}
		p, ok := valid[id]
		if !ok {
			p, ok = maybe[id]
			ok = ok && p.Malformed == ""
		}
		if !ok {
			bad("event %s: not a valid point of the simulator in range", id)
			continue
		}
		if string(r.Key) != p.FleetID || ev["fleet_id"] != p.FleetID {
			bad("event %s: key %q, fleet_id %v, want %q", id, r.Key, ev["fleet_id"], p.FleetID)
		}
		if want := Partition(r.Key, int32(partitions)); r.Partition != want {
			bad("event %s: partition %d, want murmur2 %d", id, r.Partition, want)
		}
		if ev["vehicle_id"] != p.VehicleID {
			bad("event %s: vehicle_id %v, want %s", id, ev["vehicle_id"], p.VehicleID)
		}
		if got, want := ev["occurred_at"], p.OccurredAt.UnixMicro(); got != want {
			bad("event %s: occurred_at %v, want %d", id, got, want)
		}
		// The simulator stamps created_at and updated_at with the time the
		// record reached the API.
		for _, f := range []string{"created_at", "updated_at"} {
			if got, want := ev[f], p.VisibleAt.UnixMicro(); got != want {
				bad("event %s: %s %v, want %d", id, f, got, want)
			}
		}
		if ing, _ := ev["ingested_at"].(int64); ing < p.VisibleAt.UnixMicro() {
			bad("event %s: ingested_at %v before the record reached the API (%d)", id, ev["ingested_at"], p.VisibleAt.UnixMicro())
		}
		if p.NoLocation {
			// A record without position: no coordinates, no cells.
			for name, v := range ev {
				if (name == "latitude" || name == "longitude" || strings.HasPrefix(name, "h3_index_")) && v != nil {
					bad("event %s: no location on the wire, but %s = %v", id, name, v)
				}
			}
			noLocation++
			continue
		}
		lat, _ := ev["latitude"].(float64)
		lon, _ := ev["longitude"].(float64)
		if math.Abs(lat-p.Lat) > 1e-9 || math.Abs(lon-p.Lon) > 1e-9 {
			bad("event %s: position %v,%v, want %v,%v", id, lat, lon, p.Lat, p.Lon)
		}
		want11 := int64(p.H3)
		if p.H3NullOnWire {
			want11 = int64(h3.LatLngToCell(h3.NewLatLng(p.Lat, p.Lon), 11))
		}
		if ev["h3_index_11"] != want11 {
			bad("event %s: h3_index_11 %v, want %d", id, ev["h3_index_11"], want11)
			continue
		}
		for res := 0; res <= 10; res++ {
			name := fmt.Sprintf("h3_index_%d", res)
			var want any
			if res == 9 || res == 7 || res == 5 {
				want = int64(h3.Cell(want11).Parent(res))
			}
			if ev[name] != want {
				bad("event %s: %s = %v, want %v", id, name, ev[name], want)
			}
		}
	}
	missing := 0
	for id := range valid {
		if seen[id] == 0 {
			missing++
			bad("valid point %s (vehicle %s, %s) not published", id, valid[id].VehicleID, valid[id].OccurredAt)
		}
	}
	dups := 0
	for id, n := range seen {
		if n > 1 {
			dups++
			bad("event %s published %d times", id, n)
		}
	}

	dlqSeen := map[string]int{}
	for _, r := range dlq {
		id := Header(r, "catena-id")
		dlqSeen[id]++
		p, ok := malformed[id]
		if !ok {
			p, ok = maybe[id]
			ok = ok && p.Malformed != ""
		}
		if !ok {
			bad("dead letter %q: not a malformed point in range", id)
			continue
		}
		reason, code := Header(r, "catena-error"), Header(r, "catena-error-code")
		if reason == "" || code == "" {
			bad("dead letter %s: no reason (catena-error %q, catena-error-code %q)", id, reason, code)
		}
		if !strings.Contains(string(r.Value), id) {
			bad("dead letter %s: value is not the raw record", id)
		}
		_ = p
	}
	for id, n := range dlqSeen {
		if _, ok := maybe[id]; ok && n > 1 {
			bad("dead letter %s: %d times, want at most 1", id, n)
		}
	}
	for id, p := range malformed {
		if dlqSeen[id] != 1 {
			bad("malformed point %s (%s) in the DLQ %d times, want 1", id, p.Malformed, dlqSeen[id])
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%d events (%d distinct, want %d valid; %d missing, %d duplicated), %d dead letters (want %d):\n  %s",
			len(events), len(seen), len(valid), missing, dups, len(dlq), len(malformed), strings.Join(problems, "\n  "))
	}
	t.Logf("checked %d events (%d valid points, %d without location) and %d dead letters (%d malformed points)", len(events), len(valid), noLocation, len(dlq), len(malformed))
}

// Header returns the value of r's header key, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Truth returns the simulator's points of every vehicle with occurred_at in
// [from, to) that are visible at asOf, split into what must be published
// (valid) and what must be dead-lettered (malformed), by record id.
func Truth(sim *catenasim.Server, from, to, asOf time.Time) (valid, malformed map[string]catenasim.Point) {
	valid, malformed = map[string]catenasim.Point{}, map[string]catenasim.Point{}
	for _, v := range sim.Vehicles() {
		for _, p := range sim.Points(v.ID, from, to) {
			if p.VisibleAt.After(asOf) {
				continue
			}
			if p.Malformed != "" {
				malformed[p.ID] = p
			} else {
				valid[p.ID] = p
			}
		}
	}
	return valid, malformed
}
