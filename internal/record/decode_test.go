package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is a realistic record as the API returns it.
const sample = `{
  "fleet_id": "3f1c2a9e-5b7d-4e21-9c3a-1d2e3f4a5b6c",
  "fleet_ref": "acme-west",
  "id": "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f",
  "created_at": "2025-03-14T09:26:53.589793Z",
  "updated_at": "2025-03-14T09:26:54Z",
  "deleted_at": null,
  "connection_id": "c0ffee00-1234-4abc-8def-001122334455",
  "tsp_id": "aa11bb22-cc33-4d44-8e55-ff6677889900",
  "tsp_slug": "samsara",
  "source_name": "samsara",
  "source_id": "281474993217382-1710408413000",
  "source_data_hash": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
  "occurred_at": "2025-03-14T09:26:53+00:00",
  "execution_id": "e1e2e3e4-f5f6-4a7b-8c9d-0e1f2a3b4c5d",
  "schedule_id": null,
  "extras": {"heading": 271.5, "ignition": true},
  "vehicle_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
  "driver_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
  "co_driver_id": null,
  "source_driver_id": "drv-4821",
  "source_vehicle_id": "281474993217382",
  "source_co_driver_id": null,
  "location": {"type": "Point", "coordinates": [-122.419415, 37.774929]},
  "h3_index_11": 626707369212035071,
  "speed": 13.4112,
  "odometer": 184233112.5,
  "fuel_level": 0.62,
  "fuel_value": 0.142,
  "engine_hours": 5123.25,
  "oil_pressure": 275790.0,
  "coolant_temperature": 363.15,
  "inferred_address": {"city": "San Francisco", "province": "California", "country_code": "US"},
  "speed_unit": "m/s",
  "odometer_unit": "m",
  "fuel_value_unit": "m3",
  "oil_pressure_unit": "Pa",
  "coolant_temperature_unit": "K"
}`

func mustDecode(t testing.TB, raw string) *Location {
	t.Helper()
	var l Location
	if err := Decode([]byte(raw), &l); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return &l
}

func sp(s string) *string       { return &s }
func fp(f float64) *float64     { return &f }
func tp(t time.Time) *time.Time { return &t }

