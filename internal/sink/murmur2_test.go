package sink

import "github.com/catena-bridge/catena-bridge/internal/verify"

// javaPartition is Kafka's default partition of a keyed record, computed by
// verify's murmur2, which is written from the Java source independently of
// franz-go (and pinned to Kafka's UtilsTest vectors), so the partitioning
// test checks franz-go against Kafka rather than against itself.
func javaPartition(key []byte, partitions int32) int32 {
	return verify.Partition(key, partitions)
}
