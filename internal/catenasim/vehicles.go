package catenasim

import (
	"encoding/json"
	"net/http"
	"time"
)

// apiTime marshals like appendTime.
type apiTime time.Time

func (t apiTime) MarshalJSON() ([]byte, error) {
	return appendTime(nil, time.Time(t).UnixNano()), nil
}

func ptr[T any](v T) *T { return &v }

// vehicleRead is the wire VehicleRead. Pointer fields are nullable; none
// has omitempty, so every field is present, like upstream.
type vehicleRead struct {
	FleetID             *string         `json:"fleet_id"`
	FleetRef            *string         `json:"fleet_ref"`
	ID                  string          `json:"id"`
	CreatedAt           apiTime         `json:"created_at"`
	UpdatedAt           apiTime         `json:"updated_at"`
	DeletedAt           *apiTime        `json:"deleted_at"`
	ConnectionID        string          `json:"connection_id"`
	TspID               *string         `json:"tsp_id"`
	TspSlug             *string         `json:"tsp_slug"`
	SourceName          string          `json:"source_name"`
	SourceData          json.RawMessage `json:"source_data,omitempty"`
	SourceID            string          `json:"source_id"`
	SourceDataHash      string          `json:"source_data_hash"`
	OccurredAt          *apiTime        `json:"occurred_at"`
	ExecutionID         *string         `json:"execution_id"`
	ScheduleID          *string         `json:"schedule_id"`
	Extras              map[string]any  `json:"extras"`
	VehicleName         *string         `json:"vehicle_name"`
	OEM                 *string         `json:"oem"`
	ModelType           *string         `json:"model_type"`
	ModelYear           *int            `json:"model_year"`
	VIN                 *string         `json:"vin"`
	EngineVIN           *string         `json:"engine_vin"`
	LicensePlateRegion  *string         `json:"license_plate_region"`
	LicensePlateCountry *string         `json:"license_plate_country"`
	LicensePlateNumber  *string         `json:"license_plate_number"`
	StartedAt           *apiTime        `json:"started_at"`
	EndedAt             *apiTime        `json:"ended_at"`
	IsActive            *bool           `json:"is_active"`
	Status              *string         `json:"status"`
	Notes               *string         `json:"notes"`
	EldID               *string         `json:"eld_id"`
	EldSerialNumber     *string         `json:"eld_serial_number"`
	EldDeviceType       *string         `json:"eld_device_type"`
	EldProductID        *string         `json:"eld_product_id"`
	TotalAxles          *int            `json:"total_axles"`
	VehicleGroups       map[string]any  `json:"vehicle_groups"`
	ExternalID          *string         `json:"external_id"`
	SpeedUnit           *string         `json:"speed_unit"`
	OdometerUnit        *string         `json:"odometer_unit"`
	FuelUnit            *string         `json:"fuel_unit"`
	FuelCapacity        *string         `json:"fuel_capacity"`
	EngineType          *string         `json:"engine_type"`
}

var oems = [...]string{"Freightliner", "Volvo", "Kenworth", "Peterbilt", "International", "Mack"}

