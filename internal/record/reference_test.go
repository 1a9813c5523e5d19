package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file holds a reference decoder built the obvious way: encoding/json
// into a wire struct, then conversion. It is the baseline the hand-written
// Decode was measured against (BenchmarkDecodeEncodingJSON) and the oracle
// of the differential tests: both must agree on every generated record.

type refNum float64

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func (n *refNum) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.Trim(s, " \t")
		if !jsonNumber.MatchString(s) {
			return fmt.Errorf("not a number: %q", s)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	*n = refNum(f)
	return err
}

type refWire struct {
	ID                     string          `json:"id"`
	FleetID                string          `json:"fleet_id"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	ConnectionID           string          `json:"connection_id"`
	SourceName             string          `json:"source_name"`
	SourceID               string          `json:"source_id"`
	SourceDataHash         string          `json:"source_data_hash"`
	FleetRef               *string         `json:"fleet_ref"`
	DeletedAt              *time.Time      `json:"deleted_at"`
	TspID                  *string         `json:"tsp_id"`
	TspSlug                *string         `json:"tsp_slug"`
	OccurredAt             *time.Time      `json:"occurred_at"`
	ExecutionID            *string         `json:"execution_id"`
	ScheduleID             *string         `json:"schedule_id"`
	VehicleID              *string         `json:"vehicle_id"`
	DriverID               *string         `json:"driver_id"`
	CoDriverID             *string         `json:"co_driver_id"`
	SourceDriverID         *string         `json:"source_driver_id"`
	SourceVehicleID        *string         `json:"source_vehicle_id"`
	SourceCoDriverID       *string         `json:"source_co_driver_id"`
	Extras                 json.RawMessage `json:"extras"`
	SourceData             json.RawMessage `json:"source_data"`
	Location               json.RawMessage `json:"location"`
	H3                     json.RawMessage `json:"h3_index_11"`
	Speed                  *refNum         `json:"speed"`
	Odometer               *refNum         `json:"odometer"`
	FuelLevel              *refNum         `json:"fuel_level"`
	FuelValue              *refNum         `json:"fuel_value"`
	EngineHours            *refNum         `json:"engine_hours"`
	OilPressure            *refNum         `json:"oil_pressure"`
	CoolantTemperature     *refNum         `json:"coolant_temperature"`
	InferredAddress        *refAddress     `json:"inferred_address"`
	SpeedUnit              *string         `json:"speed_unit"`
	OdometerUnit           *string         `json:"odometer_unit"`
	FuelValueUnit          *string         `json:"fuel_value_unit"`
	OilPressureUnit        *string         `json:"oil_pressure_unit"`
	CoolantTemperatureUnit *string         `json:"coolant_temperature_unit"`
}

type refAddress struct {
	City        *string `json:"city"`
	Province    *string `json:"province"`
	CountryCode *string `json:"country_code"`
}

type refPoint struct {
	Type        *string           `json:"type"`
	Coordinates []json.RawMessage `json:"coordinates"`
}

func nullRaw(b json.RawMessage) json.RawMessage {
	if b == nil || string(b) == "null" {
		return nil
	}
	return b
}

func numPtr(n *refNum) *float64 {
	if n == nil {
		return nil
	}
	f := float64(*n)
	return &f
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func refDecode(raw []byte) (Location, error) {
	var w refWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Location{}, err
	}
	l := Location{
		ID: w.ID, FleetID: w.FleetID, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
		ConnectionID: w.ConnectionID, SourceName: w.SourceName, SourceID: w.SourceID, SourceDataHash: w.SourceDataHash,
		FleetRef: w.FleetRef, DeletedAt: utcPtr(w.DeletedAt), TspID: w.TspID, TspSlug: w.TspSlug,
		OccurredAt: utcPtr(w.OccurredAt), ExecutionID: w.ExecutionID, ScheduleID: w.ScheduleID,
		VehicleID: w.VehicleID, DriverID: w.DriverID, CoDriverID: w.CoDriverID,
		SourceDriverID: w.SourceDriverID, SourceVehicleID: w.SourceVehicleID, SourceCoDriverID: w.SourceCoDriverID,
		Extras: nullRaw(w.Extras), SourceData: nullRaw(w.SourceData),
		Speed: numPtr(w.Speed), Odometer: numPtr(w.Odometer), FuelLevel: numPtr(w.FuelLevel),
		FuelValue: numPtr(w.FuelValue), EngineHours: numPtr(w.EngineHours), OilPressure: numPtr(w.OilPressure),
		CoolantTemperature: numPtr(w.CoolantTemperature),
		SpeedUnit:          w.SpeedUnit, OdometerUnit: w.OdometerUnit, FuelValueUnit: w.FuelValueUnit,
		OilPressureUnit: w.OilPressureUnit, CoolantTemperatureUnit: w.CoolantTemperatureUnit,
		Raw: raw,
	}
	if w.InferredAddress != nil {
		l.InferredCity, l.InferredProvince, l.InferredCountryCode = w.InferredAddress.City, w.InferredAddress.Province, w.InferredAddress.CountryCode
	}
	if loc := nullRaw(w.Location); loc != nil {
		var p refPoint
		if err := json.Unmarshal(loc, &p); err != nil {
			return Location{}, err
		}
		if p.Type == nil || *p.Type != "Point" || len(p.Coordinates) < 2 || len(p.Coordinates) > 3 {
			return Location{}, errors.New("not a point")
		}
		var c [3]refNum
		for i, item := range p.Coordinates {
			if string(item) == "null" {
				return Location{}, errors.New("null coordinate")
			}
			if err := json.Unmarshal(item, &c[i]); err != nil {
				return Location{}, err
			}
		}
		l.HasPosition, l.Longitude, l.Latitude = true, float64(c[0]), float64(c[1])
		if len(p.Coordinates) == 3 {
			l.Altitude = numPtr(&c[2])
		}
	}
	if h := nullRaw(w.H3); h != nil {
		s := string(h)
		var v uint64
		var err error
		if strings.HasPrefix(s, `"`) {
			if err := json.Unmarshal(h, &s); err != nil {
				return Location{}, err
			}
			s = strings.Trim(s, " \t")
			if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
				v, err = strconv.ParseUint(s[2:], 16, 64)
			} else if v, err = strconv.ParseUint(s, 10, 64); err != nil {
				v, err = strconv.ParseUint(s, 16, 64)
			}
		} else {
			v, err = strconv.ParseUint(s, 10, 64)
		}
		if err != nil || v == 0 {
			return Location{}, fmt.Errorf("bad h3 %s", h)
		}
		l.H3[11] = int64(v)
	}
	return l, nil
}

// dump renders a Location with pointers dereferenced and times formatted,
// so two records compare by value.
func dump(l *Location) string {
	var b strings.Builder
	v := reflect.ValueOf(l).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		fmt.Fprintf(&b, "%s=", v.Type().Field(i).Name)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				b.WriteString("nil\n")
				continue
			}
			f = f.Elem()
		}
		switch x := f.Interface().(type) {
		case time.Time:
			fmt.Fprintf(&b, "%s loc=%v\n", x.Format(time.RFC3339Nano), x.Location())
		case json.RawMessage:
			fmt.Fprintf(&b, "%q nil=%v\n", x, x == nil)
		case float64:
			fmt.Fprintf(&b, "%v bits=%x\n", x, x)
		default:
			fmt.Fprintf(&b, "%#v\n", x)
		}
	}
	return b.String()
}
