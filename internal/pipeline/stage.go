package pipeline

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/ledger"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// marker decides whether a record is new. It records the id as published and
// returns true when it was not seen before. at is the time the id is filed
// under (the record's event time), so the set can evict it once the API can
// no longer return it; vehicle is the record's vehicle_id ("" when null).
type marker interface {
	mark(id dedup.ID, at time.Time, vehicle string) bool
}

// published is one record a batch handles, as the live tail needs it to
// advance each vehicle's last published point.
type published struct {
	vehicleID string
	id        dedup.ID
	at        time.Time
	dead      bool // dead-lettered, not published
	// synthetic: at is the fetch time, the record having neither
	// occurred_at nor created_at; it says nothing of where the vehicle's
	// track is.
	synthetic bool
	// elsewhere: the record belongs to an earlier claim on the topic, whose
	// job publishes it; this one only moves past it.
	elsewhere bool
}

// stages holds the per-record stages: decode, validate, own, dedup, enrich,
// encode. It is safe for concurrent use; callers serialise access to the
// marker.
type stages struct {
	enc    *avro.Encoder
	enr    *geo.Enricher
	future time.Duration // how far ahead of the bridge's clock occurred_at may be
	// maxRecord is the largest record the topics take (key, value and
	// headers; sink.RecordLimit), 0 for no limit. A larger event is a dead
	// letter, and a larger dead letter's value is cut to fit.
	maxRecord int
}

// page is one API page after the stages: what to commit and what it was.
type page struct {
	batch     sink.Batch
	published []published
	fetched   int
	dups      int
	elsewhere int // records an earlier claim owns
	// maxStep bounds how far a record may move its vehicle's last handled
	// point (liveState.advance); 0: no bound.
	maxStep time.Duration
	pushed  bool // the records came by push
	// holes, for a snapshot page after the first poll, makes a record that
	// lies more than GapThreshold after its vehicle's last handled point
	// record the hole as the vehicle's gap under way (liveState.advance).
	holes *holeRule

	// arena holds every event's key and value: a slice per event would be
	// two allocations per record. Sized for typical events (about 900
	// bytes); when it grows, earlier events keep the old array.
	arena []byte
}

// decoded is one API item decoded and validated once, before the stages
// (decodeAll, or a walk's pageDecoder as the page is split): the live tail
// looks at records before it stages them.
type decoded struct {
	raw json.RawMessage
	loc record.Location
	err error // decode or validation error
}

// decodeAll decodes and validates items.
func decodeAll(items []json.RawMessage) []decoded {
	return decodeWith(items, (*record.Location).Validate)
}

// decodePushed decodes and validates records pushed by webhook, which
// carry no source_data_hash.
func decodePushed(items []json.RawMessage) []decoded {
	return decodeWith(items, (*record.Location).ValidatePushed)
}

func decodeWith(items []json.RawMessage, validate func(*record.Location) error) []decoded {
	out := make([]decoded, len(items))
	for i, raw := range items {
		d := &out[i]
		d.raw = raw
		d.err = record.Decode(raw, &d.loc)
		if d.err == nil {
			d.err = validate(&d.loc)
		}
	}
	return out
}

// owner decides, per record, whether this job publishes it or leaves it to
// an earlier claim (nil: the job owns everything). fleet is the fleet of the
// vehicle whose pages these are, as the job fetched it; "" decides each
// record by its own fleet_id (the snapshot, whose records are each
// vehicle's newest).
type owner struct {
	view  *ledger.View
	fleet string
	// fleetOf, when set, gives a vehicle's fleet for records of several
	// vehicles (the snapshot): a record whose own fleet_id is missing is
	// decided like the vehicle's others.
	fleetOf func(vehicle string) string
	// strict also requires the record's fleet to be one the job's own
	// claim selects (pushed records: a subscription's filters are not the
	// tail's).
	strict bool
}

func (o owner) owns(loc *record.Location, at time.Time) bool {
	if o.view == nil {
		return true
	}
	f := o.fleet
	if f == "" && o.fleetOf != nil && loc.VehicleID != nil {
		f = o.fleetOf(*loc.VehicleID)
	}
	f = cmp.Or(f, loc.FleetID)
	if o.strict && !o.view.Selects(f) {
		return false
	}
	return o.view.Owns(f, at)
}

