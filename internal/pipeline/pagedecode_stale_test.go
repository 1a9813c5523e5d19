package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
)

// TestPageDecoderNeverServesAnEarlierPage: pageDecoder.decoded() takes a
// scanned record for a page's item when the record's bytes are the item's
// (same address, same length). The items of consecutive pages are cut from
// the same pooled array (catena.ReleaseItems), so records of equal lengths
// sit at the same addresses page after page: a scan state left over from an
// earlier page (a lost reset) would pass for the current page's, and the
// earlier page's records would be published in its place with no error.
// Every page here has records of one length, and each one's ids are
// checked, across a plain page, a page whose envelope fails after its
// items were scanned (then asked again), and a body that repeats "items".
func TestPageDecoderNeverServesAnEarlierPage(t *testing.T) {
	const rec = `{"fleet_id":"95e67e61-f9ac-4e95-99d6-101d6a08159f","id":"%s","created_at":"2026-12-05T07:18:48.042Z",` +
		`"updated_at":"2026-12-05T07:18:48.042Z","connection_id":"41f3756c-611e-4bed-9d5f-e78dbc081461","source_name":"samsara",` +
		`"source_id":"s","source_data_hash":"414e318e3be7211fa82699a2b821ea2bf556c4c786a68133c306f187845ed630",` +
		`"occurred_at":"2026-12-05T07:18:48Z","vehicle_id":"194a533a-0496-4d96-aec4-751ce0fb04e9",` +
		`"location":{"type":"Point","coordinates":[-122.44,37.74]},"speed":%d.5}`
	id := func(i int) string { return fmt.Sprintf("89eb6add-4573-4fff-809c-7d666b17%04x", i) }
	cursor := func(p int) string {
		if p == 0 {
			return ""
		}
		return fmt.Sprintf("p%d", p)
	}
	items := func(ids ...int) string {
		var s []string
		for _, i := range ids {
			s = append(s, fmt.Sprintf(rec, id(i), i%10))
		}
		return strings.Join(s, ",")
	}
	// Per cursor, the bodies served in turn; want: the ids of each page
	// Next returns. Six plain pages in a row: the array a page is cut from
	// is usually, not always, the one the page before released.
	bodies := map[string][]string{}
	var want [][]int
	n := 1
	for p := range 6 {
		bodies[cursor(p)] = []string{fmt.Sprintf(`{"items":[%s],"total":3,"next_page":%q}`, items(n, n+1, n+2), cursor(p+1))}
		want = append(want, []int{n, n + 1, n + 2})
		n += 3
	}
	bodies[cursor(6)] = []string{
		fmt.Sprintf(`{"items":[%s],"total":"three","next_page":%q}`, items(n, n+1, n+2), cursor(7)), // refused after the scan
		fmt.Sprintf(`{"items":[%s],"total":3,"next_page":%q}`, items(n+3, n+4, n+5), cursor(7)),
	}
	want = append(want, []int{n + 3, n + 4, n + 5})
	n += 6
	bodies[cursor(7)] = []string{fmt.Sprintf(`{"items":[%s],"items":[%s],"total":2,"next_page":%q}`, items(n, n+1, n+2), items(n+3, n+4), cursor(8))}
	want = append(want, []int{n + 3, n + 4})
	n += 5
	bodies[cursor(8)] = []string{fmt.Sprintf(`{"items":[%s],"total":3,"next_page":null}`, items(n, n+1, n+2))}
	want = append(want, []int{n, n + 1, n + 2})
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		cur := r.URL.Query().Get("cursor")
		bs := bodies[cur]
		if len(bs) == 0 {
			http.Error(w, "no body for cursor "+cur, http.StatusBadRequest)
			return
		}
		if len(bs) > 1 {
			bodies[cur] = bs[1:]
		}
		fmt.Fprint(w, bs[0])
	}))
	defer api.Close()
	client, err := catena.New(catena.Config{APIURL: api.URL, TokenURL: api.URL + "/token", ClientID: "c", ClientSecret: "s",
		RetryMaxElapsed: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	pager := client.History("194a533a-0496-4d96-aec4-751ce0fb04e9", catena.Window{From: now.Add(-time.Hour), To: now}, catena.LocationQuery{}, "")
	dec := pageDecoders.New().(*pageDecoder) // as the backfill has it
	pager.ScanItems(dec.scan)
	refused := 0
	for p := 0; ; {
		pg, err := pager.Next(context.Background())
		if err != nil {
			if refused++; refused > 1 {
				t.Fatal(err)
			}
			continue // the refused envelope: the same cursor again
		}
		if pg == nil {
			break
		}
		if p >= len(want) {
			t.Fatalf("page %d: more pages than served", p)
		}
		got, ref := dec.decoded(pg.Items), decodeAll(pg.Items)
		if len(got) != len(want[p]) {
			t.Fatalf("page %d: %d records, want %d", p, len(got), len(want[p]))
		}
		for i := range got {
			if got[i].err != nil || got[i].loc.ID != id(want[p][i]) || string(got[i].raw) != string(pg.Items[i]) {
				t.Errorf("page %d record %d: id %s (error %v), want %s", p, i, got[i].loc.ID, got[i].err, id(want[p][i]))
			}
			if fmt.Sprint(got[i].err) != fmt.Sprint(ref[i].err) || !reflect.DeepEqual(got[i].loc, ref[i].loc) {
				t.Errorf("page %d record %d differs from decodeAll:\n%+v\n%+v", p, i, got[i].loc, ref[i].loc)
			}
		}
		catena.ReleaseItems(pg.Items)
		p++
	}
	if refused != 1 {
		t.Fatalf("%d refused pages, want 1", refused)
	}
}
