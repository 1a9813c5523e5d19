package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record header names.
const (
	HeaderID         = "catena-id"          // record id (events, dead letters when known)
	HeaderSource     = "catena-source"      // source_name (events)
	HeaderVehicleID  = "catena-vehicle-id"  // vehicle id (events, omitted when empty)
	HeaderOccurredAt = "catena-occurred-at" // occurred_at, RFC 3339 with nanoseconds (events, omitted when zero)
	HeaderError      = "catena-error"       // why the record was refused, full message (dead letters)
	HeaderErrorCode  = "catena-error-code"  // short, stable reason code (dead letters)

	// Kafka Connect's dead-letter headers (DeadLetterQueueReporter), so that
	// tooling built for Connect's DLQs reads ours: the topic the record was
	// refused from (the events topic), the stage that refused it, a class
	// name made of the reason code (catena_bridge.<code>) and the reason.
	HeaderConnectTopic   = "__connect.errors.topic"
	HeaderConnectStage   = "__connect.errors.stage"
	HeaderConnectClass   = "__connect.errors.exception.class.name"
	HeaderConnectMessage = "__connect.errors.exception.message"
)

// connectStage is the Kafka Connect stage (its Stage enum) that matches a
// dead letter's reason code: bytes that are not a record fail as a value
// converter would, an event the topics cannot take at produce, and a record
// that fails validation in a transformation.
func connectStage(code string) string {
	switch code {
	case "decode", "encode":
		return "VALUE_CONVERTER"
	case "too_large":
		return "KAFKA_PRODUCE"
	}
	return "TRANSFORMATION"
}

// Event is one record for the events topic.
type Event struct {
	Key        []byte    // fleet_id, UTF-8; decides the partition
	Value      []byte    // framed Avro
	ID         string    // header catena-id
	Source     string    // header catena-source (source_name)
	VehicleID  string    // header catena-vehicle-id; "" omits the header
	OccurredAt time.Time // header catena-occurred-at (RFC 3339, nanoseconds); zero omits the header
}

// DeadLetter is one record for the dead-letter topic.
type DeadLetter struct {
	Key        []byte    // fleet_id if known, else nil (then any partition)
	Value      []byte    // the record's raw JSON
	ID         string    // header catena-id; "" omits the header
	Reason     string    // header catena-error: the full message
	Code       string    // header catena-error-code: a short code
	VehicleID  string    // header catena-vehicle-id when known; "" omits the header
	OccurredAt time.Time // header catena-occurred-at when known; zero omits the header
}

// Checkpoint is one record for the compacted checkpoint topic.
type Checkpoint struct {
	Key   string
	Value []byte // nil writes a tombstone: LoadCheckpoints then forgets Key
}

// Batch is what one Commit writes in one transaction.
type Batch struct {
	Events      []Event
	DeadLetters []DeadLetter
	Checkpoints []Checkpoint
}

// Len returns the number of records in the batch.
func (b *Batch) Len() int { return len(b.Events) + len(b.DeadLetters) + len(b.Checkpoints) }

// errBatchCommitted tells Commit's retry loop that an earlier attempt whose
// outcome was unknown did commit the batch.
var errBatchCommitted = errors.New("batch already committed")