// run passes raw items through the stages. mark is called for every record
// that could be published (and every dead letter, so a bad record that the
// API returns again is not dead-lettered twice).
func (s *stages) run(items []json.RawMessage, ingestedAt time.Time, mk marker, own owner) *page {
	p := s.newPage(len(items))
	var loc record.Location
	for _, raw := range items {
		loc = record.Location{}
		err := record.Decode(raw, &loc)
		if err == nil {
			err = loc.Validate()
		}
		s.one(p, raw, &loc, err, ingestedAt, mk, own)
	}
	return p
}

// runDecoded is run over items decoded before (decodeAll, a walk's pageDecoder).
func (s *stages) runDecoded(items []decoded, ingestedAt time.Time, mk marker, own owner) *page {
	p := s.newPage(len(items))
	for i := range items {
		s.one(p, items[i].raw, &items[i].loc, items[i].err, ingestedAt, mk, own)
	}
	return p
}

func (s *stages) newPage(n int) *page {
	p := &page{fetched: n, published: make([]published, 0, n)}
	if a, ok := arenas.Get().(*[]byte); ok && cap(*a) >= n*1024 {
		p.arena = (*a)[:0]
	} else {
		// Sized for a full page whatever n, so that every arena in the
		// pool serves every page: pushes and sweeps make small ones.
		p.arena = make([]byte, 0, max(n, catena.MaxPageSize)*1024)
	}
	p.batch.Events = make([]sink.Event, 0, n)
	return p
}

// arenas recycles the arenas of committed pages (page.recycle): a fresh
// one is a megabyte to allocate and clear for every full page, and most of
// the garbage a backfill makes.
var arenas sync.Pool

// maxPooledArena bounds the arenas kept: a full page's is about 1 MiB.
const maxPooledArena = 8 << 20

// recycle gives the page's arena back for a later page. The caller calls
// it once the page is committed (the sink has done with the events' keys
// and values) and it has read what it needs of them, and must not use the
// page's events afterwards; a page whose commit failed is left to the
// collector. Every path that commits pages recycles them: one that did not
// would take the pool's arenas and leave the others allocating.
func (p *page) recycle() {
	if a := p.arena[:0]; cap(a) > 0 && cap(a) <= maxPooledArena {
		arenas.Put(&a)
	}
	p.arena = nil
}

// one passes one decoded record (err: why it is invalid) through the rest of
// the stages.
func (s *stages) one(p *page, raw json.RawMessage, loc *record.Location, err error, ingestedAt time.Time, mk marker, own owner) {
	if err == nil {
		err = loc.CheckFuture(ingestedAt, s.future)
	}
	if err != nil {
		s.deadLetter(p, raw, loc, err, ingestedAt, mk, own)
		return
	}
	id, _ := dedup.ParseID(loc.ID) // Validate checked it
	at := eventTime(loc)
	if !own.owns(loc, at) {
		p.elsewhere++
		if loc.VehicleID != nil {
			p.published = append(p.published, published{vehicleID: *loc.VehicleID, id: id, at: at, elsewhere: true})
		}
		return
	}
	if !mk.mark(id, at, deref(loc.VehicleID)) {
		p.dups++
		return
	}
	s.enr.Enrich(loc)
	keyStart := len(p.arena)
	p.arena = append(p.arena, loc.FleetID...)
	start := len(p.arena)
	p.arena, err = s.enc.Append(p.arena, loc, ingestedAt)
	if err != nil {
		p.arena = p.arena[:keyStart]
		s.deadLetter(p, raw, loc, fmt.Errorf("encode avro: %w", err), ingestedAt, markAlways{}, owner{})
		return
	}
	if size := eventSize(len(p.arena)-keyStart, loc); s.maxRecord > 0 && size > s.maxRecord {
		p.arena = p.arena[:keyStart]
		err := &record.Invalid{Field: "record", Value: strconv.Itoa(size) + " bytes", Reason: record.ReasonTooLarge,
			Msg: "the event is larger than the topics take (" + strconv.Itoa(s.maxRecord) + " bytes, from max.message.bytes)"}
		s.deadLetter(p, raw, loc, err, ingestedAt, markAlways{}, owner{})
		return
	}
	ev := sink.Event{
		Key:    p.arena[keyStart:start:start],
		Value:  p.arena[start:len(p.arena):len(p.arena)],
		ID:     loc.ID,
		Source: loc.SourceName,
	}
	if loc.OccurredAt != nil {
		ev.OccurredAt = *loc.OccurredAt
	}
	if loc.VehicleID != nil {
		ev.VehicleID = *loc.VehicleID
		p.published = append(p.published, published{vehicleID: ev.VehicleID, id: id, at: at})
	}
	p.batch.Events = append(p.batch.Events, ev)
}

