package avro

import (
	"fmt"

	hamba "github.com/hamba/avro/v2"
)

// kind is the Avro type of a field as AppendEvent writes it.
type kind uint8

const (
	kString    kind = iota // "string"
	kUUID                  // {"type":"string","logicalType":"uuid"}
	kTimestamp             // {"type":"long","logicalType":"timestamp-micros"}
	kLong                  // "long"
	kDouble                // "double"
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kUUID:
		return "string/uuid"
	case kTimestamp:
		return "long/timestamp-micros"
	case kLong:
		return "long"
	case kDouble:
		return "double"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// fieldSpec is one field of the layout AppendEvent writes. optional fields
// are ["null", T] unions.
type fieldSpec struct {
	name     string
	kind     kind
	optional bool
}

// recordName is the full name of the record AppendEvent writes.
const recordName = "catena.telematics.v1.VehicleLocation"

// layout is the field order and types AppendEvent writes, in schema order.
// It must match schemas/vehicle_location.avsc exactly; NewCodec checks it, so
// an edit of the schema that is not mirrored here (and in AppendEvent) fails
// at start-up instead of producing unreadable events.
var layout = []fieldSpec{
	{"id", kUUID, false},
	{"fleet_id", kUUID, false},
	{"fleet_ref", kString, true},
	{"connection_id", kUUID, false},
	{"tsp_id", kUUID, true},
	{"tsp_slug", kString, true},
	{"source_name", kString, false},
	{"source_id", kString, false},
	{"source_data_hash", kString, true},
	{"created_at", kTimestamp, false},
	{"updated_at", kTimestamp, false},
	{"deleted_at", kTimestamp, true},
	{"occurred_at", kTimestamp, true},
	{"execution_id", kUUID, true},
	{"schedule_id", kUUID, true},
	{"vehicle_id", kUUID, true},
	{"driver_id", kUUID, true},
	{"co_driver_id", kUUID, true},
	{"source_vehicle_id", kString, true},
	{"source_driver_id", kString, true},
	{"source_co_driver_id", kString, true},
	{"latitude", kDouble, true},
	{"longitude", kDouble, true},
	{"altitude", kDouble, true},
	{"h3_index_11", kLong, true},
	{"h3_index_0", kLong, true},
	{"h3_index_1", kLong, true},
	{"h3_index_2", kLong, true},
	{"h3_index_3", kLong, true},
	{"h3_index_4", kLong, true},
	{"h3_index_5", kLong, true},
	{"h3_index_6", kLong, true},
	{"h3_index_7", kLong, true},
	{"h3_index_8", kLong, true},
	{"h3_index_9", kLong, true},
	{"h3_index_10", kLong, true},
	{"speed", kDouble, true},
	{"speed_unit", kString, true},
	{"odometer", kDouble, true},
	{"odometer_unit", kString, true},
	{"fuel_level", kDouble, true},
	{"fuel_value", kDouble, true},
	{"fuel_value_unit", kString, true},
	{"engine_hours", kDouble, true},
	{"oil_pressure", kDouble, true},
	{"oil_pressure_unit", kString, true},
	{"coolant_temperature", kDouble, true},
	{"coolant_temperature_unit", kString, true},
	{"inferred_address_city", kString, true},
	{"inferred_address_province", kString, true},
	{"inferred_address_country_code", kString, true},
	{"extras", kString, true},
	{"source_data", kString, true},
	{"ingested_at", kTimestamp, false},
}

// checkLayout reports the first difference between the parsed schema and
// layout.
func checkLayout(s hamba.Schema) error {
	rec, ok := s.(*hamba.RecordSchema)
	if !ok {
		return fmt.Errorf("schema is a %s, want record %s", s.Type(), recordName)
	}
	if rec.FullName() != recordName {
		return fmt.Errorf("schema is record %s, want %s", rec.FullName(), recordName)
	}
	fields := rec.Fields()
	for i, spec := range layout {
		if i >= len(fields) {
			return fmt.Errorf("schema has %d fields, the encoder writes %d (first missing: %s)", len(fields), len(layout), spec.name)
		}
		f := fields[i]
		if f.Name() != spec.name {
			return fmt.Errorf("field %d is %q, the encoder writes %q there", i, f.Name(), spec.name)
		}
		t := f.Type()
		if spec.optional {
			u, ok := t.(*hamba.UnionSchema)
			if !ok || len(u.Types()) != 2 || u.Types()[0].Type() != hamba.Null {
				return fmt.Errorf("field %s is %s, want [\"null\", %s]", spec.name, t, spec.kind)
			}
			if !f.HasDefault() || f.Default() != nil {
				return fmt.Errorf("field %s: optional field without default null", spec.name)
			}
			t = u.Types()[1]
		}
		if got := kindOf(t); got != spec.kind {
			return fmt.Errorf("field %s is %s, the encoder writes %s", spec.name, t, spec.kind)
		}
	}
	if len(fields) > len(layout) {
		return fmt.Errorf("schema has %d fields, the encoder writes %d (first extra: %s)", len(fields), len(layout), fields[len(layout)].Name())
	}
	return nil
}

// kindOf maps a schema to the kind the encoder would write for it, or to an
// impossible kind when the encoder has none.
func kindOf(s hamba.Schema) kind {
	p, ok := s.(*hamba.PrimitiveSchema)
	if !ok {
		return kind(255)
	}
	var logical hamba.LogicalType
	if l := p.Logical(); l != nil {
		logical = l.Type()
	}
	switch {
	case p.Type() == hamba.String && logical == "":
		return kString
	case p.Type() == hamba.String && logical == hamba.UUID:
		return kUUID
	case p.Type() == hamba.Long && logical == hamba.TimestampMicros:
		return kTimestamp
	case p.Type() == hamba.Long && logical == "":
		return kLong
	case p.Type() == hamba.Double && logical == "":
		return kDouble
	}
	return kind(255)
}
