package catena

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pagedHandler serves pages[cursor]; lastStyle picks how the last page says
// it is the last: "null", "absent" or "empty".
func pagedHandler(t *testing.T, pages map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Query().Get("cursor")]
		if !ok {
			t.Errorf("unexpected cursor %q", r.URL.Query().Get("cursor"))
			writeJSON(w, http.StatusBadRequest, `{"code":400,"message":"Bad Request","detail":"bad cursor"}`)
			return
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func lastPage(items []string, style string) string {
	switch style {
	case "absent":
		return fmt.Sprintf(`{"items":[%s],"total":%d}`, strings.Join(items, ","), len(items))
	case "empty":
		return fmt.Sprintf(`{"items":[%s],"total":%d,"next_page":""}`, strings.Join(items, ","), len(items))
	}
	return pageJSON(items, len(items), "")
}

// collect pages p to the end and returns the raw items and page cursors.
func collect[T any](t *testing.T, p *Pager[T]) (items []T, cursors []string) {
	t.Helper()
	for {
		page, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if page == nil {
			return items, cursors
		}
		items = append(items, page.Items...)
		cursors = append(cursors, page.Cursor)
	}
}

// checkQueries asserts that every request repeated the same filters, and
// that the cursors sent were want.
func checkQueries(t *testing.T, reqs []apiRequest, filters url.Values, wantCursors []string) {
	t.Helper()
	if len(reqs) != len(wantCursors) {
		t.Fatalf("%d requests, want %d", len(reqs), len(wantCursors))
	}
	for i, r := range reqs {
		q := url.Values{}
		for k, v := range r.query {
			q[k] = v
		}
		if got := q.Get("cursor"); got != wantCursors[i] {
			t.Errorf("request %d cursor = %q, want %q", i, got, wantCursors[i])
		}
		q.Del("cursor")
		if !reflect.DeepEqual(q, filters) {
			t.Errorf("request %d query = %v, want %v", i, q, filters)
		}
	}
}

func TestLatestLocationsPagedToEnd(t *testing.T) {
	for _, style := range []string{"null", "absent", "empty"} {
		t.Run("last next_page "+style, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v2/telematics/vehicle-locations", pagedHandler(t, map[string]string{
				"":       pageJSON([]string{locationJSON(1), locationJSON(2)}, 5, "c-2"),
				"c-2":    pageJSON([]string{locationJSON(3), locationJSON(4)}, 5, "c/3+=="),
				"c/3+==": lastPage([]string{locationJSON(5)}, style),
			}))
			c := f.client(nil)
			p := c.LatestLocations(LocationQuery{
				FleetIDs:  []string{"f1", "f2"},
				FleetRefs: []string{"ref a"},
				// Ignored by the API with only_latest=true, so not sent.
				From: time.Now().Add(-time.Hour), To: time.Now(),
			}, "")
			items, cursors := collect(t, p)
			if len(items) != 5 {
				t.Fatalf("%d items, want 5", len(items))
			}
			for i, it := range items {
				var v struct{ ID string }
				if err := json.Unmarshal(it, &v); err != nil || !strings.HasSuffix(v.ID, fmt.Sprintf("%012d", i+1)) {
					t.Fatalf("item %d = %s (err %v)", i, it, err)
				}
			}
			if want := []string{"", "c-2", "c/3+=="}; !reflect.DeepEqual(cursors, want) {
				t.Fatalf("page cursors %q, want %q", cursors, want)
			}
			checkQueries(t, f.requests(), url.Values{
				"only_latest": {"true"}, "fleet_ids": {"f1", "f2"}, "fleet_refs": {"ref a"}, "size": {"1000"},
			}, []string{"", "c-2", "c/3+=="})
			if page, err := p.Next(context.Background()); page != nil || err != nil {
				t.Fatalf("Next after last = %v, %v; want nil, nil", page, err)
			}
			if len(f.requests()) != 3 {
				t.Fatal("Next after the last page sent a request")
			}
		})
	}
}

