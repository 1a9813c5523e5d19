package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/semaphore"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/geo"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// The tests of this file pin the live tail's two commit-order locks
// (live.order and live.inflight). Each races the tail's real code paths
// (stage, commitState, the sweep's mark) into the real committer, which
// commits through a real Sink into kfake, and reads the checkpoint topic
// back: what a restart would load. They run in a synctest bubble, so that
// synctest.Wait says when every goroutine has reached the point where it
// waits (for a lock, for the committer, for the broker): the interleavings
// are forced, not hoped for, and a test fails every time its lock is gone.
// They always use kfake, even with KAFKA_BROKERS set: one of them holds the
// broker's answer to a commit.

// TestLiveOrderCheckpointsNeverMoveBack pins live.order: a batch reaches the
// committer in the order its checkpoints were computed.
//
// A sweep worker computes vehicle v's checkpoint (v backs off, so the
// sweep records that it owes the window) and loses the CPU before handing
// it over; the test holds it there, inside the function commitState
// computes the checkpoint with. Meanwhile the poll publishes v's newer
// point and computes v's checkpoint again. Without the lock the poll's
// page reaches the committer first and the sweep's older checkpoint lands
// after it: the compacted checkpoint topic, which a restart loads, holds v
// at its previous point although the newer one is committed in the events
// topic. That breaks exactly-once across a restart: v's checkpoint names
// its newest record, which is what keeps an idle vehicle's newest record
// (the snapshot returns it with every poll, long after the dedup set has
// evicted it) from being published again. With the lock the poll's page
// waits until the sweep's checkpoint is handed over, and its own, computed
// after, wins.
func TestLiveOrderCheckpointsNeverMoveBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		k := newOrderKafka(t)
		l := k.live(t, now, 0)
		ctx := t.Context()
		v := orderUUID(1)
		t0, t1 := now.Add(-2*time.Minute), now.Add(-time.Minute)

		// v's point at t0 is published and checkpointed.
		if _, err := l.stage(ctx, "live", orderItems(t, orderRecord(1, v, t0)), now, nil, ""); err != nil {
			t.Fatal(err)
		}

		// The sweep skips v, which backs off, and records what it owes;
		// it is descheduled between computing v's checkpoint and handing
		// it to the committer (inside the order lock, where commitState
		// computes it).
		computed, resume := make(chan struct{}), make(chan struct{})
		unpause := sync.OnceFunc(func() { close(resume) })
		defer unpause() // a failed test lets every goroutine of the bubble end
		sweepDone := make(chan error, 1)
		go func() {
			sweepDone <- l.commitState(ctx, func() *sink.Checkpoint {
				cp := l.st.owe(l.prefix, v, now.Add(-time.Hour))
				close(computed)
				<-resume
				return cp
			})
		}()
		<-computed
		// The poll publishes v's newer point meanwhile.
		newer := orderItems(t, orderRecord(2, v, t1))
		pollDone := make(chan error, 1)
		go func() {
			_, err := l.stage(ctx, "live", newer, now, nil, "")
			pollDone <- err
		}()
		synctest.Wait() // the poll's page waits for the lock, or (without it) has reached the committer
		if !orderClaimed(l, newer) {
			t.Fatal("the poll's page has not claimed its record: the race is not set up")
		}
		unpause()
		for _, done := range []chan error{sweepDone, pollDone} {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}

		var got vehicleState
		cps := k.checkpoints(t)
		last := cps.last(l.prefix + "v/" + v)
		if last == nil {
			t.Fatal("no checkpoint of the vehicle in the topic")
		}
		if err := json.Unmarshal(last.Value, &got); err != nil {
			t.Fatal(err)
		}
		if !got.At.Equal(t1) || !got.NewestAt.Equal(t1) || got.Owed.IsZero() {
			t.Fatalf("the checkpoint topic holds the vehicle at %v (newest %v, owes from %v), want at %v owing a window: "+
				"a checkpoint computed before the poll's page was committed after it, and moved the vehicle back\ncheckpoint topic:\n%s",
				got.At, got.NewestAt, got.Owed, t1, cps)
		}
	})
}

