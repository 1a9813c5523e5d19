package standby

import (
	"context"
	"time"
)

// term is one run of the active function, from an assignment to its end.
type term struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed once the run returned and err is set

	// Guarded by Member.mu.
	stopped bool  // ended by the member (revoke, loss, stop), not by itself
	err     error // what the run returned
}

// start begins a term; m.mu is held.
func (m *Member) start() {
	ctx, cancel := context.WithCancel(m.ctx)
	t := &term{started: time.Now(), cancel: cancel, done: make(chan struct{})}
	m.cur = t
	go func() {
		err := m.active(ctx)
		cancel()
		m.mu.Lock()
		t.err = err
		if m.cur == t {
			m.cur = nil
		}
		m.ended = append(m.ended, t)
		m.mu.Unlock()
		close(t.done)
		select {
		case m.wake <- struct{}{}:
		default: // Run is already told
		}
	}()
}