func TestHistoryPagedToEnd(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicle-locations", pagedHandler(t, map[string]string{
		"":   pageJSON([]string{locationJSON(1)}, 3, "p2"),
		"p2": pageJSON([]string{locationJSON(2)}, 3, "p3"),
		"p3": pageJSON([]string{locationJSON(3)}, 3, ""),
	}))
	c := f.client(nil)
	cet := time.FixedZone("CET", 3600)
	w := Window{
		From: time.Date(2025, 1, 1, 1, 0, 0, 500, cet),
		To:   time.Date(2025, 2, 1, 1, 0, 0, 0, cet),
	}
	p := c.History("veh-1", w, LocationQuery{
		OnlyLatest: true, VehicleIDs: []string{"ignored"}, // replaced by History
		ConnectionID: "conn-1", IncludeSourceData: true, Size: 250,
	}, "")
	items, _ := collect(t, p)
	if len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}
	checkQueries(t, f.requests(), url.Values{
		"only_latest":         {"false"},
		"vehicle_ids":         {"veh-1"},
		"connection_id":       {"conn-1"},
		"include_source_data": {"true"},
		"from_datetime":       {"2025-01-01T00:00:00.0000005Z"},
		"to_datetime":         {"2025-02-01T00:00:00Z"},
		"size":                {"250"},
	}, []string{"", "p2", "p3"})
}

func TestVehiclesPagedToEnd(t *testing.T) {
	v := func(id string, fleet string) string {
		return fmt.Sprintf(`{"id":%q,"fleet_id":%s,"fleet_ref":"r","created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:06.5Z","deleted_at":null,"connection_id":"conn","tsp_id":null,"tsp_slug":"motive","source_name":"motive","source_id":"s-%s","source_data_hash":"h","occurred_at":null,"execution_id":null,"schedule_id":null,"extras":null,"vehicle_name":"Truck %s","oem":"Volvo","model_type":"VNL","model_year":2021,"vin":"4V4NC9EH5MN123456","engine_vin":null,"license_plate_region":"IL","license_plate_country":"US","license_plate_number":"P 123","started_at":null,"ended_at":null,"is_active":true,"status":"active","notes":null,"eld_id":null,"eld_serial_number":null,"eld_device_type":null,"eld_product_id":null,"total_axles":3,"vehicle_groups":{"region":"north"},"external_id":null,"speed_unit":"m/s","odometer_unit":"m","fuel_unit":null,"fuel_capacity":"400","engine_type":"diesel"}`, id, fleet, id, id)
	}
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", pagedHandler(t, map[string]string{
		"":   pageJSON([]string{v("v1", `"f1"`), v("v2", "null")}, 4, "n2"),
		"n2": pageJSON([]string{v("v3", `"f1"`)}, 4, "n3"),
		"n3": pageJSON([]string{v("v4", `"f2"`)}, 4, ""),
	}))
	c := f.client(nil)
	p := c.Vehicles(VehicleQuery{FleetIDs: []string{"f1", "f2"}, SourceIDs: []string{"a", "b"}, SortBy: "vehicle_name", SortOrder: "desc", Size: 2}, "")
	items, cursors := collect(t, p)
	if len(items) != 4 || !reflect.DeepEqual(cursors, []string{"", "n2", "n3"}) {
		t.Fatalf("%d items over cursors %q", len(items), cursors)
	}
	got := items[1]
	if got.ID != "v2" || got.FleetID != nil || *got.FleetRef != "r" || got.SourceName != "motive" ||
		*got.ModelYear != 2021 || !*got.IsActive || *got.TotalAxles != 3 || *got.FuelCapacity != "400" ||
		string(got.VehicleGroups) != `{"region":"north"}` || got.EngineVIN != nil ||
		!got.UpdatedAt.Equal(time.Date(2025, 1, 2, 3, 4, 6, 5e8, time.UTC)) {
		t.Fatalf("decoded vehicle: %+v", got)
	}
	if items[0].FleetID == nil || *items[0].FleetID != "f1" {
		t.Fatalf("fleet_id of v1 = %v", items[0].FleetID)
	}
	checkQueries(t, f.requests(), url.Values{
		"fleet_ids": {"f1", "f2"}, "source_ids": {"a", "b"}, "sort_by": {"vehicle_name"}, "sort_order": {"desc"}, "size": {"2"},
	}, []string{"", "n2", "n3"})
}

func TestPagerResumesAtCursor(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicle-locations", pagedHandler(t, map[string]string{
		"k7": pageJSON([]string{locationJSON(7)}, 1, ""),
	}))
	c := f.client(nil)
	p := c.LatestLocations(LocationQuery{}, "k7")
	if p.Cursor() != "k7" {
		t.Fatalf("Cursor() = %q", p.Cursor())
	}
	items, cursors := collect(t, p)
	if len(items) != 1 || cursors[0] != "k7" || !p.Done() {
		t.Fatalf("items %d cursors %q done %v", len(items), cursors, p.Done())
	}
}

