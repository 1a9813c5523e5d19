package pipeline

import (
	"bytes"
	"context"
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

// TestStagesOutliveReleasedItems pins what makes the backfill's
// catena.ReleaseItems safe: nothing the stages return aliases the page's
// items. Events and dead letters (malformed records of the simulator) must
// be unchanged after the items are released and their memory is reused,
// and overwritten, by the next pages.
func TestStagesOutliveReleasedItems(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	sim, err := catenasim.New(catenasim.Config{Seed: 3, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
		Clock: catenasim.NewManualClock(now), Faults: catenasim.Faults{MalformedEvery: 7}})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(sim)
	defer api.Close()
	client, err := catena.New(catena.Config{APIURL: api.URL, TokenURL: api.URL + "/realms/catena/protocol/openid-connect/token",
		ClientID: "demo", ClientSecret: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		t.Fatal(err)
	}
	s := &stages{enc: avro.NewEncoder(codec, avro.ConfluentFraming(1)), enr: enr}
	pager := client.History(sim.Vehicles()[0].ID, catena.Window{From: now.Add(-600 * time.Minute), To: now}, catena.LocationQuery{Size: 100}, "")
	type kept struct {
		p              *page
		events, values [][]byte
	}
	var all []kept
	for {
		pg, err := pager.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pg == nil {
			break
		}
		out := s.run(pg.Items, now, setMarker{dedup.NewSet(dedupBucket)}, owner{})
		k := kept{p: out}
		for _, e := range out.batch.Events {
			k.events = append(k.events, bytes.Clone(e.Value))
		}
		for _, d := range out.batch.DeadLetters {
			k.values = append(k.values, bytes.Clone(d.Value))
		}
		catena.ReleaseItems(pg.Items)
		all = append(all, k)
	}
	var events, dead int
	for _, k := range all {
		for i, e := range k.p.batch.Events {
			if !bytes.Equal(e.Value, k.events[i]) {
				t.Fatalf("event %s changed after its page's items were released", e.ID)
			}
			events++
		}
		for i, d := range k.p.batch.DeadLetters {
			if !bytes.Equal(d.Value, k.values[i]) {
				t.Fatalf("dead letter %s changed after its page's items were released:\n%s\nwas\n%s", d.ID, d.Value, k.values[i])
			}
			dead++
		}
	}
	if len(all) < 5 || dead == 0 || events == 0 {
		t.Fatalf("%d pages, %d events, %d dead letters: the case does not cover reuse", len(all), events, dead)
	}
}