// TestLiveSweepMarkAfterClaimedPages pins live.inflight: the sweep's mark
// is handed to the committer only after every page that marked (claimed)
// ids before it, so it commits after them.
//
// The mark says the window it read is done: a restart's next sweep starts
// LOOKBACK before it, and never reads earlier records again. A page that
// has claimed an id (the sweep then skips that record as published) but
// not committed it when the mark commits leaves, if the process dies
// between the two commits, a record that no committed transaction holds,
// that the sweep skipped, and that may lie behind where the next sweep
// starts: lost, where it must be published exactly once.
//
// The committer takes batches first come, first served, so a page that
// has claimed its ids falls behind the mark only while it waits for the
// order lock: here a pushed page holds it, its hand-over waiting for the
// commit in flight, whose answer the broker holds back until the pushed
// page, the polled page and the sweep all wait. The committer commits one
// batch per transaction here, so the checkpoint topic's offsets give the
// order of the commits.
func TestLiveSweepMarkAfterClaimedPages(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		k := newOrderKafka(t)
		l := k.live(t, now, 1)
		ctx := t.Context()
		inFlight, pushed, polled := orderUUID(1), orderUUID(2), orderUUID(3)

		// A commit in flight: the broker holds its EndTxn.
		held, release := make(chan struct{}), make(chan struct{})
		answer := sync.OnceFunc(func() { close(release) })
		defer answer() // a failed test lets every goroutine of the bubble end
		k.cluster.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
			k.cluster.DropControl()
			close(held)
			<-release
			return nil, nil, false // then the broker answers as usual
		})
		errs := make(chan error, 4)
		page := func(mode string, items []decoded) {
			_, err := l.stage(ctx, mode, items, now, nil, "")
			errs <- err
		}
		at := now.Add(-time.Minute)
		first, push, poll := orderItems(t, orderRecord(1, inFlight, at)), orderItems(t, orderRecord(2, pushed, at)), orderItems(t, orderRecord(3, polled, at))
		go page("live", first)
		<-held
		// A pushed page takes the order lock and waits for the committer.
		go page("push", push)
		synctest.Wait()
		if l.order.TryAcquire(1) {
			t.Fatal("the order lock is free while the pushed page waits for the committer (is live.order gone?): no page can be held back after claiming its ids")
		}
		// The poll's page claims its id and waits for the order lock.
		go page("live", poll)
		synctest.Wait()
		if !orderClaimed(l, poll) {
			t.Fatal("the poll's page has not claimed its record: the race is not set up")
		}
		// The sweep ends (it read no vehicle) and submits its mark.
		go func() { errs <- l.sweep(ctx, nil) }()
		synctest.Wait()
		answer()
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}

		cps := k.checkpoints(t)
		mark, polledCP := cps.last(l.prefix+"sweep"), cps.last(l.prefix+"v/"+polled)
		if mark == nil || polledCP == nil {
			t.Fatalf("the checkpoint topic lacks the sweep mark or the polled page's checkpoint:\n%s", cps)
		}
		if mark.Offset < polledCP.Offset {
			t.Fatalf("the sweep mark (offset %d) committed before the page that claimed ids before it (offset %d): "+
				"a crash between the two loses that page's records\ncheckpoint topic:\n%s", mark.Offset, polledCP.Offset, cps)
		}
	})
}

// orderKafka is a kfake cluster on an in-memory network and a Sink on it.
type orderKafka struct {
	cluster *kfake.Cluster
	cfg     sink.Config
	sink    *sink.Sink
}

