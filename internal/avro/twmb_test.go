package avro

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"
	"time"

	twmb "github.com/twmb/avro"

	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// expectedEvent is what a reader must find in the event of l, built from the
// record alone (not from the encoder), with timestamps as micros since the
// epoch.
func expectedEvent(l *record.Location, ingestedAt time.Time) map[string]any {
	str := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	nonEmpty := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	dbl := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	micros := func(t time.Time) any { return t.Unix()*1_000_000 + int64(t.Nanosecond()/1000) }
	optMicros := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return micros(*t)
	}
	jsonText := func(b []byte) any {
		if b == nil || string(b) == "null" {
			return nil
		}
		return string(b)
	}
	m := map[string]any{
		"id": l.ID, "fleet_id": l.FleetID, "fleet_ref": str(l.FleetRef),
		"connection_id": l.ConnectionID, "tsp_id": str(l.TspID), "tsp_slug": str(l.TspSlug),
		"source_name": l.SourceName, "source_id": l.SourceID, "source_data_hash": nonEmpty(l.SourceDataHash),
		"created_at": micros(l.CreatedAt), "updated_at": micros(l.UpdatedAt),
		"deleted_at": optMicros(l.DeletedAt), "occurred_at": optMicros(l.OccurredAt),
		"execution_id": str(l.ExecutionID), "schedule_id": str(l.ScheduleID),
		"vehicle_id": str(l.VehicleID), "driver_id": str(l.DriverID), "co_driver_id": str(l.CoDriverID),
		"source_vehicle_id": str(l.SourceVehicleID), "source_driver_id": str(l.SourceDriverID),
		"source_co_driver_id": str(l.SourceCoDriverID),
		"latitude":            nil, "longitude": nil, "altitude": dbl(l.Altitude),
		"speed": dbl(l.Speed), "speed_unit": str(l.SpeedUnit),
		"odometer": dbl(l.Odometer), "odometer_unit": str(l.OdometerUnit),
		"fuel_level": dbl(l.FuelLevel), "fuel_value": dbl(l.FuelValue), "fuel_value_unit": str(l.FuelValueUnit),
		"engine_hours": dbl(l.EngineHours), "oil_pressure": dbl(l.OilPressure), "oil_pressure_unit": str(l.OilPressureUnit),
		"coolant_temperature": dbl(l.CoolantTemperature), "coolant_temperature_unit": str(l.CoolantTemperatureUnit),
		"inferred_address_city": str(l.InferredCity), "inferred_address_province": str(l.InferredProvince),
		"inferred_address_country_code": str(l.InferredCountryCode),
		"extras":                        jsonText(l.Extras), "source_data": jsonText(l.SourceData),
		"ingested_at": micros(ingestedAt),
	}
	if l.HasPosition {
		m["latitude"], m["longitude"] = l.Latitude, l.Longitude
	}
	for res, cell := range l.H3 {
		name := "h3_index_" + itoa(res)
		if cell == 0 {
			m[name] = nil
		} else {
			m[name] = cell
		}
	}
	return m
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return "1" + string(rune('0'+i-10))
}

// TestDecodeWithTwmbAvro decodes every fixture with a second, independent
// Avro implementation parsing the .avsc itself, and checks every field.
func TestDecodeWithTwmbAvro(t *testing.T) {
	// Raw: timestamp-micros decode to their int64 micros, so the test sees
	// exactly what is on the wire.
	raw, err := twmb.Parse(schemas.VehicleLocation, twmb.WithCustomType(twmb.CustomType{LogicalType: "timestamp-micros"}))
	if err != nil {
		t.Fatal(err)
	}
	typed, err := twmb.Parse(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCodec(t)
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			body, err := c.AppendEvent(nil, f.loc, f.ingestedAt)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			rest, err := raw.Decode(body, &got)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Fatalf("%d bytes left after the record", len(rest))
			}
			want := expectedEvent(f.loc, f.ingestedAt)
			if len(got) != len(want) || len(got) != len(layout) {
				t.Errorf("decoded %d fields, want %d", len(got), len(want))
			}
			for k, w := range want {
				if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
					t.Errorf("%s = %#v (%T), want %#v (%T)", k, g, g, w, w)
				}
			}

			// With the logical types applied: timestamps are the record's
			// instants truncated to microseconds.
			var tv map[string]any
			if _, err := typed.Decode(body, &tv); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]*time.Time{
				"created_at": &f.loc.CreatedAt, "updated_at": &f.loc.UpdatedAt,
				"deleted_at": f.loc.DeletedAt, "occurred_at": f.loc.OccurredAt,
				"ingested_at": &f.ingestedAt,
			} {
				got, isTime := tv[name].(time.Time)
				switch {
				case want == nil && tv[name] != nil:
					t.Errorf("%s = %v, want null", name, tv[name])
				case want != nil && (!isTime || !got.Equal(want.Truncate(time.Microsecond))):
					t.Errorf("%s = %v, want %v", name, tv[name], want.Truncate(time.Microsecond))
				}
			}

			// Single-object framing is read by twmb/avro's own SOE decoder,
			// which checks the fingerprint it computes itself.
			soe, err := NewEncoder(c, SingleObjectFraming(c)).Append(nil, f.loc, f.ingestedAt)
			if err != nil {
				t.Fatal(err)
			}
			var fromSOE map[string]any
			if _, err := raw.DecodeSingleObject(soe, &fromSOE); err != nil {
				t.Fatalf("twmb/avro rejects our single-object frame: %v", err)
			}
			if !reflect.DeepEqual(fromSOE, got) {
				t.Errorf("single-object decode differs from body decode")
			}
		})
	}
}

