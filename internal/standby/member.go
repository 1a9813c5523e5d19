package standby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of Config's timings.
const (
	// DefaultSessionTimeout is how long the coordinator waits for a silent
	// member before it gives the member's partition to another: the bulk
	// of a failover. 6 s is the lowest a broker accepts by default
	// (group.min.session.timeout.ms); with the heartbeat below, the
	// rebalance and the new term's start, a takeover lands well within
	// 15 s, where franz-go's default of 45 s would not. A member that
	// stalls longer than this (a GC pause, a frozen VM) loses the
	// partition; the producer fencing keeps that safe.
	DefaultSessionTimeout = 6 * time.Second
	// DefaultHeartbeatInterval is how often a member heartbeats: a
	// standby learns of a rebalance at its next heartbeat, so this adds
	// up to 1 s to a takeover, and six heartbeats fit in a session.
	DefaultHeartbeatInterval = time.Second
	// DefaultRebalanceTimeout bounds how long a member may take to give
	// its partition up in a rebalance: the term's last commit (bounded by
	// the bridge's SHUTDOWN_GRACE, 20 s by default) and closing its
	// producer. The coordinator uses the largest of the members'.
	DefaultRebalanceTimeout = time.Minute
	// leaveTimeout bounds leaving the group, so a stop does not hang on an
	// unreachable coordinator; the session timeout then does the rest.
	leaveTimeout = 5 * time.Second
)

// ErrStandby is what Member.Ready returns while another replica is active.
var ErrStandby = errors.New("standby: another replica is active")

// GroupID returns the consumer group of the replicas that share the
// transactional id txnID: they do the same work, and only one may do it.
func GroupID(txnID string) string { return "catena-bridge-standby." + txnID }

