package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// Every walk decodes its pages with a pooled pageDecoder and gives each
// page's items back after its callback. These tests drive Pipeline.walk
// itself, as the backfill, the live tail's sweeps and its gap fills do,
// many vehicles at once, over pages built so that pooled item arrays and
// scan state collide: records of one length (same addresses page after
// page), items that are not JSON (scan returns 0), records of the wrong
// type, empty pages in the middle of a walk, a body that repeats "items",
// and a refused saved cursor (the walk restarts its window).

const walkNow = "2026-12-05T08:00:00Z"

// walkRecord is a valid record of vehicle %s with id %s and speed %s (one
// length for every record of a test when speed has one length).
const walkRecord = `{"fleet_id":"95e67e61-f9ac-4e95-99d6-101d6a08159f","id":"%s","created_at":"2026-12-05T07:18:48.042Z",` +
	`"updated_at":"2026-12-05T07:18:48.042Z","connection_id":"41f3756c-611e-4bed-9d5f-e78dbc081461","source_name":"samsara",` +
	`"source_id":"s","source_data_hash":"414e318e3be7211fa82699a2b821ea2bf556c4c786a68133c306f187845ed630","occurred_at":"2026-12-05T07:%02d:48Z","vehicle_id":"%s",` +
	`"location":{"type":"Point","coordinates":[-122.44,37.74]},"speed":%s,"extras":{"k":"%s"}}`

func walkVehicle(v int) string  { return fmt.Sprintf("194a533a-0496-4d96-aec4-751ce0fb%04x", v) }
func walkID(v, p, i int) string { return fmt.Sprintf("89eb6add-4573-4fff-%04x-%04x%08x", v, p, i) }

// walkPages is one vehicle's history: per page, the items' raw text; the
// body of a page (walkBody) may add a repeated "items".
func walkPages(v int) [][]string {
	var pages [][]string
	for p := range 6 {
		var items []string
		if p == 2 {
			pages = append(pages, nil) // an empty page mid-walk
			continue
		}
		for i := range 12 {
			switch {
			case i == 3 && p%2 == 1:
				items = append(items, `{"id":tru}`) // not JSON: scan returns 0
			case i == 5:
				items = append(items, fmt.Sprintf(walkRecord, walkID(v, p, i), i, walkVehicle(v), `"fast"`, walkID(v, p, i))) // wrong type
			default:
				items = append(items, fmt.Sprintf(walkRecord, walkID(v, p, i), i, walkVehicle(v), fmt.Sprintf("%d.5", i%10), walkID(v, p, i)))
			}
		}
		pages = append(pages, items)
	}
	return pages
}

func walkBody(v, p int, pages [][]string) string {
	next := fmt.Sprintf("%q", fmt.Sprintf("c%d", p+1))
	if p == len(pages)-1 {
		next = "null"
	}
	items := strings.Join(pages[p], ",")
	if p == 4 {
		// A body that repeats "items": the first array is scanned, then
		// the last one, which counts.
		var decoy []string
		for i := range 14 {
			decoy = append(decoy, fmt.Sprintf(walkRecord, walkID(v, 99, i), i, walkVehicle(v), "9.5", walkID(v, 99, i)))
		}
		return fmt.Sprintf(`{"items":[%s],"items":[%s],"total":%d,"next_page":%s}`, strings.Join(decoy, ","), items, len(pages[p]), next)
	}
	return fmt.Sprintf(`{"items":[%s],"total":%d,"next_page":%s}`, items, len(pages[p]), next)
}