// eventSize is a bound on the size of an event's record: its key and value
// (kv bytes together) and its headers.
func eventSize(kv int, loc *record.Location) int {
	const headerNames = len(sink.HeaderID + sink.HeaderSource + sink.HeaderVehicleID + sink.HeaderOccurredAt)
	return kv + headerNames + len(loc.ID) + len(loc.SourceName) + len(deref(loc.VehicleID)) + len(time.RFC3339Nano)
}

// markAlways admits every record: an encode failure of an id already marked
// must still reach the dead-letter topic.
type markAlways struct{}

func (markAlways) mark(dedup.ID, time.Time, string) bool { return true }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *stages) deadLetter(p *page, raw json.RawMessage, loc *record.Location, err error, ingestedAt time.Time, mk marker, own owner) {
	key := deadLetterKey(loc.ID, raw)
	at := eventTime(loc)
	var inv *record.Invalid
	if errors.As(err, &inv) && inv.Reason == record.ReasonFutureTime {
		at = time.Time{} // a time in the future says nothing of the vehicle's track
	}
	synthetic := at.IsZero()
	if synthetic {
		at = ingestedAt
	} else if !own.owns(loc, at) {
		// The job that owns its instant dead-letters it.
		p.elsewhere++
		return
	}
	if !mk.mark(key, at, deref(loc.VehicleID)) {
		p.dups++
		return
	}
	code := "encode"
	if errors.As(err, &inv) {
		code = inv.Reason
	}
	// A copy: a walk gives its page's items back for the next page
	// once the page is committed (catena.ReleaseItems).
	value := bytes.Clone(raw)
	reason := err.Error()
	if s.maxRecord > 0 && len(value)+len(reason)+len(loc.ID)+len(loc.FleetID)+200 > s.maxRecord {
		// The raw record cannot go to the dead-letter topic whole: its
		// start does, the header says so, and the id header keeps it
		// findable.
		keep := max(0, s.maxRecord-len(reason)-len(loc.ID)-len(loc.FleetID)-300)
		reason += " (value cut to its first " + strconv.Itoa(keep) + " of " + strconv.Itoa(len(value)) + " bytes)"
		value = value[:keep]
	}
	dl := sink.DeadLetter{Value: value, ID: loc.ID, Reason: reason, Code: code,
		VehicleID: deref(loc.VehicleID), OccurredAt: eventTime(loc)}
	if loc.FleetID != "" {
		dl.Key = []byte(loc.FleetID)
	}
	p.batch.DeadLetters = append(p.batch.DeadLetters, dl)
	if record.IsUUID(dl.VehicleID) {
		// Vehicle state only under an id the API takes for history
		// requests: a bad vehicle_id would make every sweep fail on it.
		p.published = append(p.published, published{vehicleID: dl.VehicleID, id: key, at: at, dead: true, synthetic: synthetic})
	}
}

// eventTime is the time a record's id is filed under: occurred_at, or
// created_at when the API sent no occurred_at.
func eventTime(l *record.Location) time.Time {
	if l.OccurredAt != nil {
		return *l.OccurredAt
	}
	return l.CreatedAt
}

// deadLetterKey is the dedup key of a dead letter: its id, or when it has no
// usable id a hash of its raw bytes, so the same bad record returned again is
// still dead-lettered once (and a restart can compute the key again from the
// dead-letter topic).
func deadLetterKey(id string, raw []byte) dedup.ID {
	key, ok := dedup.ParseID(id)
	if !ok {
		sum := sha256.Sum256(raw)
		copy(key[:], sum[:16])
	}
	return key
}
