package record

import (
	"math"
	"strconv"
	"time"
)

// Validate reports why l cannot be published as is, as an *Invalid, or nil.
// It checks, in this order:
//   - id: present and a UUID (missing_id, bad_id);
//   - fleet_id: present (the contract allows null, but it is the Kafka key)
//     and a UUID (missing_fleet_id, bad_fleet_id);
//   - created_at and updated_at: present (missing_timestamp); they are
//     required by the contract and non-null in the Avro schema;
//   - connection_id, source_name, source_id, source_data_hash: present
//     (missing_field), required by the contract (source_data_hash is not in
//     a webhook's records: ValidatePushed does not ask for it);
//   - every other uuid field, when set: a UUID (bad_uuid), since the event
//     types them logicalType uuid and consumers that apply logical types
//     would fail on anything else;
//   - the position, when there is one: latitude in -90..90, longitude in
//     -180..180, all coordinates finite (bad_coordinates);
//   - h3_index_11, when set: a valid H3 cell of resolution 11 (invalid_h3).
//
// A record without position and without h3_index_11 is valid. UUIDs must be
// in canonical 8-4-4-4-12 form, either case. Other fields are published as
// the API sent them.
func (l *Location) Validate() error { return l.validate(true) }

// ValidatePushed is Validate for a record Catena pushed by webhook, whose
// payload has no source_data_hash (the event's field is then null).
func (l *Location) ValidatePushed() error { return l.validate(false) }

func (l *Location) validate(withHash bool) error {
	switch {
	case l.ID == "":
		return &Invalid{Field: "id", Value: "null", Reason: ReasonMissingID}
	case !IsUUID(l.ID):
		return &Invalid{Field: "id", Value: quoteValue(l.ID), Reason: ReasonBadID}
	case l.FleetID == "":
		return &Invalid{Field: "fleet_id", Value: "null", Reason: ReasonMissingFleetID}
	case !IsUUID(l.FleetID):
		return &Invalid{Field: "fleet_id", Value: quoteValue(l.FleetID), Reason: ReasonBadFleetID}
	case l.CreatedAt.IsZero():
		return &Invalid{Field: "created_at", Value: "null", Reason: ReasonMissingTimestamp}
	case l.UpdatedAt.IsZero():
		return &Invalid{Field: "updated_at", Value: "null", Reason: ReasonMissingTimestamp}
	case l.ConnectionID == "":
		return &Invalid{Field: "connection_id", Value: "null", Reason: ReasonMissingField}
	case !IsUUID(l.ConnectionID):
		return &Invalid{Field: "connection_id", Value: quoteValue(l.ConnectionID), Reason: ReasonBadUUID}
	case l.SourceName == "":
		return &Invalid{Field: "source_name", Value: "null", Reason: ReasonMissingField}
	case l.SourceID == "":
		return &Invalid{Field: "source_id", Value: "null", Reason: ReasonMissingField}
	case withHash && l.SourceDataHash == "":
		return &Invalid{Field: "source_data_hash", Value: "null", Reason: ReasonMissingField}
	}
	for _, f := range [...]struct {
		name string
		v    *string
	}{
		{"tsp_id", l.TspID}, {"execution_id", l.ExecutionID}, {"schedule_id", l.ScheduleID},
		{"vehicle_id", l.VehicleID}, {"driver_id", l.DriverID}, {"co_driver_id", l.CoDriverID},
	} {
		if f.v != nil && !IsUUID(*f.v) {
			return &Invalid{Field: f.name, Value: quoteValue(*f.v), Reason: ReasonBadUUID}
		}
	}
	if l.HasPosition {
		if msg := checkPosition(l); msg != "" {
			return &Invalid{Field: "location.coordinates", Value: l.coordinatesValue(), Reason: ReasonBadCoordinates, Msg: msg}
		}
	}
	if c := l.H3[11]; c != 0 {
		// The resolution is bits 52..55; validCell is H3's isValidCell
		// without a cgo call.
		if (uint64(c)>>52)&15 != 11 || !validCell(uint64(c)) {
			return &Invalid{Field: "h3_index_11", Value: strconv.FormatUint(uint64(c), 10), Reason: ReasonInvalidH3}
		}
	}
	return nil
}

