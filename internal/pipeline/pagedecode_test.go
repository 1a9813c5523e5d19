package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
)

// TestPageDecoderMatchesDecodeAll: records decoded as the client splits a
// page (every walk's path) are the records decodeAll makes of the split
// items, errors included: good records, records of the wrong type (decoded
// by the scan) and items that are not valid JSON (left to the splitter,
// then decoded), over two pages, the second shorter than the first.
func TestPageDecoderMatchesDecodeAll(t *testing.T) {
	good, id := pageRecord, pageRecordID
	pages := [][]string{{
		fmt.Sprintf(good, id(1), "1.5"),
		fmt.Sprintf(good, id(2), `"fast"`), // wrong type: the scan decodes it
		`{"id":tru}`,                       // not JSON: the splitter finds its end
		fmt.Sprintf(good, id(3), "null"),
		`{"id":"x","extras":{"a":[1,2}}}`,
		fmt.Sprintf(good, id(4), "2"),
	}, {
		`{"id":"x",}`,
		fmt.Sprintf(good, id(5), "3"),
	}}
	var n int
	pager := historyPager(t, func(w http.ResponseWriter, r *http.Request) {
		next := `"p2"`
		if n == len(pages)-1 {
			next = "null"
		}
		fmt.Fprintf(w, `{"items":[%s],"total":%d,"next_page":%s}`, strings.Join(pages[n], " , "), len(pages[n]), next)
		n++
	})
	var dec pageDecoder
	pager.ScanItems(dec.scan)
	for p := 0; ; p++ {
		pg, err := pager.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pg == nil {
			break
		}
		got, want := dec.decoded(pg.Items), decodeAll(pg.Items)
		if len(got) != len(pages[p]) || len(want) != len(got) {
			t.Fatalf("page %d: %d records, decodeAll %d, want %d", p, len(got), len(want), len(pages[p]))
		}
		for i := range got {
			if string(got[i].raw) != pages[p][i] || string(got[i].loc.Raw) != pages[p][i] {
				t.Errorf("page %d record %d: raw %s, want %s", p, i, got[i].raw, pages[p][i])
			}
			if fmt.Sprint(got[i].err) != fmt.Sprint(want[i].err) || !reflect.DeepEqual(got[i].loc, want[i].loc) {
				t.Errorf("page %d record %d: %v\n%+v\ndecodeAll: %v\n%+v", p, i, got[i].err, got[i].loc, want[i].err, want[i].loc)
			}
			if wantOK := strings.HasPrefix(pages[p][i], `{"fleet_id"`) && !strings.Contains(pages[p][i], "fast"); (got[i].err == nil) != wantOK {
				t.Errorf("page %d record %d: error %v", p, i, got[i].err)
			}
		}
		catena.ReleaseItems(pg.Items)
	}
	if n != len(pages) {
		t.Fatalf("%d pages served, want %d", n, len(pages))
	}
	// Back to the pool, the decoder keeps nothing of its pages alive.
	dec.reset()
	for i, d := range dec.items[:cap(dec.items)] {
		if !reflect.ValueOf(d).IsZero() {
			t.Errorf("after reset, entry %d still holds record %q", i, d.raw)
		}
	}
	for i := range dec.values {
		if !reflect.ValueOf(dec.values[i]).IsZero() {
			t.Errorf("after reset, the values of entry %d are still set", i)
		}
	}
}

// pageRecord is a location record as the API serves it, with its id and
// speed (a JSON value) left to fill in.
const pageRecord = `{"fleet_id":"95e67e61-f9ac-4e95-99d6-101d6a08159f","id":"%s","created_at":"2026-12-05T07:18:48.042Z",` +
	`"updated_at":"2026-12-05T07:18:48.042Z","connection_id":"41f3756c-611e-4bed-9d5f-e78dbc081461","source_name":"samsara",` +
	`"source_id":"s","source_data_hash":"414e318e3be7211fa82699a2b821ea2bf556c4c786a68133c306f187845ed630","occurred_at":"2026-12-05T07:18:48Z","vehicle_id":"194a533a-0496-4d96-aec4-751ce0fb04e9",` +
	`"location":{"type":"Point","coordinates":[-122.44,37.74]},"speed":%s}`

// pageRecordID is the id of the i-th pageRecord of a test.
func pageRecordID(i int) string { return fmt.Sprintf("89eb6add-4573-4fff-809c-7d666b17%04x", i) }

// historyPager serves the history pages with serve (behind a token
// endpoint) until the test ends, and returns a pager of the vehicle's
// history on it.
func historyPager(t *testing.T, serve http.HandlerFunc) *catena.Pager[json.RawMessage] {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
			return
		}
		serve(w, r)
	}))
	t.Cleanup(api.Close)
	client, err := catena.New(catena.Config{APIURL: api.URL, TokenURL: api.URL + "/token", ClientID: "c", ClientSecret: "s",
		RetryMaxElapsed: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	return client.History("194a533a-0496-4d96-aec4-751ce0fb04e9", catena.Window{From: now.Add(-time.Hour), To: now}, catena.LocationQuery{}, "")
}
