package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

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
	id := pageRecordID
	cursor := func(p int) string {
		if p == 0 {
			return ""
		}
		return fmt.Sprintf("p%d", p)
	}
	items := func(ids ...int) string {
		var s []string
		for _, i := range ids {
			s = append(s, fmt.Sprintf(pageRecord, id(i), fmt.Sprintf("%d.5", i%10))) // one length
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
	pager := historyPager(t, func(w http.ResponseWriter, r *http.Request) {
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
	})
	dec := pageDecoders.New().(*pageDecoder) // as a walk has it
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
