package record

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkDecode(b *testing.B) {
	raw := []byte(sample)
	var l Location
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(raw, &l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEncodingJSON is the baseline: encoding/json into a wire
// struct plus conversion (the reference decoder of the tests).
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	raw := []byte(sample)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refDecode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func page(n int) [][]byte {
	r := rand.New(rand.NewPCG(5, 5))
	items := make([][]byte, n)
	for i := range items {
		if i%2 == 0 {
			items[i] = []byte(sample)
		} else {
			items[i] = []byte(genRecord(r))
		}
	}
	return items
}

// BenchmarkDecodePage1000 decodes one page of 1000 items (half the sample
// record, half generated variants with escapes, numeric strings and nulls).
func BenchmarkDecodePage1000(b *testing.B) {
	items := page(1000)
	var l Location
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range items {
			_ = Decode(raw, &l)
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodePage1000EncodingJSON(b *testing.B) {
	items := page(1000)
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range items {
			_, _ = refDecode(raw)
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkValidate(b *testing.B) {
	l := mustDecode(b, sample)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