// Commit produces b in one transaction and commits it: a read_committed
// consumer sees all of b or nothing. Record timestamps are the produce time.
// An empty batch is a no-op.
//
// Failures that can pass -- a broker down, request timeouts, a moved
// coordinator, an aborted transaction -- are retried with backoff (250ms up
// to 10s), each logged at Warn, until ctx ends or Close is called. A retry
// aborts the failed transaction and sends the whole batch again in a new one.
// When the outcome of a commit request is unknown, Commit first learns
// whether it committed (see the package doc) and re-sends only if not, so b
// is never committed twice. A produce to a broker that does not answer fails
// after TransactionTimeout/2 and is then retried, so a dead broker shows as
// Warn lines and Ready errors, not as a silent hang. Records waiting for a
// broker that cannot be reached at all stay buffered, whatever ctx does,
// until it is back (Ready reports the failed dials meanwhile) or Close
// closes the client under them.
//
// Errors no retry can fix -- a record larger than the broker accepts,
// authorization -- abort the transaction and return at once.
//
// Fencing -- another process initialised the same transactional id -- returns
// an error wrapping ErrFenced without retrying, and every later Commit returns
// it too. It is noticed on the first request that reaches the brokers after
// the other process's initialisation; when the epoch mismatch first shows on a
// produce response (which a coordinator timeout can cause too), it takes one
// abort and one re-initialisation, without backoff, to tell the two apart.
//
// Any other error means ctx ended or Close was called, possibly in the middle
// of a commit: the batch may or may not have committed. The caller must not
// send it again blindly but restart from the committed checkpoints
// (LoadCheckpoints), which are the truth.
//
// Commit calls are serialized: a second call waits for the first, or
// returns ctx's error (having done nothing) if ctx ends first.
func (s *Sink) Commit(ctx context.Context, b *Batch) error {
	if b == nil || b.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()

	if err := s.mu.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("sink: wait for the commit before: %w", err)
	}
	defer s.mu.Release(1)
	if s.fenced != nil {
		return s.fenced
	}
	what := fmt.Sprintf("commit batch (%d events, %d dead letters, %d checkpoints)",
		len(b.Events), len(b.DeadLetters), len(b.Checkpoints))
	return s.retry(ctx, what, func() error {
		err := s.attempt(ctx, b)
		switch {
		case err == nil, errors.Is(err, errBatchCommitted):
			return nil
		case errors.Is(err, ErrFenced):
			s.pending = nil
			s.fenced = err
			s.log.Error("kafka: fenced; another catena-bridge with the same transactional id took over",
				"transactional_id", s.cfg.TransactionalID, "err", err)
			return backoff.Permanent(err)
		case errors.Is(err, kgo.ErrClientClosed):
			return backoff.Permanent(err)
		case ctx.Err() != nil:
			return err // the retry loop stops on ctx; s.pending stays for Close or the next Commit
		case permanent(err):
			// No retry can fix it (e.g. a record larger than the
			// broker takes): abort now, so nothing of the batch stays
			// open until the coordinator's timeout.
			if aerr := s.abort(ctx); aerr != nil {
				s.log.Warn("kafka: abort after a permanent failure", "err", aerr)
			} else {
				s.pending = nil
			}
			return backoff.Permanent(err)
		}
		return err
	})
}

// fencedErr wraps cause with ErrFenced. An epoch error may also mean the
// coordinator aborted this producer's transaction when it outlived the
// transaction timeout (a paused process, a broker slower than the timeout),
// which says nothing of another process: the error says both.
func fencedErr(what string, cause error) error {
	if errors.Is(cause, kerr.InvalidProducerEpoch) || errors.Is(cause, kerr.InvalidTxnState) {
		return fmt.Errorf("%s: %w (or the coordinator aborted a transaction of this process that outlived the transaction timeout: was it paused, or the broker slow?): %w", what, ErrFenced, cause)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrFenced, cause)
}

// attempt is one try of Commit. It leaves s.pending set whenever a
// transaction may be open, so the next try aborts it first.
func (s *Sink) attempt(ctx context.Context, b *Batch) error {
	if s.pending != nil {
		if err := s.resolvePending(ctx, b); err != nil {
			return err
		}
	}
	if err := s.cl.BeginTransaction(); err != nil {
		if isFencedAfterRecover(err) {
			return fencedErr("begin transaction", err)
		}
		// BeginTransaction sends nothing; a broker error code here is
		// the one franz-go stored when it declared the producer id
		// unrecoverable (seen as INVALID_TXN_STATE when another process
		// took the id mid-commit). No retry of this client can write
		// again: stop, like a fenced producer, instead of looping.
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return fencedErr("begin transaction: producer id unusable", err)
		}
		return fmt.Errorf("begin transaction: %w", err)
	}
	s.pending = &pending{batch: b}

	recs := s.records(b)
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if isFenced(err) {
			return fencedErr("produce", err)
		}
		return fmt.Errorf("produce %d records: %w", len(recs), err)
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		if isFencedAfterRecover(err) {
			return fencedErr("commit transaction", err)
		}
		// OperationNotAttempted: the producer id had failed, no commit
		// request was sent. Anything else may have reached the
		// coordinator: remember a record to look for.
		if !errors.Is(err, kerr.OperationNotAttempted) {
			s.pending.probe = recs[len(recs)-1]
		}
		return fmt.Errorf("commit transaction: %w", err)
	}
	s.pending = nil
	return nil
}

// resolvePending aborts what a failed attempt left open. When that attempt
// was for b and sent a commit whose outcome is unknown, it then reads the
// probe record back: errBatchCommitted if it is visible to read_committed.
func (s *Sink) resolvePending(ctx context.Context, b *Batch) error {
	if err := s.abort(ctx); err != nil {
		return err
	}
	p := s.pending
	if p.probe != nil && p.batch == b {
		committed, err := s.probeCommitted(ctx, p.probe)
		if err != nil {
			return err // s.pending stays: the next try asks again
		}
		if committed {
			s.log.Info("kafka: a commit whose response was lost had succeeded; not sending the batch again",
				"topic", p.probe.Topic, "partition", p.probe.Partition, "offset", p.probe.Offset)
			s.pending = nil
			return errBatchCommitted
		}
	}
	s.pending = nil
	return nil
}

