package catena

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodeLocationPage decodes a full 1000-item vehicle-locations page
// envelope, as the client does for every page.
func BenchmarkDecodeLocationPage(b *testing.B) {
	items := make([]string, MaxPageSize)
	for i := range items {
		items[i] = locationJSON(i)
	}
	body := []byte(pageJSON(items, 250000, "eyJpZCI6IjNmYTg1ZjY0In0"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := decodePage[json.RawMessage](body)
		if err != nil || len(p.Items) != MaxPageSize {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*MaxPageSize)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeLocationPageStd is the encoding/json baseline that
// decodeRawPage replaces, for comparison.
func BenchmarkDecodeLocationPageStd(b *testing.B) {
	items := make([]string, MaxPageSize)
	for i := range items {
		items[i] = locationJSON(i)
	}
	body := []byte(pageJSON(items, 250000, "eyJpZCI6IjNmYTg1ZjY0In0"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if p, err := stdDecode(body); err != nil || len(p.Items) != MaxPageSize {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*MaxPageSize)/b.Elapsed().Seconds(), "records/s")
}
