package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrCheckpointPartitions is wrapped by EnsureTopics's error when the
// checkpoint topic exists with more than one partition.
var ErrCheckpointPartitions = errors.New("sink: the checkpoint topic must have exactly one partition (it orders the claims of every job on the topic); delete it or name another KAFKA_TOPIC")

// ErrCheckpointPolicy is wrapped by EnsureTopics's error when the checkpoint
// topic's cleanup.policy is not compact.
var ErrCheckpointPolicy = errors.New("sink: the checkpoint topic must be compacted and never deleted by retention (it holds the topic's ledger)")

// EnsureTopics creates the events and dead-letter topics (Partitions
// partitions each) and the checkpoint topic (1 partition,
// cleanup.policy=compact) when they are missing, with ReplicationFactor.
// Existing topics are used as they are: a partition count other than the
// configured one is logged at Warn, not refused. The checkpoint topic holds
// the topic's ledger: one with more than one partition is refused
// (ErrCheckpointPartitions), since the order of its records orders the
// claims and Kafka orders one partition only, and so is one whose
// cleanup.policy is not compact (ErrCheckpointPolicy).
//
// While the brokers are unreachable it retries with backoff, logging each
// failure at Warn; only ctx bounds the wait. Errors no retry can fix
// (authorization, an invalid replication factor) return at once.
func (s *Sink) EnsureTopics(ctx context.Context) error {
	type want struct {
		topic      string
		partitions int32
		configs    map[string]*string
	}
	compact := "compact"
	wants := []want{
		{s.cfg.Topic, s.cfg.Partitions, nil},
		{s.cfg.DLQTopic(), s.cfg.Partitions, nil},
		{s.cfg.CheckpointTopic(), 1, map[string]*string{"cleanup.policy": &compact}},
	}
	// franz-go answers a metadata request for topics it listed within
	// MetadataMinAge from its cache, "unknown topic" included: without a
	// short min age, topics just created would look missing for 5s.
	cl, err := s.newClient(kgo.MetadataMinAge(visiblePoll))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	return s.retry(ctx, "ensure topics", func() error {
		names := make([]string, len(wants))
		for i, w := range wants {
			names[i] = w.topic
		}
		details, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return maybePermanent(fmt.Errorf("list topics %v: %w", names, err))
		}
		created := false
		for _, w := range wants {
			td, ok := details[w.topic]
			if ok && td.Err == nil {
				continue
			}
			if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
				return maybePermanent(fmt.Errorf("describe topic %q: %w", w.topic, td.Err))
			}
			resp, err := adm.CreateTopic(ctx, w.partitions, s.cfg.ReplicationFactor, w.configs, w.topic)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return maybePermanent(fmt.Errorf("create topic %q (partitions %d, replication factor %d): %w",
					w.topic, w.partitions, s.cfg.ReplicationFactor, err))
			}
			if err == nil {
				created = true
				s.log.Info("kafka: created topic", "topic", w.topic, "partitions", w.partitions,
					"replication_factor", s.cfg.ReplicationFactor)
			}
		}
		if created || len(details) < len(wants) {
			if details, err = waitVisible(ctx, adm, names); err != nil {
				return err
			}
		}
		for _, w := range wants {
			td, ok := details[w.topic]
			if !ok || td.Err != nil {
				return fmt.Errorf("topic %q not listed after creation", w.topic)
			}
			got := int32(len(td.Partitions))
			if w.topic == s.cfg.CheckpointTopic() && got != 1 {
				return backoff.Permanent(fmt.Errorf("%w: %q has %d", ErrCheckpointPartitions, w.topic, got))
			}
			if got != w.partitions {
				s.log.Warn("kafka: existing topic has a different partition count than configured; using it as it is",
					"topic", w.topic, "partitions", got, "configured", w.partitions)
			}
		}
		if err := s.checkCheckpointTopic(ctx, adm); err != nil {
			return err
		}
		s.readRecordLimit(ctx, adm)
		return nil
	})
}

