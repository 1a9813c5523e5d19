package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/ledger"
)

// walkPos is where a walk over one vehicle's history stands: every window
// before From is read, and the window starting at From is read up to Cursor
// ("" = from its first page). Started is when that window was begun (wall
// clock): the events it published are in the topics from then on, which is
// what a restart reads to rebuild the walk's ids.
type walkPos struct {
	From    time.Time `json:"from"`
	Cursor  string    `json:"cursor,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// walk reads a vehicle's history over spans (in order, each cut into windows
// the API accepts) from pos on, and calls page with each page's records and
// where the walk stands after it; done is set with the last page. With
// waitOutage, an unavailable API is waited out (nextPage); without, its error
// returns. A cursor the API refuses (one saved before a long stop) starts its
// window again from the first page, once: the caller's dedup set holds what
// the window published.
//
// The records are decoded and validated as the client splits each page (a
// pooled pageDecoder: each byte is scanned once), and the page's memory is
// given back for the next page when page returns: page must copy what it
// keeps of items (the stages do) and not keep items itself. With
// slabStrings, the records' strings share blocks (record.Slab) instead of
// an allocation each: for a page that keeps none of them once it returns,
// since a string kept keeps its block (64 KiB) alive.
func (p *Pipeline) walk(ctx context.Context, vehicle string, spans []catena.Window, pos walkPos, waitOutage, slabStrings bool,
	page func(items []decoded, next walkPos, done bool) error) error {
	dec := pageDecoders.Get().(*pageDecoder)
	if slabStrings {
		dec.slab = &dec.strs
	}
	defer func() {
		dec.reset()
		pageDecoders.Put(dec)
	}()
	var windows []catena.Window
	for _, s := range spans {
		if s.To.After(pos.From) {
			windows = append(windows, catena.Windows(later(s.From, pos.From), s.To, catena.MaxHistoryWindow)...)
		}
	}
	if len(windows) == 0 {
		return page(nil, walkPos{From: pos.From}, true)
	}
	sentDone := false
	for i, w := range windows {
		cursor, started := "", time.Now().UTC()
		if w.From.Equal(pos.From) && pos.Cursor != "" {
			cursor, started = pos.Cursor, pos.Started
		}
		pager := p.cfg.Client.History(vehicle, w, p.query(), cursor)
		pager.ScanItems(dec.scan)
		restarted := false
		for {
			var pg *catena.Page[json.RawMessage]
			var err error
			if waitOutage {
				pg, err = nextPage(ctx, p, pager)
			} else {
				pg, err = pager.Next(ctx)
			}
			if err != nil && !restarted && cursorRefused(err, pager.Cursor()) {
				p.log.Warn("API refused a saved cursor; reading the window again from its first page", "vehicle", vehicle, "window", w, "err", err)
				pager, restarted = p.cfg.Client.History(vehicle, w, p.query(), ""), true
				pager.ScanItems(dec.scan)
				continue
			}
			if err != nil {
				return fmt.Errorf("history of vehicle %s, window %s: %w", vehicle, w, err)
			}
			if pg == nil {
				break
			}
			next := walkPos{From: w.From, Cursor: pg.NextPage, Started: started}
			last := pg.NextPage == "" && i == len(windows)-1
			if pg.NextPage == "" {
				next = walkPos{From: w.To}
			}
			err = page(dec.decoded(pg.Items), next, last)
			catena.ReleaseItems(pg.Items)
			if err != nil {
				return err
			}
			sentDone = last
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
		}
	}
	if !sentDone { // a pager that ended without a last page
		return page(nil, walkPos{From: windows[len(windows)-1].To}, true)
	}
	return nil
}

// fetchSpans returns the parts of w a job with view v reads for a vehicle
// of fleet fleetID ("" when unknown), as API windows' bounds.
func fetchSpans(v *ledger.View, fleetID string, w catena.Window) []catena.Window {
	var out []catena.Window
	for _, s := range v.Fetch(fleetID, ledger.Span{From: w.From, To: w.To}) {
		out = append(out, catena.Window{From: s.From, To: s.To})
	}
	return out
}
