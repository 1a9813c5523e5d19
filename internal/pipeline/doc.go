// Package pipeline owns the page loop of catena-bridge: fetch a page from the
// Catena API, decode, validate, deduplicate, enrich, encode, and hand the
// result — events, dead letters and the new checkpoint — to the sink as one
// Kafka transaction.
//
// # Stages
//
// Each API page passes through these stages, in order, on one goroutine:
//
//   - decode:   JSON → record.Location (record.Decode; in a backfill,
//     record.DecodeItem as the client splits the page: pageDecoder). A
//     record that does not decode goes to the dead-letter topic with the
//     decoder's reason.
//   - validate: record.Location.Validate. An invalid record goes to the
//     dead-letter topic with the reason (field and value).
//   - own:      a record whose instant an earlier claim in the topic's ledger
//     holds is left to that claim's job (package ledger).
//   - dedup:    ids already published (or dead-lettered) are skipped.
//   - enrich:   coarser H3 cells from h3_index_11 (geo.Enricher).
//   - encode:   Avro, framed for the registry or single-object (avro.Encoder).
//     A record that cannot be encoded goes to the dead-letter topic.
//
// # Delivery guarantee
//
// Exactly once per topic, for read_committed consumers, across every backfill
// and live tail that publishes to it: each job claims the range it publishes
// in the topic's ledger before it fetches, and publishes only what no earlier
// claim holds. Within a job, every page's events,
// its dead letters and the checkpoint that moves past the page are committed in
// one Kafka transaction: either all of them are visible or none is. After a
// crash the bridge resumes from the last committed checkpoint, so a page whose
// transaction did not commit is fetched again and published once. Ids that
// were published are remembered (in memory, rebuilt on start from the
// catena-id headers of the events topic) for as long as the API can return
// them again, so the live tail's repeated snapshots and sweeps publish nothing
// twice.
//
// What it does not promise: a record the API returns with the same id but a
// different payload later (an update) is not published again — the first
// version wins. Records the API never returns for the configured windows are
// not invented. Ids older than the dedup horizon (LOOKBACK plus one bucket)
// that the API returns again outside a vehicle's newest point would be
// published again; the API's contract gives no way for that to happen.
//
// # Time
//
// The pipeline reads two kinds of time, each from one place:
//
//   - the API's time, Config.Now: which instants exist yet, the windows it
//     asks for, LOOKBACK, GAP_THRESHOLD, a record's ingest time. It is
//     injected: the demo passes its simulator's faster clock, the tests
//     their simulator's clock, which they move by hand.
//   - elapsed time, package time: how long to wait (poll and sweep timers,
//     backoffs, the outage limit), how long something took (metrics), and
//     the broker's record timestamps, which the restart's read back is
//     bounded by. Those follow the machine's clock whatever the API's
//     clock does. The tests run in testing/synctest bubbles, which replace
//     package time with a fake clock, so no test waits for a real timer.
//
// Failures: API errors are retried by the client (429, 5xx, network) within
// its bounded retry time; Kafka errors are retried by the sink without bound
// (the bridge waits for the broker) except fencing, which stops the bridge. A
// backfill fails, with its progress checkpointed, when the API keeps failing;
// a live tail logs the failed poll and tries again on the next one.
package pipeline
