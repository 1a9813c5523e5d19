package record

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"time"
	"unsafe"
)

// Decode parses one VehicleLocationRead JSON object into l, overwriting
// every field of l. l.Raw is set to raw, and l.Extras and l.SourceData are
// sub-slices of raw: none of them is copied, so the caller must not modify
// raw while l is in use. Strings are copied (into one allocation per
// record), so they stay valid whatever happens to raw.
//
// Decoding follows the API contract (see the package doc of Location):
//   - every field of VehicleLocationRead; unknown fields are ignored;
//   - location null or absent: HasPosition false. Otherwise it must be a
//     GeoJSON Point whose coordinates are 2 or 3 JSON numbers or numeric
//     strings ("-122.4"), in [lon, lat(, alt)] order;
//   - h3_index_11: a JSON integer (read as a 64-bit integer, never through
//     float64), its hexadecimal string form ("8b2a1072b59ffff", optional 0x),
//     or a decimal string; null or absent leaves H3[11] = 0;
//   - date-times: RFC 3339 with or without fraction, with Z or an offset
//     (or none: read as UTC); converted to UTC;
//   - number fields: JSON numbers or numeric strings, as float64;
//   - extras and source_data: kept as raw JSON (nil when null or absent).
//
// Decode checks types and syntax; Validate checks what a record needs to be
// published (ids, coordinates range, H3 cell validity, required times). A
// malformed JSON document yields Reason "decode"; a field of the wrong type
// yields the reason of that field (e.g. "bad_coordinates", "invalid_h3",
// "bad_timestamp", "bad_number", "bad_type"). Every error is an *Invalid.
//
// On error, l still holds what could be decoded, so that a dead letter can
// name the record: every other field when one field has the wrong type (the
// first such error is returned, after checking the rest of the syntax), the
// fields before the failure when the JSON is malformed.
//
// Decode allocates twice per typical record: once for all its strings and
// once for the values behind its nullable pointer fields.
func Decode(raw []byte, l *Location) error {
	*l = Location{Raw: raw}
	var d decoder
	d.t = std
	d.data = raw
	err := d.record(l)
	if e, ok := err.(*Invalid); err == nil || ok && e.Reason != ReasonDecode {
		if d.ws(); d.pos < len(d.data) {
			err = d.syntax("record")
		}
	}
	d.finish(l)
	return err
}

// DecodeItem decodes the record at the start of b, which may go on past the
// record (b is the rest of a page's items array), and returns the record's
// length n: the result is Decode(b[:n], l), with l.Raw = b[:n], found in
// the one pass that decodes the record. It is how a page is cut into records
// and decoded with each byte scanned once (catena.Pager.ScanItems).
//
// n is 0 when the record is not valid JSON: where it ends is then unknown.
// The caller finds the end by other means and calls Decode on the record,
// for the error that names it.
func DecodeItem(b []byte, l *Location) (n int, err error) {
	return decodeItem(b, l, nil, nil)
}

// Values holds the values behind a Location's pointer fields (FleetRef,
// Speed, OccurredAt, ...), which Decode allocates for each record.
type Values struct{ b boxes }

// DecodeItemInto is DecodeItem with the values behind l's pointer fields
// put in v instead of a new allocation: l points into v, and v is cleared
// and overwritten when it is used again, so neither l nor its pointer
// fields may be used after that. It is for a caller that decodes many records and
// is done with each before it reuses its Values (a backfill page). The
// allocation was a seventh of the CPU of cutting and decoding a page
// (catena.BenchmarkScanLocationPage), most of it the collector's.
//
// s, if not nil, holds l's strings (see Slab); nil allocates them for the
// record, as DecodeItem does.
func DecodeItemInto(b []byte, l *Location, v *Values, s *Slab) (n int, err error) {
	return decodeItem(b, l, &v.b, s)
}

