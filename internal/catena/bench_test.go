package catena

import (
	"encoding/json"
	"testing"

	"github.com/catena-bridge/catena-bridge/internal/record"
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

// BenchmarkSplitThenDecodeLocationPage is a 1000-item page split, then
// each item decoded by the record decoder: two passes over the items, as
// the pipeline did before Pager.ScanItems (and the live tail still does).
func BenchmarkSplitThenDecodeLocationPage(b *testing.B) {
	body, locs := locationPage()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodeRawPage(body)
		if err != nil || len(p.Items) != MaxPageSize {
			b.Fatal(err)
		}
		for i, it := range p.Items {
			if err := record.Decode(it, &locs[i]); err != nil {
				b.Fatal(err)
			}
		}
		ReleaseItems(p.Items)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*MaxPageSize), "ns/record")
}

// BenchmarkScanLocationPage is the same page split with the record
// decoder reading each item as it is cut (Pager.ScanItems, as the
// backfill does): one pass, the records' values in reused storage and
// their strings in a slab (record.DecodeItemInto).
func BenchmarkScanLocationPage(b *testing.B) {
	body, locs := locationPage()
	vals := make([]record.Values, len(locs))
	var slab record.Slab
	scan := func(i int, item []byte) int {
		n, err := record.DecodeItemInto(item, &locs[i], &vals[i], &slab)
		if err != nil {
			panic(err)
		}
		return n
	}
	// copy cuts the items from a copy of the body (scanRawPage); body
	// from the body itself, as Pager.ScanItems does (takeRawPage).
	for _, mode := range []string{"copy", "body"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var p *Page[json.RawMessage]
				var err error
				if mode == "copy" {
					p, err = scanRawPage(body, scan)
				} else {
					p, _, err = takeRawPage(body, scan)
				}
				if err != nil || len(p.Items) != MaxPageSize {
					b.Fatal(err)
				}
				if mode == "copy" {
					ReleaseItems(p.Items)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*MaxPageSize), "ns/record")
		})
	}
}

func locationPage() ([]byte, []record.Location) {
	items := make([]string, MaxPageSize)
	for i := range items {
		items[i] = locationJSON(i)
	}
	return []byte(pageJSON(items, 250000, "eyJpZCI6IjNmYTg1ZjY0In0")), make([]record.Location, MaxPageSize)
}
