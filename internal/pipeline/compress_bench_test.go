package pipeline

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// BenchmarkCompression measures the codecs on the real event mix: the events
// the stages make of one 1000-record simulator page (one vehicle, so one
// partition: what franz-go puts in one record batch), laid out as Kafka's
// v2 records (varint lengths, key, value, the four headers), compressed with
// franz-go's own compressor at each codec and level KAFKA_COMPRESSION
// offers. It reports the compression ratio and the CPU per record; the
// choice of sink.DefaultCompression rests on it.
func BenchmarkCompression(b *testing.B) {
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
	p := s.run(items, time.Date(2026, 11, 20, 12, 0, 1, 0, time.UTC), setMarker{dedup.NewSet(dedupBucket)}, owner{})
	batch := recordBatch(p.batch.Events)
	n := len(p.batch.Events)

	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"snappy", kgo.SnappyCompression()},
		{"zstd-fastest", kgo.ZstdCompression().WithLevel(1)}, // zstd.SpeedFastest
		{"zstd-default", kgo.ZstdCompression()},
		{"zstd-better", kgo.ZstdCompression().WithLevel(3)}, // zstd.SpeedBetterCompression
		{"gzip", kgo.GzipCompression()},
	} {
		b.Run(c.name, func(b *testing.B) {
			comp, err := kgo.DefaultCompressor(c.codec)
			if err != nil {
				b.Fatal(err)
			}
			var dst bytes.Buffer
			size := len(batch)
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if comp == nil {
					continue
				}
				dst.Reset()
				out, _ := comp.Compress(&dst, batch)
				size = len(out)
			}
			b.ReportMetric(float64(len(batch))/float64(size), "ratio")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			b.ReportMetric(float64(size)/float64(n), "bytes/record")
		})
	}
}

// recordBatch lays events out as the records of a Kafka v2 record batch
// (without the batch header): each record's length, attributes, deltas,
// key, value and headers.
func recordBatch(events []sink.Event) []byte {
	var out, rec []byte
	for i, e := range events {
		rec = rec[:0]
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(len(e.Key)))
		rec = append(rec, e.Key...)
		rec = binary.AppendVarint(rec, int64(len(e.Value)))
		rec = append(rec, e.Value...)
		hs := [][2]string{{sink.HeaderID, e.ID}, {sink.HeaderSource, e.Source},
			{sink.HeaderVehicleID, e.VehicleID}, {sink.HeaderOccurredAt, e.OccurredAt.Format(time.RFC3339Nano)}}
		rec = binary.AppendVarint(rec, int64(len(hs)))
		for _, h := range hs {
			rec = binary.AppendVarint(rec, int64(len(h[0])))
			rec = append(rec, h[0]...)
			rec = binary.AppendVarint(rec, int64(len(h[1])))
			rec = append(rec, h[1]...)
		}
		out = binary.AppendVarint(out, int64(len(rec)))
		out = append(out, rec...)
	}
	return out
}