func decodeItem(b []byte, l *Location, box *boxes, slab *Slab) (n int, err error) {
	*l = Location{}
	if box != nil {
		// A string left from the record v held before, in a slot this
		// one does not fill, would keep that record's slab block alive
		// as long as v is reused.
		clear(box.s[:])
	}
	var d decoder
	d.t = std
	d.data = b
	d.box = box
	d.slab = slab
	err = d.record(l)
	if e, ok := err.(*Invalid); ok && e.Reason == ReasonDecode {
		return 0, err
	}
	l.Raw = b[:d.pos:d.pos]
	d.finish(l)
	return d.pos, err
}

type span struct{ off, n int }

type decoder struct {
	scanner
	// The contents of all string fields, materialized as one string at the
	// end. They fill buf, then spill to the heap. (A slice of a local array
	// stored in the decoder would move the array to the heap: the methods
	// store through a pointer.)
	buf   [512]byte
	n     int
	spill []byte
	// tmp is scratch for escaped strings that are parsed, not kept.
	tmp [64]byte

	t      *table // the fields: slots, keys, accessors
	box    *boxes // where finish puts the pointer fields' values; nil: a new one
	slab   *Slab  // where finish puts the strings; nil: a new allocation
	strs   [maxStr]span
	strSet uint32
	fs     [maxFloat]float64
	fSet   uint32
	ts     [maxOptTm]time.Time
	tSet   uint32
}

// boxes holds the values behind a record's pointer fields, so that they
// cost one allocation instead of one each.
type boxes struct {
	s [maxOptStr]string
	f [maxFloat]float64
	t [maxOptTm]time.Time
}

// record decodes the object at d.pos and leaves d.pos just past it.
func (d *decoder) record(l *Location) error {
	var firstErr error
	if d.peek() != '{' {
		if d.pos >= len(d.data) {
			return &Invalid{Field: "record", Value: "", Reason: ReasonDecode, Msg: "empty input"}
		}
		return d.invalidAt("record", ReasonDecode, "not a JSON object", d.pos)
	}
	d.pos++
	if d.peek() == '}' {
		d.pos++
	} else {
		guess := d.t.guess
		next := d.t.top.first
		for {
			// The guessed key, in place (inlined: most keys are); its
			// opening quote is compared with it.
			var (
				i   int
				key []byte
			)
			if g := next; g >= 0 && guess[g].match(d.data[d.pos:]) {
				i = int(g)
				d.pos += guess[g].n
			} else if g >= 0 && hasPrefix(d.data[d.pos:], guess[g].q) {
				// A key too short or too long for match.
				i = int(g)
				d.pos += len(guess[g].q)
			} else if g >= 0 && guess[g].next >= 0 && guess[guess[g].next].match(d.data[d.pos:]) {
				// The guess was left out (source_data, mostly): the
				// key after it.
				i = int(guess[g].next)
				d.pos += guess[i].n
			} else {
				if d.peek() != '"' {
					return d.syntax("record")
				}
				var ok bool
				if i, key, ok = d.key(&d.t.top, -1); !ok {
					return d.syntax("record")
				}
			}
			start := d.pos
			if i >= 0 {
				next = guess[i].next
				// The values as the API writes them (strings without
				// escapes, numbers, date-times, null) are decoded here,
				// without the calls of field and the decoder of their
				// kind. Any other value (escaped, malformed, out of
				// range, of another type, after a space) goes to field,
				// which decodes it or names the fault.
				if d.fast(i, l) {
					// The separator as the API writes it, without
					// spaces; anything else is read below.
					if d.pos < len(d.data) && d.data[d.pos] == ',' {
						d.pos++
						continue
					}
					goto sep
				}
				d.pos = start
			}
			d.ws()
			start = d.pos
			if err := d.field(i, key, l); err != nil {
				if isSyntax(err) {
					return err
				}
				// Keep decoding: the other fields (id, vehicle_id,
				// occurred_at, ...) make the dead letter useful.
				if firstErr == nil {
					firstErr = err
				}
				d.pos = start
				if !d.skip(0) {
					return d.syntaxAt(d.t.name(i, key), start)
				}
			}
		sep:
			c := d.peek()
			d.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				return d.syntaxAt("record", d.pos-1)
			}
		}
	}
	return firstErr
}

