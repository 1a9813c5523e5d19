package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// EnsureTopics creates the events and dead-letter topics (Partitions
// partitions each) and the checkpoint topic (1 partition,
// cleanup.policy=compact) when they are missing, with ReplicationFactor.
// Existing topics are used as they are: a partition count other than the
// configured one, or a checkpoint topic that is not compacted or has more
// than one partition, is logged at Warn, not refused.
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
	cl, err := s.newClient()
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
		for _, w := range wants {
			td, ok := details[w.topic]
			if ok && td.Err == nil {
				if got := int32(len(td.Partitions)); got != w.partitions {
					s.log.Warn("kafka: existing topic has a different partition count than configured; using it as it is",
						"topic", w.topic, "partitions", got, "configured", w.partitions)
				}
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
				s.log.Info("kafka: created topic", "topic", w.topic, "partitions", w.partitions,
					"replication_factor", s.cfg.ReplicationFactor)
			}
		}
		s.checkCheckpointTopic(ctx, adm)
		return nil
	})
}

// checkCheckpointTopic warns when the checkpoint topic is not compacted: the
// bridge still works, but the topic grows without bound and LoadCheckpoints
// gets slower with every transaction.
func (s *Sink) checkCheckpointTopic(ctx context.Context, adm *kadm.Client) {
	topic := s.cfg.CheckpointTopic()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		s.log.Warn("kafka: describe checkpoint topic config", "topic", topic, "err", err)
		return
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		s.log.Warn("kafka: describe checkpoint topic config", "topic", topic, "err", err)
		return
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || !strings.Contains(*c.Value, "compact")) {
			v := "<nil>"
			if c.Value != nil {
				v = *c.Value
			}
			s.log.Warn("kafka: checkpoint topic is not compacted; it will grow without bound",
				"topic", topic, "cleanup.policy", v)
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