func TestDecodeSample(t *testing.T) {
	l := mustDecode(t, sample)
	want := Location{
		ID: "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f", FleetID: "3f1c2a9e-5b7d-4e21-9c3a-1d2e3f4a5b6c",
		CreatedAt:      time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC),
		UpdatedAt:      time.Date(2025, 3, 14, 9, 26, 54, 0, time.UTC),
		ConnectionID:   "c0ffee00-1234-4abc-8def-001122334455",
		SourceName:     "samsara",
		SourceID:       "281474993217382-1710408413000",
		SourceDataHash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
		FleetRef:       sp("acme-west"), TspID: sp("aa11bb22-cc33-4d44-8e55-ff6677889900"), TspSlug: sp("samsara"),
		OccurredAt:  tp(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)),
		ExecutionID: sp("e1e2e3e4-f5f6-4a7b-8c9d-0e1f2a3b4c5d"),
		VehicleID:   sp("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"), DriverID: sp("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
		SourceDriverID: sp("drv-4821"), SourceVehicleID: sp("281474993217382"),
		Extras:      json.RawMessage(`{"heading": 271.5, "ignition": true}`),
		HasPosition: true, Longitude: -122.419415, Latitude: 37.774929,
		H3:    [12]int64{11: 626707369212035071},
		Speed: fp(13.4112), Odometer: fp(184233112.5), FuelLevel: fp(0.62), FuelValue: fp(0.142),
		EngineHours: fp(5123.25), OilPressure: fp(275790.0), CoolantTemperature: fp(363.15),
		InferredCity: sp("San Francisco"), InferredProvince: sp("California"), InferredCountryCode: sp("US"),
		SpeedUnit: sp("m/s"), OdometerUnit: sp("m"), FuelValueUnit: sp("m3"), OilPressureUnit: sp("Pa"),
		CoolantTemperatureUnit: sp("K"),
		Raw:                    json.RawMessage(sample),
	}
	if got, w := dump(l), dump(&want); got != w {
		t.Errorf("Decode(sample) mismatch\ngot:\n%s\nwant:\n%s", got, w)
	}
	if err := l.Validate(); err != nil {
		t.Errorf("Validate(sample) = %v", err)
	}
	ref, err := refDecode([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, w := dump(l), dump(&ref); got != w {
		t.Errorf("Decode(sample) differs from encoding/json reference\ngot:\n%s\nwant:\n%s", got, w)
	}
}

// withField returns sample with one top-level field replaced (or removed
// when value is "").
func withField(name, value string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sample), &m); err != nil {
		panic(err)
	}
	if value == "" {
		delete(m, name)
	} else {
		m[name] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("%s = %s: %v", name, value, err))
	}
	return string(b)
}

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		field, value string
		check        func(*Location) bool
	}{
		{"id", `"ABCDEF00-1234-4ABC-8DEF-001122334455"`, func(l *Location) bool { return l.ID == "ABCDEF00-1234-4ABC-8DEF-001122334455" }},
		{"fleet_id", `null`, func(l *Location) bool { return l.FleetID == "" }},
		{"fleet_ref", `null`, func(l *Location) bool { return l.FleetRef == nil }},
		{"fleet_ref", ``, func(l *Location) bool { return l.FleetRef == nil }},
		{"tsp_slug", `"mot\u00f6r \"x\"\n"`, func(l *Location) bool { return *l.TspSlug == "motör \"x\"\n" }},
		{"source_name", `"a-new-tsp"`, func(l *Location) bool { return l.SourceName == "a-new-tsp" }},
		{"source_driver_id", `"\ud83d\ude9a"`, func(l *Location) bool { return *l.SourceDriverID == "🚚" }},
		{"source_driver_id", `"\ud83d"`, func(l *Location) bool { return *l.SourceDriverID == "\uFFFD" }},
		{"source_vehicle_id", "\"\xff\"", func(l *Location) bool { return *l.SourceVehicleID == "\uFFFD" }},
		{"created_at", `"2025-03-14T09:26:53Z"`, func(l *Location) bool { return l.CreatedAt.Equal(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)) }},
		{"created_at", `"2025-03-14T11:26:53.5+02:00"`, func(l *Location) bool {
			return l.CreatedAt == time.Date(2025, 3, 14, 9, 26, 53, 5e8, time.UTC)
		}},
		{"created_at", `"2025-03-14T01:26:53.123456789-08:00"`, func(l *Location) bool {
			return l.CreatedAt == time.Date(2025, 3, 14, 9, 26, 53, 123456789, time.UTC)
		}},
		{"created_at", `"2025-03-14T09:26:53.1234567891Z"`, func(l *Location) bool { return l.CreatedAt.Nanosecond() == 123456789 }},
		{"created_at", `"2025-03-14T09:26:53"`, func(l *Location) bool { return l.CreatedAt == time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC) }},
		{"created_at", `"2025-03-14 09:26:53z"`, func(l *Location) bool { return l.CreatedAt == time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC) }},
		{"created_at", `"2024-02-29T00:00:00Z"`, func(l *Location) bool { return l.CreatedAt.Day() == 29 }},
		{"created_at", `null`, func(l *Location) bool { return l.CreatedAt.IsZero() }},
		{"created_at", `"2025-03-14T09:26:53\u005a"`, func(l *Location) bool { return !l.CreatedAt.IsZero() }},
		{"deleted_at", `"2025-03-15T00:00:00Z"`, func(l *Location) bool { return l.DeletedAt.Equal(time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)) }},
		{"occurred_at", `null`, func(l *Location) bool { return l.OccurredAt == nil }},
		{"occurred_at", `"2025-03-14T09:00:00-05:30"`, func(l *Location) bool {
			return *l.OccurredAt == time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC) && l.OccurredAt.Location() == time.UTC
		}},
		{"speed", `"13.5"`, func(l *Location) bool { return *l.Speed == 13.5 }},
		{"speed", `null`, func(l *Location) bool { return l.Speed == nil }},
		{"speed", `-0`, func(l *Location) bool { return *l.Speed == 0 && math.Signbit(*l.Speed) }},
		{"odometer", `123456789012.345`, func(l *Location) bool { return *l.Odometer == 123456789012.345 }},
		{"fuel_level", `1e-3`, func(l *Location) bool { return *l.FuelLevel == 0.001 }},
		{"fuel_value", `" 2 "`, func(l *Location) bool { return *l.FuelValue == 2 }},
		{"engine_hours", `0`, func(l *Location) bool { return *l.EngineHours == 0 }},
		{"oil_pressure", `1E+5`, func(l *Location) bool { return *l.OilPressure == 1e5 }},
		{"coolant_temperature", `300`, func(l *Location) bool { return *l.CoolantTemperature == 300 }},
		{"location", `null`, func(l *Location) bool { return !l.HasPosition && l.Latitude == 0 && l.Altitude == nil }},
		{"location", ``, func(l *Location) bool { return !l.HasPosition }},
		{"location", `{"coordinates":["-122.4","37.7"],"type":"Point"}`, func(l *Location) bool {
			return l.HasPosition && l.Longitude == -122.4 && l.Latitude == 37.7 && l.Altitude == nil
		}},
		{"location", `{"type":"Point","coordinates":[2.35,48.85,"35.5"],"bbox":[1,2,3,4]}`, func(l *Location) bool {
			return l.HasPosition && l.Longitude == 2.35 && l.Latitude == 48.85 && *l.Altitude == 35.5
		}},
		{"location", `{"type":"Point","coordinates":[0,0]}`, func(l *Location) bool { return l.HasPosition }},
		{"h3_index_11", `null`, func(l *Location) bool { return l.H3[11] == 0 }},
		{"h3_index_11", ``, func(l *Location) bool { return l.H3[11] == 0 }},
		{"h3_index_11", `"8b283082a30dfff"`, func(l *Location) bool { return l.H3[11] == 0x8b283082a30dfff }},
		{"h3_index_11", `"0x8B283082A30DFFF"`, func(l *Location) bool { return l.H3[11] == 0x8b283082a30dfff }},
		{"h3_index_11", `"626707369212035071"`, func(l *Location) bool { return l.H3[11] == 626707369212035071 }},
		{"h3_index_11", `18446744073709551615`, func(l *Location) bool { return uint64(l.H3[11]) == math.MaxUint64 }},
		{"inferred_address", `null`, func(l *Location) bool { return l.InferredCity == nil && l.InferredCountryCode == nil }},
		{"inferred_address", `{"city":null,"country_code":"BR","zip":"x"}`, func(l *Location) bool {
			return l.InferredCity == nil && l.InferredProvince == nil && *l.InferredCountryCode == "BR"
		}},
		{"extras", `null`, func(l *Location) bool { return l.Extras == nil }},
		{"extras", `{"a":[1,{"b":null}]}`, func(l *Location) bool { return string(l.Extras) == `{"a":[1,{"b":null}]}` }},
		{"source_data", `{"raw":"\u00e9"}`, func(l *Location) bool { return string(l.SourceData) == `{"raw":"\u00e9"}` }},
		{"source_data", ``, func(l *Location) bool { return l.SourceData == nil }},
		{"unknown_future_field", `{"deep":[[[{"x":"y"}]]],"n":1e9}`, func(l *Location) bool { return l.ID != "" }},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			raw := withField(tt.field, tt.value)
			l := mustDecode(t, raw)
			if !tt.check(l) {
				t.Errorf("%s = %s: unexpected result\n%s", tt.field, tt.value, dump(l))
			}
			if string(l.Raw) != raw {
				t.Errorf("Raw is not the input")
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		field       string
		reason      string
		valuePrefix string
	}{
		{"not json", `{"id":`, "id", ReasonDecode, ""},
		{"array", `[1,2]`, "record", ReasonDecode, "[1,2]"},
		{"null", `null`, "record", ReasonDecode, "null"},
		{"empty", ``, "record", ReasonDecode, ""},
		{"trailing", `{} {}`, "record", ReasonDecode, "{}"},
		{"trailing comma", `{"id":"x",}`, "record", ReasonDecode, ""},
		{"bad escape", `{"tsp_slug":"\x"}`, "tsp_slug", ReasonDecode, ""},
		{"control char", "{\"tsp_slug\":\"a\tb\"}", "tsp_slug", ReasonDecode, ""},
		{"bad unknown", `{"zzz":[1,}`, "zzz", ReasonDecode, ""},
		{"bad literal", `{"zzz":nul}`, "zzz", ReasonDecode, ""},
		{"leading zero", `{"speed":01}`, "record", ReasonDecode, "1}"},
		{"id number", withField("id", `42`), "id", ReasonBadID, "42"},
		{"fleet_id object", withField("fleet_id", `{}`), "fleet_id", ReasonBadFleetID, "{}"},
		{"tsp_slug number", withField("tsp_slug", `1`), "tsp_slug", ReasonBadType, "1"},
		{"city number", withField("inferred_address", `{"city":1}`), "inferred_address.city", ReasonBadType, "1"},
		{"address array", withField("inferred_address", `[]`), "inferred_address", ReasonBadType, "[]"},
		{"created_at garbage", withField("created_at", `"yesterday"`), "created_at", ReasonBadTimestamp, `"yesterday"`},
		{"created_at number", withField("created_at", `1710408413`), "created_at", ReasonBadTimestamp, "1710408413"},
		{"created_at the zero time (year 1), not null", withField("created_at", `"0001-01-01T00:00:00Z"`), "created_at", ReasonBadTimestamp, `"0001-01-01T00:00:00Z"`},
		{"updated_at month 13", withField("updated_at", `"2025-13-01T00:00:00Z"`), "updated_at", ReasonBadTimestamp, ""},
		{"updated_at feb 30", withField("updated_at", `"2025-02-30T00:00:00Z"`), "updated_at", ReasonBadTimestamp, ""},
		{"updated_at hour 24", withField("updated_at", `"2025-02-01T24:00:00Z"`), "updated_at", ReasonBadTimestamp, ""},
		{"occurred_at date only", withField("occurred_at", `"2025-02-01"`), "occurred_at", ReasonBadTimestamp, ""},
		{"occurred_at bad offset", withField("occurred_at", `"2025-02-01T00:00:00+0100"`), "occurred_at", ReasonBadTimestamp, ""},
		{"deleted_at empty fraction", withField("deleted_at", `"2025-02-01T00:00:00.Z"`), "deleted_at", ReasonBadTimestamp, ""},
		{"speed word", withField("speed", `"fast"`), "speed", ReasonBadNumber, `"fast"`},
		{"speed NaN", withField("speed", `"NaN"`), "speed", ReasonBadNumber, `"NaN"`},
		{"speed bool", withField("speed", `true`), "speed", ReasonBadNumber, "true"},
		{"speed overflow", withField("speed", `1e999`), "speed", ReasonBadNumber, "1e999"},
		{"location string", withField("location", `""`), "location.coordinates", ReasonBadCoordinates, `""`},
		{"location empty", withField("location", `{}`), "location.coordinates", ReasonBadCoordinates, "{}"},
		{"location linestring", withField("location", `{"type":"LineString","coordinates":[[0,0],[1,1]]}`), "location.coordinates", ReasonBadCoordinates, `{"type":"LineString"`},
		{"location no coordinates", withField("location", `{"type":"Point"}`), "location.coordinates", ReasonBadCoordinates, ""},
		{"location no type", withField("location", `{"coordinates":[1,2]}`), "location.coordinates", ReasonBadCoordinates, ""},
		{"coordinates null", withField("location", `{"type":"Point","coordinates":null}`), "location.coordinates", ReasonBadCoordinates, "null"},
		{"coordinates one", withField("location", `{"type":"Point","coordinates":[1]}`), "location.coordinates", ReasonBadCoordinates, "[1]"},
		{"coordinates four", withField("location", `{"type":"Point","coordinates":[1,2,3,4]}`), "location.coordinates", ReasonBadCoordinates, "[1,2,3,4]"},
		{"coordinates empty", withField("location", `{"type":"Point","coordinates":[]}`), "location.coordinates", ReasonBadCoordinates, "[]"},
		{"coordinates item null", withField("location", `{"type":"Point","coordinates":[1,null]}`), "location.coordinates", ReasonBadCoordinates, "[1,null]"},
		{"coordinates item word", withField("location", `{"type":"Point","coordinates":["east","37"]}`), "location.coordinates", ReasonBadCoordinates, `["east","37"]`},
		{"coordinates empty strings", withField("location", `{"type":"Point","coordinates":["",""]}`), "location.coordinates", ReasonBadCoordinates, ""},
		{"h3 float", withField("h3_index_11", `6.27e17`), "h3_index_11", ReasonInvalidH3, "6.27e17"},
		{"h3 negative", withField("h3_index_11", `-1`), "h3_index_11", ReasonInvalidH3, "-1"},
		{"h3 zero", withField("h3_index_11", `0`), "h3_index_11", ReasonInvalidH3, "0"},
		{"h3 overflow", withField("h3_index_11", `18446744073709551616`), "h3_index_11", ReasonInvalidH3, "18446744073709551616"},
		{"h3 bool", withField("h3_index_11", `true`), "h3_index_11", ReasonInvalidH3, "true"},
		{"h3 word", withField("h3_index_11", `"cell"`), "h3_index_11", ReasonInvalidH3, `"cell"`},
		{"h3 empty string", withField("h3_index_11", `""`), "h3_index_11", ReasonInvalidH3, `""`},
		{"h3 17 hex digits", withField("h3_index_11", `"118b283082a30dfff"`), "h3_index_11", ReasonInvalidH3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Location
			err := Decode([]byte(tt.raw), &l)
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("Decode(%s) = %v, want *Invalid", tt.raw, err)
			}
			if inv.Field != tt.field || inv.Reason != tt.reason || !strings.HasPrefix(inv.Value, tt.valuePrefix) {
				t.Errorf("Decode(%s) = %#v, want Field %q Reason %q Value prefix %q", tt.raw, inv, tt.field, tt.reason, tt.valuePrefix)
			}
			if !strings.HasPrefix(err.Error(), inv.Field+" = ") {
				t.Errorf("Error() = %q does not name the field", err)
			}
		})
	}
}