// fast decodes the value of field i at d.pos when it is one of the usual
// forms of its kind, and reports whether it did: a plain string (no
// escapes) for a string or a date-time, a number that scanFloat reads
// exactly for a number, an integer of up to 19 digits for the H3 index, a
// location as the API writes it (point), null for an optional field. It
// decodes them as field would. When it reports false, d.pos may have moved: the caller
// resets it and calls field.
func (d *decoder) fast(i int, l *Location) bool {
	if d.pos >= len(d.data) {
		return false
	}
	c := d.data[d.pos]
	slot := d.t.slot[i]
	switch k := d.t.kind[i]; k {
	case kString, kOptString:
		if c == '"' {
			if e := plainEnd(d.data, d.pos+1); e >= 0 {
				d.strs[slot] = d.keep(d.data[d.pos+1 : e])
				d.strSet |= 1 << slot
				d.pos = e + 1
				return true
			}
		} else if c == 'n' && k == kOptString && d.literal("null") {
			d.strSet &^= 1 << slot
			return true
		}
	case kOptFloat:
		if c == '-' || '0' <= c && c <= '9' {
			if f, n, ok := scanFloat(d.data[d.pos:]); n > 0 && ok {
				d.pos += n
				d.fs[slot] = f
				d.fSet |= 1 << slot
				return true
			}
		} else if c == 'n' && d.literal("null") {
			d.fSet &^= 1 << slot
			return true
		}
	case kH3:
		// A JSON integer of up to 19 digits, which cannot overflow;
		// longer ones, fractions and exponents go to h3Field.
		if '1' <= c && c <= '9' {
			var v uint64
			j, end := d.pos, min(len(d.data), d.pos+19)
			for ; j < end && '0' <= d.data[j] && d.data[j] <= '9'; j++ {
				v = v*10 + uint64(d.data[j]-'0')
			}
			if j < len(d.data) && (d.data[j] <= '9' && d.data[j] >= '0' || d.data[j] == '.' || d.data[j] == 'e' || d.data[j] == 'E') {
				return false
			}
			l.H3[11] = int64(v)
			d.pos = j
			return true
		}
	case kLocation:
		return c == '{' && d.point(l)
	case kTime, kOptTime:
		if c == '"' {
			e := plainEnd(d.data, d.pos+1)
			if e < 0 {
				return false
			}
			t, ok := parseTime(d.data[d.pos+1 : e])
			d.pos = e + 1
			if !ok || t.IsZero() {
				return false
			}
			if k == kTime {
				*(*time.Time)(unsafe.Add(unsafe.Pointer(l), d.t.off[i])) = t
			} else {
				d.ts[slot] = t
				d.tSet |= 1 << slot
			}
			return true
		} else if c == 'n' && k == kOptTime && d.literal("null") {
			d.tSet &^= 1 << slot
			return true
		}
	}
	return false
}

// isSyntax reports whether err ends the decoding of a record: malformed
// JSON (ReasonDecode), after which where the record goes on is unknown,
// or an error that is not an *Invalid (none is expected).
func isSyntax(err error) bool {
	e, ok := err.(*Invalid)
	return !ok || e.Reason == ReasonDecode
}

// key scans the key at d.pos (a '"') and the ':' after it, and returns its
// spec in k (-1 for a key the table does not know) and, for an unknown
// key, its content. The spec next is tried first: when the input has its
// key, quotes and colon included, byte for byte, the key is that spec's
// without scanning nor hashing it. ok is false, with d.pos at the fault,
// when the key is not a string or no ':' follows it. The content of an
// unknown key is valid until the next string is read.
func (d *decoder) key(k *keyIndex, next int16) (i int, key []byte, ok bool) {
	if next >= 0 && hasPrefix(d.data[d.pos:], d.t.guess[next].q) {
		d.pos += len(d.t.guess[next].q)
		return int(next), nil, true
	}
	key, raw, ok := d.str()
	if !ok {
		return -1, nil, false
	}
	if raw {
		key = unquote(d.tmp[:0], key)
	}
	if d.peek() != ':' {
		return -1, nil, false
	}
	d.pos++
	return k.lookup(key), key, true
}

