package record

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// fieldKind is how a field's JSON value is decoded.
type fieldKind uint8

const (
	kString    fieldKind = iota // string → string; null leaves it empty
	kOptString                  // string or null → *string
	kOptFloat                   // number, numeric string or null → *float64
	kTime                       // date-time → time.Time; null leaves it zero (Validate requires it)
	kOptTime                    // date-time or null → *time.Time
	kRaw                        // any JSON but null → json.RawMessage, a sub-slice of the input
	kH3                         // h3_index_11: integer, hex or decimal string → H3[11]
	kLocation                   // GeoJSON Point → Longitude, Latitude, HasPosition, location.altitude
	kObject                     // an object whose members are the fields named "<name>.<member>"
)

// fieldSpec is one field Decode reads: its JSON name, how its value is
// decoded, and where it goes in Location (the accessor of its kind).
type fieldSpec struct {
	// name is the JSON key; "parent.member" for a member of an object field
	// (inferred_address.city), or a value another decoder fills
	// (location.altitude). It names the field in errors.
	name    string
	kind    fieldKind
	badType string // the Reason of a value of the wrong type; default ReasonBadType

	str    func(*Location) *string
	optStr func(*Location) **string
	optNum func(*Location) **float64
	tm     func(*Location) *time.Time
	optTm  func(*Location) **time.Time
	raw    func(*Location) *json.RawMessage
}

// fields is every field of VehicleLocationRead that Decode reads. Adding a
// field to the decoder is one line here (beside its field in Location):
// the slots, the dispatch by key and the assignment to Location all come
// from this table (newTable).
//
// The order is the order in which the API writes the fields (the
// simulator's wire.go follows it): Decode first tries the key of the field
// after the one it just read, and only looks a key up when that guess
// fails. Any order decodes the same; this one is the fast one.
var fields = []fieldSpec{
	{name: "fleet_id", kind: kString, badType: ReasonBadFleetID, str: func(l *Location) *string { return &l.FleetID }},
	{name: "fleet_ref", kind: kOptString, optStr: func(l *Location) **string { return &l.FleetRef }},
	{name: "id", kind: kString, badType: ReasonBadID, str: func(l *Location) *string { return &l.ID }},
	{name: "created_at", kind: kTime, tm: func(l *Location) *time.Time { return &l.CreatedAt }},
	{name: "updated_at", kind: kTime, tm: func(l *Location) *time.Time { return &l.UpdatedAt }},
	{name: "deleted_at", kind: kOptTime, optTm: func(l *Location) **time.Time { return &l.DeletedAt }},
	{name: "connection_id", kind: kString, str: func(l *Location) *string { return &l.ConnectionID }},
	{name: "tsp_id", kind: kOptString, optStr: func(l *Location) **string { return &l.TspID }},
	{name: "tsp_slug", kind: kOptString, optStr: func(l *Location) **string { return &l.TspSlug }},
	{name: "source_name", kind: kString, str: func(l *Location) *string { return &l.SourceName }},
	{name: "source_data", kind: kRaw, raw: func(l *Location) *json.RawMessage { return &l.SourceData }},
	{name: "source_id", kind: kString, str: func(l *Location) *string { return &l.SourceID }},
	{name: "source_data_hash", kind: kString, str: func(l *Location) *string { return &l.SourceDataHash }},
	{name: "occurred_at", kind: kOptTime, optTm: func(l *Location) **time.Time { return &l.OccurredAt }},
	{name: "execution_id", kind: kOptString, optStr: func(l *Location) **string { return &l.ExecutionID }},
	{name: "schedule_id", kind: kOptString, optStr: func(l *Location) **string { return &l.ScheduleID }},
	{name: "extras", kind: kRaw, raw: func(l *Location) *json.RawMessage { return &l.Extras }},
	{name: "vehicle_id", kind: kOptString, optStr: func(l *Location) **string { return &l.VehicleID }},
	{name: "driver_id", kind: kOptString, optStr: func(l *Location) **string { return &l.DriverID }},
	{name: "co_driver_id", kind: kOptString, optStr: func(l *Location) **string { return &l.CoDriverID }},
	{name: "source_driver_id", kind: kOptString, optStr: func(l *Location) **string { return &l.SourceDriverID }},
	{name: "source_vehicle_id", kind: kOptString, optStr: func(l *Location) **string { return &l.SourceVehicleID }},
	{name: "source_co_driver_id", kind: kOptString, optStr: func(l *Location) **string { return &l.SourceCoDriverID }},
	{name: "location", kind: kLocation},
	{name: "location.altitude", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.Altitude }},
	{name: "h3_index_11", kind: kH3},
	{name: "speed", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.Speed }},
	{name: "odometer", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.Odometer }},
	{name: "fuel_level", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.FuelLevel }},
	{name: "fuel_value", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.FuelValue }},
	{name: "engine_hours", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.EngineHours }},
	{name: "oil_pressure", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.OilPressure }},
	{name: "coolant_temperature", kind: kOptFloat, optNum: func(l *Location) **float64 { return &l.CoolantTemperature }},
	{name: "inferred_address", kind: kObject},
	{name: "inferred_address.city", kind: kOptString, optStr: func(l *Location) **string { return &l.InferredCity }},
	{name: "inferred_address.province", kind: kOptString, optStr: func(l *Location) **string { return &l.InferredProvince }},
	{name: "inferred_address.country_code", kind: kOptString, optStr: func(l *Location) **string { return &l.InferredCountryCode }},
	{name: "speed_unit", kind: kOptString, optStr: func(l *Location) **string { return &l.SpeedUnit }},
	{name: "odometer_unit", kind: kOptString, optStr: func(l *Location) **string { return &l.OdometerUnit }},
	{name: "fuel_value_unit", kind: kOptString, optStr: func(l *Location) **string { return &l.FuelValueUnit }},
	{name: "oil_pressure_unit", kind: kOptString, optStr: func(l *Location) **string { return &l.OilPressureUnit }},
	{name: "coolant_temperature_unit", kind: kOptString, optStr: func(l *Location) **string { return &l.CoolantTemperatureUnit }},
}

