package catenasim

import (
	"net/http/httptest"
	"runtime"
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

// The scale the issue asks the simulator to serve without being the
// bottleneck: 100,000 vehicles (100 fleets of 1,000).
const (
	benchFleets   = 100
	benchPerFleet = 1000
)

func newBenchServer(b *testing.B, cfg Config) (*Server, string) {
	b.Helper()
	cfg.Clock = NewManualClock(t0)
	cfg.Fleets, cfg.VehiclesPerFleet = benchFleets, benchPerFleet
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s, s.signToken(map[string]any{"exp": t0.Add(time.Hour).Unix(), "azp": "bench"})
}

func serveBench(b *testing.B, s *Server, tok, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec
}

// BenchmarkNew100k measures building the model of 100,000 vehicles, and the
// heap it keeps.
func BenchmarkNew100k(b *testing.B) {
	b.ReportAllocs()
	var s *Server
	for b.Loop() {
		s, _ = newBenchServer(b, Config{})
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(s)
}

// BenchmarkSnapshot100k measures snapshot pages (only_latest, the poll of
// every vehicle) of 1000 records at 100,000 vehicles: the first page, and
// one deep in the listing reached by its cursor.
func BenchmarkSnapshot100k(b *testing.B) {
	s, tok := newBenchServer(b, Config{Faults: Faults{LateEvery: 7, MalformedEvery: 11}})
	first := locPath + q("size", "1000")
	deep := first + "&cursor=" + s.encodeCursor(cursor{kind: curLatest, pos: 90_000, page: 91})
	for _, bc := range []struct{ name, url string }{{"first", first}, {"page91", deep}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var bytes int
			for b.Loop() {
				bytes = serveBench(b, s, tok, bc.url).Body.Len()
			}
			b.SetBytes(int64(bytes))
		})
	}
}

// BenchmarkHistory100k measures one vehicle's history (the last 24 h in
// pages of 1000) at 100,000 vehicles.
func BenchmarkHistory100k(b *testing.B) {
	s, tok := newBenchServer(b, Config{Faults: Faults{LateEvery: 7, MalformedEvery: 11}})
	v := s.Vehicles()[len(s.vehicles)/2]
	url := locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "1000",
		"from_datetime", ts(t0.Add(-24*time.Hour)), "to_datetime", ts(t0))
	b.ReportAllocs()
	var bytes int
	for b.Loop() {
		bytes = serveBench(b, s, tok, url).Body.Len()
	}
	b.SetBytes(int64(bytes))
}

// BenchmarkPushScan100k measures one push tick's scan for a subscription to
// every fleet at 100,000 vehicles: the points that became visible in one
// PushInterval (100ms of 30s reports: about 330).
func BenchmarkPushScan100k(b *testing.B) {
	s, _ := newBenchServer(b, Config{})
	sub := &subscription{scanned: t0.UnixNano()}
	now := t0.UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		now += int64(100 * time.Millisecond)
		s.scan(sub, now)
		sub.pending = sub.pending[:0]
	}
}
