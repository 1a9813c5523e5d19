package catenasim

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uber/h3-go/v4"
)

const locPath = "/v2/telematics/vehicle-locations?"

func TestLocations422(t *testing.T) {
	h := newHarness(t, Config{})
	v := h.s.Vehicles()
	vid, did := v[0].ID, v[0].DriverID
	many := make([]string, 0, 202)
	for i := 0; i < 101; i++ {
		many = append(many, "fleet_ids", v[0].FleetID)
	}
	for _, tc := range []struct {
		name, query   string
		path, errType string
	}{
		{"size too big", q("size", "5000"), "query.size", "less_than_equal"},
		{"size 1001", q("size", "1001"), "query.size", "less_than_equal"},
		{"size zero", q("size", "0"), "query.size", "greater_than_equal"},
		{"size not int", q("size", "ten"), "query.size", "int_parsing"},
		{"only_latest not bool", q("only_latest", "maybe"), "query.only_latest", "bool_parsing"},
		{"include_source_data not bool", q("include_source_data", "2"), "query.include_source_data", "bool_parsing"},
		{"fleet_ids bad uuid", q("fleet_ids", "not-a-uuid"), "query.fleet_ids.0", "uuid_parsing"},
		{"vehicle_ids bad uuid", q("vehicle_ids", "1234"), "query.vehicle_ids.0", "uuid_parsing"},
		{"driver_ids bad uuid", q("driver_ids", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"), "query.driver_ids.0", "uuid_parsing"},
		{"connection_id bad uuid", q("connection_id", "x"), "query.connection_id", "uuid_parsing"},
		{"fleet_ids 101", q(many...), "query.fleet_ids", "too_long"},
		{"fleet_refs 101", strings.Repeat("fleet_refs=a&", 101), "query.fleet_refs", "too_long"},
		{"bad from", q("from_datetime", "yesterday"), "query.from_datetime", "datetime_from_date_parsing"},
		{"bad to", q("only_latest", "false", "vehicle_ids", vid, "to_datetime", "2025-13-01T00:00:00Z"), "query.to_datetime", "datetime_from_date_parsing"},
		{"history without vehicle or driver", q("only_latest", "false"), "query.vehicle_ids", "value_error"},
		{"history with two vehicles", q("only_latest", "false", "vehicle_ids", vid, "vehicle_ids", v[1].ID), "query.vehicle_ids", "value_error"},
		{"history with vehicle and driver", q("only_latest", "false", "vehicle_ids", vid, "driver_ids", did), "query.vehicle_ids", "value_error"},
		{"history with two drivers", q("only_latest", "false", "driver_ids", did, "driver_ids", v[1].DriverID), "query.vehicle_ids", "value_error"},
		{"history window 46 days", q("only_latest", "false", "vehicle_ids", vid,
			"from_datetime", ts(t0.Add(-46*24*time.Hour)), "to_datetime", ts(t0)), "query.to_datetime", "value_error"},
		{"history default to, from 45 days + 1s ago", q("only_latest", "false", "vehicle_ids", vid,
			"from_datetime", ts(t0.Add(-45*24*time.Hour-time.Second))), "query.to_datetime", "value_error"},
		{"history from after to", q("only_latest", "false", "vehicle_ids", vid,
			"from_datetime", ts(t0), "to_datetime", ts(t0.Add(-time.Hour))), "query.from_datetime", "value_error"},
		{"history default from after explicit to", q("only_latest", "false", "vehicle_ids", vid,
			"to_datetime", ts(t0.Add(-48*time.Hour))), "query.from_datetime", "value_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.get(locPath + tc.query)
			if r.status != 422 {
				t.Fatalf("status %d, want 422: %s", r.status, r.body)
			}
			var body struct {
				Code    *int               `json:"code"`
				Message *string            `json:"message"`
				Detail  []validationDetail `json:"detail"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Code == nil || *body.Code != 422 || body.Message == nil || *body.Message != "Invalid Request Body" {
				t.Fatalf("body %s", r.body)
			}
			var raw struct{ Detail []map[string]any }
			json.Unmarshal(r.body, &raw)
			for _, d := range raw.Detail {
				for _, k := range []string{"path", "input", "message", "error_type"} {
					if _, ok := d[k].(string); !ok {
						t.Errorf("detail %v: %s is not a string", d, k)
					}
				}
			}
			found := false
			for _, d := range body.Detail {
				found = found || d.Path == tc.path && d.ErrorType == tc.errType
			}
			if !found {
				t.Fatalf("no detail {path %s, error_type %s} in %s", tc.path, tc.errType, r.body)
			}
		})
	}

	// The limits themselves are accepted.
	for _, ok := range []string{
		q("size", "1"), q("size", "1000"), q(many[2:]...),
		q("only_latest", "false", "vehicle_ids", vid, "from_datetime", ts(t0.Add(-45*24*time.Hour)), "to_datetime", ts(t0)),
		q("only_latest", "false", "driver_ids", did),
		// from/to are not applied with only_latest=true, so neither is their limit.
		q("from_datetime", ts(t0.Add(-400*24*time.Hour))),
		q("only_latest", "0", "vehicle_ids", strings.ToUpper(vid), "from_datetime", "2025-03-01T10:00:00"),
	} {
		if r := h.get(locPath + ok); r.status != 200 {
			t.Errorf("%s: status %d: %s", ok, r.status, r.body)
		}
	}
}

// checkLocation checks every required field of VehicleLocationRead and the
// JSON type of every field present, and returns (lat, lon, h3 or 0).
func checkLocation(t *testing.T, it map[string]any, includeSource bool) (lat, lon float64, cell uint64) {
	t.Helper()
	isUUID := func(v any) bool {
		s, ok := v.(string)
		_, ok2 := parseUUID(s)
		return ok && ok2 && len(s) == 36 && s[14] == '4'
	}
	isTime := func(v any) bool {
		s, ok := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return ok && err == nil
	}
	for _, k := range []string{"fleet_id", "id", "created_at", "updated_at", "connection_id", "source_name", "source_id", "source_data_hash"} {
		if _, ok := it[k]; !ok {
			t.Fatalf("required field %s missing in %v", k, it)
		}
	}
	if f := it["fleet_id"]; f != nil && !isUUID(f) {
		t.Errorf("fleet_id = %v", f)
	}
	for _, k := range []string{"id", "connection_id"} {
		if !isUUID(it[k]) {
			t.Errorf("%s = %v: not a uuid", k, it[k])
		}
	}
	for _, k := range []string{"created_at", "updated_at", "occurred_at"} {
		if !isTime(it[k]) {
			t.Errorf("%s = %v: not a date-time", k, it[k])
		}
	}
	if s, _ := it["source_name"].(string); s == "" || !slices.Contains(tsps[:], s) {
		t.Errorf("source_name = %v", it["source_name"])
	}
	if s, _ := it["source_id"].(string); s == "" {
		t.Errorf("source_id = %v", it["source_id"])
	}
	if s, _ := it["source_data_hash"].(string); len(s) == 0 || len(s) > 64 {
		t.Errorf("source_data_hash = %v", it["source_data_hash"])
	}
	for _, k := range []string{"vehicle_id", "driver_id", "execution_id", "tsp_id"} {
		if v := it[k]; v != nil && !isUUID(v) {
			t.Errorf("%s = %v", k, v)
		}
	}
	for _, k := range []string{"speed", "odometer", "fuel_level", "fuel_value", "engine_hours", "oil_pressure", "coolant_temperature"} {
		v, ok := it[k]
		if !ok {
			t.Errorf("%s absent", k)
			continue
		}
		if v == nil {
			continue
		}
		n, ok := v.(json.Number)
		if _, err := n.Float64(); !ok || err != nil {
			t.Errorf("%s = %v: not a number", k, v)
		}
	}
	units := map[string]string{"speed_unit": "m/s", "odometer_unit": "m", "fuel_value_unit": "m3", "oil_pressure_unit": "Pa", "coolant_temperature_unit": "K"}
	for k, want := range units {
		if it[k] != want {
			t.Errorf("%s = %v, want %s", k, it[k], want)
		}
	}
	ia, ok := it["inferred_address"].(map[string]any)
	if !ok {
		t.Errorf("inferred_address = %v", it["inferred_address"])
	}
	for _, k := range []string{"city", "province", "country_code"} {
		if v := ia[k]; v != nil {
			if _, ok := v.(string); !ok {
				t.Errorf("inferred_address.%s = %v", k, v)
			}
		}
	}
	if _, has := it["source_data"]; has != includeSource {
		t.Errorf("source_data present = %v with include_source_data=%v", has, includeSource)
	} else if has {
		if _, ok := it["source_data"].(map[string]any); !ok {
			t.Errorf("source_data = %v: not an object", it["source_data"])
		}
	}
	loc, ok := it["location"].(map[string]any)
	if !ok || loc["type"] != "Point" {
		t.Fatalf("location = %v", it["location"])
	}
	cs, ok := loc["coordinates"].([]any)
	if !ok || len(cs) != 2 && len(cs) != 3 {
		t.Fatalf("coordinates = %v", loc["coordinates"])
	}
	num := func(v any) float64 {
		var s string
		switch x := v.(type) {
		case json.Number:
			s = string(x)
		case string:
			s = x
		default:
			t.Fatalf("coordinate %v (%T): neither number nor string", v, v)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("coordinate %q: %v", s, err)
		}
		return f
	}
	lon, lat = num(cs[0]), num(cs[1])
	switch v := it["h3_index_11"].(type) {
	case nil:
	case json.Number:
		u, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			t.Fatalf("h3_index_11 = %s: not a JSON integer: %v", v, err)
		}
		cell = u
	default:
		t.Fatalf("h3_index_11 = %v (%T)", v, v)
	}
	return lat, lon, cell
}

func TestLocationRecords(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{MalformedEvery: 5}})
	var strCoords, alt3, h3Null, nullDriver, noLocation int
	kinds := map[string]int{}
	for i, v := range h.s.Vehicles() {
		src := i%2 == 0
		path := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "1000", "include_source_data", strconv.FormatBool(src),
			"from_datetime", ts(t0.Add(-6*time.Hour)))
		pg := h.getPage(path)
		want := visiblePoints(h.s, v.ID, t0.Add(-6*time.Hour), t0, t0, false)
		if len(pg.Items) != len(want) || int(pg.Total) != len(want) {
			t.Fatalf("vehicle %d: %d items, total %d, want %d", i, len(pg.Items), pg.Total, len(want))
		}
		for j, it := range pg.Items {
			p := want[j]
			if p.NoLocation {
				if it["location"] != nil || it["h3_index_11"] != nil || it["id"] != p.ID {
					t.Fatalf("item %d: no-location point with location %v, h3_index_11 %v", j, it["location"], it["h3_index_11"])
				}
				noLocation++
				continue
			}
			lat, lon, cell := checkLocation(t, it, src)
			if it["id"] != p.ID || it["vehicle_id"] != v.ID {
				t.Fatalf("item %d: id %v, want %s", j, it["id"], p.ID)
			}
			if lat != p.Lat || lon != p.Lon || cell != p.H3 {
				t.Fatalf("item %d: (%v,%v,%d), truth (%v,%v,%d)", j, lat, lon, cell, p.Lat, p.Lon, p.H3)
			}
			occ, _ := time.Parse(time.RFC3339Nano, it["occurred_at"].(string))
			if !occ.Equal(p.OccurredAt) {
				t.Fatalf("occurred_at %v, truth %v", occ, p.OccurredAt)
			}
			kinds[p.Malformed]++
			switch p.Malformed {
			case MalformedMissingFleetID:
				if it["fleet_id"] != nil {
					t.Fatalf("missing_fleet_id point has fleet_id %v", it["fleet_id"])
				}
			case MalformedCoordinates:
				if lat <= 90 {
					t.Fatalf("coordinates_out_of_range point has lat %v", lat)
				}
			case MalformedInvalidH3:
				if c := h3.Cell(cell); c.IsValid() && c.Resolution() == 11 {
					t.Fatalf("invalid_h3 point has a valid res-11 cell %d", cell)
				}
			case "":
				if it["fleet_id"] != v.FleetID {
					t.Fatalf("fleet_id %v, want %s", it["fleet_id"], v.FleetID)
				}
				if p.H3NullOnWire {
					h3Null++
					if it["h3_index_11"] != nil {
						t.Fatalf("h3 null point has h3_index_11 %v", it["h3_index_11"])
					}
					continue
				}
				if cell <= 1<<53 {
					t.Fatalf("h3_index_11 = %d: not above 2^53", cell)
				}
				if want := uint64(h3.LatLngToCell(h3.NewLatLng(lat, lon), 11)); cell != want {
					t.Fatalf("h3_index_11 = %d, true cell of (%v, %v) is %d", cell, lat, lon, want)
				}
			}
			cs := it["location"].(map[string]any)["coordinates"].([]any)
			if _, ok := cs[0].(string); ok {
				strCoords++
			}
			if len(cs) == 3 {
				alt3++
			}
			if it["driver_id"] == nil {
				nullDriver++
				if sp, _ := it["speed"].(json.Number); sp != "" && sp != "0" {
					t.Fatalf("parked point (driver_id null) has speed %v", sp)
				}
			}
		}
	}
	for _, k := range []string{MalformedMissingFleetID, MalformedCoordinates, MalformedInvalidH3} {
		if kinds[k] == 0 {
			t.Errorf("no %s point served", k)
		}
	}
	if strCoords == 0 || alt3 == 0 || h3Null == 0 || nullDriver == 0 || noLocation == 0 {
		t.Errorf("shape variety missing: string coords %d, 3 coords %d, h3 null %d, null driver %d", strCoords, alt3, h3Null, nullDriver)
	}
	total := 0
	for _, n := range kinds {
		total += n
	}
	if bad := kinds[MalformedMissingFleetID] + kinds[MalformedCoordinates] + kinds[MalformedInvalidH3] + h3Null; math.Abs(float64(bad)/float64(total)-0.2) > 0.02 {
		t.Errorf("%d of %d points malformed or h3-null, want 1 in 5", bad, total)
	}
}

// TestPlausibleMotion checks that speed agrees with the displacement
// between consecutive points and that odometers are monotonic.
func TestPlausibleMotion(t *testing.T) {
	s, _ := New(Config{Clock: NewManualClock(t0)})
	for _, v := range s.Vehicles() {
		ps := s.Points(v.ID, t0.Add(-3*time.Hour), t0)
		var moving int
		for i := 1; i < len(ps); i++ {
			a, b := ps[i-1], ps[i]
			d := h3.GreatCircleDistanceM(h3.NewLatLng(a.Lat, a.Lon), h3.NewLatLng(b.Lat, b.Lon))
			if a.Speed > 0 && b.Speed > 0 {
				moving++
				exp := (a.Speed + b.Speed) / 2 * 30
				if math.Abs(d-exp) > 0.15*exp+5 {
					t.Fatalf("vehicle %s tick %d: moved %.0f m in 30 s at %.1f..%.1f m/s", v.ID, i, d, a.Speed, b.Speed)
				}
			}
			if a.Speed == 0 && b.Speed == 0 && d > 0 {
				t.Fatalf("parked vehicle moved %.1f m", d)
			}
			if dist := h3.GreatCircleDistanceM(h3.NewLatLng(b.Lat, b.Lon), h3.NewLatLng(cityOf(s, v).lat, cityOf(s, v).lon)); dist > 15000 {
				t.Fatalf("vehicle %s is %.0f m from its city centre", v.ID, dist)
			}
		}
		if moving == 0 {
			t.Fatalf("vehicle %s never moves", v.ID)
		}
	}
	v := s.vehicles[0]
	prev := -1.0
	for k := int64(0); k < 300; k++ {
		p := s.point(v, s.kCeil(v, t0.UnixNano())+k)
		if p.odometer < prev {
			t.Fatalf("odometer went back from %v to %v", prev, p.odometer)
		}
		prev = p.odometer
	}
	if prev < 1e7 || prev > 2e9 {
		t.Fatalf("odometer %v m is implausible", prev)
	}
}

func cityOf(s *Server, v Vehicle) *city {
	return s.vehicles[s.vehicleByID[v.ID]].fleet.city
}

func TestHistoryPaging(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faults   Faults
		byDriver bool
		size     int
	}{
		{"vehicle size 7", Faults{}, false, 7},
		{"vehicle size 1", Faults{}, false, 1},
		{"driver size 13", Faults{}, true, 13},
		{"late points size 50", Faults{LateEvery: 4, LateBy: 10 * time.Minute}, false, 50},
		{"late points by driver", Faults{LateEvery: 3, LateBy: 20 * time.Minute}, true, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Faults: tc.faults})
			v := h.s.Vehicles()[4]
			from, to := t0.Add(-5*time.Hour), t0
			param := "vehicle_ids"
			id := v.ID
			if tc.byDriver {
				param, id = "driver_ids", v.DriverID
			}
			items, totals, pages := h.all(locPath + q("only_latest", "false", param, id, "size", strconv.Itoa(tc.size),
				"from_datetime", ts(from), "to_datetime", ts(to)))
			want := visiblePoints(h.s, v.ID, from, to, t0, tc.byDriver)
			if len(want) < 100 {
				t.Fatalf("only %d points expected: test is too weak", len(want))
			}
			if got := ids(items); !slices.Equal(got, pointIDs(want)) {
				t.Fatalf("paged ids differ from ground truth: got %d, want %d", len(got), len(want))
			}
			for _, n := range totals {
				if n != int64(len(want)) {
					t.Fatalf("total %d on some page, want %d", n, len(want))
				}
			}
			if wantPages := (len(want) + tc.size - 1) / tc.size; pages != wantPages {
				t.Fatalf("%d pages, want %d", pages, wantPages)
			}
			var prev time.Time
			for _, it := range items {
				occ, _ := time.Parse(time.RFC3339Nano, it["occurred_at"].(string))
				if occ.Before(from) || !occ.Before(to) || !occ.After(prev) {
					t.Fatalf("occurred_at %v out of order or window", occ)
				}
				prev = occ
				if tc.byDriver && it["driver_id"] != v.DriverID {
					t.Fatalf("driver listing returned driver_id %v", it["driver_id"])
				}
			}
		})
	}
}

func TestHistoryWindowBoundaries(t *testing.T) {
	h := newHarness(t, Config{})
	v := h.s.Vehicles()[2]
	ps := h.s.Points(v.ID, t0.Add(-time.Hour), t0)
	from, to := ps[10].OccurredAt, ps[20].OccurredAt
	pg := h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "from_datetime", ts(from), "to_datetime", ts(to)))
	if got, want := ids(pg.Items), pointIDs(ps[10:20]); !slices.Equal(got, want) {
		t.Fatalf("[from, to) = %v, want %v", got, want)
	}
	// Defaults: the last day up to now.
	pg = h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "1000"))
	want := visiblePoints(h.s, v.ID, t0.Add(-24*time.Hour), t0, t0, false)
	if pg.Total != int64(len(want)) || pg.Items[0]["id"] != want[0].ID {
		t.Fatalf("default window: total %d first %v, want %d %s", pg.Total, pg.Items[0]["id"], len(want), want[0].ID)
	}
	// A window in the future is empty, with a null next_page.
	pg = h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "from_datetime", ts(t0.Add(time.Hour)), "to_datetime", ts(t0.Add(2*time.Hour))))
	if len(pg.Items) != 0 || pg.Total != 0 || pg.NextPage != nil {
		t.Fatalf("future window: %d items, total %d, next %v", len(pg.Items), pg.Total, pg.NextPage)
	}
	// Unknown vehicle, and a vehicle outside the fleet filter: empty.
	for _, extra := range []string{q("vehicle_ids", "00000000-0000-4000-8000-000000000000"),
		q("vehicle_ids", v.ID, "fleet_refs", "no-such-fleet")} {
		pg = h.getPage(locPath + "only_latest=false&" + extra)
		if len(pg.Items) != 0 || pg.Total != 0 {
			t.Fatalf("%s: %d items", extra, len(pg.Items))
		}
	}
}

func TestBackwardPaging(t *testing.T) {
	h := newHarness(t, Config{})
	v := h.s.Vehicles()[0]
	base := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "10")
	p1 := h.getPage(base)
	if p1.PreviousPage != nil {
		t.Fatalf("first page has previous_page")
	}
	p2 := h.getPage(base + "&cursor=" + *p1.NextPage)
	back := h.getPage(base + "&cursor=" + *p2.PreviousPage)
	if !slices.Equal(ids(back.Items), ids(p1.Items)) {
		t.Fatalf("previous_page of page 2 is not page 1")
	}
	again := h.getPage(base + "&cursor=" + *p2.CurrentPage)
	if !slices.Equal(ids(again.Items), ids(p2.Items)) {
		t.Fatalf("current_page does not reproduce the page")
	}
	backCur := h.getPage(base + "&cursor=" + *p2.CurrentPageBackwards)
	if !slices.Equal(ids(backCur.Items), ids(p2.Items)) {
		t.Fatalf("current_page_backwards does not reproduce the page")
	}
}

func TestOnlyLatestSnapshot(t *testing.T) {
	h := newHarness(t, Config{})
	vs := h.s.Vehicles()
	latest := func() []string {
		var out []string
		for _, v := range vs {
			ps := visiblePoints(h.s, v.ID, h.clk.Now().Add(-time.Hour), h.clk.Now().Add(time.Nanosecond), h.clk.Now(), false)
			out = append(out, ps[len(ps)-1].ID)
		}
		return out
	}
	items, totals, pages := h.all(locPath + q("size", "4"))
	if pages != 4 || totals[0] != int64(len(vs)) {
		t.Fatalf("%d pages, total %d", pages, totals[0])
	}
	want := latest()
	if got := ids(items); !slices.Equal(got, want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	for i, it := range items {
		if it["vehicle_id"] != vs[i].ID {
			t.Fatalf("item %d is vehicle %v, want %s (ordered by vehicle)", i, it["vehicle_id"], vs[i].ID)
		}
	}
	// from/to are not applied.
	pg := h.getPage(locPath + q("from_datetime", ts(t0.Add(-100*24*time.Hour)), "to_datetime", ts(t0.Add(-99*24*time.Hour)), "size", "100"))
	if !slices.Equal(ids(pg.Items), want) {
		t.Fatal("from/to changed the only_latest snapshot")
	}
	// The snapshot moves with the clock: after one interval every vehicle has a new point.
	h.clk.Advance(30 * time.Second)
	pg = h.getPage(locPath + q("size", "100"))
	moved := ids(pg.Items)
	if !slices.Equal(moved, latest()) {
		t.Fatal("snapshot after Advance differs from ground truth")
	}
	for i := range moved {
		if moved[i] == want[i] {
			t.Fatalf("vehicle %d: latest point unchanged after one report interval", i)
		}
	}
	// Filters.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{q("fleet_ids", vs[0].FleetID), 5},
		{q("fleet_refs", "fleet-002", "fleet_refs", "fleet-003"), 10},
		{q("vehicle_ids", vs[3].ID, "vehicle_ids", vs[7].ID), 2},
		{q("connection_id", vs[14].ConnectionID), 5},
		{q("fleet_refs", "fleet-001", "vehicle_ids", vs[7].ID), 0},
		{q("fleet_ids", "00000000-0000-4000-8000-000000000000"), 0},
	} {
		pg := h.getPage(locPath + tc.query)
		if len(pg.Items) != tc.want || pg.Total != int64(tc.want) {
			t.Errorf("%s: %d items, total %d, want %d", tc.query, len(pg.Items), pg.Total, tc.want)
		}
	}
	// driver_ids: the driver's latest point, which has the driver set.
	pg = h.getPage(locPath + q("driver_ids", vs[5].DriverID))
	if len(pg.Items) != 1 || pg.Items[0]["driver_id"] != vs[5].DriverID {
		t.Fatalf("driver snapshot: %v", pg.Items)
	}
}

func TestLatePoints(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{LateEvery: 4, LateBy: 10 * time.Minute}})
	v := h.s.Vehicles()[1]
	// The most recent late point that is not yet visible.
	var late Point
	for _, p := range h.s.Points(v.ID, t0.Add(-10*time.Minute), t0) {
		if p.Late && p.VisibleAt.After(t0) {
			late = p
		}
	}
	if late.ID == "" {
		t.Fatal("no invisible late point")
	}
	if late.VisibleAt != late.OccurredAt.Add(10*time.Minute) {
		t.Fatalf("VisibleAt %v, OccurredAt %v", late.VisibleAt, late.OccurredAt)
	}
	hist := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "1000", "from_datetime", ts(t0.Add(-time.Hour)), "to_datetime", ts(t0.Add(time.Hour)))
	has := func() bool { return slices.Contains(ids(h.getPage(hist).Items), late.ID) }
	if has() {
		t.Fatal("late point visible before VisibleAt")
	}
	h.clk.Set(late.VisibleAt.Add(-time.Nanosecond))
	if has() {
		t.Fatal("late point visible 1ns before VisibleAt")
	}
	h.clk.Set(late.VisibleAt)
	if !has() {
		t.Fatal("late point invisible at VisibleAt")
	}
	// created_at is when it became visible.
	for _, it := range h.getPage(hist).Items {
		if it["id"] == late.ID {
			c, _ := time.Parse(time.RFC3339Nano, it["created_at"].(string))
			if !c.Equal(late.VisibleAt.Truncate(time.Microsecond)) {
				t.Fatalf("created_at %v, want %v", c, late.VisibleAt)
			}
		}
	}
	// A late point is never the latest: by the time it is visible, newer ones are.
	h.clk.Set(t0)
	for _, it := range h.getPage(locPath + q("size", "100")).Items {
		if it["vehicle_id"] == v.ID && it["id"] == late.ID {
			t.Fatal("invisible late point served as latest")
		}
	}
}

func TestCursors(t *testing.T) {
	cfg := Config{Seed: 7, Faults: Faults{LateEvery: 5}}
	a, b := newHarness(t, cfg), newHarness(t, cfg)
	if !reflect.DeepEqual(a.s.Vehicles(), b.s.Vehicles()) || !reflect.DeepEqual(a.s.Fleets(), b.s.Fleets()) {
		t.Fatal("same seed, different vehicles")
	}
	v := a.s.Vehicles()[3]
	hist := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "25")
	pa, pb := a.get(hist), b.get(hist)
	if string(pa.body) != string(pb.body) {
		t.Fatal("same seed and clock, different first page")
	}
	next := *decodePage(t, pa.body).NextPage
	p2a, p2b := a.get(hist+"&cursor="+next), b.get(hist+"&cursor="+next)
	if p2b.status != 200 || string(p2a.body) != string(p2b.body) {
		t.Fatalf("cursor of server A on server B: %d", p2b.status)
	}
	// Snapshot cursors too.
	snap := locPath + q("size", "2")
	c := *a.getPage(snap).NextPage
	if !slices.Equal(ids(a.getPage(snap+"&cursor="+c).Items), ids(b.getPage(snap+"&cursor="+c).Items)) {
		t.Fatal("snapshot cursor differs across servers")
	}

	other := newHarness(t, Config{Seed: 8})
	for _, tc := range []struct {
		name string
		h    *harness
		path string
	}{
		{"other seed", other, locPath + q("only_latest", "false", "vehicle_ids", v.ID, "cursor", next)},
		{"garbage", a, hist + "&cursor=!!!"},
		{"edited", a, hist + "&cursor=" + next[:len(next)-2] + "AA"},
		{"history cursor on snapshot", a, snap + "&cursor=" + next},
		{"snapshot cursor on history", a, hist + "&cursor=" + c},
		{"history cursor on vehicles", a, "/v2/telematics/vehicles?cursor=" + next},
	} {
		r := tc.h.get(tc.path)
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400: %s", tc.name, r.status, r.body)
		}
	}
}

func TestVehicles(t *testing.T) {
	h := newHarness(t, Config{Fleets: 4, VehiclesPerFleet: 6})
	items, totals, pages := h.all("/v2/telematics/vehicles?" + q("size", "5"))
	if len(items) != 24 || totals[0] != 24 || pages != 5 {
		t.Fatalf("%d vehicles, total %d, %d pages", len(items), totals[0], pages)
	}
	vs := h.s.Vehicles()
	for i, it := range items {
		for _, k := range []string{"id", "fleet_id", "connection_id", "created_at", "updated_at", "source_name", "source_id", "source_data_hash"} {
			if s, ok := it[k].(string); !ok || s == "" {
				t.Fatalf("vehicle %d: %s = %v", i, k, it[k])
			}
		}
		if it["id"] != vs[i].ID || it["fleet_id"] != vs[i].FleetID || it["vehicle_name"] != vs[i].Name || it["fleet_ref"] != vs[i].FleetRef {
			t.Fatalf("vehicle %d = %v, want %+v", i, it, vs[i])
		}
		if _, ok := it["model_year"].(json.Number); !ok {
			t.Fatalf("model_year = %v", it["model_year"])
		}
		if _, has := it["source_data"]; has {
			t.Fatal("source_data without include_source_data")
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{q("fleet_refs", "fleet-004"), 6},
		{q("fleet_ids", vs[0].FleetID, "fleet_ids", vs[23].FleetID), 12},
		{q("vehicle_ids", vs[5].ID), 1},
		{q("connection_id", vs[6].ConnectionID), 6},
		{q("sort_by", "vehicle_name", "sort_order", "desc"), 24},
	} {
		pg := h.getPage("/v2/telematics/vehicles?" + tc.query)
		if len(pg.Items) != tc.want || pg.Total != int64(tc.want) {
			t.Errorf("%s: %d items, total %d, want %d", tc.query, len(pg.Items), pg.Total, tc.want)
		}
	}
	if pg := h.getPage("/v2/telematics/vehicles?include_source_data=true&size=1"); pg.Items[0]["source_data"] == nil {
		t.Error("no source_data with include_source_data=true")
	}
	for _, bad := range []string{q("size", "0"), q("size", "1001"), q("fleet_ids", "x"), q("sort_order", "up"), q("vehicle_ids", "1")} {
		if r := h.get("/v2/telematics/vehicles?" + bad); r.status != 422 {
			t.Errorf("%s: status %d, want 422", bad, r.status)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Fleets: -1}, {VehiclesPerFleet: -2}, {ReportInterval: time.Microsecond}, {TokenTTL: time.Millisecond},
		{Faults: Faults{RateLimitEvery: -1}}, {Faults: Faults{LateBy: -time.Second}}, {Fleets: 2000, VehiclesPerFleet: 1000},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Vehicles()) != 15 || len(s.Fleets()) != 3 || s.Vehicles()[0].FleetRef != "fleet-001" {
		t.Fatalf("defaults: %d vehicles", len(s.Vehicles()))
	}
	// Points are on the tick grid: epoch + k*interval + offset.
	v := s.Vehicles()[0]
	ps := s.Points(v.ID, t0, t0.Add(5*time.Minute))
	if len(ps) != 10 {
		t.Fatalf("%d points in 5 minutes at 30s", len(ps))
	}
	for i := 1; i < len(ps); i++ {
		if d := ps[i].OccurredAt.Sub(ps[i-1].OccurredAt); d != 30*time.Second {
			t.Fatalf("points %s apart", d)
		}
	}
	if off := ps[0].OccurredAt.UnixNano() % int64(30*time.Second); off < 0 || off >= int64(30*time.Second) || off%int64(time.Millisecond) != 0 {
		t.Fatalf("offset %d", off)
	}
	if got := s.Points("nope", t0, t0.Add(time.Hour)); got != nil {
		t.Fatalf("unknown vehicle: %d points", len(got))
	}
}

// TestScopeMatchesWalk: the range and count scope derives from fleets and
// listed ids agree with a walk over every vehicle, and the snapshot's total
// agrees with it both once every vehicle has reported and before (near the
// epoch, where the snapshot walks).
func TestScopeMatchesWalk(t *testing.T) {
	s, err := New(Config{Clock: NewManualClock(t0), Fleets: 7, VehiclesPerFleet: 9})
	if err != nil {
		t.Fatal(err)
	}
	fl, vs := s.Fleets(), s.Vehicles()
	unknown := "00000000-0000-4000-8000-000000000000"
	filters := map[string]vfilter{
		"none":                     {},
		"fleet ids":                {fleetIDs: toSet([]string{fl[1].ID, fl[5].ID})},
		"fleet refs":               {fleetRefs: toSet([]string{fl[6].Ref})},
		"fleet id and other ref":   {fleetIDs: toSet([]string{fl[1].ID}), fleetRefs: toSet([]string{fl[2].Ref})},
		"connection":               {connID: fl[3].ConnectionID},
		"vehicle ids":              {vehicleIDs: toSet([]string{vs[3].ID, vs[40].ID, unknown})},
		"vehicle ids in one fleet": {vehicleIDs: toSet([]string{vs[3].ID, vs[40].ID}), fleetIDs: toSet([]string{fl[4].ID})},
		"driver ids":               {driverIDs: toSet([]string{vs[10].DriverID, vs[62].DriverID})},
		"unknown vehicle":          {vehicleIDs: toSet([]string{unknown})},
		"source ids":               {sourceIDs: toSet([]string{s.vehicles[5].srcVehicleID})},
	}
	for name, f := range filters {
		lo, hi, n := s.scope(&f)
		var want int64
		for i, v := range s.vehicles {
			if f.match(v) {
				want++
				if int64(i) < lo || int64(i) >= hi {
					t.Errorf("%s: vehicle %d matches, outside [%d, %d)", name, i, lo, hi)
				}
			}
		}
		if n != want && n != -1 {
			t.Errorf("%s: n = %d, want %d", name, n, want)
		}
	}
	// The snapshot's total, every vehicle reported or not.
	for _, now := range []time.Time{t0, time.Unix(0, int64(90*time.Second)).UTC()} {
		s, err := New(Config{Clock: NewManualClock(now), Fleets: 7, VehiclesPerFleet: 9, Faults: Faults{LateEvery: 3}})
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range filters {
			var want int64
			byDriver := f.driverIDs != nil
			for _, v := range s.vehicles {
				if f.match(v) && s.latestK(v, now.UnixNano(), byDriver) >= 0 {
					want++
				}
			}
			rec := httptest.NewRecorder()
			s.serveLatest(rec, &f, nil, 1000, false, now.UnixNano())
			pg := decodePage(t, rec.Body.Bytes())
			if pg.Total != want || int64(len(pg.Items)) != want {
				t.Errorf("now %v, %s: total %d, %d items, want %d", now, name, pg.Total, len(pg.Items), want)
			}
		}
	}
}
