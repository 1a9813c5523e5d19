package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EventHeaders is what ScanEvents reports of one event record.
type EventHeaders struct {
	ID         string    // header catena-id
	VehicleID  string    // header catena-vehicle-id, "" when absent
	OccurredAt time.Time // header catena-occurred-at, zero when absent or unparsable
	Partition  int32
	Offset     int64
	Key        []byte    // fleet_id
	Timestamp  time.Time // Kafka record timestamp: when the bridge produced it
	Value      []byte    // the record's value: set by ScanDeadLetters only
}

// LoadCheckpoints reads the checkpoint topic with read_committed from its
// start to its end at call time (waiting for transactions still open then to
// end) and returns the last value of every key that
// starts with prefix; a tombstone removes its key. Only committed
// transactions count, so a checkpoint of a batch that did not commit is never
// returned.
//
// Before reading, it initialises the Sink's producer id, which fences any
// other process with the same transactional id and aborts a transaction such
// a process (or this one's predecessor, killed mid-commit) left open; that is
// what makes the state it reads final. If this Sink is itself fenced it
// returns an error wrapping ErrFenced. Broker failures are retried with
// backoff (logged at Warn) until ctx ends; a retry resumes where the read
// stopped. A transaction of another producer still open holds the read back
// until it ends (at the latest when the coordinator times it out); such a wait
// is logged at Warn and reported by Ready.
func (s *Sink) LoadCheckpoints(ctx context.Context, prefix string) (map[string][]byte, error) {
	saved, err := s.LoadSaved(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(saved))
	for k, v := range saved {
		out[k] = v.Value
	}
	return out, nil
}

// Saved is a checkpoint as LoadSaved returns it.
type Saved struct {
	Value []byte
	// Offset is where the value was written in the checkpoint topic, which
	// has one partition: it orders every checkpoint of every process on the
	// topic.
	Offset int64
}

