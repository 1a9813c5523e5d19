package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/dedup"
	"github.com/catena-bridge/catena-bridge/internal/sink"
)

// restoreIDs rebuilds dedup state from the topics: it reads the events and
// dead-letter topics from the records produced since since (wall clock,
// less produceMargin) to their end, and calls keep with every record's dedup
// key, event time (occurred_at; a dead letter without one, its produce
// time) and vehicle. It starts ClockSkew early: the records may have been
// produced on another host. It returns how many records it read. Only headers are
// decoded, and the dead letters' raw values (for those without an id), so
// the cost is bounded by what was produced since since, never by the size of
// the topics.
func (p *Pipeline) restoreIDs(ctx context.Context, since time.Time, keep func(id dedup.ID, at time.Time, vehicle string)) (int, error) {
	since = since.Add(-p.cfg.ClockSkew)
	n := 0
	err := p.cfg.Sink.ScanEvents(ctx, since, func(h sink.EventHeaders) {
		n++
		if id, ok := dedup.ParseID(h.ID); ok {
			keep(id, h.OccurredAt, h.VehicleID)
		}
	})
	if err == nil {
		err = p.cfg.Sink.ScanDeadLetters(ctx, since, func(h sink.EventHeaders) {
			n++
			keep(deadLetterKey(h.ID, h.Value), cmp.Or(h.OccurredAt, h.Timestamp), h.VehicleID)
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err() // stopping
		}
		return n, &sinkError{fmt.Errorf("rebuild dedup state from the topics since %s: %w", since.Format(time.RFC3339), err)}
	}
	p.m.Restored.Add(float64(n))
	return n, nil
}