// The decoder's fixed arrays hold at most this many values of each kind; a
// table with more is refused by newTable (raise the bound).
// They are close to the table's counts because every decoded record
// allocates one boxes value of this size.
const (
	maxStr    = 32 // kString and kOptString together: strSet is a uint32
	maxOptStr = 22
	maxFloat  = 10
	maxOptTm  = 3
)

// table is fields made ready to decode: each field's slot in its kind's
// array, and a perfect hash from JSON key to field, for the top level and
// for each object field's members.
type table struct {
	specs  []fieldSpec
	kind   []fieldKind // per spec: its kind, apart from specs for the decoder's dispatch
	slot   []int8      // per spec: its index among the strings, floats or optional times
	bySlot [3][]int16  // per kind group (strings, floats, optional times): spec index by slot
	off    []uintptr   // per spec: its accessor's field offset in Location, for finish
	box    []int8      // per kOptString spec: its index in boxes.s

	// Where finish puts each slot's value, by slot: the field's offset in
	// Location and, for a string, its index in boxes.s (-1: a plain
	// string, stored in place). One load per value, where going through
	// bySlot, kind, off and box was four.
	strTo [maxStr]struct {
		off uintptr
		box int8
	}
	floatTo  [maxFloat]uintptr
	timeTo   [maxOptTm]uintptr
	top      keyIndex          // top-level keys
	members  map[int]*keyIndex // per kObject spec: its members' keys
	memberOf map[int]uint32    // per kObject spec: the strSet bits of its string members
	altitude int               // float slot of location.altitude

	// guess is, per spec, its key as the API writes it and the spec
	// expected after it at the same level: the guess Decode tries first.
	guess []keyGuess
}

