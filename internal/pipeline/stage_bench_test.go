package pipeline

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
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
// page from the simulator, into a fresh dedup set (as the first page of a
// backfill window). The sink batch is built but not sent.
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
		p := s.run(items, ingested, setMarker{dedup.NewSet(dedupBucket)}, owner{})
		if len(p.batch.Events) != len(items) {
			b.Fatalf("page published %d events of %d items (duplicates %d, dead letters %d)",
				len(p.batch.Events), len(items), p.dups, len(p.batch.DeadLetters))
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/record")
}
