package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCommitWritesAllThreeTopics(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 3})
	ctx := testCtx(t)

	occurred := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
	b := &Batch{
		Events: []Event{
			{Key: []byte("fleet-a"), Value: []byte("avro-1"), ID: "id-1", Source: "src", VehicleID: "veh-1", OccurredAt: occurred},
			{Key: []byte("fleet-b"), Value: []byte("avro-2"), ID: "id-2", Source: "src"},
		},
		DeadLetters: []DeadLetter{
			{Key: []byte("fleet-a"), Value: []byte(`{"id":"bad"}`), ID: "bad", Reason: "latitude = 91: out of range", Code: "bad_coordinates"},
			{Value: []byte(`{}`), Reason: "fleet_id: missing", Code: "no_fleet"},
		},
		Checkpoints: []Checkpoint{{Key: "live/cursor", Value: []byte("c1")}},
	}
	before := time.Now().Add(-time.Second) // Kafka timestamps are in ms; allow clock rounding
	if err := s.Commit(ctx, b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	after := time.Now().Add(time.Second)
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after a commit = %v, want nil", err)
	}

	checkTS := func(r *kgo.Record) {
		t.Helper()
		if r.Timestamp.Before(before) || r.Timestamp.After(after) {
			t.Errorf("%s[%d]@%d: timestamp %s, want produce time in [%s, %s]", r.Topic, r.Partition, r.Offset, r.Timestamp, before, after)
		}
	}

	events := consumeAll(t, brokers, topic, true)
	if len(events) != 2 {
		t.Fatalf("events visible to read_committed: %d, want 2", len(events))
	}
	byID := map[string]*kgo.Record{}
	for _, r := range events {
		id, _ := header(r, HeaderID)
		byID[id] = r
		checkTS(r)
	}
	for _, tc := range []struct {
		id, key, value, src, veh, occ string
		hasVeh, hasOcc                bool
	}{
		{"id-1", "fleet-a", "avro-1", "src", "veh-1", "2025-03-04T04:06:07.891234567Z", true, true},
		{"id-2", "fleet-b", "avro-2", "src", "", "", false, false},
	} {
		r := byID[tc.id]
		if r == nil {
			t.Errorf("event %s missing", tc.id)
			continue
		}
		if string(r.Key) != tc.key || string(r.Value) != tc.value {
			t.Errorf("event %s: key %q value %q, want %q %q", tc.id, r.Key, r.Value, tc.key, tc.value)
		}
		if v, _ := header(r, HeaderSource); v != tc.src {
			t.Errorf("event %s: %s = %q, want %q", tc.id, HeaderSource, v, tc.src)
		}
		if v, ok := header(r, HeaderVehicleID); ok != tc.hasVeh || v != tc.veh {
			t.Errorf("event %s: %s = %q (present %v), want %q (present %v)", tc.id, HeaderVehicleID, v, ok, tc.veh, tc.hasVeh)
		}
		if v, ok := header(r, HeaderOccurredAt); ok != tc.hasOcc || v != tc.occ {
			t.Errorf("event %s: %s = %q (present %v), want %q (present %v)", tc.id, HeaderOccurredAt, v, ok, tc.occ, tc.hasOcc)
		}
	}

	dlq := consumeAll(t, brokers, topic+".dlq", true)
	if len(dlq) != 2 {
		t.Fatalf("dead letters visible: %d, want 2", len(dlq))
	}
	for _, r := range dlq {
		checkTS(r)
		code, _ := header(r, HeaderErrorCode)
		reason, _ := header(r, HeaderError)
		id, hasID := header(r, HeaderID)
		// Kafka Connect's dead-letter headers, as Connect tooling reads them.
		for k, want := range map[string]string{
			HeaderConnectTopic: topic, HeaderConnectStage: "TRANSFORMATION",
			HeaderConnectClass: "catena_bridge." + code, HeaderConnectMessage: reason,
		} {
			if v, ok := header(r, k); !ok || v != want {
				t.Errorf("dead letter %s: %s = %q (present %v), want %q", code, k, v, ok, want)
			}
		}
		switch code {
		case "bad_coordinates":
			if string(r.Key) != "fleet-a" || !hasID || id != "bad" || reason != "latitude = 91: out of range" || string(r.Value) != `{"id":"bad"}` {
				t.Errorf("dead letter %s: key %q id %q(%v) reason %q value %q", code, r.Key, id, hasID, reason, r.Value)
			}
		case "no_fleet":
			if r.Key != nil || hasID || reason != "fleet_id: missing" {
				t.Errorf("dead letter %s: key %q id present %v reason %q; want nil key, no id", code, r.Key, hasID, reason)
			}
		default:
			t.Errorf("dead letter with unexpected code %q", code)
		}
	}

	cps := consumeAll(t, brokers, topic+".checkpoints", true)
	if len(cps) != 1 || string(cps[0].Key) != "live/cursor" || string(cps[0].Value) != "c1" {
		t.Fatalf("checkpoints visible: %v, want one live/cursor=c1", cps)
	}
	checkTS(cps[0])

	// Produced in a transaction: the broker marks the batches transactional.
	if !events[0].Attrs.IsTransactional() {
		t.Errorf("event record is not transactional")
	}
	if err := s.Commit(ctx, &Batch{}); err != nil {
		t.Errorf("Commit(empty batch) = %v, want nil", err)
	}
}

