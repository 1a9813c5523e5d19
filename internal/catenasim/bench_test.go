package catenasim

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkHistoryPage1000 measures one 1000-record history page through
// ServeHTTP (parsing, auth, point computation, H3, JSON), without a network.
func BenchmarkHistoryPage1000(b *testing.B) {
	s, err := New(Config{Clock: NewManualClock(t0), Faults: Faults{LateEvery: 7, MalformedEvery: 11}})
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"exp": t0.Add(time.Hour).Unix(), "sub": "bench"}
	tok := s.signToken(claims)
	v := s.Vehicles()[0]
	url := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "1000",
		"from_datetime", ts(t0.Add(-30*24*time.Hour)), "to_datetime", ts(t0))
	b.ReportAllocs()
	var bytes int
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		bytes = rec.Body.Len()
	}
	b.SetBytes(int64(bytes))
}

// BenchmarkPoint measures one point: arithmetic plus one H3 call.
func BenchmarkPoint(b *testing.B) {
	s, _ := New(Config{Clock: NewManualClock(t0)})
	v := s.vehicles[0]
	k := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		p := s.point(v, k)
		k++
		_ = p
	}
}