func (s *Server) vehicleRead(v *vehicle, includeSource bool) vehicleRead {
	f := v.fleet
	created := f.createdAt.Add(time.Duration(v.idx) * time.Minute)
	h := hash3(s.seed, tagVehicleParams, uint64(v.idx), 100)
	r := vehicleRead{
		FleetID:             ptr(f.ID),
		FleetRef:            ptr(f.Ref),
		ID:                  v.id,
		CreatedAt:           apiTime(created),
		UpdatedAt:           apiTime(created.Add(time.Duration(h%1000) * time.Hour)),
		ConnectionID:        f.ConnectionID,
		TspID:               ptr(f.tspID),
		TspSlug:             ptr(f.SourceName),
		SourceName:          f.SourceName,
		SourceID:            v.srcVehicleID,
		OccurredAt:          ptr(apiTime(created)),
		VehicleName:         ptr(v.name),
		OEM:                 ptr(oems[h%uint64(len(oems))]),
		ModelYear:           ptr(v.modelYear),
		VIN:                 ptr(v.vin),
		LicensePlateRegion:  ptr(f.city.province),
		LicensePlateCountry: ptr(f.city.country),
		LicensePlateNumber:  ptr(v.plate),
		StartedAt:           ptr(apiTime(created)),
		IsActive:            ptr(true),
		Status:              ptr("active"),
		TotalAxles:          ptr(3),
		VehicleGroups:       map[string]any{"region": f.city.name},
		SpeedUnit:           ptr("m/s"),
		OdometerUnit:        ptr("m"),
		FuelUnit:            ptr("m3"),
		EngineType:          ptr("diesel"),
	}
	hb := make([]byte, 0, 64)
	for i := uint64(0); i < 4; i++ {
		hb = appendHex64(hb, hash3(s.seed, tagHash+i<<8, uint64(v.idx), 1<<62))
	}
	r.SourceDataHash = string(hb)
	if includeSource {
		r.SourceData, _ = json.Marshal(map[string]any{"id": v.srcVehicleID, "name": v.name, "vin": v.vin})
	}
	return r
}

func appendHex64(b []byte, h uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hexdigits[h>>uint(i)&0xf])
	}
	return b
}

// cursorPage is the page envelope for the encoding/json endpoints.
type cursorPage[T any] struct {
	Items                []T     `json:"items"`
	Total                int64   `json:"total"`
	CurrentPage          *string `json:"current_page"`
	CurrentPageBackwards *string `json:"current_page_backwards"`
	PreviousPage         *string `json:"previous_page"`
	NextPage             *string `json:"next_page"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newCursorPage[T any](items []T, total int64, pg *pageRes) cursorPage[T] {
	if items == nil {
		items = []T{}
	}
	return cursorPage[T]{Items: items, Total: total, CurrentPage: nullable(pg.cur),
		CurrentPageBackwards: nullable(pg.curBack), PreviousPage: nullable(pg.prev), NextPage: nullable(pg.next)}
}

// handleVehicles lists vehicles in index order. sort_by is accepted and
// ignored; sort_order is validated.
func (s *Server) handleVehicles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var e verrs
	var f vfilter
	f.fleetIDs = toSet(qUUIDList(q, "fleet_ids", &e))
	f.fleetRefs = toSet(qList(q, "fleet_refs", &e))
	f.vehicleIDs = toSet(qUUIDList(q, "vehicle_ids", &e))
	f.sourceIDs = toSet(qList(q, "source_ids", &e))
	f.connID, _ = qUUID(q, "connection_id", &e)
	includeSource := qBool(q, "include_source_data", false, &e)
	if so, ok := last(q, "sort_order"); ok && so != "asc" && so != "desc" {
		e.add("query.sort_order", so, "enum", "Input should be 'asc' or 'desc'")
	}
	size := qInt(q, "size", 300, 1, 1000, &e)
	if len(e) > 0 {
		write422(w, e)
		return
	}
	var c *cursor
	if cur, ok := last(q, "cursor"); ok && cur != "" {
		cc, err := s.decodeCursor(cur, curVehicles)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid cursor value")
			return
		}
		c = &cc
	}
	lo, hi, total := s.scope(&f)
	sq := seq{lo: lo, hi: hi, incl: func(i int64) bool { return f.match(s.vehicles[i]) }}
	if total < 0 {
		total = 0
		for i := sq.lo; i < sq.hi; i++ {
			if sq.incl(i) {
				total++
			}
		}
	}
	pg := s.page(sq, curVehicles, c, size, 0)
	items := make([]vehicleRead, 0, len(pg.pos))
	for _, i := range pg.pos {
		items = append(items, s.vehicleRead(s.vehicles[i], includeSource))
	}
	writeJSON(w, http.StatusOK, newCursorPage(items, total, &pg))
}
