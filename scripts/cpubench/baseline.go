package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/uber/h3-go/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// The baseline: a straightforward bridge, the one the issue compares with.
// encoding/json decodes each page into structs, h3-go checks the cell and
// derives its parents (cgo), hamba/avro's Marshal encodes, and franz-go with
// its defaults (snappy, its partitioner) produces each page in one
// transaction. It keeps the bridge's shape (8 vehicles at a time, 1000-record
// pages, the four headers, fleet_id as key) and none of its guarantees
// beyond the transaction per page: no ledger, checkpoints or dedup.

type wirePoint struct {
	Type        string `json:"type"`
	Coordinates []num  `json:"coordinates"`
}

// num is a JSON number or a numeric string ("-122.4"), as the API sends.
type num float64

func (n *num) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(strings.Trim(string(b), `"`), 64)
	*n = num(f)
	return err
}

// cell is h3_index_11: a JSON integer, or its hexadecimal or decimal string.
type cell int64

func (c *cell) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*c = cell(v)
		return nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	*c = cell(v)
	return err
}

type wireRecord struct {
	ID                     string          `json:"id"`
	FleetID                *string         `json:"fleet_id"`
	FleetRef               *string         `json:"fleet_ref"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	DeletedAt              *time.Time      `json:"deleted_at"`
	ConnectionID           string          `json:"connection_id"`
	TspID                  *string         `json:"tsp_id"`
	TspSlug                *string         `json:"tsp_slug"`
	SourceName             string          `json:"source_name"`
	SourceID               string          `json:"source_id"`
	SourceDataHash         *string         `json:"source_data_hash"`
	OccurredAt             *time.Time      `json:"occurred_at"`
	ExecutionID            *string         `json:"execution_id"`
	ScheduleID             *string         `json:"schedule_id"`
	Extras                 json.RawMessage `json:"extras"`
	SourceData             json.RawMessage `json:"source_data"`
	VehicleID              *string         `json:"vehicle_id"`
	DriverID               *string         `json:"driver_id"`
	CoDriverID             *string         `json:"co_driver_id"`
	SourceDriverID         *string         `json:"source_driver_id"`
	SourceVehicleID        *string         `json:"source_vehicle_id"`
	SourceCoDriverID       *string         `json:"source_co_driver_id"`
	Location               *wirePoint      `json:"location"`
	H3Index11              *cell           `json:"h3_index_11"`
	Speed                  *num            `json:"speed"`
	Odometer               *num            `json:"odometer"`
	FuelLevel              *num            `json:"fuel_level"`
	FuelValue              *num            `json:"fuel_value"`
	EngineHours            *num            `json:"engine_hours"`
	OilPressure            *num            `json:"oil_pressure"`
	CoolantTemperature     *num            `json:"coolant_temperature"`
	SpeedUnit              *string         `json:"speed_unit"`
	OdometerUnit           *string         `json:"odometer_unit"`
	FuelValueUnit          *string         `json:"fuel_value_unit"`
	OilPressureUnit        *string         `json:"oil_pressure_unit"`
	CoolantTemperatureUnit *string         `json:"coolant_temperature_unit"`
	InferredAddress        *struct {
		City        *string `json:"city"`
		Province    *string `json:"province"`
		CountryCode *string `json:"country_code"`
	} `json:"inferred_address"`
}

type wirePage struct {
	Items    []wireRecord `json:"items"`
	NextPage *string      `json:"next_page"`
}

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

func toEvent(w *wireRecord, ingestedAt time.Time) (*hambaEvent, error) {
	if w.ID == "" || w.FleetID == nil {
		return nil, errors.New("missing id or fleet_id")
	}
	e := &hambaEvent{
		ID: w.ID, FleetID: *w.FleetID, FleetRef: w.FleetRef, ConnectionID: w.ConnectionID,
		TspID: w.TspID, TspSlug: w.TspSlug, SourceName: w.SourceName, SourceID: w.SourceID,
		SourceDataHash: w.SourceDataHash, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		DeletedAt: w.DeletedAt, OccurredAt: w.OccurredAt, ExecutionID: w.ExecutionID,
		ScheduleID: w.ScheduleID, VehicleID: w.VehicleID, DriverID: w.DriverID,
		CoDriverID: w.CoDriverID, SourceVehicleID: w.SourceVehicleID,
		SourceDriverID: w.SourceDriverID, SourceCoDriverID: w.SourceCoDriverID,
		Speed: f64(w.Speed), SpeedUnit: w.SpeedUnit, Odometer: f64(w.Odometer), OdometerUnit: w.OdometerUnit,
		FuelLevel: f64(w.FuelLevel), FuelValue: f64(w.FuelValue), FuelValueUnit: w.FuelValueUnit,
		EngineHours: f64(w.EngineHours), OilPressure: f64(w.OilPressure), OilPressureUnit: w.OilPressureUnit,
		CoolantTemperature: f64(w.CoolantTemperature), CoolantTemperatureUnit: w.CoolantTemperatureUnit,
		IngestedAt: ingestedAt,
	}
	if w.Location != nil && len(w.Location.Coordinates) >= 2 {
		lon, lat := float64(w.Location.Coordinates[0]), float64(w.Location.Coordinates[1])
		e.Longitude, e.Latitude = &lon, &lat
		if len(w.Location.Coordinates) > 2 {
			alt := float64(w.Location.Coordinates[2])
			e.Altitude = &alt
		}
	}
	if w.H3Index11 != nil {
		v := int64(*w.H3Index11)
		c := h3.Cell(v)
		if !c.IsValid() || c.Resolution() != 11 {
			return nil, fmt.Errorf("h3_index_11 %d: invalid", v)
		}
		e.H3Index11 = &v
		for _, r := range []int{9, 7, 5} {
			p := int64(c.Parent(r))
			switch r {
			case 9:
				e.H3Index9 = &p
			case 7:
				e.H3Index7 = &p
			case 5:
				e.H3Index5 = &p
			}
		}
	}
	if a := w.InferredAddress; a != nil {
		e.InferredAddressCity, e.InferredAddressProvince, e.InferredAddressCountryCode = a.City, a.Province, a.CountryCode
	}
	if len(w.Extras) > 0 && string(w.Extras) != "null" {
		s := string(w.Extras)
		e.Extras = &s
	}
	if len(w.SourceData) > 0 && string(w.SourceData) != "null" {
		s := string(w.SourceData)
		e.SourceData = &s
	}
	return e, nil
}

func f64(n *num) *float64 {
	if n == nil {
		return nil
	}
	f := float64(*n)
	return &f
}

// runBaseline is `cpubench baseline`: it backfills [from, to) of every
// vehicle and prints "published N allocs M" on exit.
func runBaseline(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	api := fs.String("api", "", "simulator URL")
	brokers := fs.String("brokers", "", "Kafka brokers")
	topic := fs.String("topic", "", "topic")
	fromS := fs.String("from", "", "RFC3339")
	toS := fs.String("to", "", "RFC3339")
	concurrency := fs.Int("concurrency", 8, "vehicles in parallel")
	_ = fs.Parse(args)
	from, err := time.Parse(time.RFC3339, *fromS)
	if err != nil {
		return err
	}
	to, err := time.Parse(time.RFC3339, *toS)
	if err != nil {
		return err
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient,
		&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *concurrency}})
	cc := clientcredentials.Config{ClientID: "demo", ClientSecret: "demo",
		TokenURL: *api + "/realms/catena/protocol/openid-connect/token"}
	hc := cc.Client(ctx)
	get := func(u string, v any) error {
		resp, err := hc.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}

	// Vehicles.
	var vehicles []string
	cursor := ""
	for {
		var pg struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextPage *string `json:"next_page"`
		}
		u := *api + "/v2/telematics/vehicles?size=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := get(u, &pg); err != nil {
			return err
		}
		for _, v := range pg.Items {
			vehicles = append(vehicles, v.ID)
		}
		if pg.NextPage == nil || *pg.NextPage == "" {
			break
		}
		cursor = *pg.NextPage
	}

	schema, err := hamba.Parse(schemas.VehicleLocation)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.TransactionalID("cpubench-baseline-"+*topic), kgo.DefaultProduceTopic(*topic))
	if err != nil {
		return err
	}
	defer cl.Close()

	pages := make(chan []*kgo.Record, *concurrency)
	work := make(chan string)
	errc := make(chan error, *concurrency+1)
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				if err := baselineVehicle(*api, v, from, to, get, schema, pages); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, v := range vehicles {
			work <- v
		}
	}()
	go func() { wg.Wait(); close(pages) }()

	published := 0
	for recs := range pages {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		published += len(recs)
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	fmt.Printf("published %d allocs %d\n", published, s[0].Value.Uint64())
	return nil
}

func baselineVehicle(api, vehicle string, from, to time.Time, get func(string, any) error, schema hamba.Schema, pages chan<- []*kgo.Record) error {
	q := url.Values{}
	q.Set("only_latest", "false")
	q.Set("vehicle_ids", vehicle)
	q.Set("from_datetime", from.UTC().Format(time.RFC3339Nano))
	q.Set("to_datetime", to.UTC().Format(time.RFC3339Nano))
	q.Set("size", "1000")
	base := api + "/v2/telematics/vehicle-locations?" + q.Encode()
	cursor := ""
	for {
		u := base
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		var pg wirePage
		if err := get(u, &pg); err != nil {
			return err
		}
		now := time.Now()
		recs := make([]*kgo.Record, 0, len(pg.Items))
		for i := range pg.Items {
			w := &pg.Items[i]
			e, err := toEvent(w, now)
			if err != nil {
				continue // a dead letter in a real bridge; the simulator sends none here
			}
			val, err := hamba.Marshal(schema, e)
			if err != nil {
				return err
			}
			r := &kgo.Record{Key: []byte(e.FleetID), Value: val, Headers: []kgo.RecordHeader{
				{Key: sink.HeaderID, Value: []byte(e.ID)},
				{Key: sink.HeaderSource, Value: []byte(e.SourceName)},
			}}
			if e.VehicleID != nil {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: sink.HeaderVehicleID, Value: []byte(*e.VehicleID)})
			}
			if e.OccurredAt != nil {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: sink.HeaderOccurredAt, Value: []byte(e.OccurredAt.Format(time.RFC3339Nano))})
			}
			recs = append(recs, r)
		}
		pages <- recs
		if pg.NextPage == nil || *pg.NextPage == "" {
			return nil
		}
		cursor = *pg.NextPage
	}
}