// TestDecodeSpotValues checks a few wire values against literals, so a
// shared mistake of encoder and expectedEvent cannot hide.
func TestDecodeSpotValues(t *testing.T) {
	raw, err := twmb.Parse(schemas.VehicleLocation, twmb.WithCustomType(twmb.CustomType{LogicalType: "timestamp-micros"}))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCodec(t)
	fx := fixtures(t)
	for _, tc := range []struct {
		fixture int
		field   string
		want    any
	}{
		{0, "created_at", int64(1741944413589793)},
		{0, "updated_at", int64(1741944421123456)},  // .123456789 truncated
		{0, "occurred_at", int64(1741940813000001)}, // +01:00 offset applied
		{0, "h3_index_11", int64(626707369226039295)},
		{0, "h3_index_0", int64(577199624117288959)},
		{0, "id", "0b5e1c4a-3f6d-4e8a-9c2b-7d1e5f3a9b04"},
		{0, "inferred_address_city", "Zürich"},
		{1, "created_at", int64(-1)},
		{1, "extras", nil},
		{1, "latitude", nil},
		{2, "h3_index_11", int64(9223372036854775807)},
		{2, "longitude", 0.0},
		{2, "ingested_at", int64(0)},
	} {
		body, err := c.AppendEvent(nil, fx[tc.fixture].loc, fx[tc.fixture].ingestedAt)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if _, err := raw.Decode(body, &m); err != nil {
			t.Fatal(err)
		}
		if got := m[tc.field]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %s = %#v, want %#v", fx[tc.fixture].name, tc.field, got, tc.want)
		}
	}
}

// crc64Avro is the CRC-64-AVRO fingerprint exactly as the Avro
// specification gives it ("Schema Fingerprints").
func crc64Avro(buf []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ table[byte(fp)^b]
	}
	return fp
}

func TestFingerprint(t *testing.T) {
	// Test vector of the Avro project (share/test/data/schema-tests.txt):
	// the canonical form "null" has CRC-64-AVRO 7195948357588979594.
	if got := int64(crc64Avro([]byte(`"null"`))); got != 7195948357588979594 {
		t.Fatalf("reference CRC-64-AVRO of \"null\" = %d, want 7195948357588979594", got)
	}

	c := newTestCodec(t)
	ts, err := twmb.Parse(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	canonical := ts.Canonical()
	// hamba's canonical form keeps logicalType, which the specification's
	// STRIP rule removes; with it stripped, both libraries must agree.
	stripped := regexp.MustCompile(`\{"type":"(\w+)","logicalType":"[\w-]+"\}`).ReplaceAllString(c.Schema().String(), `"$1"`)
	if stripped != string(canonical) {
		t.Fatalf("canonical forms differ:\nhamba (stripped) %s\ntwmb             %s", stripped, canonical)
	}
	var want [8]byte
	fp := crc64Avro(canonical)
	for i := range want {
		want[i] = byte(fp >> (8 * i)) // little-endian, as single-object encoding writes it
	}
	if got := c.Fingerprint(); got != want {
		t.Fatalf("Fingerprint() = %x, want %x (spec CRC-64-AVRO of the canonical form)", got, want)
	}
	if twmbFP := ts.Fingerprint(twmb.NewRabin()); !bytes.Equal(twmbFP, want[:]) && !bytes.Equal(reverse(twmbFP), want[:]) {
		t.Fatalf("twmb/avro fingerprint %x does not match %x in either byte order", twmbFP, want)
	}
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}
