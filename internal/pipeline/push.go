package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
)

// The push path: records Catena pushes by webhook join the live tail's
// stream. They pass the same stages as polled records, under the same dedup
// state and claim, and commit in the same transactions; the snapshot polls
// and the sweeps go on and catch what pushes lose.

// ErrNotTailing is returned by Push when no live tail runs in this process.
var ErrNotTailing = errors.New("pipeline: no live tail is running to take pushed records")

// pushLinger is how long the first pushed records wait for others to share
// their transaction: commits of pushes come at most this often.
const pushLinger = 50 * time.Millisecond

// pushMarker marks pushed ids in the live state, filed no earlier than
// now (see live.stage).
type pushMarker struct {
	st  *liveState
	now time.Time
}

func (m pushMarker) mark(id dedup.ID, at time.Time, vehicle string) bool {
	return m.st.mark(id, later(at, m.now), vehicle)
}

// pushReq is one delivery's records, waiting for their commit.
type pushReq struct {
	items []json.RawMessage
	done  chan error
	fresh bool // set before done: some record was published or dead-lettered
}

// Push publishes records that Catena pushed (a webhook delivery's data) and
// returns once they are in a committed transaction, or ctx ends (the caller
// then answers Catena 503, and Catena retries). A record the live tail has
// published already, polled or pushed, is not published again; one that
// does not validate goes to the dead-letter topic. It returns
// ErrNotTailing unless Run is running. duplicate reports a delivery none of
// whose records was new (all published before, by push or poll).
func (p *Pipeline) Push(ctx context.Context, records []json.RawMessage) (duplicate bool, err error) {
	l := p.tail.Load()
	if l == nil {
		return false, ErrNotTailing
	}
	req := &pushReq{items: records, done: make(chan error, 1)}
	select {
	case l.pushes <- req:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case err := <-req.done:
		return err == nil && !req.fresh && len(records) > 0, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// pusher commits pushed records until ctx ends: the deliveries that arrive
// within pushLinger of the first share one page and one transaction.
func (l *live) pusher(ctx context.Context) error {
	for {
		var batch []*pushReq
		select {
		case r := <-l.pushes:
			batch = append(batch, r)
		case <-ctx.Done():
			return nil
		}
		n := len(batch[0].items)
		t := time.NewTimer(pushLinger)
	collect:
		for n < 5000 {
			select {
			case r := <-l.pushes:
				batch = append(batch, r)
				n += len(r.items)
			case <-t.C:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
		t.Stop()
		items := make([]json.RawMessage, 0, n)
		for _, r := range batch {
			items = append(items, r.items...)
		}
		decoded := decodePushed(items)
		out, err := l.stage(ctx, "push", decoded, l.p.cfg.Now().UTC(), nil, "")
		var handled map[string]bool
		if err == nil {
			handled = make(map[string]bool, len(out.batch.Events)+len(out.batch.DeadLetters))
			for _, ev := range out.batch.Events {
				handled[ev.ID] = true
			}
			for _, dl := range out.batch.DeadLetters {
				handled[dl.ID] = true
			}
			out.recycle()
		}
		at := 0
		for _, r := range batch {
			for i := range r.items {
				// out is nil when the commit failed (err): nothing is fresh.
				if id := decoded[at+i].loc.ID; handled[id] || id == "" && out != nil && len(out.batch.DeadLetters) > 0 {
					r.fresh = true
				}
			}
			at += len(r.items)
			r.done <- err
		}
		if err != nil {
			return err // a sink error: the tail stops
		}
	}
}