// match reports whether b starts with the key g (see keyGuess).
func (g *keyGuess) match(b []byte) bool {
	if len(b) < g.n {
		return false
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return load64(p, g.off[0]) == g.w[0] && load64(p, g.off[1]) == g.w[1] && load64(p, g.off[2]) == g.w[2]
}

// hasPrefix reports whether b starts with q, comparing eight (or four)
// bytes at a time with the last word overlapping the one before: the
// guessed key of every field was a call to memeqbody, a twentieth of
// decoding a record.
func hasPrefix(b []byte, q string) bool {
	n := len(q)
	if len(b) < n {
		return false
	}
	if n < 8 {
		if n < 4 {
			return string(b[:n]) == q
		}
		return load32(b[:4]) == load32s(q[:4]) && load32(b[n-4:n]) == load32s(q[n-4:])
	}
	for i := 0; i < n-8; i += 8 {
		if binary.LittleEndian.Uint64(b[i:i+8]) != word(q, i) {
			return false
		}
	}
	return binary.LittleEndian.Uint64(b[n-8:n]) == word(q, n-8)
}

func load32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func load32s(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// name is the name of field i, or the unknown key.
func (t *table) name(i int, key []byte) string {
	if i >= 0 {
		return t.specs[i].name
	}
	return string(key)
}

// field decodes the value of field i (-1: key, which the table does not
// know, whose value is skipped).
func (d *decoder) field(i int, key []byte, l *Location) error {
	if d.pos >= len(d.data) {
		return d.syntax(d.t.name(i, key))
	}
	if i < 0 {
		if !d.skip(0) {
			return d.syntax(string(key))
		}
		return nil
	}
	if d.t.kind[i] <= kOptString {
		// Most fields are strings: no second dispatch for them.
		return d.strField(i)
	}
	return d.value(i, l)
}

// value decodes the value of field i of the table.
func (d *decoder) value(i int, l *Location) error {
	sp := &d.t.specs[i]
	switch sp.kind {
	case kString, kOptString:
		return d.strField(i)
	case kOptFloat:
		return d.numField(int(d.t.slot[i]), sp.name)
	case kTime:
		// Through the accessor's offset (newTable): calling it is an
		// indirect call per field and record.
		return d.timeField((*time.Time)(unsafe.Add(unsafe.Pointer(l), d.t.off[i])), sp.name)
	case kOptTime:
		return d.nullTimeField(int(d.t.slot[i]), sp.name)
	case kRaw:
		return d.rawField((*json.RawMessage)(unsafe.Add(unsafe.Pointer(l), d.t.off[i])), sp.name)
	case kH3:
		return d.h3Field(l)
	case kLocation:
		return d.location(l)
	case kObject:
		return d.object(i, l)
	}
	return fmt.Errorf("record: field %s of unknown kind %d", sp.name, sp.kind)
}

// strField decodes a string (or null) into the string slot of field f.
// null clears an optional field and, as in encoding/json, leaves a plain
// one unchanged.
func (d *decoder) strField(f int) error {
	i := int(d.t.slot[f])
	start := d.pos
	switch d.peek() {
	case '"':
		c, raw, ok := d.str()
		if !ok {
			return d.syntaxAt(d.t.specs[f].name, start)
		}
		if raw {
			c = unquote(d.tmp[:0], c)
		}
		d.strs[i] = d.keep(c)
		d.strSet |= 1 << i
		return nil
	case 'n':
		if !d.literal("null") {
			return d.syntaxAt(d.t.specs[f].name, start)
		}
		if d.t.kind[f] == kOptString {
			d.strSet &^= 1 << i
		}
		return nil
	}
	sp := &d.t.specs[f]
	return d.invalidAt(sp.name, sp.badType, "not a string", start)
}

// strContent scans a string value and returns its decoded content, which is
// valid until the next call.
func (d *decoder) strContent() ([]byte, bool) {
	c, raw, ok := d.str()
	if !ok {
		return nil, false
	}
	if raw {
		c = unquote(d.tmp[:0], c)
	}
	return c, true
}

// keep appends a string field's content to the arena.
func (d *decoder) keep(c []byte) span {
	if d.spill == nil {
		if d.n+len(c) <= len(d.buf) {
			copy(d.buf[d.n:], c)
			d.n += len(c)
			return span{d.n - len(c), len(c)}
		}
		d.spill = make([]byte, d.n, 2*(d.n+len(c)))
		copy(d.spill, d.buf[:d.n])
	}
	d.spill = append(d.spill, c...)
	return span{len(d.spill) - len(c), len(c)}
}

func (d *decoder) arena() []byte {
	if d.spill != nil {
		return d.spill
	}
	return d.buf[:d.n]
}

func (d *decoder) timeField(dst *time.Time, field string) error {
	start := d.pos
	switch d.peek() {
	case '"':
		c, ok := d.strContent()
		if !ok {
			return d.syntaxAt(field, start)
		}
		t, ok := parseTime(c)
		if !ok {
			return d.invalidAt(field, ReasonBadTimestamp, "", start)
		}
		if t.IsZero() {
			// 0001-01-01T00:00:00Z is Go's zero time, which stands for a
			// null here: name it for what it is.
			return d.invalidAt(field, ReasonBadTimestamp, "the year-1 zero time is no record's time", start)
		}
		*dst = t
		return nil
	case 'n':
		if !d.literal("null") {
			return d.syntaxAt(field, start)
		}
		return nil // Validate reports a missing required time.
	}
	return d.invalidAt(field, ReasonBadTimestamp, "", start)
}

func (d *decoder) nullTimeField(i int, field string) error {
	var t time.Time
	if d.peek() == 'n' {
		if !d.literal("null") {
			return d.syntax(field)
		}
		d.tSet &^= 1 << i
		return nil
	}
	if err := d.timeField(&t, field); err != nil {
		return err
	}
	d.ts[i] = t
	d.tSet |= 1 << i
	return nil
}

func (d *decoder) numField(i int, field string) error {
	start := d.pos
	if d.peek() == 'n' {
		if !d.literal("null") {
			return d.syntaxAt(field, start)
		}
		d.fSet &^= 1 << i
		return nil
	}
	f, err := d.numberValue(field, ReasonBadNumber)
	if err != nil {
		return err
	}
	d.fs[i] = f
	d.fSet |= 1 << i
	return nil
}

// numberValue decodes a JSON number or a numeric string as float64.
func (d *decoder) numberValue(field, reason string) (float64, error) {
	start := d.pos
	c := d.peek()
	var tok []byte
	switch {
	case c == '"':
		s, ok := d.strContent()
		if !ok {
			return 0, d.syntaxAt(field, start)
		}
		tok = trimSpace(s)
		f, n, ok := scanFloat(tok)
		if n == 0 || n != len(tok) {
			return 0, d.invalidAt(field, reason, "not a number", start)
		}
		if ok {
			return f, nil
		}
	case c == '-' || '0' <= c && c <= '9':
		f, n, ok := scanFloat(d.data[d.pos:])
		if n == 0 {
			return 0, d.syntaxAt(field, start)
		}
		tok = d.data[d.pos : d.pos+n]
		d.pos += n
		if ok {
			return f, nil
		}
	default:
		if !d.skip(0) {
			return 0, d.syntaxAt(field, start)
		}
		return 0, d.invalidAt(field, reason, "not a number", start)
	}
	// tok is a JSON number: a range error is the only possible one.
	f, err := parseFloat(tok)
	if err != nil {
		return 0, d.invalidAt(field, reason, "number out of range", start)
	}
	return f, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func (d *decoder) h3Field(l *Location) error {
	const field = "h3_index_11"
	start := d.pos
	var (
		v  uint64
		ok bool
	)
	switch c := d.peek(); {
	case c == 'n':
		if !d.literal("null") {
			return d.syntaxAt(field, start)
		}
		l.H3[11] = 0
		return nil
	case c == '"':
		s, sok := d.strContent()
		if !sok {
			return d.syntaxAt(field, start)
		}
		v, ok = parseH3String(s)
	case c == '-' || '0' <= c && c <= '9':
		tok, isInt, nok := d.number()
		if !nok {
			return d.syntaxAt(field, start)
		}
		if isInt {
			v, ok = parseUint(tok)
		}
	default:
		if !d.skip(0) {
			return d.syntaxAt(field, start)
		}
	}
	if !ok || v == 0 {
		return d.invalidAt(field, ReasonInvalidH3, "not a 64-bit H3 index", start)
	}
	// Indexes above MaxInt64 are kept (as negative int64) for Validate to
	// reject with the value named: no H3 cell has bit 63 set.
	l.H3[11] = int64(v)
	return nil
}

// parseH3String reads "0x8b2a1072b59ffff", "8b2a1072b59ffff" or a decimal
// string. A string of decimal digits only is decimal: a resolution-11 cell
// in hexadecimal always contains the letter b (its resolution nibble), so
// the two forms never collide for a valid cell.
func parseH3String(s []byte) (uint64, bool) {
	s = trimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return parseHex(s[2:])
	}
	if v, ok := parseUint(s); ok {
		return v, true
	}
	return parseHex(s)
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n := v*10 + uint64(c-'0')
		if v > (1<<64-1)/10 || n < v*10 {
			return 0, false
		}
		v = n
	}
	return v, true
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		h := hexVal(c)
		if h < 0 {
			return 0, false
		}
		v = v<<4 | uint64(h)
	}
	return v, true
}