// checkCheckpointTopic refuses a checkpoint topic whose cleanup.policy
// deletes records (delete, or compact,delete): retention would drop the
// ledger's claims, and a job whose claim is gone would claim again, later in
// the order, and lose what it owned. A topic that is not compacted either
// only grows without bound, so "delete" alone is refused too. A config that
// cannot be described is logged and let through.
func (s *Sink) checkCheckpointTopic(ctx context.Context, adm *kadm.Client) error {
	topic := s.cfg.CheckpointTopic()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		s.log.Warn("kafka: describe checkpoint topic config", "topic", topic, "err", err)
		return nil
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		s.log.Warn("kafka: describe checkpoint topic config", "topic", topic, "err", err)
		return nil
	}
	for _, c := range rc.Configs {
		if c.Key != "cleanup.policy" {
			continue
		}
		v := ""
		if c.Value != nil {
			v = *c.Value
		}
		if v != "compact" {
			return backoff.Permanent(fmt.Errorf("%w: %q has cleanup.policy=%q; set it to compact (kafka-configs --alter --add-config cleanup.policy=compact)", ErrCheckpointPolicy, topic, v))
		}
	}
	return nil
}

// producerBatchMax is franz-go's default ProducerBatchMaxBytes, which the
// Sink keeps: no record larger than it can be produced, whatever the topic
// allows.
const producerBatchMax = 1_000_012

// recordOverhead is what a record batch adds around one record's key, value
// and headers: the batch header (61 bytes), the record's framing and the
// header names, rounded up.
const recordOverhead = 512

// readRecordLimit sets RecordLimit from the events and dead-letter topics'
// max.message.bytes (the producer's batch limit when they cannot be read).
func (s *Sink) readRecordLimit(ctx context.Context, adm *kadm.Client) {
	limit := producerBatchMax
	rcs, err := adm.DescribeTopicConfigs(ctx, s.cfg.Topic, s.cfg.DLQTopic())
	if err != nil {
		s.log.Warn("kafka: describe topic configs for max.message.bytes; assuming the producer's limit", "err", err, "limit", limit)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.Atoi(*c.Value); err == nil && n < limit {
				limit = n
			}
		}
	}
	s.recordLimit.Store(int64(limit - recordOverhead))
}

// RecordLimit returns the largest key, value and headers, together, of a
// record the Sink can produce to the events and dead-letter topics: their
// max.message.bytes, or the producer's batch limit if smaller, less a
// record's framing. It is known after EnsureTopics; 0 before.
func (s *Sink) RecordLimit() int { return int(s.recordLimit.Load()) }

// visibleWait bounds how long EnsureTopics waits for topics it created to
// show in metadata; visiblePoll is how often it looks.
const (
	visibleWait = 30 * time.Second
	visiblePoll = 50 * time.Millisecond
)

// waitVisible waits until every topic is listed with all its partitions. A
// broker answers CreateTopics before every broker's metadata has the topic
// (KRaft propagates it a moment later); until then producing to it or
// listing its offsets fails with UNKNOWN_TOPIC_OR_PARTITION.
func waitVisible(ctx context.Context, adm *kadm.Client, topics []string) (kadm.TopicDetails, error) {
	deadline := time.Now().Add(visibleWait)
	for {
		details, err := adm.ListTopics(ctx, topics...)
		if err == nil {
			missing := ""
			for _, t := range topics {
				td, ok := details[t]
				if !ok || td.Err != nil || len(td.Partitions) == 0 {
					missing = t
					break
				}
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						missing = t
					}
				}
			}
			if missing == "" {
				return details, nil
			}
			err = fmt.Errorf("topic %q not yet in metadata", missing)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("wait for created topics to show in metadata: %w", err)
		}
		t := time.NewTimer(visiblePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, backoff.Permanent(ctx.Err())
		case <-t.C:
		}
	}
}

// EventPartitions returns the events topic's partition count from the
// brokers' metadata. It does not retry.
func (s *Sink) EventPartitions(ctx context.Context) (int32, error) {
	details, err := s.adm.ListTopics(ctx, s.cfg.Topic)
	if err != nil {
		s.setReady(fmt.Errorf("list topic %q: %w", s.cfg.Topic, err))
		return 0, fmt.Errorf("list topic %q: %w", s.cfg.Topic, err)
	}
	s.setReady(nil)
	td, ok := details[s.cfg.Topic]
	if !ok {
		return 0, fmt.Errorf("list topic %q: %w", s.cfg.Topic, kerr.UnknownTopicOrPartition)
	}
	if td.Err != nil {
		return 0, fmt.Errorf("list topic %q: %w", s.cfg.Topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

func maybePermanent(err error) error {
	if permanent(err) {
		return backoff.Permanent(err)
	}
	return err
}
