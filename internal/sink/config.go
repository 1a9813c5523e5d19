package sink

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Defaults for the zero values of Config.
const (
	DefaultTopic             = "catena.vehicle_locations.v1"
	DefaultPartitions        = 12
	DefaultReplicationFactor = 1
	DefaultClientID          = "catena-bridge"
	// DefaultCompression is snappy, by measurement on the real event mix
	// (pipeline.BenchmarkCompression: a 1000-event record batch from the
	// simulator, 837 bytes an event, franz-go's compressor, 2 shared cores,
	// medians of 5): snappy 0.83 µs an event at a ratio of 3.38; lz4 1.9 µs,
	// 3.58; zstd fastest 3.3 µs, 5.07; zstd default 6.3 µs, 5.15; zstd
	// better about 15 µs, 5.24; gzip about 8-14 µs, 4.92. zstd's default
	// level alone took more CPU than every other stage of the bridge
	// together. Snappy costs 1.5 times the bytes of zstd on the wire and on
	// disk (248 against 165 bytes an event); where that matters more than
	// CPU, KAFKA_COMPRESSION=zstd.
	DefaultCompression = "snappy"
	// DefaultTransactionTimeout is short because it is also how long a
	// process may wait behind a transaction that a killed process of other
	// work left open (read_committed reads cannot pass it until the
	// coordinator aborts it): a page's transaction takes milliseconds, and
	// 20s still covers a leader election and one produce retry.
	DefaultTransactionTimeout = 20 * time.Second

	// MetricsNamespace is the Prometheus namespace of the franz-go client metrics.
	MetricsNamespace = "catena_bridge_kafka"
)

// Config configures a Sink. Only Brokers is required.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the events topic, default DefaultTopic. The dead-letter topic
	// is Topic+".dlq" and the checkpoint topic Topic+".checkpoints"
	// (compacted, 1 partition).
	Topic string
	// Partitions is the partition count of the events and dead-letter topics
	// EnsureTopics creates when they are missing, default 12. The checkpoint
	// topic always gets 1.
	Partitions int32
	// ReplicationFactor of the topics EnsureTopics creates, default 1.
	ReplicationFactor int16
	// TransactionalID, default "catena-bridge-" + Topic. Two processes with
	// the same id fence each other: the later one wins.
	TransactionalID string
	// ClientID sent to the brokers, default "catena-bridge".
	ClientID string
	// TLS enables TLS; nil means plaintext.
	TLS *tls.Config
	// SASL enables SASL (github.com/twmb/franz-go/pkg/sasl/plain, .../scram);
	// nil means none.
	SASL sasl.Mechanism
	// Compression of produced batches: "snappy" (default,
	// DefaultCompression), "zstd", "lz4", "gzip" or "none".
	Compression string
	// TransactionTimeout is how long the coordinator lets a transaction stay
	// open before it aborts it, default 20s. It also bounds how long one
	// produce attempt inside Commit may take before Commit aborts and retries.
	TransactionTimeout time.Duration
	// Logger, default slog.Default(). franz-go's own warnings and errors go
	// to it too.
	Logger *slog.Logger
	// Registerer, when set, gets the producer client's metrics (plugin/kprom,
	// namespace "catena_bridge_kafka").
	Registerer prometheus.Registerer
	// ExtraOpts are appended to the options of every client the Sink creates
	// (the producer, and the short-lived readers). Meant for tests.
	ExtraOpts []kgo.Opt
}

// DLQTopic returns the dead-letter topic name.
func (c *Config) DLQTopic() string { return c.Topic + ".dlq" }

// CheckpointTopic returns the checkpoint topic name.
func (c *Config) CheckpointTopic() string { return c.Topic + ".checkpoints" }

// withDefaults returns a copy of c with zero values replaced by defaults, or
// an error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("sink config: brokers: at least one broker is required")
	}
	for i, b := range c.Brokers {
		if b == "" {
			return c, fmt.Errorf("sink config: brokers[%d] = %q: empty address", i, b)
		}
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Partitions < 0 {
		return c, fmt.Errorf("sink config: partitions = %d: must be positive", c.Partitions)
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.ReplicationFactor < 0 {
		return c, fmt.Errorf("sink config: replication factor = %d: must be positive", c.ReplicationFactor)
	}
	if c.TransactionalID == "" {
		c.TransactionalID = "catena-bridge-" + c.Topic
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if _, err := compressionCodec(c.Compression); err != nil {
		return c, err
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.TransactionTimeout < time.Second {
		return c, fmt.Errorf("sink config: transaction timeout = %s: must be at least 1s", c.TransactionTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "zstd":
		return kgo.ZstdCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("sink config: compression = %q: want zstd, lz4, snappy, gzip or none", name)
}