// location decodes a GeoJSON Point (or null).
func (d *decoder) location(l *Location) error {
	const field = "location.coordinates"
	start := d.pos
	switch d.peek() {
	case 'n':
		if !d.literal("null") {
			return d.syntaxAt("location", start)
		}
		l.HasPosition, l.Longitude, l.Latitude = false, 0, 0
		d.fSet &^= 1 << d.t.altitude
		return nil
	case '{':
	default:
		if !d.skip(0) {
			return d.syntaxAt("location", start)
		}
		return d.invalidAt(field, ReasonBadCoordinates, "location is not a GeoJSON Point", start)
	}
	d.pos++
	var (
		isPoint  bool
		coords   [3]float64
		n        = -1  // number of coordinates; -1 until seen
		coordErr error // reported only for a Point: another type's coordinates are not ours to judge
	)
	if d.peek() == '}' {
		d.pos++
	} else {
		for {
			if d.peek() != '"' {
				return d.syntax("location")
			}
			// The members as the API writes them are compared in
			// place; other spellings (spaces, escapes) are scanned.
			if hasPrefix(d.data[d.pos:], pointType) {
				d.pos += len(pointType)
				isPoint = true
			} else if err := d.locationMember(&isPoint, &coords, &n, &coordErr); err != nil {
				return err
			}
			c := d.peek()
			d.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				return d.syntaxAt("location", d.pos-1)
			}
		}
	}
	if !isPoint {
		return d.invalidAt(field, ReasonBadCoordinates, "location is not a GeoJSON Point", start)
	}
	if n < 0 {
		return d.invalidAt(field, ReasonBadCoordinates, "Point without coordinates", start)
	}
	if coordErr != nil {
		return coordErr
	}
	d.setPoint(l, &coords, n)
	return nil
}