// keyGuess is a spec's JSON key with its quotes and the colon after it
// ("id": for id, "city": for inferred_address.city), held as the words the
// decoder compares with the input in place, and next, the spec expected
// after it at the same level (-1 after the last one). The words are in the
// table itself, and the compare is three words whatever the key's length,
// with no loop, so that it inlines: comparing through the key's string was
// three dependent loads and two calls, a sixth of decoding a record.
type keyGuess struct {
	// n is the key's length. The input's eight bytes at off[k] are
	// compared with w[k]: words at 0, 8 and n-8, which a key of 16 bytes
	// or less compares twice. A key shorter than a word or longer than
	// maxGuess is not matched in place (n is then larger than any
	// input): the decoder compares it through q instead.
	n    int
	q    string
	off  [3]int
	w    [3]uint64
	next int16
}

// maxGuess is the longest quoted key keyGuess holds: three words.
const maxGuess = 24

func newKeyGuess(q string) keyGuess {
	g := keyGuess{n: len(q), q: q, next: -1}
	if len(q) < 8 || len(q) > maxGuess {
		g.n = math.MaxInt
		return g
	}
	g.off = [3]int{0, min(8, len(q)-8), len(q) - 8}
	for k, off := range g.off {
		g.w[k] = binary.LittleEndian.Uint64([]byte(q[off : off+8]))
	}
	return g
}

// std is the table of fields, which Decode uses.
var std = mustTable(fields)

func mustTable(specs []fieldSpec) *table {
	t, err := newTable(specs)
	if err != nil {
		panic("record: " + err.Error())
	}
	return t
}

// newTable checks specs and derives the slots and key indexes from them.
func newTable(specs []fieldSpec) (*table, error) {
	t := &table{specs: specs, kind: make([]fieldKind, len(specs)), slot: make([]int8, len(specs)), box: make([]int8, len(specs)), off: make([]uintptr, len(specs)),
		members: map[int]*keyIndex{}, memberOf: map[int]uint32{}, altitude: -1,
		guess: make([]keyGuess, len(specs))}
	// Per level ("" for the top, else the object field's name): its first
	// spec, and the last one so far, whose next is the spec being added.
	first, prev := map[string]int{}, map[string]int{}
	follow := func(level string, i int, key string) {
		t.guess[i] = newKeyGuess(strconv.Quote(key) + ":")
		if p, ok := prev[level]; ok {
			t.guess[p].next = int16(i)
		} else {
			first[level] = i
		}
		prev[level] = i
	}
	var nStr, nOptStr, nFloat, nOptTm int
	top := map[string]int{}
	objects := map[string]int{}
	specs = slices.Clone(specs)
	t.specs = specs
	for i := range specs {
		sp := &specs[i]
		if sp.badType == "" {
			sp.badType = ReasonBadType
		}
		t.kind[i] = sp.kind
		switch sp.kind {
		case kString, kOptString:
			t.slot[i] = int8(nStr)
			t.bySlot[0] = append(t.bySlot[0], int16(i))
			nStr++
			if sp.kind == kOptString {
				t.box[i] = int8(nOptStr)
				nOptStr++
			}
		case kOptFloat:
			t.slot[i] = int8(nFloat)
			t.bySlot[1] = append(t.bySlot[1], int16(i))
			nFloat++
		case kOptTime:
			t.slot[i] = int8(nOptTm)
			t.bySlot[2] = append(t.bySlot[2], int16(i))
			nOptTm++
		}
		off, ok := accessorOffset(*sp)
		if !ok {
			return nil, fmt.Errorf("field %s: no accessor for its kind", sp.name)
		}
		t.off[i] = off
		parent, member, nested := strings.Cut(sp.name, ".")
		switch {
		case !nested:
			top[sp.name] = i
			follow("", i, sp.name)
			if sp.kind == kObject {
				objects[sp.name] = i
			}
		case sp.name == "location.altitude":
			t.altitude = int(t.slot[i])
		default:
			o, ok := objects[parent]
			if !ok {
				return nil, fmt.Errorf("field %s: no object field %q before it", sp.name, parent)
			}
			if sp.kind != kString && sp.kind != kOptString {
				return nil, fmt.Errorf("field %s: object members are strings", sp.name)
			}
			m := t.members[o]
			if m == nil {
				m = &keyIndex{byName: map[string]int{}}
				t.members[o] = m
			}
			m.byName[member] = i
			follow(parent, i, member)
			t.memberOf[o] |= 1 << t.slot[i]
		}
	}
	if nStr > maxStr || nOptStr > maxOptStr || nFloat > maxFloat || nOptTm > maxOptTm {
		return nil, fmt.Errorf("%d strings (%d optional), %d floats, %d optional times: above the decoder's bounds", nStr, nOptStr, nFloat, nOptTm)
	}
	for slot, i := range t.bySlot[0] {
		t.strTo[slot].off, t.strTo[slot].box = t.off[i], -1
		if t.kind[i] == kOptString {
			t.strTo[slot].box = t.box[i]
		}
	}
	for slot, i := range t.bySlot[1] {
		t.floatTo[slot] = t.off[i]
	}
	for slot, i := range t.bySlot[2] {
		t.timeTo[slot] = t.off[i]
	}
	if t.altitude < 0 {
		return nil, fmt.Errorf("no location.altitude field")
	}
	var err error
	if t.top, err = newKeyIndex(top); err != nil {
		return nil, err
	}
	t.top.first = -1
	if i, ok := first[""]; ok {
		t.top.first = int16(i)
	}
	for o, m := range t.members {
		k, err := newKeyIndex(m.byName)
		if err != nil {
			return nil, err
		}
		k.first = int16(first[specs[o].name])
		t.members[o] = &k
	}
	return t, nil
}