func newOrderKafka(t *testing.T) *orderKafka {
	t.Helper()
	var n kfake.VirtualNetwork
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(9092), kfake.ListenFn(n.Listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := sink.Config{Brokers: c.ListenAddrs(), Topic: "order", Partitions: 1, Compression: "none",
		Logger: slog.New(slog.DiscardHandler), ExtraOpts: []kgo.Opt{kgo.Dialer(n.DialContext)}}
	s, err := sink.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.EnsureTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &orderKafka{cluster: c, cfg: cfg, sink: s}
}

// live returns a live tail whose committer runs on the sink, with no
// vehicles, no ledger view (it owns every record) and the clock at now.
// maxRecords, when positive, bounds the records the committer merges into
// one transaction.
func (k *orderKafka) live(t *testing.T, now time.Time, maxRecords int) *live {
	t.Helper()
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := geo.NewEnricher(geo.DefaultResolutions)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	p := &Pipeline{
		cfg: Config{Now: func() time.Time { return now }, Concurrency: 1, PollInterval: time.Minute, GapThreshold: 2 * time.Minute,
			SweepInterval: 10 * time.Minute, FullSweepEvery: 1, Lookback: time.Hour},
		log: log, m: NewMetrics(nil),
		stages: &stages{enc: avro.NewEncoder(codec, avro.ConfluentFraming(1)), enr: enr, future: time.Hour},
	}
	c := newCommitter(k.sink, p.m, log)
	if maxRecords > 0 {
		c.maxRecords = maxRecords
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	st := &liveState{set: dedup.NewSet(dedupBucket), vehicles: map[string]*vehicleState{}}
	return &live{p: p, c: c, st: st, prefix: runPrefix + "order/", log: log, job: "run-order", coverFrom: now.Add(-p.cfg.Lookback),
		order: semaphore.NewWeighted(1), inflight: semaphore.NewWeighted(maxInflight)}
}

// orderCheckpoint is a record of the checkpoint topic.
type orderCheckpoint struct {
	Key    string
	Value  []byte
	Offset int64
}

type orderCheckpoints []orderCheckpoint

// checkpoints reads the checkpoint topic (one partition) in offset order,
// with read_committed.
func (k *orderKafka) checkpoints(t *testing.T) orderCheckpoints {
	t.Helper()
	r, err := sink.NewReader(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out orderCheckpoints
	if err := r.ReadAll(t.Context(), k.cfg.CheckpointTopic(), func(rec *kgo.Record) {
		out = append(out, orderCheckpoint{Key: string(rec.Key), Value: rec.Value, Offset: rec.Offset})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// last is the key's value that compaction keeps: its last record.
func (cs orderCheckpoints) last(key string) *orderCheckpoint {
	var out *orderCheckpoint
	for i := range cs {
		if cs[i].Key == key {
			out = &cs[i]
		}
	}
	return out
}

func (cs orderCheckpoints) String() string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %d %s %s\n", c.Offset, c.Key, c.Value)
	}
	return b.String()
}

// orderUUID is a UUID numbered n.
func orderUUID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// orderRecord is a valid API record numbered n of vehicle at at.
func orderRecord(n int, vehicle string, at time.Time) json.RawMessage {
	ts := at.UTC().Format(time.RFC3339Nano)
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"fleet_id":%q,"created_at":%q,"updated_at":%q,"connection_id":%q,`+
		`"source_name":"samsara","source_id":"src-%d","source_data_hash":"hash-%d","occurred_at":%q,"vehicle_id":%q,`+
		`"location":{"type":"Point","coordinates":[13.4,52.5]}}`,
		orderUUID(1000+n), orderUUID(999), ts, ts, orderUUID(998), n, n, ts, vehicle))
}

// orderClaimed reports whether the tail's dedup set holds the items' ids:
// a page marked them.
func orderClaimed(l *live, items []decoded) bool {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	for i := range items {
		id, _ := dedup.ParseID(items[i].loc.ID)
		if !l.st.set.Contains(id, *items[i].loc.OccurredAt) {
			return false
		}
	}
	return true
}

// orderItems decodes records, which must be valid.
func orderItems(t *testing.T, raw ...json.RawMessage) []decoded {
	t.Helper()
	items := decodeAll(raw)
	for _, it := range items {
		if it.err != nil {
			t.Fatalf("test record invalid: %v", it.err)
		}
	}
	return items
}
