package catena

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// VehicleQuery holds the filters of GET /v2/telematics/vehicles.
type VehicleQuery struct {
	// FleetIDs, FleetRefs, VehicleIDs and SourceIDs (the TSP's ids): at most
	// 100 each, sent as repeated parameters.
	FleetIDs, FleetRefs, VehicleIDs, SourceIDs []string
	// ConnectionID limits the results to one TSP connection.
	ConnectionID string
	// IncludeSourceData asks for the raw TSP payload in source_data.
	IncludeSourceData bool
	// SortBy names the field to sort by (API default: occurred_at);
	// SortOrder is "", "asc" or "desc" (API default asc).
	SortBy, SortOrder string
	// Size is the page size, 1..1000; 0 means 1000.
	Size int
}

func (q *VehicleQuery) encode() (string, error) {
	size, err := pageSize(q.Size)
	if err != nil {
		return "", err
	}
	if err := checkLists(namedList{"fleet_ids", q.FleetIDs}, namedList{"fleet_refs", q.FleetRefs},
		namedList{"vehicle_ids", q.VehicleIDs}, namedList{"source_ids", q.SourceIDs}); err != nil {
		return "", err
	}
	switch q.SortOrder {
	case "", "asc", "desc":
	default:
		return "", fmt.Errorf("sort_order %q: must be asc or desc", q.SortOrder)
	}
	var b queryBuilder
	b.addList("fleet_ids", q.FleetIDs)
	b.addList("fleet_refs", q.FleetRefs)
	if q.ConnectionID != "" {
		b.add("connection_id", q.ConnectionID)
	}
	if q.IncludeSourceData {
		b.addBool("include_source_data", true)
	}
	b.addList("vehicle_ids", q.VehicleIDs)
	b.addList("source_ids", q.SourceIDs)
	if q.SortBy != "" {
		b.add("sort_by", q.SortBy)
	}
	if q.SortOrder != "" {
		b.add("sort_order", q.SortOrder)
	}
	b.add("size", fmt.Sprint(size))
	return b.String(), nil
}

// Vehicle is a VehicleRead: one vehicle as GET /v2/telematics/vehicles
// returns it. Nullable fields are pointers (nil for null or absent); objects
// of free shape are kept as raw JSON (nil when absent, "null" when null).
type Vehicle struct {
	ID             string          `json:"id"`
	FleetID        *string         `json:"fleet_id"` // required but nullable
	FleetRef       *string         `json:"fleet_ref"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	DeletedAt      *time.Time      `json:"deleted_at"`
	ConnectionID   string          `json:"connection_id"`
	TspID          *string         `json:"tsp_id"`
	TspSlug        *string         `json:"tsp_slug"`
	SourceName     string          `json:"source_name"` // TspEnum; new providers appear, so a string
	SourceData     json.RawMessage `json:"source_data,omitempty"`
	SourceID       string          `json:"source_id"`
	SourceDataHash string          `json:"source_data_hash"`
	OccurredAt     *time.Time      `json:"occurred_at"`
	ExecutionID    *string         `json:"execution_id"`
	ScheduleID     *string         `json:"schedule_id"`
	Extras         json.RawMessage `json:"extras,omitempty"`

	VehicleName         *string         `json:"vehicle_name"`
	OEM                 *string         `json:"oem"`
	ModelType           *string         `json:"model_type"`
	ModelYear           *int            `json:"model_year"`
	VIN                 *string         `json:"vin"`
	EngineVIN           *string         `json:"engine_vin"`
	LicensePlateRegion  *string         `json:"license_plate_region"`
	LicensePlateCountry *string         `json:"license_plate_country"`
	LicensePlateNumber  *string         `json:"license_plate_number"`
	StartedAt           *time.Time      `json:"started_at"`
	EndedAt             *time.Time      `json:"ended_at"`
	IsActive            *bool           `json:"is_active"`
	Status              *string         `json:"status"`
	Notes               *string         `json:"notes"`
	ELDID               *string         `json:"eld_id"`
	ELDSerialNumber     *string         `json:"eld_serial_number"`
	ELDDeviceType       *string         `json:"eld_device_type"`
	ELDProductID        *string         `json:"eld_product_id"`
	TotalAxles          *int            `json:"total_axles"`
	VehicleGroups       json.RawMessage `json:"vehicle_groups,omitempty"`
	ExternalID          *string         `json:"external_id"`
	SpeedUnit           *string         `json:"speed_unit"`
	OdometerUnit        *string         `json:"odometer_unit"`
	FuelUnit            *string         `json:"fuel_unit"`
	FuelCapacity        *string         `json:"fuel_capacity"` // a string in the contract
	EngineType          *string         `json:"engine_type"`
}

// Vehicles pages through GET /v2/telematics/vehicles starting at cursor
// ("" = first page). Filters and size are checked before anything is sent
// (at most 100 values per list, size 0..1000, sort order asc|desc); a
// violation is returned by the first Next.
func (c *Client) Vehicles(q VehicleQuery, cursor string) *Pager[Vehicle] {
	const op = "list_vehicles"
	query, err := q.encode()
	if err != nil {
		err = fmt.Errorf("%s: invalid query: %w", op, err)
	}
	return newPager(op, cursor, err, func(ctx context.Context, cur string) (*Page[Vehicle], error) {
		return getPage[Vehicle](ctx, c, op, EndpointVehicles, query, cur)
	})
}
