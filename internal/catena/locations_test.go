package catena

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	w := func(from, to time.Duration) Window { return Window{t0.Add(from), t0.Add(to)} }
	for _, tt := range []struct {
		name     string
		from, to time.Time
		max      time.Duration
		want     []Window
	}{
		{"exactly 45 days", t0, t0.Add(45 * day), MaxHistoryWindow, []Window{w(0, 45*day)}},
		{"45 days + 1ns", t0, t0.Add(45*day + 1), MaxHistoryWindow, []Window{w(0, 45*day), w(45*day, 45*day+1)}},
		{"100 days", t0, t0.Add(100 * day), 0, []Window{w(0, 45*day), w(45*day, 90*day), w(90*day, 100*day)}},
		{"max clamped to 45 days", t0, t0.Add(50 * day), 60 * day, []Window{w(0, 45*day), w(45*day, 50*day)}},
		{"small max", t0, t0.Add(3 * time.Hour), time.Hour, []Window{w(0, time.Hour), w(time.Hour, 2*time.Hour), w(2*time.Hour, 3*time.Hour)}},
		{"1ns range", t0, t0.Add(1), time.Hour, []Window{w(0, 1)}},
		{"empty range", t0, t0, time.Hour, nil},
		{"from after to", t0.Add(time.Hour), t0, time.Hour, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Windows(tt.from, tt.to, tt.max)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Windows = %v\nwant      %v", got, tt.want)
			}
			for _, w := range got {
				if w.To.Sub(w.From) > MaxHistoryWindow {
					t.Fatalf("window %v longer than 45 days", w)
				}
			}
		})
	}
}

func TestLocationQueryValidation(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint("id-", i)
		}
		return s
	}
	for _, tt := range []struct {
		name string
		q    LocationQuery
		want string // "" = valid
	}{
		{"latest, no filter", LocationQuery{OnlyLatest: true}, ""},
		{"latest ignores the range", LocationQuery{OnlyLatest: true, From: t0, To: t0.Add(100 * 24 * time.Hour)}, ""},
		{"latest, 100 fleet ids", LocationQuery{OnlyLatest: true, FleetIDs: ids(100)}, ""},
		{"101 fleet ids", LocationQuery{OnlyLatest: true, FleetIDs: ids(101)}, "fleet_ids: 101 values, the API accepts at most 100"},
		{"101 fleet refs", LocationQuery{OnlyLatest: true, FleetRefs: ids(101)}, "fleet_refs: 101 values"},
		{"empty vehicle id", LocationQuery{OnlyLatest: true, VehicleIDs: []string{"a", ""}}, "vehicle_ids[1]: empty value"},
		{"size 1001", LocationQuery{OnlyLatest: true, Size: 1001}, "size = 1001: must be between 1 and 1000"},
		{"size -1", LocationQuery{OnlyLatest: true, Size: -1}, "size = -1"},
		{"history, one vehicle", LocationQuery{VehicleIDs: []string{"v"}, From: t0, To: t0.Add(MaxHistoryWindow)}, ""},
		{"history, one driver", LocationQuery{DriverIDs: []string{"d"}}, ""},
		{"history, no id", LocationQuery{}, "exactly one vehicle id or one driver id"},
		{"history, two vehicles", LocationQuery{VehicleIDs: []string{"a", "b"}}, "only_latest=false with 2 vehicle_ids and 0 driver_ids"},
		{"history, vehicle and driver", LocationQuery{VehicleIDs: []string{"a"}, DriverIDs: []string{"d"}}, "exactly one vehicle id or one driver id"},
		{"history, 45 days + 1ns", LocationQuery{VehicleIDs: []string{"v"}, From: t0, To: t0.Add(MaxHistoryWindow + 1)}, "at most 45 days"},
		{"history, to before from", LocationQuery{VehicleIDs: []string{"v"}, From: t0.Add(time.Hour), To: t0}, "to_datetime 2025-01-01T00:00:00Z is before from_datetime 2025-01-01T01:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v2/telematics/vehicle-locations", okPage)
			c := f.client(nil)
			_, err := c.Locations(tt.q, "").Next(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid query rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if n := len(f.requests()) + f.tokens(); n != 0 {
				t.Fatalf("an invalid query sent %d requests", n)
			}
		})
	}
}

func TestHistoryValidation(t *testing.T) {
	f := newFake(t)
	c := f.client(nil)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, vehicle string
		w             Window
		want          string
	}{
		{"empty vehicle", "", Window{t0, t0.Add(time.Hour)}, "empty vehicle id"},
		{"open window", "v", Window{From: t0}, "both ends must be set"},
		{"46 days", "v", Window{t0, t0.Add(46 * 24 * time.Hour)}, "at most 45 days"},
	} {
		_, err := c.History(tt.vehicle, tt.w, LocationQuery{}, "").Next(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if f.tokens() != 0 {
		t.Fatal("invalid history queries sent requests")
	}
}

func TestVehicleQueryValidation(t *testing.T) {
	for _, tt := range []struct {
		q    VehicleQuery
		want string
	}{
		{VehicleQuery{SourceIDs: make([]string, 101)}, "source_ids: 101 values"},
		{VehicleQuery{SortOrder: "up"}, `sort_order "up": must be asc or desc`},
		{VehicleQuery{Size: 5000}, "size = 5000"},
	} {
		if _, err := tt.q.encode(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.q, err, tt.want)
		}
	}
}