func TestCursorRepeated(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start string
		pages map[string]string
		ok    int // pages returned before the error
	}{
		{"next equals cursor just sent", "", map[string]string{
			"":  pageJSON([]string{locationJSON(1)}, 2, "a"),
			"a": pageJSON([]string{locationJSON(2)}, 2, "a"),
		}, 1},
		{"next equals an earlier cursor", "", map[string]string{
			"":  pageJSON(nil, 0, "a"),
			"a": pageJSON(nil, 0, "b"),
			"b": pageJSON(nil, 0, "a"),
		}, 2},
		{"next equals the resume cursor", "r", map[string]string{
			"r": pageJSON(nil, 0, "s"),
			"s": pageJSON(nil, 0, "r"),
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v2/telematics/vehicle-locations", pagedHandler(t, tt.pages))
			c := f.client(nil)
			p := c.LatestLocations(LocationQuery{}, tt.start)
			for i := range tt.ok {
				if _, err := p.Next(context.Background()); err != nil {
					t.Fatalf("page %d: %v", i, err)
				}
			}
			_, err := p.Next(context.Background())
			if !errors.Is(err, ErrCursorRepeated) {
				t.Fatalf("err = %v, want ErrCursorRepeated", err)
			}
			n := len(f.requests())
			if _, err2 := p.Next(context.Background()); !errors.Is(err2, ErrCursorRepeated) || len(f.requests()) != n {
				t.Fatalf("error not sticky: %v (requests %d -> %d)", err2, n, len(f.requests()))
			}
		})
	}
}

func TestPageEnvelopeErrors(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"not a page", `{"message":"hello"}`, `no "items" array`},
		{"not json", `<html>`, "invalid character"},
		{"item type", `{"items":[1],"total":1}`, "cannot unmarshal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v2/telematics/vehicles", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, tt.body)
			})
			_, err := f.client(nil).Vehicles(VehicleQuery{}, "").Next(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(f.requests()) != 1 {
				t.Fatalf("a decode error was retried: %d requests", len(f.requests()))
			}
		})
	}
	p, err := decodePage[json.RawMessage]([]byte(`{"items":null,"total":0}`))
	if err != nil || p.Items == nil || len(p.Items) != 0 {
		t.Fatalf("items:null = %v, %v", p, err)
	}
}

// TestScannedPagesKeepTheirItems pages through location pages with a
// scanner, whose items are cut from the response body itself
// (takeRawPage): a page's items must stay as they were while later pages
// are read, released or not, and a page's memory is reused only once
// ReleaseItems gave it back.
func TestScannedPagesKeepTheirItems(t *testing.T) {
	const pages = 8
	bodies := map[string]string{}
	for k := range pages {
		cursor, next := fmt.Sprint("p", k), fmt.Sprint("p", k+1)
		if k == 0 {
			cursor = ""
		}
		if k == pages-1 {
			next = ""
		}
		var items []string
		for i := range 3 + k%3 {
			items = append(items, locationJSON(100*k+i))
		}
		if k == 3 {
			items = nil // an empty page takes nothing
		}
		bodies[cursor] = pageJSON(items, 0, next)
	}
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicle-locations", pagedHandler(t, bodies))
	c := f.client(nil)
	p := c.History("veh-1", Window{From: time.Unix(0, 0), To: time.Unix(3600, 0)}, LocationQuery{}, "")
	scanned := 0
	p.ScanItems(func(i int, b []byte) int {
		scanned++
		return 0 // the splitter finds the end
	})
	type kept struct {
		items []json.RawMessage
		want  []string
	}
	var all []kept
	for k := 0; ; k++ {
		page, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if page == nil {
			break
		}
		var want []string
		for _, it := range page.Items {
			want = append(want, string(it))
		}
		all = append(all, kept{page.Items, want})
		if k%2 == 1 {
			// Release the page before: its memory may now be the
			// next body; the pages kept must not change.
			ReleaseItems(all[k-1].items)
			all[k-1].items = nil
		}
		for j, a := range all {
			for i, it := range a.items {
				if string(it) != a.want[i] {
					t.Fatalf("after page %d, item %d of page %d is %q, was %q", k, i, j, it, a.want[i])
				}
			}
		}
	}
	if len(all) != pages || scanned == 0 {
		t.Fatalf("%d pages, %d items scanned", len(all), scanned)
	}
}
