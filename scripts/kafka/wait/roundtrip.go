package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// roundTrip commits 10 records, aborts 5, commits 10 more to a fresh topic and
// reads it back read_committed; it returns how many records were read.
func roundTrip(ctx context.Context, seeds []string) (int, error) {
	topic := fmt.Sprintf("kafka-wait-roundtrip-%d", time.Now().UnixNano())
	const partitions = 3

	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return 0, fmt.Errorf("new admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		return 0, fmt.Errorf("create topic %q: %w", topic, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopic(dctx, topic)
	}()

	prod, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.TransactionalID(topic+"-txn"),
		kgo.DefaultProduceTopic(topic),
	)
	if err != nil {
		return 0, fmt.Errorf("new transactional producer: %w", err)
	}
	defer prod.Close()

	want := map[string]bool{}
	batch := func(prefix string, n int, commit kgo.TransactionEndTry) error {
		if err := prod.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		recs := make([]*kgo.Record, 0, n)
		for i := range n {
			v := prefix + "-" + strconv.Itoa(i)
			recs = append(recs, &kgo.Record{Key: []byte("fleet-" + strconv.Itoa(i%4)), Value: []byte(v)})
			if commit {
				want[v] = true
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			_ = prod.EndTransaction(ctx, kgo.TryAbort)
			return fmt.Errorf("produce %s: %w", prefix, err)
		}
		if err := prod.EndTransaction(ctx, commit); err != nil {
			return fmt.Errorf("end transaction %s (commit=%v): %w", prefix, bool(commit), err)
		}
		return nil
	}
	if err := batch("committed-a", 10, kgo.TryCommit); err != nil {
		return 0, err
	}
	if err := batch("aborted", 5, kgo.TryAbort); err != nil {
		return 0, err
	}
	if err := batch("committed-b", 10, kgo.TryCommit); err != nil {
		return 0, err
	}

	cons, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return 0, fmt.Errorf("new consumer: %w", err)
	}
	defer cons.Close()

	// Aborted records share keys, so partitions, with committed-b and sit
	// before it: once every committed record is read, any aborted record that
	// leaked through read_committed has been read too.
	got := map[string]int{}
	total := 0
	for total < len(want) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("consume %q: %w (got %d of %d records)", topic, err, total, len(want))
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return 0, fmt.Errorf("consume %q partition %d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)]++
			total++
		})
	}
	for v, n := range got {
		if !want[v] {
			return 0, fmt.Errorf("read_committed consumer saw %q, which was not committed", v)
		}
		if n != 1 {
			return 0, fmt.Errorf("record %q read %d times", v, n)
		}
	}
	return len(got), nil
}