// abort drops buffered records and aborts the open transaction. Aborting
// when none is open is a no-op, so it is safe to repeat after a failure.
func (s *Sink) abort(ctx context.Context) error {
	if err := s.cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("abort buffered records: %w", err)
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		if isFencedAfterRecover(err) {
			return fencedErr("abort transaction", err)
		}
		return fmt.Errorf("abort transaction: %w", err)
	}
	return nil
}

// records builds the batch's records, fresh for every attempt: Produce fills
// in timestamps, partitions and offsets. The events' headers share one
// slice and their values one byte arena: five allocations per event
// otherwise.
func (s *Sink) records(b *Batch) []*kgo.Record {
	recs := make([]kgo.Record, b.Len())
	ptrs := make([]*kgo.Record, 0, len(recs))
	size := 0
	for _, e := range b.Events {
		size += len(e.ID) + len(e.Source) + len(e.VehicleID) + len(time.RFC3339Nano)
	}
	arena := make([]byte, 0, size)
	hdrs := make([]kgo.RecordHeader, 0, 4*len(b.Events))
	value := func(s string) []byte {
		off := len(arena)
		arena = append(arena, s...)
		return arena[off:len(arena):len(arena)]
	}
	i := 0
	for _, e := range b.Events {
		r := &recs[i]
		i++
		r.Topic, r.Key, r.Value = s.cfg.Topic, e.Key, e.Value
		h := len(hdrs)
		hdrs = append(hdrs,
			kgo.RecordHeader{Key: HeaderID, Value: value(e.ID)},
			kgo.RecordHeader{Key: HeaderSource, Value: value(e.Source)})
		if e.VehicleID != "" {
			hdrs = append(hdrs, kgo.RecordHeader{Key: HeaderVehicleID, Value: value(e.VehicleID)})
		}
		if !e.OccurredAt.IsZero() {
			off := len(arena)
			arena = e.OccurredAt.UTC().AppendFormat(arena, time.RFC3339Nano)
			hdrs = append(hdrs, kgo.RecordHeader{Key: HeaderOccurredAt, Value: arena[off:len(arena):len(arena)]})
		}
		r.Headers = hdrs[h:len(hdrs):len(hdrs)]
		ptrs = append(ptrs, r)
	}
	for _, d := range b.DeadLetters {
		r := &recs[i]
		i++
		r.Topic, r.Key, r.Value = s.cfg.DLQTopic(), d.Key, d.Value
		r.Headers = make([]kgo.RecordHeader, 0, 9)
		if d.ID != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderID, Value: []byte(d.ID)})
		}
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: HeaderError, Value: []byte(d.Reason)},
			kgo.RecordHeader{Key: HeaderErrorCode, Value: []byte(d.Code)},
			kgo.RecordHeader{Key: HeaderConnectTopic, Value: []byte(s.cfg.Topic)},
			kgo.RecordHeader{Key: HeaderConnectStage, Value: []byte(connectStage(d.Code))},
			kgo.RecordHeader{Key: HeaderConnectClass, Value: []byte("catena_bridge." + d.Code)},
			kgo.RecordHeader{Key: HeaderConnectMessage, Value: []byte(d.Reason)})
		r.Headers = appendWhereWhen(r.Headers, d.VehicleID, d.OccurredAt)
		ptrs = append(ptrs, r)
	}
	for _, c := range b.Checkpoints {
		r := &recs[i]
		i++
		r.Topic, r.Key, r.Value = s.cfg.CheckpointTopic(), []byte(c.Key), c.Value
		ptrs = append(ptrs, r)
	}
	return ptrs
}

// appendWhereWhen adds the vehicle and occurred_at headers, which let a
// restarted bridge rebuild its dedup state without decoding values.
func appendWhereWhen(h []kgo.RecordHeader, vehicleID string, occurredAt time.Time) []kgo.RecordHeader {
	if vehicleID != "" {
		h = append(h, kgo.RecordHeader{Key: HeaderVehicleID, Value: []byte(vehicleID)})
	}
	if !occurredAt.IsZero() {
		h = append(h, kgo.RecordHeader{Key: HeaderOccurredAt, Value: occurredAt.UTC().AppendFormat(nil, time.RFC3339Nano)})
	}
	return h
}
