// Package record owns the domain record of catena-bridge: one vehicle location
// as the Catena API returns it (VehicleLocationRead), its JSON decoding and its
// validation.
//
// The record is decoded field by field from the contract. Nullable values are
// pointers (nil = JSON null or absent); the H3 cells are held in a fixed array
// where 0 means "not set" (0 is never a valid H3 index), so enrichment adds no
// allocations.
package record

import (
	"encoding/json"
	"time"
)

// Location is one vehicle location (VehicleLocationRead).
type Location struct {
	// Required by the contract.
	ID             string // uuid, record id
	FleetID        string // uuid; "" when the API sent null (such a record is invalid)
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ConnectionID   string
	SourceName     string // TspEnum; kept as a string, new providers appear
	SourceID       string
	SourceDataHash string

	FleetRef         *string
	DeletedAt        *time.Time
	TspID            *string
	TspSlug          *string
	OccurredAt       *time.Time
	ExecutionID      *string
	ScheduleID       *string
	VehicleID        *string
	DriverID         *string
	CoDriverID       *string
	SourceDriverID   *string
	SourceVehicleID  *string
	SourceCoDriverID *string

	// Extras and SourceData are kept as raw JSON objects (nil when absent or null).
	Extras     json.RawMessage
	SourceData json.RawMessage

	// HasPosition is true when location is a GeoJSON Point with 2 or 3
	// numeric (or numeric-string) coordinates, in [lon, lat(, alt)] order.
	HasPosition bool
	Longitude   float64
	Latitude    float64
	Altitude    *float64

	// H3 holds the H3 cell of the record at each resolution 0..11; 0 means not
	// set. H3[11] is the API's h3_index_11 (or the cell derived from the
	// coordinates by enrichment); the others are filled by enrichment.
	H3 [12]int64

	Speed              *float64
	Odometer           *float64
	FuelLevel          *float64
	FuelValue          *float64
	EngineHours        *float64
	OilPressure        *float64
	CoolantTemperature *float64

	InferredCity        *string
	InferredProvince    *string
	InferredCountryCode *string

	SpeedUnit              *string
	OdometerUnit           *string
	FuelValueUnit          *string
	OilPressureUnit        *string
	CoolantTemperatureUnit *string

	// Raw is the record's JSON exactly as received; it is what the dead-letter
	// topic carries.
	Raw json.RawMessage
}