func TestPartitioningMatchesJavaMurmur2(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	const partitions = 7 // not a power of two, so the modulo shows
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: partitions})
	ctx := testCtx(t)

	b := &Batch{}
	for i := range 200 {
		key := fmt.Sprintf("fleet-%03d-%x", i, i*7919)
		b.Events = append(b.Events, Event{Key: []byte(key), Value: []byte("v"), ID: key})
	}
	if err := s.Commit(ctx, b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	recs := consumeAll(t, brokers, topic, true)
	if len(recs) != 200 {
		t.Fatalf("records: %d, want 200", len(recs))
	}
	used := map[int32]bool{}
	for _, r := range recs {
		want := javaPartition(r.Key, partitions)
		if r.Partition != want {
			t.Errorf("key %q: partition %d, want %d (Java murmur2)", r.Key, r.Partition, want)
		}
		used[r.Partition] = true
	}
	if len(used) != partitions {
		t.Errorf("200 keys landed on %d of %d partitions", len(used), partitions)
	}
}

func TestFailedCommitLeavesNothingVisible(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 2})
	ctx := testCtx(t)

	// The checkpoint and the small event reach the log; the oversized
	// event fails the produce (no retry can fix it), so Commit aborts.
	huge := bytes.Repeat([]byte("x"), 2<<20)
	bad := &Batch{
		Events: []Event{
			{Key: []byte("fleet-a"), Value: []byte("small"), ID: "small"},
			{Key: []byte("fleet-b"), Value: huge, ID: "huge"},
		},
		Checkpoints: []Checkpoint{{Key: "cp", Value: []byte("from-aborted")}},
	}
	err := s.Commit(ctx, bad)
	if err == nil {
		t.Fatal("Commit of an oversized record succeeded")
	}
	if errors.Is(err, ErrFenced) {
		t.Fatalf("Commit error %v wraps ErrFenced", err)
	}
	if got := consumeAll(t, brokers, topic+".checkpoints", false); len(got) != 1 {
		t.Fatalf("read_uncommitted sees %d checkpoint records, want the aborted 1 (else this test proves nothing)", len(got))
	}
	if got := consumeAll(t, brokers, topic+".checkpoints", true); len(got) != 0 {
		t.Errorf("read_committed sees %d checkpoint records of an aborted transaction", len(got))
	}
	if got := consumeAll(t, brokers, topic, true); len(got) != 0 {
		t.Errorf("read_committed sees %d events of an aborted transaction", len(got))
	}

	// The Sink is still usable, and only the good batch shows.
	good := &Batch{
		Events:      []Event{{Key: []byte("fleet-a"), Value: []byte("good"), ID: "good"}},
		Checkpoints: []Checkpoint{{Key: "cp", Value: []byte("from-committed")}},
	}
	if err := s.Commit(ctx, good); err != nil {
		t.Fatalf("Commit after a failed one: %v", err)
	}
	ev := consumeAll(t, brokers, topic, true)
	if len(ev) != 1 || string(ev[0].Value) != "good" {
		t.Errorf("events after the good commit: %d, want just the good one", len(ev))
	}
	cps, err := s.LoadCheckpoints(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]byte{"cp": []byte("from-committed")}; !equalMaps(cps, want) {
		t.Errorf("LoadCheckpoints = %q, want %q", cps, want)
	}
}