// LoadSaved is LoadCheckpoints with the offset of every value.
func (s *Sink) LoadSaved(ctx context.Context, prefix string) (map[string]Saved, error) {
	topic := s.cfg.CheckpointTopic()
	out := make(map[string]Saved)
	var ranges map[int32]*offRange
	err := s.retry(ctx, fmt.Sprintf("load checkpoints from %q", topic), func() error {
		if err := s.initProducerID(ctx); err != nil {
			return err
		}
		if ranges == nil {
			r, err := s.readRanges(ctx, topic, nil)
			if err != nil {
				return err
			}
			ranges = r
		}
		return s.readPartitions(ctx, topic, ranges, func(r *kgo.Record) bool {
			if r.Attrs.IsControl() {
				return false
			}
			k := string(r.Key)
			if !strings.HasPrefix(k, prefix) {
				return false
			}
			if r.Value == nil {
				delete(out, k)
			} else {
				out[k] = Saved{Value: r.Value, Offset: r.Offset}
			}
			return false
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanEvents reads the events topic with read_committed, in every partition
// from the first record whose Kafka timestamp (the produce time) is at or
// after since up to the partition's end at call time (waiting for
// transactions still open then to end), and calls fn with the
// headers of each record; values are not decoded. Records within a
// partition come in offset order; partitions interleave. fn is called from
// the calling goroutine.
//
// Records stamped before since may come too: a partition's timestamps
// need not rise with its offsets. A transaction's commit marker, stamped
// when the coordinator writes it, can precede records of the next
// transaction stamped just before it; the read starts at the marker. A
// caller that rebuilds what was published since a time gets a superset.
//
// Like LoadCheckpoints it first initialises the producer id (fencing an old
// process), and it retries broker failures until ctx ends, resuming after
// the last record fn saw: fn sees every record once.
func (s *Sink) ScanEvents(ctx context.Context, since time.Time, fn func(EventHeaders)) error {
	return s.scan(ctx, s.cfg.Topic, since, fn)
}

// ScanDeadLetters is ScanEvents over the dead-letter topic; EventHeaders.Value
// holds each dead letter's raw record, which identifies a record that had no
// usable id.
func (s *Sink) ScanDeadLetters(ctx context.Context, since time.Time, fn func(EventHeaders)) error {
	return s.scan(ctx, s.cfg.DLQTopic(), since, fn)
}

func (s *Sink) scan(ctx context.Context, topic string, since time.Time, fn func(EventHeaders)) error {
	withValue := topic == s.cfg.DLQTopic()
	var ranges map[int32]*offRange
	return s.retry(ctx, fmt.Sprintf("scan %q since %s", topic, since.Format(time.RFC3339)), func() error {
		if err := s.initProducerID(ctx); err != nil {
			return err
		}
		if ranges == nil {
			r, err := s.readRanges(ctx, topic, &since)
			if err != nil {
				return err
			}
			ranges = r
		}
		return s.readPartitions(ctx, topic, ranges, func(r *kgo.Record) bool {
			if !r.Attrs.IsControl() {
				h := eventHeaders(r)
				if withValue {
					h.Value = r.Value
				}
				fn(h)
			}
			return false
		})
	})
}

func eventHeaders(r *kgo.Record) EventHeaders {
	h := EventHeaders{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Timestamp: r.Timestamp}
	for _, kv := range r.Headers {
		switch kv.Key {
		case HeaderID:
			h.ID = string(kv.Value)
		case HeaderVehicleID:
			h.VehicleID = string(kv.Value)
		case HeaderOccurredAt:
			if t, err := time.Parse(time.RFC3339Nano, string(kv.Value)); err == nil {
				h.OccurredAt = t
			}
		}
	}
	return h
}

// initProducerID loads the producer id if it is not loaded yet. With a
// transactional id, loading is InitProducerID: the coordinator bumps the
// epoch, which fences every other holder of the id and aborts its open
// transaction.
func (s *Sink) initProducerID(ctx context.Context) error {
	if _, _, err := s.cl.ProducerID(ctx); err != nil {
		if isFencedAfterRecover(err) {
			return backoff.Permanent(fencedErr("init producer id", err))
		}
		return maybePermanent(fmt.Errorf("init producer id for transactional id %q: %w", s.cfg.TransactionalID, err))
	}
	return nil
}

// offRange is the offsets [start, end) still to read of one partition; start
// advances as records are read.
type offRange struct{ start, end int64 }

// readRanges lists, for every partition of topic, the offsets from the log
// start (or the first offset at or after *since) to the high watermark: the
// end of what has been written now. The end is deliberately not the last
// stable offset. A commit returns once the coordinator has decided it, and
// the markers that make it visible reach the partitions a moment later
// (always so under KIP-890); ending at the last stable offset would then miss
// a transaction that already committed, in some partitions and not others.
// Reading with read_committed to the high watermark instead waits until every
// transaction begun before the call has ended.
func (s *Sink) readRanges(ctx context.Context, topic string, since *time.Time) (map[int32]*offRange, error) {
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, maybePermanent(fmt.Errorf("list end offsets of %q: %w", topic, err))
	}
	var starts kadm.ListedOffsets
	if since != nil && since.UnixMilli() > 0 {
		starts, err = s.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	} else {
		starts, err = s.adm.ListStartOffsets(ctx, topic)
	}
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, maybePermanent(fmt.Errorf("list start offsets of %q: %w", topic, err))
	}
	ranges := make(map[int32]*offRange)
	for p, e := range ends[topic] {
		r := &offRange{start: e.Offset, end: e.Offset}
		// A partition with nothing at or after since lists -1 or its
		// end: then there is nothing to read.
		if st, ok := starts[topic][p]; ok && st.Offset >= 0 && st.Offset < e.Offset {
			r.start = st.Offset
		}
		ranges[p] = r
	}
	return ranges, nil
}

// readPartitions consumes topic with read_committed and control records
// kept, from each range's start until the record at end-1 has been seen,
// calling fn for every record (control records included: they are how the
// reader knows it has passed offsets that hold nothing visible). fn returning
// true stops the read. Each range's start advances past every record handed
// to fn, so a failed read can be called again to resume.
func (s *Sink) readPartitions(ctx context.Context, topic string, ranges map[int32]*offRange, fn func(*kgo.Record) bool) error {
	offsets := make(map[int32]kgo.Offset)
	for p, r := range ranges {
		if r.start < r.end {
			offsets[p] = kgo.NewOffset().At(r.start)
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	cl, err := s.newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		// Retention may have removed the start meanwhile: go on from the
		// new start rather than fail.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return backoff.Permanent(fmt.Errorf("read %q: %w", topic, err))
	}
	defer cl.Close()

	left := len(offsets)
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, stallCheck)
		fs := cl.PollFetches(pctx)
		stalled := pctx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return backoff.Permanent(err)
		}
		if stalled && fs.NumRecords() == 0 {
			s.reportStall(ctx, topic, ranges)
			continue
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !(stalled && errors.Is(err, context.DeadlineExceeded)) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return maybePermanent(ferr)
		}
		stop := false
		var done []int32
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			r := ranges[fp.Partition]
			if stop || r == nil || r.start >= r.end {
				return
			}
			for _, rec := range fp.Records {
				if rec.Offset < r.start {
					continue
				}
				if rec.Offset >= r.end {
					break
				}
				r.start = rec.Offset + 1
				if fn(rec) {
					stop = true
					return
				}
			}
			// The reader advanced past end-1 when it handed over a
			// record at or after it; records beyond end are not
			// ours to report.
			if r.start >= r.end || (len(fp.Records) > 0 && fp.Records[len(fp.Records)-1].Offset >= r.end) {
				r.start = r.end
				done = append(done, fp.Partition)
			}
		})
		if stop {
			return nil
		}
		if len(done) > 0 {
			left -= len(done)
			cl.PauseFetchPartitions(map[string][]int32{topic: done})
		}
	}
	return nil
}