// setPoint stores a Point's n coordinates (2 or 3: longitude, latitude,
// altitude) in l, the altitude through its float slot.
func (d *decoder) setPoint(l *Location, c *[3]float64, n int) {
	l.HasPosition = true
	l.Longitude, l.Latitude = c[0], c[1]
	if n == 3 {
		d.fs[d.t.altitude] = c[2]
		d.fSet |= 1 << d.t.altitude
	} else {
		d.fSet &^= 1 << d.t.altitude
	}
}

// point decodes a location as the API writes it, a Point whose
// coordinates are 2 or 3 JSON numbers that scanFloat reads exactly, with
// nothing else and no spaces, as location would, and reports whether it
// did. When it reports false, d.pos has not moved.
func (d *decoder) point(l *Location) bool {
	j := d.pos
	if !hasPrefix(d.data[j:], pointPrefix) {
		return false
	}
	j += len(pointPrefix)
	var (
		c [3]float64
		n int
	)
	for ; n < 3; n++ {
		f, k, ok := scanFloat(d.data[j:])
		if k == 0 || !ok || j+k >= len(d.data) {
			return false
		}
		c[n], j = f, j+k+1
		if d.data[j-1] != ',' {
			break
		}
	}
	if n == 3 || n == 0 || d.data[j-1] != ']' || j >= len(d.data) || d.data[j] != '}' {
		return false
	}
	d.setPoint(l, &c, n+1) // n is the last coordinate's index
	d.pos = j + 1
	return true
}

