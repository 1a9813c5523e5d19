// Package standby runs replicas of one job as a hot standby through Kafka's
// group protocol: every replica with the same configuration joins one
// consumer group on the job's checkpoint topic, which has a single
// partition, and the member the group assigns that partition to is active.
// The others wait, and report not ready. The group coordinator, not a lease
// of the bridge's own, decides who is active.
//
// # Lifecycle
//
// Member.Run joins the group and, each time the member is assigned the
// partition, starts one run of the caller's active function (a term). The
// term's context ends when the assignment is revoked or lost, or Run's
// context ends; the revoke and lost callbacks wait until the term has
// returned (its last transaction committed, its producer closed), so the
// group cannot hand the partition to another member while this one still
// writes. A graceful stop (Run's context cancelled) ends the term first,
// then leaves the group, which gives the partition to a standby at once.
//
// The active function's transactional producer, not the group, keeps the
// topics exactly once: every replica uses the same transactional id, so a
// new active replica fences the old one as it starts. A term that ends
// fenced (Config.StepDown) does not end Run: the member logs it, gives its
// assignment back if it still holds it, and stands by again.
//
// # Timing
//
// A failover after a crash or a network partition takes the session
// timeout (the coordinator waits that long for a silent member's
// heartbeat), up to one heartbeat interval until the standby learns of the
// rebalance, the rebalance itself (a few round trips) and the new term's
// start. DefaultSessionTimeout and DefaultHeartbeatInterval keep that under
// 15 s. A graceful stop skips the session timeout. Kafka delays the first
// rebalance of an empty group by group.initial.rebalance.delay.ms (3 s by
// default): that delays the first replica's start, not a failover, since
// the standbys keep the group from being empty.
//
// The member never consumes: it pauses fetching the checkpoint topic, so
// no record is buffered, and franz-go manages the group (join, sync,
// heartbeats, callbacks) in its own goroutines without polling.
package standby
