package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
)

// createTopics creates the three topics the bridge uses, as the bridge's
// EnsureTopics would (events and dead letters with partitions partitions, the
// checkpoint topic with one, compacted), so the events topic can be filled
// before the bridge first runs.
func createTopics(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	compact := "compact"
	for _, t := range []struct {
		name string
		n    int32
		cfg  map[string]*string
	}{
		{topic, partitions, nil},
		{topic + ".dlq", partitions, nil},
		{topic + ".checkpoints", 1, map[string]*string{"cleanup.policy": &compact}},
	} {
		resp, err := adm.CreateTopic(ctx, t.n, 1, t.cfg, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", t.name, err)
		}
	}
	// Wait until metadata lists every partition.
	for {
		td, err := adm.ListTopics(ctx, topic, topic+".dlq", topic+".checkpoints")
		if err == nil && len(td) == 3 && td.Error() == nil && len(td[topic].Partitions) == int(partitions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not visible: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicCount returns the sum over partitions of end minus start offset: the
// records in a topic written without transactions, or records plus commit
// markers in one written with them.
func topicCount(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list end offsets of %q: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list start offsets of %q: %w", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n, nil
}

type prefillResult struct {
	Records int64
	Bytes   int64
	Took    time.Duration
	Oldest  time.Time
	Newest  time.Time
}

// prefill produces n event records to topic the way the bridge's earlier
// runs would have left them: key = a fleet id, the bridge's four headers
// (catena-id a random UUID, catena-source, catena-vehicle-id,
// catena-occurred-at), a valueSize-byte value shaped like a single-object
// encoded Avro event, and explicit record timestamps rising from end-span to
// end in offset order (produce times only go up, which is what the broker's
// time index assumes).
func prefill(ctx context.Context, brokers []string, topic string, n int64, valueSize int, end time.Time, span time.Duration, logf func(string, ...any)) (prefillResult, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
		kgo.MaxBufferedBytes(256<<20),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 by key, as the bridge and Java clients
	)
	if err != nil {
		return prefillResult{}, err
	}
	defer cl.Close()

	rng := rand.New(rand.NewPCG(uint64(end.UnixNano()), 0x5eed))
	fleets := make([][]byte, 200)
	for i := range fleets {
		fleets[i] = []byte(uuid(rng))
	}
	vehicles := make([]struct{ id, fleet []byte }, 10_000)
	for i := range vehicles {
		vehicles[i].id = []byte(uuid(rng))
		vehicles[i].fleet = fleets[rng.IntN(len(fleets))]
	}
	sources := [][]byte{[]byte("GEOTAB"), []byte("SAMSARA"), []byte("MOTIVE"), []byte("VERIZON_CONNECT")}

	start := time.Now()
	from := end.Add(-span)
	step := span / time.Duration(n)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		bytes    atomic.Int64
		acked    atomic.Int64
	)
	cb := func(r *kgo.Record, err error) {
		defer wg.Done()
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	lastLog := time.Now()
	for i := int64(0); i < n; i++ {
		if ep := firstErr.Load(); ep != nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
		ts := from.Add(time.Duration(i) * step)
		v := &vehicles[rng.IntN(len(vehicles))]
		occurred := ts.Add(-time.Duration(rng.IntN(120_000)) * time.Millisecond) // reported up to 2 min before publishing
		id := uuid(rng)
		r := &kgo.Record{
			Key:       v.fleet,
			Value:     fakeEvent(rng, valueSize, id, v.fleet, v.id, occurred),
			Timestamp: ts,
			Headers: []kgo.RecordHeader{
				{Key: "catena-id", Value: []byte(id)},
				{Key: "catena-source", Value: sources[rng.IntN(len(sources))]},
				{Key: "catena-vehicle-id", Value: v.id},
				{Key: "catena-occurred-at", Value: occurred.UTC().AppendFormat(nil, time.RFC3339Nano)},
			},
		}
		bytes.Add(int64(len(r.Value)))
		wg.Add(1)
		cl.Produce(ctx, r, cb) // blocks while the buffer is full
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			logf("prefill: %d/%d records acknowledged (%.0f/s)", acked.Load(), n, float64(acked.Load())/time.Since(start).Seconds())
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return prefillResult{}, fmt.Errorf("flush: %w", err)
	}
	wg.Wait()
	if ep := firstErr.Load(); ep != nil {
		return prefillResult{}, fmt.Errorf("produce: %w", *ep)
	}
	if ctx.Err() != nil {
		return prefillResult{}, ctx.Err()
	}
	return prefillResult{Records: acked.Load(), Bytes: bytes.Load(), Took: time.Since(start), Oldest: from, Newest: from.Add(time.Duration(n-1) * step)}, nil
}

func uuid(rng *rand.Rand) string {
	var b dedup.ID
	binary.LittleEndian.PutUint64(b[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return b.String()
}

// fakeEvent returns a size-byte value laid out like a single-object encoded
// Avro vehicle location (C3 01 marker, 8-byte fingerprint, length-prefixed
// strings and 8-byte doubles), padded with a source_data-like JSON string so
// that it compresses about as well as real events do.
func fakeEvent(rng *rand.Rand, size int, id string, fleet, vehicle []byte, occurred time.Time) []byte {
	b := make([]byte, 0, size)
	b = append(b, 0xc3, 0x01, 0x6d, 0x2f, 0x91, 0x0a, 0x44, 0xe7, 0x13, 0xb2)
	str := func(s []byte) {
		b = binary.AppendVarint(b, int64(len(s)))
		b = append(b, s...)
	}
	dbl := func(f float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f)) }
	str([]byte(id))
	str(fleet)
	str([]byte("fleet-ref-" + string(fleet[:8])))
	str(vehicle)
	str([]byte(uuid(rng)))                           // driver
	b = binary.AppendVarint(b, occurred.UnixMicro()) // occurred_at
	b = binary.AppendVarint(b, time.Now().UnixMicro())
	lat, lon := -60+rng.Float64()*120, -180+rng.Float64()*360
	dbl(lat)
	dbl(lon)
	dbl(rng.Float64() * 130) // speed
	dbl(rng.Float64() * 360) // heading
	for range 4 {
		b = binary.AppendVarint(b, int64(rng.Uint64()>>4)) // h3 cells
	}
	pad := size - len(b) - 2
	if pad < 0 {
		return b[:size]
	}
	b = binary.AppendVarint(b, int64(pad))
	const digits = "0123456789"
	js := fmt.Appendf(nil, `{"provider":"tsp","odometer_km":%.1f,"fuel_pct":%.1f,"ignition":true,"engine_hours":%.2f,"readings":[`,
		rng.Float64()*400000, rng.Float64()*100, rng.Float64()*20000)
	for len(js) < pad {
		js = append(js, `{"k":"`...)
		js = append(js, digits[rng.IntN(10)], digits[rng.IntN(10)])
		js = append(js, `","v":`...)
		for range 6 {
			js = append(js, digits[rng.IntN(10)])
		}
		js = append(js, "},"...)
	}
	b = append(b, js[:pad]...)
	for len(b) < size {
		b = append(b, 0)
	}
	return b[:size]
}