// stallCheck is how long a read waits for records before it looks for a
// transaction holding it back.
const stallCheck = 3 * time.Second

// reportStall logs, and reports through Ready, the partitions of topic whose
// read waits behind a transaction still open: their last stable offset is
// below the end of the range being read. Such a transaction belongs to
// another process (one with this transactional id was aborted when the
// producer id was initialised); it ends when that process commits or aborts,
// or when the coordinator times it out.
func (s *Sink) reportStall(ctx context.Context, topic string, ranges map[int32]*offRange) {
	lsos, err := s.adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = lsos.Error()
	}
	if err != nil {
		return // the read goes on; its own errors are reported
	}
	for p, r := range ranges {
		if lso, ok := lsos.Lookup(topic, p); ok && r.start < r.end && lso.Offset < r.end {
			err := fmt.Errorf("reading %s[%d] waits for a transaction another producer left open at offset %d (it ends when that producer commits or aborts, or when the coordinator times it out)", topic, p, lso.Offset)
			s.setReady(err)
			s.log.Warn("kafka: read waits for an open transaction of another producer", "topic", topic, "partition", p, "last_stable_offset", lso.Offset, "read_to", r.end)
			return
		}
	}
}

// probeCommitted reports whether the transaction that wrote probe committed,
// by reading probe's offset back with read_committed. It is called after the
// transaction was aborted or fenced off, so it is resolved or about to be:
// until the partition's last stable offset passes probe it returns an error,
// and the caller retries. Once it has, a committed probe is visible at its
// offset, while an aborted one is skipped and the first record seen is a
// later one (at the latest, the transaction's own abort marker).
func (s *Sink) probeCommitted(ctx context.Context, probe *kgo.Record) (bool, error) {
	ends, err := s.adm.ListCommittedOffsets(ctx, probe.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("probe commit: list end offsets of %q: %w", probe.Topic, err)
	}
	lso, ok := ends.Lookup(probe.Topic, probe.Partition)
	if !ok {
		return false, fmt.Errorf("probe commit: no end offset listed for %s[%d]", probe.Topic, probe.Partition)
	}
	if lso.Offset <= probe.Offset {
		return false, fmt.Errorf("probe commit: transaction holding %s[%d]@%d not resolved yet (last stable offset %d)",
			probe.Topic, probe.Partition, probe.Offset, lso.Offset)
	}
	var committed, seen bool
	ranges := map[int32]*offRange{probe.Partition: {start: probe.Offset, end: lso.Offset}}
	err = s.readPartitions(ctx, probe.Topic, ranges, func(r *kgo.Record) bool {
		seen = true
		committed = r.Offset == probe.Offset && !r.Attrs.IsControl()
		return true
	})
	if err != nil {
		return false, fmt.Errorf("probe commit: %w", err)
	}
	if !seen {
		return false, fmt.Errorf("probe commit: nothing readable in %s[%d] from %d to %d",
			probe.Topic, probe.Partition, probe.Offset, lso.Offset)
	}
	return committed, nil
}