// Config configures a Member. Opts, Group and Topic are required.
type Config struct {
	// Opts connect the member's client to the brokers (seed brokers, TLS,
	// SASL, logger); see sink.ClientOpts.
	Opts []kgo.Opt
	// Group is the consumer group of the replicas (see GroupID).
	Group string
	// Topic is the topic the group is assigned: the job's checkpoint
	// topic, which has one partition. Its records are never read.
	Topic string

	SessionTimeout    time.Duration // default DefaultSessionTimeout
	HeartbeatInterval time.Duration // default DefaultHeartbeatInterval
	RebalanceTimeout  time.Duration // default DefaultRebalanceTimeout

	// StepDown reports whether a term's error means that another replica
	// took the work over (its producer was fenced). Run then goes on
	// standing by instead of returning the error. Nil: never.
	StepDown func(error) bool
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// Member is one replica's membership in the group. Use New, then Run once.
type Member struct {
	cfg Config
	log *slog.Logger

	wake     chan struct{} // a term ended: Run looks at m.ended
	joinedCh chan struct{} // closed when joined turns true
	fatal    chan error    // a group error no retry fixes (groupErrors)

	mu       sync.Mutex
	ctx      context.Context                 // Run's context, the parent of every term's
	active   func(ctx context.Context) error // what a term runs
	cur      *term                           // the running term, nil while standing by
	ended    []*term                         // terms that returned, for Run to judge
	joined   bool                            // the group has answered: assigned or revoked once
	groupErr error                           // the last error of the group's management, until an assignment
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Member, error) {
	if len(cfg.Opts) == 0 || cfg.Group == "" || cfg.Topic == "" {
		return nil, errors.New("standby: Opts, Group and Topic are required")
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.RebalanceTimeout == 0 {
		cfg.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if cfg.HeartbeatInterval >= cfg.SessionTimeout {
		return nil, fmt.Errorf("standby: heartbeat interval %v must be shorter than the session timeout %v", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	if cfg.StepDown == nil {
		cfg.StepDown = func(error) bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Member{cfg: cfg, log: cfg.Logger.With("group", cfg.Group), wake: make(chan struct{}, 1), joinedCh: make(chan struct{}), fatal: make(chan error, 1)}, nil
}

// Active reports whether a term runs: this replica holds the assignment.
func (m *Member) Active() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A run being ended (its assignment revoked or lost) is not active
	// any more, although it may take up to SHUTDOWN_GRACE to return: the
	// group may already have given the partition to another member.
	return m.cur != nil && !m.cur.stopped
}

// Joined returns a channel that is closed once the group has answered this
// member for the first time: it is active, or standing by.
func (m *Member) Joined() <-chan struct{} { return m.joinedCh }

// join records that the group answered; m.mu is held.
func (m *Member) join() {
	if !m.joined {
		m.joined = true
		close(m.joinedCh)
	}
}

// Ready returns nil while this replica is active, ErrStandby while another
// one is, and an error saying so while the group has not answered yet (for
// /readyz: a load balancer sends pushes to the active replica only).
func (m *Member) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.cur != nil && m.cur.stopped:
		return errors.New("standby: assignment ended; ending the active run")
	case m.cur != nil:
		return nil
	case !m.joined && m.groupErr != nil:
		return fmt.Errorf("standby: joining consumer group %q: %w", m.cfg.Group, m.groupErr)
	case !m.joined:
		return fmt.Errorf("standby: joining consumer group %q", m.cfg.Group)
	case m.groupErr != nil:
		return fmt.Errorf("%w (the group's last error: %v)", ErrStandby, m.groupErr)
	}
	return ErrStandby
}

// Run joins the group and runs active once per assignment, each run with a
// context that ends when the assignment is revoked or lost or ctx ends,
// until ctx ends. It returns nil after a graceful stop: the term ended,
// then the member left the group. It returns a term's error when the term
// failed other than by being fenced (see Config.StepDown), or returned nil
// by itself (the work is done), after leaving the group.
func (m *Member) Run(ctx context.Context, active func(ctx context.Context) error) error {
	m.mu.Lock()
	m.ctx, m.active = ctx, active
	m.mu.Unlock()
	for {
		rejoin, err := m.session(ctx)
		if !rejoin {
			return err
		}
	}
}

// session is one membership: one group client, from joining to leaving.
// It returns rejoin when a fenced term gave the assignment back, so that
// the member joins again as a new one and the group assigns the partition
// anew.
func (m *Member) session(ctx context.Context) (rejoin bool, err error) {
	opts := append(slices.Clip(m.cfg.Opts),
		kgo.ConsumerGroup(m.cfg.Group),
		kgo.ConsumeTopics(m.cfg.Topic),
		// Sticky and cooperative: a replica that joins does not take the
		// partition from the active one, nor make it stop and restart.
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.HeartbeatInterval(m.cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(m.cfg.RebalanceTimeout),
		// The group's offsets mean nothing: nothing is consumed.
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.OnPartitionsAssigned(m.assigned),
		kgo.OnPartitionsRevoked(m.revoked),
		kgo.OnPartitionsLost(m.lost),
		kgo.WithHooks(groupErrors{m}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return false, fmt.Errorf("standby: create group client: %w", err)
	}
	// Never fetch the checkpoint topic: the active term reads it with its
	// own clients. Paused before the first assignment, nothing is buffered.
	cl.PauseFetchTopics(m.cfg.Topic)
	m.log.Info("standby: joining the consumer group; the member assigned its partition is active",
		"topic", m.cfg.Topic, "session_timeout", m.cfg.SessionTimeout, "heartbeat_interval", m.cfg.HeartbeatInterval)

	for {
		select {
		case <-ctx.Done():
			// The term commits and closes its producer before the
			// member leaves: the next one starts only then, at once.
			m.stop("stopping")
			m.leave(cl)
			for _, t := range m.takeEnded() {
				if t.err != nil && !errors.Is(t.err, context.Canceled) && !m.cfg.StepDown(t.err) {
					return false, t.err
				}
			}
			return false, nil
		case err := <-m.fatal:
			// No retry helps (ACLs, the session timeout, credentials):
			// say so and stop, rather than wait as a standby for ever.
			m.stop("the consumer group refused this member")
			m.leave(cl)
			return false, fmt.Errorf("standby: consumer group %q: %w (check the ACLs on the group and the checkpoint topic, and the broker's group.min/max.session.timeout.ms)", m.cfg.Group, err)
		case <-m.wake:
			for _, t := range m.takeEnded() {
				switch {
				case m.cfg.StepDown(t.err):
					m.log.Warn("standby: fenced: another replica took over; standing by", "err", t.err)
					if !t.stopped {
						// The group still sees this member as the active one:
						// give the partition back by leaving, and join anew.
						m.leave(cl)
						return true, nil
					}
				case t.stopped && (t.err == nil || errors.Is(t.err, context.Canceled)):
					// Revoked or lost, and stopped cleanly: stand by.
				default:
					m.leave(cl)
					return false, t.err
				}
			}
		}
	}
}

// leave leaves the group within leaveTimeout and closes the client.
func (m *Member) leave(cl *kgo.Client) {
	lctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if err := cl.LeaveGroupContext(lctx); err != nil {
		m.log.Warn("standby: leave the consumer group", "err", err)
	}
	cl.Close()
}

// takeEnded returns the terms that ended since the last call.
func (m *Member) takeEnded() []*term {
	m.mu.Lock()
	defer m.mu.Unlock()
	ended := m.ended
	m.ended = nil
	return ended
}

func (m *Member) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.join()
	m.groupErr = nil
	if !slices.Contains(parts[m.cfg.Topic], 0) || m.cur != nil || m.ctx.Err() != nil {
		return
	}
	m.log.Info("standby: assigned; this replica is active")
	m.start()
}

func (m *Member) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if slices.Contains(parts[m.cfg.Topic], 0) {
		m.stop("assignment revoked")
	}
}

// lost is a revoke the member learns of late: its session expired (it was
// partitioned away or paused) and the partition may be another's already.
// The term stops all the same; if it still writes, it is fenced.
func (m *Member) lost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if slices.Contains(parts[m.cfg.Topic], 0) {
		m.stop("assignment lost")
	}
}

// stop ends the running term, if any, and waits until it has returned, so
// that the group gives the partition to another member only then.
func (m *Member) stop(why string) {
	m.mu.Lock()
	t := m.cur
	if t != nil {
		t.stopped = true
	}
	m.mu.Unlock()
	if t == nil {
		return
	}
	m.log.Info("standby: "+why+"; ending the active run", "active_for", time.Since(t.started).Round(time.Millisecond))
	t.cancel()
	<-t.done
}
