package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/pipeline"
)

// BenchmarkBackfillEndToEnd measures a whole backfill: the simulated API over
// HTTP on loopback, the real catena client (no rate limit), the stages, and
// transactional produces into kfake (in-process, or KAFKA_BROKERS), with a
// checkpoint committed per page. The range is 5 fleets × 10 vehicles × 1000
// minutes at one point a minute: about 50k records in 1000-record pages,
// 8 vehicles at a time, with no faults.
//
// Every iteration is a fresh bridge (new cluster, topic, registry and
// checkpoints), so it is a first run, not a resume of a finished job. Only
// Backfill itself is timed; the records/s and ns/record metrics are over the
// records fetched during the timed calls.
func BenchmarkBackfillEndToEnd(b *testing.B) {
	const (
		fleets, perFleet = 5, 10
		minutes          = 1000
	)
	simCfg := catenasim.Config{Seed: 11, Fleets: fleets, VehiclesPerFleet: perFleet, ReportInterval: time.Minute}
	from, to := t0.Add(-minutes*time.Minute), t0
	tune := func(c *pipeline.Config) {
		c.PageSize = 1000
		c.Concurrency = 8
		c.Logger = slog.New(slog.DiscardHandler)
	}

	var (
		fetched int64
		elapsed time.Duration
		want    = -1
	)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		h := newHarness(b, simCfg, t0, tune)
		if want < 0 {
			valid, malformed := h.truth(from, to, t0)
			if len(malformed) != 0 {
				b.Fatalf("simulator without faults served %d malformed points", len(malformed))
			}
			want = len(valid)
		}
		b.StartTimer()

		start := time.Now()
		res, err := h.pipe.Backfill(context.Background(), from, to)
		d := time.Since(start)

		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Vehicles != fleets*perFleet {
			b.Fatalf("backfill saw %d vehicles, want %d", res.Vehicles, fleets*perFleet)
		}
		c := h.metrics.Counts()
		if c.Published != int64(want) {
			b.Fatalf("backfill published %d events, want %d (fetched %d, duplicates %d, dead letters %v)",
				c.Published, want, c.Fetched, c.Duplicates, c.DeadLetters)
		}
		fetched += c.Fetched
		elapsed += d
		b.StartTimer()
	}
	b.StopTimer()
	if fetched == 0 || elapsed <= 0 {
		b.Fatal("no records fetched")
	}
	b.ReportMetric(float64(fetched)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(fetched), "ns/record")
	b.ReportMetric(float64(fetched)/float64(b.N), "records/op")
}