func checkPosition(l *Location) string {
	switch {
	case !finite(l.Latitude) || !finite(l.Longitude) || l.Altitude != nil && !finite(*l.Altitude):
		return "coordinates must be finite"
	case l.Latitude < -90 || l.Latitude > 90:
		return "latitude out of range -90..90"
	case l.Longitude < -180 || l.Longitude > 180:
		return "longitude out of range -180..180"
	}
	return ""
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// coordinatesValue formats the position as GeoJSON coordinates, [lon, lat(, alt)].
func (l *Location) coordinatesValue() string {
	b := []byte{'['}
	b = strconv.AppendFloat(b, l.Longitude, 'g', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, l.Latitude, 'g', -1, 64)
	if l.Altitude != nil {
		b = append(b, ',')
		b = strconv.AppendFloat(b, *l.Altitude, 'g', -1, 64)
	}
	return string(append(b, ']'))
}

// IsUUID reports whether s is a UUID in canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits of either case).
// Any version and variant is accepted: the API's ids are opaque.
//
// It checks eight bytes at a time (five overlapping words, the dashes put
// aside first): a record has seven UUIDs, and a table lookup per byte was
// most of Validate on the simulator's records (BenchmarkValidateSimPage).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	const (
		// The dashes: bytes 8 and 13 (w1's bytes 0 and 5), 18 and 23
		// (w2's bytes 2 and 7).
		dash1 = 0xff | 0xff<<40
		dash2 = 0xff<<16 | 0xff<<56
	)
	w0, w1, w2, w3, w4 := word(s, 0), word(s, 8), word(s, 16), word(s, 24), word(s, 28)
	if w1&dash1 != lsb*'-'&dash1 || w2&dash2 != lsb*'-'&dash2 {
		return false
	}
	w1 = w1&^dash1 | lsb*'0'&dash1
	w2 = w2&^dash2 | lsb*'0'&dash2
	return hexBytes(w0)&hexBytes(w1)&hexBytes(w2)&hexBytes(w3)&hexBytes(w4) == msb
}

// word reads s[i:i+8] as a little-endian word (one load).
func word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hexBytes sets the high bit of each byte of w that is a hexadecimal digit.
// For a byte below 0x80, x + (0x80 - c) has its high bit set iff x >= c,
// without a carry into the next byte; a byte from 0x80 up is no digit
// (its carry may spoil the others' bits, but the result is then wrong
// anyway).
func hexBytes(w uint64) uint64 {
	ascii := ^w & msb
	l := w | lsb*0x20 // 'A'..'F' to 'a'..'f'; digits have the bit already
	digit := (w + lsb*(0x80-'0')) &^ (w + lsb*(0x80-'9'-1))
	alpha := (l + lsb*(0x80-'a')) &^ (l + lsb*(0x80-'f'-1))
	return (digit | alpha) & ascii
}

// CheckFuture returns an *Invalid with ReasonFutureTime when occurred_at lies
// more than tolerance after now (the bridge's clock): no GPS fix is taken in
// the future, and such a time would otherwise stand as the vehicle's newest
// point and bound the history fetched for it.
func (l *Location) CheckFuture(now time.Time, tolerance time.Duration) error {
	if l.OccurredAt == nil || !l.OccurredAt.After(now.Add(tolerance)) {
		return nil
	}
	return &Invalid{Field: "occurred_at", Value: strconv.Quote(l.OccurredAt.UTC().Format(time.RFC3339Nano)), Reason: ReasonFutureTime,
		Msg: "more than " + tolerance.String() + " after the bridge's clock (" + now.UTC().Format(time.RFC3339) + ")"}
}