// walkAPI serves the vehicles' histories; a cursor "stale" is refused (400).
// envelopeFault, when set, says which (vehicle, cursor) answers its first
// request with a body whose envelope is refused after its items were
// scanned.
func walkAPI(t *testing.T, envelopeFault func(v int, cursor string) bool) *catena.Client {
	t.Helper()
	var mu sync.Mutex
	faulted := map[string]bool{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
			return
		}
		q := r.URL.Query()
		var v int
		fmt.Sscanf(q.Get("vehicle_ids")[len("194a533a-0496-4d96-aec4-751ce0fb"):], "%04x", &v)
		cur := q.Get("cursor")
		if cur == "stale" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":400,"message":"Bad Request","detail":"Invalid cursor value"}`)
			return
		}
		p := 0
		if cur != "" {
			fmt.Sscanf(cur, "c%d", &p)
		}
		pages := walkPages(v)
		body := walkBody(v, p, pages)
		if envelopeFault != nil && envelopeFault(v, cur) {
			mu.Lock()
			first := !faulted[fmt.Sprint(v, cur)]
			faulted[fmt.Sprint(v, cur)] = true
			mu.Unlock()
			if first {
				// Same items, scanned, then a refused envelope.
				body = strings.Replace(body, `"total":`, `"total":"x","t":`, 1)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(api.Close)
	client, err := catena.New(catena.Config{APIURL: api.URL, TokenURL: api.URL + "/token", ClientID: "c", ClientSecret: "s",
		RetryMaxElapsed: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func walkPipeline(t *testing.T, client *catena.Client) *Pipeline {
	t.Helper()
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{
		cfg:    Config{Client: client, PageSize: 1000, Now: func() time.Time { now, _ := time.Parse(time.RFC3339, walkNow); return now }},
		log:    slog.New(slog.DiscardHandler),
		m:      NewMetrics(nil),
		stages: &stages{enc: avro.NewEncoder(codec, avro.ConfluentFraming(1)), enr: enr, future: time.Hour},
	}
}

func walkWindow() []catena.Window {
	now, _ := time.Parse(time.RFC3339, walkNow)
	return []catena.Window{{From: now.Add(-time.Hour), To: now}}
}

// walkCheck compares a page's records with decodeAll of a copy of the
// expected items, and with the expected items' text.
func walkCheck(t *testing.T, v, p int, page []decoded, want []string) bool {
	t.Helper()
	if len(page) != len(want) {
		t.Errorf("vehicle %d page %d: %d records, want %d", v, p, len(page), len(want))
		return false
	}
	items := make([]json.RawMessage, len(want))
	for i := range want {
		items[i] = json.RawMessage(want[i])
	}
	ref := decodeAll(items)
	ok := true
	for i := range page {
		if string(page[i].raw) != want[i] || string(page[i].loc.Raw) != string(ref[i].loc.Raw) {
			t.Errorf("vehicle %d page %d record %d: raw %.120s, want %.120s", v, p, i, page[i].raw, want[i])
			ok = false
		}
		if fmt.Sprint(page[i].err) != fmt.Sprint(ref[i].err) || !reflect.DeepEqual(page[i].loc, ref[i].loc) {
			t.Errorf("vehicle %d page %d record %d differs from decodeAll: %v / %v", v, p, i, page[i].err, ref[i].err)
			ok = false
		}
	}
	return ok
}

// TestWalksConcurrentServeOnlyTheirPage: walks of many vehicles at
// once (a sweep's forEach), each with a pooled decoder and pooled item
// arrays, see exactly their own page's records, decoded as decodeAll
// decodes them, whether a walk starts at a cursor the API refuses, meets
// empty pages, items that are not JSON, or a repeated "items". Each record
// is checked again after the goroutine yields, so a decoder or items array
// shared with another walk shows (and -race reports it).
func TestWalksConcurrentServeOnlyTheirPage(t *testing.T) {
	p := walkPipeline(t, walkAPI(t, nil))
	const vehicles, rounds = 16, 1
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for round := range rounds {
		for v := range vehicles {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				pages := walkPages(v)
				pos := walkPos{From: walkWindow()[0].From}
				if (v+round)%3 == 0 {
					pos.Cursor = "stale" // refused: the window is read again from its first page
				}
				n := 0
				// Half the walks keep their strings in a slab, as the
				// backfill's do; the pooled decoders serve both kinds.
				err := p.walk(context.Background(), walkVehicle(v), walkWindow(), pos, false, v%2 == 0, func(page []decoded, _ walkPos, done bool) error {
					if n >= len(pages) {
						t.Errorf("vehicle %d: page %d past the last", v, n)
						return nil
					}
					if !walkCheck(t, v, n, page, pages[n]) {
						return fmt.Errorf("vehicle %d page %d wrong", v, n)
					}
					ids := make([]string, len(page))
					for i := range page {
						ids[i] = page[i].loc.ID
					}
					runtime.Gosched()
					for i := range page {
						if page[i].loc.ID != ids[i] || (page[i].err == nil && *page[i].loc.VehicleID != walkVehicle(v)) {
							t.Errorf("vehicle %d page %d record %d changed under the callback", v, n, i)
						}
					}
					n++
					return nil
				})
				if err != nil {
					t.Errorf("vehicle %d: %v", v, err)
				}
				if n != len(pages) {
					t.Errorf("vehicle %d: %d pages, want %d", v, n, len(pages))
				}
			}()
		}
	}
	wg.Wait()
}

// TestWalkAfterPartialScan: a walk fails on a page whose items were
// scanned before its envelope was refused (a sweep's vehicle fails, and
// its decoder goes back to the pool with that scan state); the next walks
// on the goroutine (likely the same decoder) read the vehicle again from
// that cursor and from the start, and see only the pages' own records.
func TestWalkAfterPartialScan(t *testing.T) {
	p := walkPipeline(t, walkAPI(t, func(v int, cursor string) bool { return cursor == "c3" || cursor == "c2" }))
	for v := range 4 {
		pages := walkPages(v)
		for attempt := range 3 {
			n := 0
			err := p.walk(context.Background(), walkVehicle(v), walkWindow(), walkPos{From: walkWindow()[0].From}, false, false, func(page []decoded, _ walkPos, _ bool) error {
				if !walkCheck(t, v, n, page, pages[n]) {
					return fmt.Errorf("page %d wrong", n)
				}
				n++
				return nil
			})
			switch attempt {
			case 0, 1: // refused at c2 (the empty page), then at c3
				if err == nil {
					t.Fatalf("vehicle %d attempt %d: no error from the refused envelope", v, attempt)
				}
			default:
				if err != nil || n != len(pages) {
					t.Fatalf("vehicle %d attempt %d: %d pages, %v", v, attempt, n, err)
				}
			}
		}
	}
}

// TestWalkDecodedStagesOutliveTheWalk pins what makes the release safe
// for the live tail: what the stages make of a walk's decoded page (events,
// dead letters, the published points that liveState.advance reads) is
// unchanged after the walk's later pages, and other walks (the decoder and
// item arrays back in their pools), reuse and overwrite the memory the
// records' pointer fields and raw bytes were in. Every other round keeps
// the records' strings in a slab, as the backfill does: the events' ids
// must not change either.
func TestWalkDecodedStagesOutliveTheWalk(t *testing.T) {
	p := walkPipeline(t, walkAPI(t, nil))
	type kept struct {
		out       *page
		events    [][]byte
		keys      [][]byte
		ids       []string
		dead      [][]byte
		reasons   []string
		published []published
	}
	var all []kept
	for round := range 3 {
		for v := range 3 {
			set := dedup.NewSet(dedupBucket)
			err := p.walk(context.Background(), walkVehicle(v), walkWindow(), walkPos{From: walkWindow()[0].From}, false, round%2 == 1, func(page []decoded, _ walkPos, _ bool) error {
				out := p.stages.runDecoded(page, p.cfg.Now(), setMarker{set}, owner{})
				k := kept{out: out, published: append(out.published[:0:0], out.published...)}
				for _, e := range out.batch.Events {
					k.events = append(k.events, bytes.Clone(e.Value))
					k.keys = append(k.keys, bytes.Clone(e.Key))
					k.ids = append(k.ids, strings.Clone(e.ID))
				}
				for _, d := range out.batch.DeadLetters {
					k.dead = append(k.dead, bytes.Clone(d.Value))
					k.reasons = append(k.reasons, d.Reason)
				}
				all = append(all, k)
				return nil
			})
			if err != nil {
				t.Fatal(round, v, err)
			}
		}
	}
	var events, dead int
	for _, k := range all {
		for i, e := range k.out.batch.Events {
			if !bytes.Equal(e.Value, k.events[i]) || !bytes.Equal(e.Key, k.keys[i]) || e.ID != k.ids[i] {
				t.Fatalf("event %s changed after its walk", e.ID)
			}
			events++
		}
		for i, d := range k.out.batch.DeadLetters {
			if !bytes.Equal(d.Value, k.dead[i]) || d.Reason != k.reasons[i] {
				t.Fatalf("dead letter %s changed after its walk: %s", d.ID, d.Value)
			}
			dead++
		}
		if !reflect.DeepEqual(k.out.published, k.published) {
			for i := range k.published {
				if !reflect.DeepEqual(k.out.published[i], k.published[i]) {
					t.Errorf("%d: %+v\nwas %+v", i, k.out.published[i], k.published[i])
				}
			}
			t.Fatal("published points changed after their walk")
		}
	}
	if events == 0 || dead == 0 {
		t.Fatalf("%d events, %d dead letters: no coverage", events, dead)
	}
}
