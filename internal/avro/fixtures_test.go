package avro

import (
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"

	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current encoder")

func ptr[T any](v T) *T { return &v }

// nonEmpty is s as an optional string: nil when empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newTestCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Resolution-11 H3 cell and parents at 0..10 (0x8b.. ≈ 6.3e17 > 2^53: a
// float64 round trip would change them).
var testCells = [12]int64{
	0x8029fffffffffff, 0x81283ffffffffff, 0x822837fffffffff, 0x832830fffffffff,
	0x8428309ffffffff, 0x85283083fffffff, 0x862830827ffffff, 0x872830828ffffff,
	0x882830828dfffff, 0x892830828d7ffff, 0x8a2830828d67fff, 0x8b2830828d66fff,
}

// fixtures are the representative events: the golden files pin their bytes.
func fixtures(t testing.TB) []struct {
	name       string
	loc        *record.Location
	ingestedAt time.Time
} {
	full := &record.Location{
		ID:                     "0b5e1c4a-3f6d-4e8a-9c2b-7d1e5f3a9b04",
		FleetID:                "5f0c7d2e-8a1b-4c3d-9e6f-2a4b6c8d0e1f",
		CreatedAt:              mustTime(t, "2025-03-14T09:26:53.589793Z"),
		UpdatedAt:              mustTime(t, "2025-03-14T09:27:01.123456789Z"), // sub-µs: truncated
		ConnectionID:           "c0ffee00-1234-4abc-8def-0123456789ab",
		SourceName:             "samsara",
		SourceID:               "samsara:veh-42:1741944413000",
		SourceDataHash:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		FleetRef:               ptr("north-depot"),
		DeletedAt:              ptr(mustTime(t, "2025-03-20T00:00:00Z")),
		TspID:                  ptr("7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"),
		TspSlug:                ptr("samsara"),
		OccurredAt:             ptr(mustTime(t, "2025-03-14T09:26:53.000001+01:00")),
		ExecutionID:            ptr("e0e0e0e0-1111-4222-8333-444455556666"),
		ScheduleID:             ptr("5c5c5c5c-1111-4222-8333-444455556666"),
		VehicleID:              ptr("ae1f0000-0000-4000-8000-000000000001"),
		DriverID:               ptr("d1d1d1d1-0000-4000-8000-000000000002"),
		CoDriverID:             ptr("c0d0c0d0-0000-4000-8000-000000000003"),
		SourceDriverID:         ptr("drv-17"),
		SourceVehicleID:        ptr("veh-42"),
		SourceCoDriverID:       ptr("drv-18"),
		Extras:                 json.RawMessage(`{"ignition":true,"note":"Zürich → Genève"}`),
		SourceData:             json.RawMessage(`{"id":"veh-42","gps":{"lat":47.3769,"lon":8.5417}}`),
		HasPosition:            true,
		Latitude:               47.376887,
		Longitude:              8.541694,
		Altitude:               ptr(-12.5),
		H3:                     testCells,
		Speed:                  ptr(13.8889),
		Odometer:               ptr(123456789.125),
		FuelLevel:              ptr(0.62),
		FuelValue:              ptr(0.0415),
		EngineHours:            ptr(4321.5),
		OilPressure:            ptr(310264.0),
		CoolantTemperature:     ptr(363.15),
		InferredCity:           ptr("Zürich"),
		InferredProvince:       ptr("ZH"),
		InferredCountryCode:    ptr("CH"),
		SpeedUnit:              ptr("m/s"),
		OdometerUnit:           ptr("m"),
		FuelValueUnit:          ptr("m3"),
		OilPressureUnit:        ptr("Pa"),
		CoolantTemperatureUnit: ptr("K"),
	}
	minimal := &record.Location{
		ID:             "00000000-0000-4000-8000-000000000000",
		FleetID:        "ffffffff-ffff-4fff-bfff-ffffffffffff",
		CreatedAt:      mustTime(t, "1969-12-31T23:59:59.999999Z"), // negative micros
		UpdatedAt:      mustTime(t, "1970-01-01T00:00:00Z"),
		ConnectionID:   "11111111-2222-4333-8444-555555555555",
		SourceName:     "brand-new-tsp", // not in the API's TspEnum (yet)
		SourceID:       "",
		SourceDataHash: "",
		Extras:         json.RawMessage(`null`),
	}
	// Position without H3 from the API and derived res-11 only, a 0.0
	// coordinate (a value, not null), NaN-free extremes.
	positionOnly := &record.Location{
		ID:           "12345678-9abc-4def-8123-456789abcdef",
		FleetID:      "5f0c7d2e-8a1b-4c3d-9e6f-2a4b6c8d0e1f",
		CreatedAt:    mustTime(t, "2262-04-11T23:47:16.854775Z"),
		UpdatedAt:    mustTime(t, "2025-01-01T00:00:00Z"),
		ConnectionID: "c0ffee00-1234-4abc-8def-0123456789ab",
		SourceName:   "geotab",
		SourceID:     "b1",
		HasPosition:  true,
		Latitude:     -90,
		Longitude:    0,
		H3:           [12]int64{11: 0x7fffffffffffffff},
		Speed:        ptr(0.0),
		SourceData:   json.RawMessage(`{}`),
	}
	return []struct {
		name       string
		loc        *record.Location
		ingestedAt time.Time
	}{
		{"full", full, mustTime(t, "2025-03-14T09:30:00.5Z")},
		{"minimal", minimal, mustTime(t, "2025-03-14T09:30:00Z")},
		{"position_only", positionOnly, time.Unix(0, 0)},
	}
}

// hambaEvent mirrors the schema for hamba's reflective encoder: it is the
// oracle the hand-written encoder is compared with byte for byte, and the
// alternative measured by BenchmarkHambaMarshal.
type hambaEvent struct {
	ID                         string     `avro:"id"`
	FleetID                    string     `avro:"fleet_id"`
	FleetRef                   *string    `avro:"fleet_ref"`
	ConnectionID               string     `avro:"connection_id"`
	TspID                      *string    `avro:"tsp_id"`
	TspSlug                    *string    `avro:"tsp_slug"`
	SourceName                 string     `avro:"source_name"`
	SourceID                   string     `avro:"source_id"`
	SourceDataHash             *string    `avro:"source_data_hash"`
	CreatedAt                  time.Time  `avro:"created_at"`
	UpdatedAt                  time.Time  `avro:"updated_at"`
	DeletedAt                  *time.Time `avro:"deleted_at"`
	OccurredAt                 *time.Time `avro:"occurred_at"`
	ExecutionID                *string    `avro:"execution_id"`
	ScheduleID                 *string    `avro:"schedule_id"`
	VehicleID                  *string    `avro:"vehicle_id"`
	DriverID                   *string    `avro:"driver_id"`
	CoDriverID                 *string    `avro:"co_driver_id"`
	SourceVehicleID            *string    `avro:"source_vehicle_id"`
	SourceDriverID             *string    `avro:"source_driver_id"`
	SourceCoDriverID           *string    `avro:"source_co_driver_id"`
	Latitude                   *float64   `avro:"latitude"`
	Longitude                  *float64   `avro:"longitude"`
	Altitude                   *float64   `avro:"altitude"`
	H3Index11                  *int64     `avro:"h3_index_11"`
	H3Index0                   *int64     `avro:"h3_index_0"`
	H3Index1                   *int64     `avro:"h3_index_1"`
	H3Index2                   *int64     `avro:"h3_index_2"`
	H3Index3                   *int64     `avro:"h3_index_3"`
	H3Index4                   *int64     `avro:"h3_index_4"`
	H3Index5                   *int64     `avro:"h3_index_5"`
	H3Index6                   *int64     `avro:"h3_index_6"`
	H3Index7                   *int64     `avro:"h3_index_7"`
	H3Index8                   *int64     `avro:"h3_index_8"`
	H3Index9                   *int64     `avro:"h3_index_9"`
	H3Index10                  *int64     `avro:"h3_index_10"`
	Speed                      *float64   `avro:"speed"`
	SpeedUnit                  *string    `avro:"speed_unit"`
	Odometer                   *float64   `avro:"odometer"`
	OdometerUnit               *string    `avro:"odometer_unit"`
	FuelLevel                  *float64   `avro:"fuel_level"`
	FuelValue                  *float64   `avro:"fuel_value"`
	FuelValueUnit              *string    `avro:"fuel_value_unit"`
	EngineHours                *float64   `avro:"engine_hours"`
	OilPressure                *float64   `avro:"oil_pressure"`
	OilPressureUnit            *string    `avro:"oil_pressure_unit"`
	CoolantTemperature         *float64   `avro:"coolant_temperature"`
	CoolantTemperatureUnit     *string    `avro:"coolant_temperature_unit"`
	InferredAddressCity        *string    `avro:"inferred_address_city"`
	InferredAddressProvince    *string    `avro:"inferred_address_province"`
	InferredAddressCountryCode *string    `avro:"inferred_address_country_code"`
	Extras                     *string    `avro:"extras"`
	SourceData                 *string    `avro:"source_data"`
	IngestedAt                 time.Time  `avro:"ingested_at"`
}

// toHamba fills e from l (reusing e, so the benchmark measures hamba and
// not this copy's allocations more than needed).
func toHamba(e *hambaEvent, l *record.Location, ingestedAt time.Time) {
	cell := func(v int64) *int64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	raw := func(b []byte) *string {
		if len(b) == 0 || string(b) == "null" {
			return nil
		}
		s := string(b)
		return &s
	}
	*e = hambaEvent{
		ID: l.ID, FleetID: l.FleetID, FleetRef: l.FleetRef, ConnectionID: l.ConnectionID,
		TspID: l.TspID, TspSlug: l.TspSlug, SourceName: l.SourceName, SourceID: l.SourceID,
		SourceDataHash: nonEmpty(l.SourceDataHash), CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
		DeletedAt: l.DeletedAt, OccurredAt: l.OccurredAt, ExecutionID: l.ExecutionID,
		ScheduleID: l.ScheduleID, VehicleID: l.VehicleID, DriverID: l.DriverID,
		CoDriverID: l.CoDriverID, SourceVehicleID: l.SourceVehicleID,
		SourceDriverID: l.SourceDriverID, SourceCoDriverID: l.SourceCoDriverID,
		Altitude:  l.Altitude,
		H3Index11: cell(l.H3[11]), H3Index0: cell(l.H3[0]), H3Index1: cell(l.H3[1]),
		H3Index2: cell(l.H3[2]), H3Index3: cell(l.H3[3]), H3Index4: cell(l.H3[4]),
		H3Index5: cell(l.H3[5]), H3Index6: cell(l.H3[6]), H3Index7: cell(l.H3[7]),
		H3Index8: cell(l.H3[8]), H3Index9: cell(l.H3[9]), H3Index10: cell(l.H3[10]),
		Speed: l.Speed, SpeedUnit: l.SpeedUnit, Odometer: l.Odometer, OdometerUnit: l.OdometerUnit,
		FuelLevel: l.FuelLevel, FuelValue: l.FuelValue, FuelValueUnit: l.FuelValueUnit,
		EngineHours: l.EngineHours, OilPressure: l.OilPressure, OilPressureUnit: l.OilPressureUnit,
		CoolantTemperature: l.CoolantTemperature, CoolantTemperatureUnit: l.CoolantTemperatureUnit,
		InferredAddressCity: l.InferredCity, InferredAddressProvince: l.InferredProvince,
		InferredAddressCountryCode: l.InferredCountryCode,
		Extras:                     raw(l.Extras), SourceData: raw(l.SourceData),
		IngestedAt: ingestedAt,
	}
	if l.HasPosition {
		e.Latitude, e.Longitude = &l.Latitude, &l.Longitude
	}
}

// hambaAPI is hamba's encoder as the bridge would configure it.
var hambaAPI = hamba.Config{}.Freeze()

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func osWriteFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
