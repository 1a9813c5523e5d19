package record

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
)

// simItems fetches one history page of n records of one vehicle from the
// simulator, the records a backfill (and scripts/cpubench) decodes: compact
// JSON, numbers as the simulator writes them, some coordinates as strings.
func simItems(tb testing.TB, n int) [][]byte {
	tb.Helper()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	sim, err := catenasim.New(catenasim.Config{Seed: 11, Fleets: 1, VehiclesPerFleet: 1, ReportInterval: time.Minute,
		Clock: catenasim.NewManualClock(now)})
	if err != nil {
		tb.Fatal(err)
	}
	api := httptest.NewServer(sim)
	defer api.Close()
	resp, err := http.PostForm(api.URL+"/realms/catena/protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"demo"}, "client_secret": {"demo"}})
	if err != nil {
		tb.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	q := url.Values{"only_latest": {"false"}, "vehicle_ids": {sim.Vehicles()[0].ID}, "size": {"1000"},
		"from_datetime": {now.Add(-time.Duration(n) * time.Minute).Format(time.RFC3339)}, "to_datetime": {now.Format(time.RFC3339)}}
	req, _ := http.NewRequest("GET", api.URL+"/v2/telematics/vehicle-locations?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Items []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		tb.Fatal(err)
	}
	if len(page.Items) != n {
		tb.Fatalf("simulator page has %d items, want %d", len(page.Items), n)
	}
	items := make([][]byte, n)
	for i, it := range page.Items {
		items[i] = it
	}
	return items
}

// BenchmarkDecodeSimPage decodes a 1000-record simulator page record by
// record into reused values, the strings in a slab, as the backfill does
// (DecodeItemInto): the decoder's share of the CPU per record in
// scripts/cpubench.
func BenchmarkDecodeSimPage(b *testing.B) {
	items := simItems(b, 1000)
	locs := make([]Location, len(items))
	vals := make([]Values, len(items))
	var slab Slab
	var bytes int
	for _, it := range items {
		bytes += len(it)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		for i, it := range items {
			if _, err := DecodeItemInto(it, &locs[i], &vals[i], &slab); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/record")
}

// BenchmarkValidateSimPage validates the decoded records of a simulator
// page, after the whole page is decoded, as the backfill does.
func BenchmarkValidateSimPage(b *testing.B) {
	items := simItems(b, 1000)
	locs := make([]Location, len(items))
	for i, it := range items {
		if err := Decode(it, &locs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range locs {
			if err := locs[i].Validate(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(locs)), "ns/record")
}