// accessorOffset returns the offset in Location of the field sp's accessor
// points to, and false when sp lacks the accessor its kind needs. finish
// and the decoder store through the offsets: the accessors keep the table
// type-checked, and calling one per field and record would cost a sixth of
// Decode.
func accessorOffset(sp fieldSpec) (uintptr, bool) {
	var l Location
	base := uintptr(unsafe.Pointer(&l))
	var p unsafe.Pointer
	switch sp.kind {
	case kString:
		if sp.str == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.str(&l))
	case kOptString:
		if sp.optStr == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.optStr(&l))
	case kOptFloat:
		if sp.optNum == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.optNum(&l))
	case kTime:
		if sp.tm == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.tm(&l))
	case kOptTime:
		if sp.optTm == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.optTm(&l))
	case kRaw:
		if sp.raw == nil {
			return 0, false
		}
		p = unsafe.Pointer(sp.raw(&l))
	default:
		return 0, true
	}
	return uintptr(p) - base, true
}

// keyIndex finds a field by its JSON key without hashing the whole key: a
// key's length and its first and last bytes pick one of 256 entries, and
// one comparison confirms it. newKeyIndex picks multipliers that leave no
// two keys on one entry.
type keyIndex struct {
	mulLen, mulFirst uint
	at               [256]int16 // spec index + 1; 0: no key
	names            [256]string
	byName           map[string]int // while building
	first            int16          // the spec expected first (table.next), -1 for none
}

func (k *keyIndex) hash(key []byte) uint {
	n := uint(len(key))
	if n == 0 {
		return 0
	}
	return (n*k.mulLen + uint(key[0])*k.mulFirst + uint(key[n-1])) & 255
}

// lookup returns the spec index of key, or -1.
func (k *keyIndex) lookup(key []byte) int {
	h := k.hash(key)
	if i := k.at[h]; i != 0 && k.names[h] == string(key) {
		return int(i) - 1
	}
	return -1
}

func newKeyIndex(byName map[string]int) (keyIndex, error) {
	for mulLen := uint(1); mulLen < 256; mulLen++ {
		for _, mulFirst := range []uint{1, 3, 5, 7, 11, 13, 17, 31, 37, 61} {
			k := keyIndex{mulLen: mulLen, mulFirst: mulFirst}
			ok := true
			for name, i := range byName {
				h := k.hash([]byte(name))
				if k.at[h] != 0 {
					ok = false
					break
				}
				k.at[h], k.names[h] = int16(i+1), name
			}
			if ok {
				return k, nil
			}
		}
	}
	return keyIndex{}, fmt.Errorf("no collision-free key index for %d keys", len(byName))
}
