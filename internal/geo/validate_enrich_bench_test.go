package geo

import (
	"strings"
	"testing"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

// benchRecord is a complete API record as the history endpoint returns it:
// every field set, h3_index_11 present (the common case), extras and an
// inferred address.
const benchRecord = `{
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

// benchValidateEnrich decodes raw once, then measures what the pipeline does
// to every decoded record before dedup and encoding: Validate, then Enrich at
// the default resolutions. Each op starts from a fresh copy of the decoded
// record, so Enrich does the same work every time.
func benchValidateEnrich(b *testing.B, raw string) {
	var base record.Location
	if err := record.Decode([]byte(raw), &base); err != nil {
		b.Fatalf("decode benchmark record: %v", err)
	}
	e, err := NewEnricher(DefaultResolutions)
	if err != nil {
		b.Fatal(err)
	}
	var l record.Location
	b.ReportAllocs()
	for b.Loop() {
		l = base
		if err := l.Validate(); err != nil {
			b.Fatal(err)
		}
		e.Enrich(&l)
	}
	if l.H3[DefaultResolutions[0]] == 0 {
		b.Fatalf("Enrich left H3[%d] = 0", DefaultResolutions[0])
	}
}

// BenchmarkValidateEnrich is the common case: the API sent h3_index_11.
func BenchmarkValidateEnrich(b *testing.B) { benchValidateEnrich(b, benchRecord) }

// BenchmarkValidateEnrichDerive is a record without h3_index_11: the cell is
// derived from the coordinates (a cgo call).
func BenchmarkValidateEnrichDerive(b *testing.B) {
	raw := strings.Replace(benchRecord, `"h3_index_11": 626707369212035071`, `"h3_index_11": null`, 1)
	if raw == benchRecord {
		b.Fatal("benchmark record has no h3_index_11 to remove")
	}
	benchValidateEnrich(b, raw)
}
