package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Reader reads topics with read_committed and produces nothing: it never
// uses the transactional id, so it can run next to a bridge without fencing
// it. It serves `catena-bridge tail`, the demo's report and the tests.
type Reader struct {
	s *Sink // connection options and admin client only; no producer
}

// NewReader returns a Reader over cfg's brokers (TLS, SASL and ExtraOpts
// apply; producer settings are ignored).
func NewReader(cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := clientOpts(cfg, "-reader")
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("sink: create reader for %v: %w", cfg.Brokers, err)
	}
	return &Reader{s: &Sink{cfg: cfg, log: cfg.Logger, opts: opts, cl: cl, adm: kadm.NewClient(cl)}}, nil
}

// ClientOpts returns the options that connect a client of another kind to
// cfg's brokers as the Sink's own clients connect: seed brokers, the client
// id with suffix, TLS, SASL, franz-go's warnings to cfg.Logger, ExtraOpts.
// The standby's group member uses them, so it reaches the brokers the
// producer does, however they are secured. It fails on an invalid Config.
func ClientOpts(cfg Config, suffix string) ([]kgo.Opt, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return clientOpts(cfg, suffix), nil
}

func clientOpts(cfg Config, suffix string) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID + suffix), kgo.WithLogger(slogAdapter{cfg.Logger})}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	if cfg.SASL != nil {
		opts = append(opts, kgo.SASL(cfg.SASL))
	}
	return append(opts, cfg.ExtraOpts...)
}

// Close closes the reader's admin client.
func (r *Reader) Close() { r.s.cl.Close() }

// ReadAll calls fn with every committed, non-control record of topic, from
// the start of each partition to its end at call time.
func (r *Reader) ReadAll(ctx context.Context, topic string, fn func(*kgo.Record)) error {
	ranges, err := r.s.readRanges(ctx, topic, nil)
	if err != nil {
		return fmt.Errorf("read %q: %w", topic, err)
	}
	err = r.s.readPartitions(ctx, topic, ranges, func(rec *kgo.Record) bool {
		if !rec.Attrs.IsControl() {
			fn(rec)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("read %q: %w", topic, err)
	}
	return nil
}

// Follow consumes topic with read_committed until ctx ends or fn returns an
// error (ErrStop ends it cleanly), starting at the start of each partition
// with fromBeginning, else at its end (new records only). Broker outages are
// retried by the client.
func (r *Reader) Follow(ctx context.Context, topic string, fromBeginning bool, fn func(*kgo.Record) error) error {
	start := kgo.NewOffset().AtEnd()
	if fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	opts := append([]kgo.Opt{}, r.s.opts...)
	opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("follow %q: %w", topic, err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			r.s.log.Warn("fetch failed; retrying", "topic", t, "partition", p, "err", err)
		})
		it := fs.RecordIter()
		for !it.Done() {
			if err := fn(it.Next()); err != nil {
				ferr = err
				break
			}
		}
		if errors.Is(ferr, ErrStop) {
			return nil
		}
		if ferr != nil {
			return ferr
		}
	}
}

// ErrStop, returned by a Follow callback, ends Follow without an error.
var ErrStop = errors.New("stop")
