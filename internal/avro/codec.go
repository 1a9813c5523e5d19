package avro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	hamba "github.com/hamba/avro/v2"
	twmb "github.com/twmb/avro"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

// Codec owns the parsed schema and encodes record.Location as the
// VehicleLocation event. A Codec is immutable after NewCodec and safe for
// concurrent use.
type Codec struct {
	text   string
	schema hamba.Schema
	twmb   *twmb.Schema // the same schema parsed by twmb/avro: fingerprint, compatibility messages
	fp     [8]byte
}

// NewCodec parses schemaText (normally schemas.VehicleLocation) and checks
// that its fields are exactly the layout AppendEvent writes, in order: a
// schema edit that the encoder does not mirror fails here, not in consumers.
// The schema is parsed into a private cache, so codecs of different versions
// of the same record can coexist.
func NewCodec(schemaText string) (*Codec, error) {
	s, err := hamba.ParseWithCache(schemaText, "", &hamba.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("parse event schema: %w", err)
	}
	if err := checkLayout(s); err != nil {
		return nil, fmt.Errorf("event schema does not match the encoder: %w", err)
	}
	// The fingerprint comes from twmb/avro's Parsing Canonical Form, not
	// hamba's: hamba keeps logicalType attributes in its canonical form, which
	// the specification strips, so its CRC-64-AVRO differs from the one Java,
	// fastavro and twmb/avro compute and check in single-object headers.
	ts, err := twmb.Parse(schemaText)
	if err != nil {
		return nil, fmt.Errorf("parse event schema for its fingerprint: %w", err)
	}
	h := twmb.NewRabin()
	h.Write(ts.Canonical())
	c := &Codec{text: schemaText, schema: s, twmb: ts}
	binary.LittleEndian.PutUint64(c.fp[:], h.Sum64())
	return c, nil
}

// Schema returns the parsed schema.
func (c *Codec) Schema() hamba.Schema { return c.schema }

// Text returns the schema text the codec was created from; it is what
// Register sends to the registry.
func (c *Codec) Text() string { return c.text }

// Fingerprint returns the CRC-64-AVRO (Rabin) fingerprint of the schema's
// Parsing Canonical Form, as the 8 bytes single-object encoding writes:
// little-endian, the same byte order as Java's
// SchemaNormalization.parsingFingerprint("CRC-64-AVRO", schema).
func (c *Codec) Fingerprint() [8]byte { return c.fp }

// Errors of AppendEvent. Invalid records are meant to be sent to the
// dead-letter topic by validation before they reach the encoder, so these
// only fire on a bug upstream.
var (
	errNoID      = errors.New("id is empty")
	errNoFleetID = errors.New("fleet_id is empty")
)

// AppendEvent appends the Avro binary body (no framing) of l to dst and
// returns the extended slice. ingestedAt is when the page holding l was
// fetched. Timestamps are truncated to microseconds; an H3 cell of 0 and a
// nil pointer encode as null; latitude and longitude are null when
// l.HasPosition is false. On error dst is returned unchanged (same length).
//
// AppendEvent does not allocate when dst has room for the event.
func (c *Codec) AppendEvent(dst []byte, l *record.Location, ingestedAt time.Time) ([]byte, error) {
	switch {
	case l.ID == "":
		return dst, fmt.Errorf("encode event: %w", errNoID)
	case l.FleetID == "":
		return dst, fmt.Errorf("encode event %s: %w", l.ID, errNoFleetID)
	}
	b := dst
	// Field order is layout's (and the schema's); the tests compare every
	// byte with hamba/avro.
	b = appendString(b, l.ID)
	b = appendString(b, l.FleetID)
	b = appendOptString(b, l.FleetRef)
	b = appendString(b, l.ConnectionID)
	b = appendOptString(b, l.TspID)
	b = appendOptString(b, l.TspSlug)
	b = appendString(b, l.SourceName)
	b = appendString(b, l.SourceID)
	b = appendOptNonEmpty(b, l.SourceDataHash)
	b = appendLong(b, l.CreatedAt.UnixMicro())
	b = appendLong(b, l.UpdatedAt.UnixMicro())
	b = appendOptTime(b, l.DeletedAt)
	b = appendOptTime(b, l.OccurredAt)
	b = appendOptString(b, l.ExecutionID)
	b = appendOptString(b, l.ScheduleID)
	b = appendOptString(b, l.VehicleID)
	b = appendOptString(b, l.DriverID)
	b = appendOptString(b, l.CoDriverID)
	b = appendOptString(b, l.SourceVehicleID)
	b = appendOptString(b, l.SourceDriverID)
	b = appendOptString(b, l.SourceCoDriverID)
	if l.HasPosition {
		b = appendDouble(append(b, unionValue), l.Latitude)
		b = appendDouble(append(b, unionValue), l.Longitude)
	} else {
		b = append(b, unionNull, unionNull)
	}
	b = appendOptDouble(b, l.Altitude)
	b = appendOptCell(b, l.H3[11])
	for res := range 11 {
		b = appendOptCell(b, l.H3[res])
	}
	b = appendOptDouble(b, l.Speed)
	b = appendOptString(b, l.SpeedUnit)
	b = appendOptDouble(b, l.Odometer)
	b = appendOptString(b, l.OdometerUnit)
	b = appendOptDouble(b, l.FuelLevel)
	b = appendOptDouble(b, l.FuelValue)
	b = appendOptString(b, l.FuelValueUnit)
	b = appendOptDouble(b, l.EngineHours)
	b = appendOptDouble(b, l.OilPressure)
	b = appendOptString(b, l.OilPressureUnit)
	b = appendOptDouble(b, l.CoolantTemperature)
	b = appendOptString(b, l.CoolantTemperatureUnit)
	b = appendOptString(b, l.InferredCity)
	b = appendOptString(b, l.InferredProvince)
	b = appendOptString(b, l.InferredCountryCode)
	b = appendOptJSON(b, l.Extras)
	b = appendOptJSON(b, l.SourceData)
	b = appendLong(b, ingestedAt.UnixMicro())
	return b, nil
}

// Union branch indexes of a ["null", T] union, zigzag encoded: 0 → 0x00,
// 1 → 0x02.
const (
	unionNull  byte = 0x00
	unionValue byte = 0x02
)

// appendLong appends v as an Avro long: zigzag, then a little-endian base-128
// varint (at most 10 bytes).
func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// appendString appends s as an Avro string: its byte length as a long, then
// the bytes.
func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// appendDouble appends f as an Avro double: IEEE 754, 8 bytes little-endian.
func appendDouble(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// appendOptNonEmpty writes s as an optional string, null when empty.
func appendOptNonEmpty(b []byte, s string) []byte {
	if s == "" {
		return append(b, unionNull)
	}
	return appendString(append(b, unionValue), s)
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, unionNull)
	}
	return appendString(append(b, unionValue), *s)
}

func appendOptDouble(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, unionNull)
	}
	return appendDouble(append(b, unionValue), *f)
}

func appendOptTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, unionNull)
	}
	return appendLong(append(b, unionValue), t.UnixMicro())
}

// appendOptCell writes an H3 cell; 0 is never a valid H3 index and means
// "not set" in record.Location.
func appendOptCell(b []byte, cell int64) []byte {
	if cell == 0 {
		return append(b, unionNull)
	}
	return appendLong(append(b, unionValue), cell)
}

// appendOptJSON writes a raw JSON object as a string; absent and a literal
// JSON null both encode as Avro null.
func appendOptJSON(b []byte, raw []byte) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return append(b, unionNull)
	}
	b = appendLong(append(b, unionValue), int64(len(raw)))
	return append(b, raw...)
}
