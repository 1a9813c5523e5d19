package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// committer serialises transactions: a Kafka producer has one transaction
// open at a time, while many goroutines (backfill workers, the live poll, the
// sweep) finish pages concurrently. Pages that are ready together are merged
// into one transaction, which is what makes parallel backfill fast on a real
// broker, where a commit costs a round trip to the transaction coordinator.
type committer struct {
	sink       *sink.Sink
	m          *Metrics
	log        *slog.Logger
	maxRecords int // merge pages up to this many records per transaction

	reqs chan *commitReq
	once sync.Once
	dead chan struct{} // closed when run returns
	err  error         // why run returned; read after dead is closed
}

type commitReq struct {
	batch *sink.Batch
	done  chan error
}

func newCommitter(s *sink.Sink, m *Metrics, log *slog.Logger) *committer {
	return &committer{sink: s, m: m, log: log, maxRecords: 10000, reqs: make(chan *commitReq), dead: make(chan struct{})}
}

// errCommitterStopped is returned to pages submitted after the committer
// stopped because of an earlier failure.
var errCommitterStopped = errors.New("committer stopped")

// commit hands b to the committer and waits until it is committed. An error
// is fatal for the process: the sink already retried what can be retried.
func (c *committer) commit(ctx context.Context, b *sink.Batch) error {
	req, err := c.submit(ctx, b)
	if err != nil {
		return err
	}
	return c.wait(req)
}

// submit hands b to the committer without waiting for the commit: batches
// are committed in the order they are submitted.
func (c *committer) submit(ctx context.Context, b *sink.Batch) (*commitReq, error) {
	req := &commitReq{batch: b, done: make(chan error, 1)}
	select {
	case c.reqs <- req:
		return req, nil
	case <-c.dead:
		return nil, c.stoppedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// wait waits until a submitted batch is committed.
func (c *committer) wait(req *commitReq) error {
	select {
	case err := <-req.done:
		return err
	case <-c.dead:
		// run may have stopped after taking req; its answer is buffered.
		select {
		case err := <-req.done:
			return err
		default:
			return c.stoppedErr()
		}
	}
}

func (c *committer) stoppedErr() error {
	if c.err != nil {
		return c.err
	}
	return errCommitterStopped
}

// run commits batches until ctx is done or a commit fails.
func (c *committer) run(ctx context.Context) error {
	defer c.once.Do(func() { close(c.dead) })
	for {
		var first *commitReq
		select {
		case first = <-c.reqs:
		case <-ctx.Done():
			c.err = ctx.Err()
			return nil
		}
		reqs := []*commitReq{first}
		n := size(first.batch)
	merge:
		for n < c.maxRecords {
			select {
			case r := <-c.reqs:
				reqs = append(reqs, r)
				n += size(r.batch)
			default:
				break merge
			}
		}
		b := first.batch
		if len(reqs) > 1 {
			b = mergeBatches(reqs)
		}
		start := time.Now()
		err := c.sink.Commit(ctx, b)
		if err == nil {
			// Counted before the pages' callers go on: they may
			// recycle a page's memory (page.recycle) once told.
			c.m.Transactions.Inc()
			c.m.CommitTime.Observe(time.Since(start).Seconds())
			c.m.committed(b)
		}
		for _, r := range reqs {
			r.done <- err
		}
		if err != nil {
			c.err = err
			return err
		}
	}
}

func size(b *sink.Batch) int { return len(b.Events) + len(b.DeadLetters) + len(b.Checkpoints) }

// mergeBatches concatenates batches. Checkpoints keep their order, so a later
// page's checkpoint for the same key wins in the compacted topic.
func mergeBatches(reqs []*commitReq) *sink.Batch {
	var m sink.Batch
	for _, r := range reqs {
		m.Events = append(m.Events, r.batch.Events...)
		m.DeadLetters = append(m.DeadLetters, r.batch.DeadLetters...)
		m.Checkpoints = append(m.Checkpoints, r.batch.Checkpoints...)
	}
	return &m
}
