package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// simPage fetches one history page of n items of one vehicle from the
// simulator through the real client, so the stages see exactly the bytes a
// backfill sees.
func simPage(b *testing.B, n int) []json.RawMessage {
	b.Helper()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	sim, err := catenasim.New(catenasim.Config{Seed: 11, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute, Clock: catenasim.NewManualClock(now)})
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(sim)
	defer api.Close()
	client, err := catena.New(catena.Config{
		APIURL: api.URL, TokenURL: api.URL + "/realms/catena/protocol/openid-connect/token",
		ClientID: "demo", ClientSecret: "demo",
	})
	if err != nil {
		b.Fatal(err)
	}
	w := catena.Window{From: now.Add(-time.Duration(n) * time.Minute), To: now}
	pg, err := client.History(sim.Vehicles()[0].ID, w, catena.LocationQuery{Size: n}, "").Next(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if pg == nil || len(pg.Items) != n {
		b.Fatalf("simulator page has %d items, want %d", len(pg.Items), n)
	}
	return pg.Items
}

// BenchmarkStages measures the per-page work of the pipeline without HTTP or
// Kafka: decode → validate → dedup → enrich → Avro encode of one 1000-record
// page from the simulator, items split before and decoded one by one
// (stages.run, as pushed records are), into a fresh window set (as the
// first page of a backfill window). The sink batch is built but not sent.
func BenchmarkStages(b *testing.B) {
	items := simPage(b, 1000)
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		b.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		b.Fatal(err)
	}
	s := &stages{enc: avro.NewEncoder(codec, avro.ConfluentFraming(1)), enr: enr}
	ingested := time.Date(2026, 11, 20, 12, 0, 1, 0, time.UTC)
	var bytes int
	for _, raw := range items {
		bytes += len(raw)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		p := s.run(items, ingested, setMarker{newWindowSet()}, owner{})
		if len(p.batch.Events) != len(items) {
			b.Fatalf("page published %d events of %d items (duplicates %d, dead letters %d)",
				len(p.batch.Events), len(items), p.dups, len(p.batch.DeadLetters))
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/record")
}

// BenchmarkPreKafkaStages measures the pre-Kafka stages as a backfill runs
// them, without the network: one 1000-record history page of the
// simulator, rendered once, is served from memory to the real client,
// which cuts its items as the record decoder decodes them (a walk's
// pageDecoder); then validate, dedup, enrich and Avro encode
// (stages.runDecoded), and the page's items and arena go back to their
// pools. What is left out is the kernel's copy of the body and the
// wake-ups of reading a socket (scripts/cpubench's "page read" counts
// them). cpu-ns/record is the process's CPU (rusage: the collector's
// workers included) per record.
func BenchmarkPreKafkaStages(b *testing.B) {
	const n = 1000
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	sim, err := catenasim.New(catenasim.Config{Seed: 11, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute, Clock: catenasim.NewManualClock(now)})
	if err != nil {
		b.Fatal(err)
	}
	vehicle := sim.Vehicles()[0].ID
	w := catena.Window{From: now.Add(-n * time.Minute), To: now}
	var body []byte // the page, rendered by the simulator on its first request
	serve := roundTripper(func(r *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		if body == nil || !strings.Contains(r.URL.Path, "vehicle-locations") {
			sim.ServeHTTP(rec, r)
			if strings.Contains(r.URL.Path, "vehicle-locations") {
				body = rec.Body.Bytes()
			}
			return rec.Result()
		}
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusOK)
		return &http.Response{StatusCode: http.StatusOK, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}
	})
	client, err := catena.New(catena.Config{
		APIURL: "http://catena.test", TokenURL: "http://catena.test/realms/catena/protocol/openid-connect/token",
		ClientID: "demo", ClientSecret: "demo", HTTPClient: &http.Client{Transport: serve},
	})
	if err != nil {
		b.Fatal(err)
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		b.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		b.Fatal(err)
	}
	s := &stages{enc: avro.NewEncoder(codec, avro.ConfluentFraming(1)), enr: enr}
	dec := pageDecoders.Get().(*pageDecoder)
	ingested := now.Add(time.Second)
	page := func() {
		pager := client.History(vehicle, w, catena.LocationQuery{Size: n}, "")
		pager.ScanItems(dec.scan)
		pg, err := pager.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		p := s.runDecoded(dec.decoded(pg.Items), ingested, setMarker{newWindowSet()}, owner{})
		if len(p.batch.Events) != n {
			b.Fatalf("page published %d events of %d items (duplicates %d, dead letters %d)",
				len(p.batch.Events), len(pg.Items), p.dups, len(p.batch.DeadLetters))
		}
		catena.ReleaseItems(pg.Items)
		p.recycle() // as the backfill does once the page is committed
	}
	page() // renders the body; the token is fetched
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		page()
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
}

// roundTripper serves a client's requests in memory.
type roundTripper func(*http.Request) *http.Response

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// processCPU is the CPU this process has used (user + system, all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