// pointPrefix is a location as the API writes it, up to its first
// coordinate.
const pointPrefix = `{"type":"Point","coordinates":[`

// pointType and coordinatesKey are a location's members as the API writes
// them: its type, and the key of its coordinates.
const (
	pointType      = `"type":"Point"`
	coordinatesKey = `"coordinates":`
)

// locationMember decodes the location member at d.pos (a '"'), its key,
// colon and value: type into isPoint, coordinates into coords, n and
// coordErr (see location); others are skipped.
func (d *decoder) locationMember(isPoint *bool, coords *[3]float64, n *int, coordErr *error) error {
	var key []byte
	if hasPrefix(d.data[d.pos:], coordinatesKey) {
		d.pos += len(coordinatesKey)
		key = coordinatesName[:]
	} else {
		var ok bool
		if key, ok = d.strContent(); !ok {
			return d.syntax("location")
		}
		if d.peek() != ':' {
			return d.syntax("location")
		}
		d.pos++
	}
	d.ws()
	switch string(key) {
	case "type":
		vstart := d.pos
		if d.peek() != '"' {
			if !d.skip(0) {
				return d.syntaxAt("location.type", vstart)
			}
			*isPoint = false
			break
		}
		t, ok := d.strContent()
		if !ok {
			return d.syntaxAt("location.type", vstart)
		}
		*isPoint = string(t) == "Point"
	case "coordinates":
		var err error
		if *n, err = d.coordinates(coords); err != nil {
			if isSyntax(err) {
				return err
			}
			*coordErr, *n = err, 0
		}
	default:
		if !d.skip(0) {
			return d.syntax("location")
		}
	}
	return nil
}

var coordinatesName = [...]byte{'c', 'o', 'o', 'r', 'd', 'i', 'n', 'a', 't', 'e', 's'}

// coordinates decodes [lon, lat] or [lon, lat, alt]; items are numbers or
// numeric strings.
func (d *decoder) coordinates(dst *[3]float64) (int, error) {
	const field = "location.coordinates"
	start := d.pos
	// bad reports the whole array and moves past it, so that the caller can
	// go on scanning the location object.
	bad := func(msg string) (int, error) {
		s := scanner{data: d.data, pos: start}
		if !s.skip(0) {
			return 0, d.syntaxAt(field, d.pos)
		}
		d.pos = s.pos
		return 0, &Invalid{Field: field, Value: truncValue(d.data[start:s.pos]), Reason: ReasonBadCoordinates, Msg: msg}
	}
	if d.peek() != '[' {
		if !d.skip(0) {
			return 0, d.syntaxAt(field, start)
		}
		return bad("coordinates is not an array")
	}
	d.pos++
	n := 0
	if d.peek() == ']' {
		d.pos++
		return bad("want 2 or 3 coordinates, got 0")
	}
	for {
		if n == 3 {
			return bad("want 2 or 3 coordinates, got more")
		}
		istart := d.pos
		c := d.peek()
		if c != '"' && c != '-' && (c < '0' || c > '9') {
			if !d.skip(0) {
				return 0, d.syntaxAt(field, istart)
			}
			return bad("coordinate is not a number")
		}
		f, err := d.numberValue(field, ReasonBadCoordinates)
		if err != nil {
			if e, ok := err.(*Invalid); ok && e.Reason != ReasonDecode {
				return bad("coordinate is not a number")
			}
			return 0, err
		}
		dst[n] = f
		n++
		c = d.peek()
		d.pos++
		if c == ']' {
			break
		}
		if c != ',' {
			return 0, d.syntaxAt(field, d.pos-1)
		}
	}
	if n < 2 {
		return bad("want 2 or 3 coordinates, got 1")
	}
	return n, nil
}

