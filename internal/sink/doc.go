// Package sink is catena-bridge's Kafka side: the franz-go client, the three
// topics, the transactions that make delivery exactly once, and reading the
// bridge's own state (checkpoints, event ids) back on start.
//
// # Topics
//
// Every name derives from Config.Topic (default "catena.vehicle_locations.v1"):
//
//	<topic>              events: key fleet_id, value framed Avro, headers catena-id, ...
//	<topic>.dlq          dead letters: the raw JSON and why it was refused
//	<topic>.checkpoints  compacted, one partition: the pipeline's progress
//
// # Delivery guarantee
//
// Commit writes one Batch -- events, dead letters and checkpoints -- in one
// Kafka transaction. A read_committed consumer sees all of a batch or none of
// it. When a transaction fails for a reason that can pass (broker down,
// coordinator moved, timeout, abort), Commit aborts it and sends the whole
// batch again in a new transaction, until it commits or ctx ends. When the
// outcome of a commit request is unknown (the connection died after the
// request was sent), Commit does not guess: it aborts what may still be open
// (which bumps the producer epoch, so nothing more can join the old
// transaction), then reads back one record of the batch with read_committed
// to learn whether the commit happened, and re-sends only if it did not.
//
// A second process with the same transactional id fences the first: the
// first's next Commit returns an error wrapping ErrFenced and the Sink stays
// fenced. LoadCheckpoints and ScanEvents initialise the producer id before
// reading, so a new process fences an old one before it reads the state the
// old one could otherwise still change.
//
// Kafka record timestamps are the produce time, not the event time, so a
// backfill of old events does not fall off the topic's retention at once.
package sink