// TestCrashMidTransaction: a process begins a transaction, produces, and dies
// without ending it. The next process's LoadCheckpoints fences it and aborts
// the transaction, so nothing of it is ever visible.
func TestCrashMidTransaction(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 2})
	ctx := testCtx(t)
	if err := s.Commit(ctx, &Batch{Checkpoints: []Checkpoint{{Key: "cp", Value: []byte("committed")}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The "crashed" process: same transactional id, no EndTransaction.
	crashed, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(s.cfg.TransactionalID),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := crashed.ProduceSync(ctx,
		&kgo.Record{Topic: topic, Key: []byte("f"), Value: []byte("lost")},
		&kgo.Record{Topic: topic + ".checkpoints", Key: []byte("cp"), Value: []byte("uncommitted")},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	crashed.Close() // Close does not end the transaction: it stays open in the coordinator

	restarted := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 2})
	cps, err := restarted.LoadCheckpoints(ctx, "")
	if err != nil {
		t.Fatalf("LoadCheckpoints: %v", err)
	}
	if want := map[string][]byte{"cp": []byte("committed")}; !equalMaps(cps, want) {
		t.Errorf("LoadCheckpoints = %q, want %q", cps, want)
	}
	if got := consumeAll(t, brokers, topic, true); len(got) != 0 {
		t.Errorf("read_committed sees %d events of the crashed transaction", len(got))
	}
	if got := consumeAll(t, brokers, topic, false); len(got) != 1 {
		t.Errorf("read_uncommitted sees %d events, want the 1 aborted (else this test proves nothing)", len(got))
	}
}

func TestFencing(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	first := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 2})
	ctx := testCtx(t)
	batch := func(v string) *Batch {
		return &Batch{
			Events:      []Event{{Key: []byte("fleet"), Value: []byte(v), ID: v}},
			Checkpoints: []Checkpoint{{Key: "cp", Value: []byte(v)}},
		}
	}
	if err := first.Commit(ctx, batch("first-1")); err != nil {
		t.Fatal(err)
	}

	second := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 2})
	if _, err := second.LoadCheckpoints(ctx, ""); err != nil { // initialises: fences first
		t.Fatal(err)
	}
	if err := second.Commit(ctx, batch("second-1")); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	err := first.Commit(ctx, batch("first-2"))
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced Commit = %v, want an error wrapping ErrFenced", err)
	}
	t.Logf("fencing detected in %s: %v", time.Since(start), err)
	if err := first.Commit(ctx, batch("first-3")); !errors.Is(err, ErrFenced) {
		t.Errorf("Commit after fencing = %v, want ErrFenced again", err)
	}
	if err := second.Commit(ctx, batch("second-2")); err != nil {
		t.Errorf("the fencing Sink's Commit: %v", err)
	}

	var got []string
	for _, r := range consumeAll(t, brokers, topic, true) {
		got = append(got, string(r.Value))
	}
	if want := "first-1,second-1,second-2"; strings.Join(got, ",") != want {
		t.Errorf("visible events %v, want %s", got, want)
	}
}