// address decodes inferred_address {city, province, country_code}.
// object decodes the object field i (inferred_address): its members are the
// fields named "<name>.<member>" in the table; other members are skipped.
func (d *decoder) object(i int, l *Location) error {
	field := d.t.specs[i].name
	members := d.t.members[i]
	start := d.pos
	switch d.peek() {
	case 'n':
		if !d.literal("null") {
			return d.syntaxAt(field, start)
		}
		d.strSet &^= d.t.memberOf[i]
		return nil
	case '{':
	default:
		if !d.skip(0) {
			return d.syntaxAt(field, start)
		}
		return d.invalidAt(field, ReasonBadType, "not an object", start)
	}
	d.pos++
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	next := members.first
	for {
		if d.peek() != '"' {
			return d.syntax(field)
		}
		m, _, ok := d.key(members, next)
		if !ok {
			return d.syntax(field)
		}
		d.ws()
		var err error
		if m >= 0 {
			next = d.t.guess[m].next
			if start := d.pos; !d.fast(m, l) {
				d.pos = start
				err = d.value(m, l)
			}
		} else if !d.skip(0) {
			err = d.syntax(field)
		}
		if err != nil {
			return err
		}
		c := d.peek()
		d.pos++
		if c == '}' {
			return nil
		}
		if c != ',' {
			return d.syntaxAt(field, d.pos-1)
		}
	}
}

// rawField keeps any JSON value but null as a sub-slice of the input.
func (d *decoder) rawField(dst *json.RawMessage, field string) error {
	start := d.pos
	if d.peek() == 'n' {
		if !d.literal("null") {
			return d.syntaxAt(field, start)
		}
		*dst = nil
		return nil
	}
	if !d.skip(0) {
		return d.syntaxAt(field, start)
	}
	*dst = d.data[start:d.pos:d.pos]
	return nil
}

func (d *decoder) finish(l *Location) {
	var all string
	if a := d.arena(); len(a) > 0 {
		if d.slab != nil {
			all = d.slab.str(a)
		} else {
			all = string(a)
		}
	}
	t := d.t
	at := func(off uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(l), off) }
	b := d.box
	for m := d.strSet; m != 0; m &= m - 1 {
		slot := bits.TrailingZeros32(m) & (maxStr - 1)
		to := &t.strTo[slot]
		s := d.strs[slot]
		if to.box < 0 { // kString
			*(*string)(at(to.off)) = all[s.off : s.off+s.n]
			continue
		}
		if b == nil {
			b = new(boxes)
		}
		j := to.box
		b.s[j] = all[s.off : s.off+s.n]
		*(**string)(at(to.off)) = &b.s[j]
	}
	if d.fSet == 0 && d.tSet == 0 {
		return
	}
	if b == nil {
		b = new(boxes)
	}
	for m := d.fSet; m != 0; m &= m - 1 {
		slot := bits.TrailingZeros32(m)
		b.f[slot] = d.fs[slot]
		*(**float64)(at(t.floatTo[slot])) = &b.f[slot]
	}
	for m := d.tSet; m != 0; m &= m - 1 {
		slot := bits.TrailingZeros32(m)
		b.t[slot] = d.ts[slot]
		*(**time.Time)(at(t.timeTo[slot])) = &b.t[slot]
	}
}

// invalidAt reports the value starting at start as invalid. The value is
// re-scanned to quote it whole (truncated), since the caller may have
// stopped in its middle.
func (d *decoder) invalidAt(field, reason, msg string, start int) *Invalid {
	s := scanner{data: d.data, pos: start}
	s.ws()
	start = s.pos
	end := len(d.data)
	if s.skip(0) {
		end = s.pos
	}
	return &Invalid{Field: field, Value: truncValue(d.data[start:end]), Reason: reason, Msg: msg}
}

func (d *decoder) syntax(field string) *Invalid { return d.syntaxAt(field, d.pos) }

func (d *decoder) syntaxAt(field string, off int) *Invalid {
	off = min(off, len(d.data))
	return &Invalid{
		Field:  field,
		Value:  truncValue(d.data[off:]),
		Reason: ReasonDecode,
		Msg:    "invalid JSON at offset " + strconv.Itoa(off),
	}
}