func TestDecodeErrorKeepsOtherFields(t *testing.T) {
	var l Location
	err := Decode([]byte(withField("speed", `"fast"`)), &l)
	if err == nil || err.(*Invalid).Field != "speed" {
		t.Fatalf("Decode = %v, want speed error", err)
	}
	if l.ID != "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f" || *l.VehicleID != "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d" || l.OccurredAt == nil || !l.HasPosition || l.Speed != nil {
		t.Fatalf("after a field error, other fields are missing:\n%s", dump(&l))
	}
	// The first field error is returned; later ones do not replace it.
	raw := `{"speed":true,"id":"x","h3_index_11":"zz","odometer":"y"}`
	if err := Decode([]byte(raw), &l); err == nil || err.(*Invalid).Field != "speed" || l.ID != "x" {
		t.Fatalf("Decode(%s) = %v, ID %q; want the speed error and id decoded", raw, err, l.ID)
	}
	// Malformed JSON after a field error is still reported as such.
	raw = `{"speed":true,"id":"x",}`
	if err := Decode([]byte(raw), &l); err == nil || err.(*Invalid).Reason != ReasonDecode {
		t.Fatalf("Decode(%s) = %v, want a decode error", raw, err)
	}
}

func TestDecodeResetsLocation(t *testing.T) {
	var l Location
	if err := Decode([]byte(sample), &l); err != nil {
		t.Fatal(err)
	}
	first := dump(&l)
	if err := Decode([]byte(`{"id":"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f"}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.FleetID != "" || l.Speed != nil || l.HasPosition || l.H3[11] != 0 || l.Extras != nil || !l.CreatedAt.IsZero() {
		t.Fatalf("fields of the previous record survived:\n%s", dump(&l))
	}
	// Pointers handed out for the first record must not be overwritten.
	var a Location
	if err := Decode([]byte(sample), &a); err != nil {
		t.Fatal(err)
	}
	speed, city := a.Speed, a.InferredCity
	if err := Decode([]byte(withField("speed", "1")), &a); err != nil {
		t.Fatal(err)
	}
	if *speed != 13.4112 || *city != "San Francisco" {
		t.Fatalf("reusing the Location changed values behind earlier pointers; first record was\n%s", first)
	}
}

func TestDecodeStringsDoNotAliasInput(t *testing.T) {
	raw := []byte(sample)
	l := mustDecode(t, string(raw))
	var m Location
	if err := Decode(raw, &m); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'x'
	}
	if m.ID != l.ID || *m.InferredCity != "San Francisco" || *m.TspSlug != "samsara" {
		t.Fatal("decoded strings changed when the input buffer was overwritten")
	}
}

func TestDecodeLongStrings(t *testing.T) {
	// Strings beyond the decoder's inline buffer spill to the heap.
	long := strings.Repeat("ü", 600)
	raw := withField("source_driver_id", strconv.Quote(long))
	raw = strings.Replace(raw, `"fleet_ref":"acme-west"`, `"fleet_ref":`+strconv.Quote(strings.Repeat("r", 300)), 1)
	l := mustDecode(t, raw)
	if *l.SourceDriverID != long || *l.FleetRef != strings.Repeat("r", 300) || *l.InferredCity != "San Francisco" || l.ID != "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f" {
		t.Fatalf("long strings decoded wrong:\n%s", dump(l))
	}
}

func TestDecodeH3Exact(t *testing.T) {
	// Values above 2^53 are not representable in float64; any float64 detour
	// would change the low bits.
	for _, v := range []uint64{1<<53 + 1, 626707369212035071, 0x8b2a1072b59ffff, 0x8bffffffffffffff - 2, math.MaxInt64} {
		for _, form := range []string{strconv.FormatUint(v, 10), `"` + strconv.FormatUint(v, 10) + `"`, `"0x` + strconv.FormatUint(v, 16) + `"`} {
			l := mustDecode(t, withField("h3_index_11", form))
			if uint64(l.H3[11]) != v {
				t.Errorf("h3_index_11 = %s decoded as %d, want %d", form, l.H3[11], v)
			}
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	raw := []byte(sample)
	var l Location
	n := testing.AllocsPerRun(200, func() {
		if err := Decode(raw, &l); err != nil {
			t.Fatal(err)
		}
	})
	if n > 2 {
		t.Fatalf("Decode allocates %v times per record, want <= 2", n)
	}
}

// genRecord builds a random record in the shapes the contract allows (and a
// few more), so that Decode can be compared with the encoding/json reference.
func genRecord(r *rand.Rand) string {
	uuid := func() string {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		s := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
		if r.IntN(4) == 0 {
			s = strings.ToUpper(s)
		}
		return strconv.Quote(s)
	}
	str := func() string {
		alphabet := []string{"a", "Z", "0", " ", "é", "日本", "🚚", `\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude9a`, `\/`, "-", "_"}
		var b strings.Builder
		b.WriteByte('"')
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		b.WriteByte('"')
		return b.String()
	}
	ts := func() string {
		t := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
		switch r.IntN(4) {
		case 0:
			return `"` + t.Format("2006-01-02T15:04:05Z") + `"`
		case 1:
			return `"` + t.Format(time.RFC3339Nano) + `"`
		case 2:
			return `"` + t.In(time.FixedZone("", (r.IntN(28)-14)*1800)).Format("2006-01-02T15:04:05.000000Z07:00") + `"`
		default:
			return `"` + t.In(time.FixedZone("", -(r.IntN(12)*3600+15*60))).Format(time.RFC3339) + `"`
		}
	}
	num := func() string {
		f := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(12)))
		switch r.IntN(5) {
		case 0:
			return strconv.Itoa(r.IntN(100000) - 50000)
		case 1:
			return `"` + strconv.FormatFloat(f, 'f', -1, 64) + `"`
		case 2:
			return strconv.FormatFloat(f, 'e', -1, 64)
		default:
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	coord := func(lim float64) string {
		f := (r.Float64()*2 - 1) * lim
		if r.IntN(3) == 0 {
			return `"` + strconv.FormatFloat(f, 'f', -1, 64) + `"`
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	h3 := func() string {
		v := uint64(0x8b)<<52 | r.Uint64()&(1<<52-1)
		if r.IntN(10) == 0 {
			v = r.Uint64() | 1
		}
		switch r.IntN(3) {
		case 0:
			return `"` + strconv.FormatUint(v, 16) + `"`
		case 1:
			return `"` + strconv.FormatUint(v, 10) + `"`
		}
		return strconv.FormatUint(v, 10)
	}
	location := func() string {
		parts := []string{`"type":"Point"`}
		c := "[" + coord(180) + "," + coord(90)
		if r.IntN(3) == 0 {
			c += "," + coord(5000)
		}
		parts = append(parts, `"coordinates":`+c+"]")
		if r.IntN(4) == 0 {
			parts = append(parts, `"bbox":[1,2,3,4]`)
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		return "{" + strings.Join(parts, ",") + "}"
	}
	object := func() string {
		return `{"k":` + str() + `,"n":` + num() + `,"a":[true,false,null,{}],"o":{"x":[]}}`
	}
	gens := map[string]func() string{
		"id": uuid, "fleet_id": uuid, "connection_id": uuid, "tsp_id": uuid, "execution_id": uuid,
		"schedule_id": uuid, "vehicle_id": uuid, "driver_id": uuid, "co_driver_id": uuid,
		"fleet_ref": str, "tsp_slug": str, "source_name": str, "source_id": str, "source_data_hash": str,
		"source_driver_id": str, "source_vehicle_id": str, "source_co_driver_id": str,
		"speed_unit": str, "odometer_unit": str, "fuel_value_unit": str, "oil_pressure_unit": str, "coolant_temperature_unit": str,
		"created_at": ts, "updated_at": ts, "deleted_at": ts, "occurred_at": ts,
		"speed": num, "odometer": num, "fuel_level": num, "fuel_value": num, "engine_hours": num,
		"oil_pressure": num, "coolant_temperature": num,
		"location": location, "h3_index_11": h3,
		"inferred_address": func() string {
			return `{"city":` + str() + `,"province":null,"country_code":` + str() + `}`
		},
		"extras": object, "source_data": object, "unknown": object,
	}
	var parts []string
	for name, gen := range gens {
		switch r.IntN(8) {
		case 0: // absent
		case 1:
			parts = append(parts, strconv.Quote(name)+":null")
		default:
			parts = append(parts, strconv.Quote(name)+":"+gen())
		}
	}
	r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	ws := []string{"", " ", "\n  ", "\t"}
	sep := ws[r.IntN(len(ws))]
	return "{" + sep + strings.Join(parts, ","+sep) + sep + "}"
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 5000 {
		raw := genRecord(r)
		ref, refErr := refDecode([]byte(raw))
		var l Location
		err := Decode([]byte(raw), &l)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("record %d: Decode error %v, reference error %v\n%s", i, err, refErr, raw)
		}
		if err != nil {
			continue
		}
		if got, want := dump(&l), dump(&ref); got != want {
			t.Fatalf("record %d differs from encoding/json reference\ninput: %s\ngot:\n%s\nwant:\n%s", i, raw, got, want)
		}
	}
}

// TestHasPrefix checks the word-wise prefix test against strings.HasPrefix
// for prefixes of every length up to 40, with a difference at each byte
// and inputs cut short.
func TestHasPrefix(t *testing.T) {
	const text = `"coolant_temperature_unit":"K","fleet_id":"x"}`
	for n := range 41 {
		q := text[:n]
		for cut := 0; cut <= len(text); cut += 1 + cut/8 {
			for diff := -1; diff < min(n, cut); diff++ {
				b := []byte(text[:cut])
				if diff >= 0 {
					b[diff] ^= 0x20
				}
				if got, want := hasPrefix(b, q), strings.HasPrefix(string(b), q); got != want {
					t.Fatalf("hasPrefix(%q, %q) = %v, want %v", b, q, got, want)
				}
			}
		}
	}
}

// TestKeyGuessMatch checks the in-place key compare against
// strings.HasPrefix for keys of every length up to 40, with a difference at
// each byte and inputs cut short: a key it holds (8 to maxGuess bytes)
// matches exactly when the input starts with it, and any other never
// matches (the decoder looks it up).
func TestKeyGuessMatch(t *testing.T) {
	const text = `"coolant_temperature_unit_of_the_engine":"K","fleet_id":"x"}`
	for n := range 41 {
		q := text[:n]
		g := newKeyGuess(q)
		for cut := 0; cut <= len(text); cut += 1 + cut/8 {
			for diff := -1; diff < min(n, cut); diff++ {
				b := []byte(text[:cut])
				if diff >= 0 {
					b[diff] ^= 0x20
				}
				want := n >= 8 && n <= maxGuess && strings.HasPrefix(string(b), q)
				if got := g.match(b); got != want {
					t.Fatalf("key %q: match(%q) = %v, want %v", q, b, got, want)
				}
			}
		}
	}
}

// TestDecodeLocationSpellings decodes the location in the API's spelling,
// which Decode compares in place, and in others, which it scans: all the
// same record, and the same errors.
func TestDecodeLocationSpellings(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{`{"type":"Point","coordinates":[-122.4,37.7,12]}`, "ok"},
		{`{"type" : "Point", "coordinates" : [-122.4,37.7,12]}`, "ok"},
		{`{"coordinates":[-122.4,37.7,12],"type":"Point"}`, "ok"},
		{`{"typ\u0065":"Point","co\u006frdinates":[-122.4,37.7,12]}`, "ok"},
		{`{"type":"Point","bbox":[1,2],"coordinates":[-122.4,37.7,12]}`, "ok"},
		{`{"type":"Point","":1,"coordinates":[-122.4,37.7,12]}`, "ok"},
		{`{"type":"Points","coordinates":[-122.4,37.7,12]}`, "bad_coordinates"},
		{`{"type":"Point","coordinates":{}}`, "bad_coordinates"},
		{`{"type":"Point"}`, "bad_coordinates"},
		{`{"type":"Point","coordinates":[-122.4,37.7,12],"type":"Line"}`, "bad_coordinates"},
		{`{"type":"Point","coordinates"[-122.4,37.7]}`, "decode"},
		{`{"type":"Point""coordinates":[-122.4,37.7]}`, "decode"},
	} {
		// Not through withField, which compacts (and checks) the JSON.
		raw := strings.Replace(withField("location", "null"), `"location":null`, `"location":`+tc.loc, 1)
		l, err := decodeString(raw)
		got := "ok"
		if err != nil {
			got = err.(*Invalid).Reason
		}
		if got != tc.want {
			t.Errorf("location %s: %v, want %s", tc.loc, err, tc.want)
			continue
		}
		ref, rerr := refDecode([]byte(raw))
		if (rerr == nil) != (err == nil) {
			t.Errorf("location %s: error %v, reference decoder %v", tc.loc, err, rerr)
		}
		if err == nil && (!l.HasPosition || l.Longitude != -122.4 || l.Latitude != 37.7 || l.Altitude == nil || *l.Altitude != 12 ||
			dump(&l) != dump(&ref)) {
			t.Errorf("location %s: %s, reference %s", tc.loc, dump(&l), dump(&ref))
		}
	}
}

func decodeString(s string) (Location, error) {
	var l Location
	err := Decode([]byte(s), &l)
	return l, err
}

// TestDecodeInPlaceForms decodes values at the edges of the forms the
// decoder reads in place (decoder.fast, decoder.point) and of the ones it
// leaves to the decoder of their kind: each record must decode as the
// reference decoder does (both fail, or both give the same Location), or,
// where the two differ by design, fail with the reason given; and as
// DecodeItem does with another record after it.
func TestDecodeInPlaceForms(t *testing.T) {
	for _, tc := range []struct{ field, value, reason string }{
		{"location", `{"type":"Point","coordinates":[1.5,2.5]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5,-3]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5,3,4]}`, ""},
		{"location", `{"type":"Point","coordinates":[]}`, ""},
		{"location", `{"type":"Point","coordinates":["1.5",2.5]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,"2.5"]}`, ""},
		{"location", `{"type":"Point","coordinates":[1e400,2.5]}`, ""},
		{"location", `{"type":"Point","coordinates":[-0,0.0000000000000000000001]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5],"bbox":[1]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5,]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5 ,2.5]}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5] }`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5}`, ""},
		{"location", `{"type":"Point","coordinates":[1.5,2.5]`, ""},
		{"location", `{"type":"Point","coordinates":[01,2]}`, ""},
		{"h3_index_11", `626707368653701119`, ""},
		{"h3_index_11", `1234567890123456789`, ""},
		{"h3_index_11", `9999999999999999999`, ""},
		{"h3_index_11", `12345678901234567890`, ""},
		{"h3_index_11", `18446744073709551615`, ""},
		{"h3_index_11", `18446744073709551616`, ""},
		{"h3_index_11", `123456789012345678901`, ""},
		{"h3_index_11", `626707368653701119.0`, ""},
		{"h3_index_11", `6267073686537011e3`, ""},
		{"h3_index_11", `6267073686537011E3`, ""},
		{"h3_index_11", `0`, ""},
		{"h3_index_11", `01`, ""},
		{"h3_index_11", `-5`, ""},
		{"h3_index_11", `7x`, ""},
		{"speed", `12.5`, ""},
		{"speed", `1e400`, ""},
		{"speed", `-0`, ""},
		{"speed", `12.`, ""},
		{"speed", `012`, ""},
		{"speed", `"12.5"`, ""},
		{"speed", `null`, ""},
		{"speed", `nul`, ""},
		{"speed", `true`, ""},
		{"created_at", `"2026-11-20T11:58:48.042000Z"`, ""},
		{"created_at", `"0001-01-01T00:00:00Z"`, ReasonBadTimestamp},
		{"created_at", `"2026-13-01T00:00:00Z"`, ""},
		{"created_at", `"2026-11-20T11:58:48\u002e042Z"`, "ok"}, // escapes are decoded first
		{"created_at", `"2026-11-20T11:58:48.042Z`, ""},
		{"created_at", `null`, ""},
		{"deleted_at", `null`, ""},
		{"deleted_at", `"2026-11-20T11:58:48Z"`, ""},
		{"deleted_at", `"0001-01-01T00:00:00Z"`, ReasonBadTimestamp},
		{"deleted_at", `nil`, ""},
		{"fleet_ref", `null`, ""},
		{"fleet_ref", `"a\"b"`, ""},
		{"fleet_ref", `"é"`, ""},
		{"fleet_ref", `"a` + "\x01" + `b"`, ""},
		{"fleet_ref", `"abcdefghijklmnopqrstuvwxyz0123456789"`, ""},
		{"fleet_ref", `"abcdefghijklmnop`, ""},
		{"fleet_ref", `nulL`, ""},
		{"fleet_id", `null`, ""},
		{"fleet_id", `7`, ""},
		{"inferred_address", `{"city":"Köln","province":null,"country_code":"DEU"}`, ""},
		{"inferred_address", `{"city":7}`, ""},
	} {
		raw := strings.Replace(withField(tc.field, "null"), `"`+tc.field+`":null`, `"`+tc.field+`":`+tc.value, 1)
		var l Location
		err := Decode([]byte(raw), &l)
		switch tc.reason {
		case "":
			ref, rerr := refDecode([]byte(raw))
			if (err == nil) != (rerr == nil) {
				t.Errorf("%s = %s: error %v, reference decoder %v", tc.field, tc.value, err, rerr)
				continue
			}
			if err == nil && dump(&l) != dump(&ref) {
				t.Errorf("%s = %s:\n got %s\nwant %s", tc.field, tc.value, dump(&l), dump(&ref))
			}
		case "ok":
			if err != nil {
				t.Errorf("%s = %s: %v", tc.field, tc.value, err)
			}
		default:
			if e, ok := err.(*Invalid); !ok || e.Reason != tc.reason || e.Field != tc.field {
				t.Errorf("%s = %s: %v, want %s of %s", tc.field, tc.value, err, tc.reason, tc.field)
			}
		}
		var item Location
		n, ierr := DecodeItem([]byte(raw+`,{"id":"next"}]`), &item)
		if reason(ierr) != reason(err) || err == nil && (n != len(raw) || dump(&item) != dump(&l)) {
			t.Errorf("%s = %s: DecodeItem %d, %v, Decode %v", tc.field, tc.value, n, ierr, err)
		}
	}
}

// reason is the Reason and Field of an *Invalid, "" for nil.
func reason(err error) string {
	if e, ok := err.(*Invalid); ok {
		return e.Reason + " of " + e.Field
	}
	return fmt.Sprint(err)
}