func TestLoadCheckpoints(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic})
	ctx := testCtx(t)

	commits := [][]Checkpoint{
		{{"vehicle/1", []byte("a1")}, {"vehicle/2", []byte("b1")}, {"live/cursor", []byte("c1")}},
		{{"vehicle/1", []byte("a2")}, {"vehicle/3", []byte("d1")}},
		{{"vehicle/2", nil}, {"vehicle/1", []byte("a3")}}, // tombstone, then a later value
		{{"vehicle/3", nil}, {"vehicle/3", []byte("d2")}}, // tombstone then re-set in one batch
		{{"vehicle/4", []byte("e1")}, {"vehicle/4", nil}}, // set then deleted in one batch
	}
	for i, cps := range commits {
		if err := s.Commit(ctx, &Batch{Checkpoints: cps}); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   map[string][]byte
	}{
		{"vehicle/", map[string][]byte{"vehicle/1": []byte("a3"), "vehicle/3": []byte("d2")}},
		{"live/", map[string][]byte{"live/cursor": []byte("c1")}},
		{"", map[string][]byte{"vehicle/1": []byte("a3"), "vehicle/3": []byte("d2"), "live/cursor": []byte("c1")}},
		{"nothing/", map[string][]byte{}},
	} {
		got, err := s.LoadCheckpoints(ctx, tc.prefix)
		if err != nil {
			t.Fatalf("LoadCheckpoints(%q): %v", tc.prefix, err)
		}
		if !equalMaps(got, tc.want) {
			t.Errorf("LoadCheckpoints(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	// An empty topic loads as an empty map.
	empty := newTestSink(t, Config{Brokers: brokers, Topic: testTopic(t)})
	if got, err := empty.LoadCheckpoints(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("LoadCheckpoints on an empty topic = %q, %v; want empty, nil", got, err)
	}
}

func TestScanEvents(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 3})
	ctx := testCtx(t)

	occurred := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	want := map[string]EventHeaders{}
	for c := range 3 {
		b := &Batch{}
		for i := range 10 {
			id := fmt.Sprintf("ev-%d-%d", c, i)
			fleet := fmt.Sprintf("fleet-%d", i%4)
			e := Event{Key: []byte(fleet), Value: []byte("v"), ID: id, Source: "s"}
			if i%2 == 0 {
				e.VehicleID = "veh-" + id
				e.OccurredAt = occurred.Add(time.Duration(i) * time.Minute)
			}
			b.Events = append(b.Events, e)
			want[id] = EventHeaders{ID: id, VehicleID: e.VehicleID, OccurredAt: e.OccurredAt, Key: []byte(fleet)}
		}
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	scan := func(since time.Time) map[string]EventHeaders {
		t.Helper()
		got := map[string]EventHeaders{}
		err := s.ScanEvents(ctx, since, func(h EventHeaders) {
			if _, dup := got[h.ID]; dup {
				t.Errorf("ScanEvents reported %s twice", h.ID)
			}
			got[h.ID] = h
		})
		if err != nil {
			t.Fatalf("ScanEvents(%s): %v", since, err)
		}
		return got
	}

	all := scan(time.Time{})
	if len(all) != len(want) {
		t.Fatalf("ScanEvents(zero) reported %d events, want %d", len(all), len(want))
	}
	for id, w := range want {
		g := all[id]
		if g.VehicleID != w.VehicleID || !g.OccurredAt.Equal(w.OccurredAt) || !bytes.Equal(g.Key, w.Key) {
			t.Errorf("%s: got %+v, want %+v", id, g, w)
		}
		if wantP := javaPartition(w.Key, 3); g.Partition != wantP {
			t.Errorf("%s: partition %d, want %d", id, g.Partition, wantP)
		}
		if g.Timestamp.IsZero() {
			t.Errorf("%s: zero Timestamp", id)
		}
	}

	// since = the newest record's timestamp: every record produced in that
	// millisecond or later, and of the others only records of the newest
	// one's commit. Commit markers are records too, stamped when the
	// coordinator writes them after the commit before returned: a marker
	// can land in a partition after the next commit's records were stamped
	// and before they are appended, and a scan that starts at the marker
	// reports them too (about one run in thirty against Apache Kafka).
	var newest time.Time
	var newestID string
	for id, h := range all {
		if h.Timestamp.After(newest) {
			newest, newestID = h.Timestamp, id
		}
	}
	commitOf := func(id string) string { return id[:strings.LastIndexByte(id, '-')] } // "ev-2-7" → "ev-2"
	got := scan(newest)
	for id, h := range all {
		_, reported := got[id]
		inRange := !h.Timestamp.Before(newest)
		if inRange && !reported || reported && !inRange && commitOf(id) != commitOf(newestID) {
			t.Errorf("since %s (the timestamp of %s): %s (timestamp %s) reported = %v", newest, newestID, id, h.Timestamp, reported)
		}
	}
	if len(got) == 0 {
		t.Errorf("since = newest timestamp reported nothing")
	}
	if got := scan(time.Now().Add(time.Hour)); len(got) != 0 {
		t.Errorf("since in the future reported %d events", len(got))
	}
}

func TestEnsureTopics(t *testing.T) {
	brokers := testBrokers(t)
	ctx := testCtx(t)

	t.Run("creates", func(t *testing.T) {
		topic := testTopic(t)
		log, buf := newTestLogger(t)
		defer func() {
			if t.Failed() {
				t.Log(buf.String())
			}
		}()
		s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 5, Logger: log})
		adm := kadm.NewClient(s.cl)
		details, err := adm.ListTopics(ctx, topic, topic+".dlq", topic+".checkpoints")
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]int{topic: 5, topic + ".dlq": 5, topic + ".checkpoints": 1} {
			td, ok := details[name]
			if !ok || td.Err != nil {
				t.Errorf("topic %s: missing (%v)", name, td.Err)
				continue
			}
			if len(td.Partitions) != want {
				t.Errorf("topic %s: %d partitions, want %d", name, len(td.Partitions), want)
			}
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, topic+".checkpoints")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic+".checkpoints", nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := "<unset>"
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if policy != "compact" {
			t.Errorf("checkpoint topic cleanup.policy = %s, want compact", policy)
		}
		if n, err := s.EventPartitions(ctx); err != nil || n != 5 {
			t.Errorf("EventPartitions = %d, %v; want 5", n, err)
		}
		if err := s.EnsureTopics(ctx); err != nil { // idempotent
			t.Errorf("second EnsureTopics: %v", err)
		}
	})

	t.Run("keeps existing with other partition count", func(t *testing.T) {
		topic := testTopic(t)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		log, buf := newTestLogger(t)
		s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 12, Logger: log})
		if n, err := s.EventPartitions(ctx); err != nil || n != 3 {
			t.Errorf("EventPartitions = %d, %v; want the existing 3", n, err)
		}
		out := buf.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "different partition count") ||
			!strings.Contains(out, "partitions=3") || !strings.Contains(out, "configured=12") {
			t.Errorf("no warning about the partition count in the log:\n%s", out)
		}
	})

	t.Run("refuses a checkpoint topic that would lose the ledger", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		del, compactDel, compact := "delete", "compact,delete", "compact"
		for _, tc := range []struct {
			name       string
			partitions int32
			policy     *string
			want       error
		}{
			{"retention deletes claims", 1, &del, ErrCheckpointPolicy},
			{"compaction and retention", 1, &compactDel, ErrCheckpointPolicy},
			{"two partitions order nothing", 2, &compact, ErrCheckpointPartitions},
		} {
			topic := testTopic(t)
			resp, err := kadm.NewClient(cl).CreateTopic(ctx, tc.partitions, 1, map[string]*string{"cleanup.policy": tc.policy}, topic+".checkpoints")
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				t.Fatalf("%s: create the checkpoint topic: %v", tc.name, err)
			}
			s, err := New(ctx, Config{Brokers: brokers, Topic: topic})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.EnsureTopics(ctx); !errors.Is(err, tc.want) {
				t.Errorf("%s: EnsureTopics = %v, want %v", tc.name, err, tc.want)
			}
			s.Close()
		}
	})

	t.Run("broker unreachable until ctx ends", func(t *testing.T) {
		log, buf := newTestLogger(t)
		s, err := New(ctx, Config{Brokers: []string{unreachableAddr(t)}, Topic: testTopic(t), Logger: log,
			ExtraOpts: []kgo.Opt{kgo.RequestRetries(0), kgo.RetryTimeout(100 * time.Millisecond)}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err = s.EnsureTopics(short)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("EnsureTopics = %v, want the ctx deadline", err)
		}
		if !strings.Contains(buf.String(), "ensure topics failed, retrying") {
			t.Errorf("no Warn per retry in the log:\n%s", buf.String())
		}
		if s.Ready() == nil {
			t.Error("Ready() = nil with the broker unreachable")
		}
	})
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no brokers", Config{}, "brokers: at least one broker is required"},
		{"empty broker", Config{Brokers: []string{"a:1", ""}}, `brokers[1] = "": empty address`},
		{"bad compression", Config{Brokers: []string{"a:1"}, Compression: "brotli"}, `compression = "brotli"`},
		{"negative partitions", Config{Brokers: []string{"a:1"}, Partitions: -1}, "partitions = -1"},
		{"short txn timeout", Config{Brokers: []string{"a:1"}, TransactionTimeout: time.Millisecond}, "transaction timeout = 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
	s, err := New(t.Context(), Config{Brokers: []string{"a:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cfg.Topic != DefaultTopic || s.cfg.TransactionalID != "catena-bridge-"+DefaultTopic ||
		s.cfg.Partitions != 12 || s.cfg.Compression != "snappy" || s.cfg.TransactionTimeout != DefaultTransactionTimeout {
		t.Errorf("defaults not applied: %+v", s.cfg)
	}
}

func equalMaps(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

func TestMetricsRegistered(t *testing.T) {
	brokers := testBrokers(t)
	reg := prometheus.NewRegistry()
	s := newTestSink(t, Config{Brokers: brokers, Topic: testTopic(t), Registerer: reg})
	if err := s.Commit(testCtx(t), &Batch{Events: []Event{{Key: []byte("f"), Value: []byte("v"), ID: "1"}}}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	joined := strings.Join(names, " ")
	// produce_bytes_total is observed by a hook that may run after Commit
	// returns; write_bytes_total is observed before the produce request is sent.
	for _, want := range []string{"catena_bridge_kafka_connects_total", "catena_bridge_kafka_write_bytes_total"} {
		if !strings.Contains(joined, want) {
			t.Errorf("metric %s not registered; have %s", want, joined)
		}
	}
}

// TestCommitWaitingReturnsOnCtx: a Commit waiting behind another (which
// holds the lock across its retry backoff while a broker is down) returns
// when its own ctx ends, having sent nothing, and the Sink then commits as
// usual.
func TestCommitWaitingReturnsOnCtx(t *testing.T) {
	brokers := testBrokers(t)
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: brokers, Topic: topic, Partitions: 1})
	ctx := testCtx(t)
	b := &Batch{Events: []Event{{Key: []byte("fleet-a"), Value: []byte("v"), ID: "one"}}}

	if err := s.mu.Acquire(ctx, 1); err != nil { // the Commit before, still retrying
		t.Fatal(err)
	}
	waiting, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Commit(waiting, b) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit waiting for the lock, ctx cancelled: %v, want context.Canceled", err)
	}
	s.mu.Release(1)
	if got := consumeAll(t, brokers, topic, false); len(got) != 0 {
		t.Fatalf("a Commit that never held the lock produced %d records", len(got))
	}
	if err := s.Commit(ctx, b); err != nil {
		t.Fatalf("Commit after the waiting one returned: %v", err)
	}
	if got := consumeAll(t, brokers, topic, true); len(got) != 1 {
		t.Fatalf("%d events committed, want 1", len(got))
	}
}

// TestCloseDuringOutage: a Commit whose records wait for a broker that is
// gone holds the Sink, and no context ends it; Close still returns, within
// its bound, by closing the client under it, and the Commit and any later
// one fail instead of hanging.
func TestCloseDuringOutage(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	topic := testTopic(t)
	s := newTestSink(t, Config{Brokers: c.ListenAddrs(), Topic: topic, Partitions: 1})
	ctx := testCtx(t)
	batch := func(id string) *Batch { return &Batch{Events: []Event{{Key: []byte("k"), Value: []byte(id), ID: id}}} }
	if err := s.Commit(ctx, batch("before")); err != nil {
		t.Fatal(err)
	}
	c.Close() // the broker is gone
	s.closeWait = 500 * time.Millisecond
	during := make(chan error, 1)
	go func() { during <- s.Commit(context.Background(), batch("during")) }()
	for deadline := time.Now().Add(10 * time.Second); s.mu.TryAcquire(1); {
		s.mu.Release(1) // the Commit has not taken the Sink yet
		if time.Now().After(deadline) {
			t.Fatal("the Commit during the outage never began")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close still blocks after 30s")
	}
	select {
	case err := <-during:
		if err == nil {
			t.Fatal("the Commit during the outage succeeded with the broker gone")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Commit during the outage still blocks after Close returned")
	}
	if err := s.Commit(ctx, batch("after")); err == nil {
		t.Fatal("Commit after Close succeeded")
	}
}
