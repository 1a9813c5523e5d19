package catena

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// LocationQuery holds the filters of GET /v2/telematics/vehicle-locations.
//
// The API has two modes. With OnlyLatest (its default) it returns the latest
// location of every matching vehicle and ignores the time range. Without it,
// it returns history, and then exactly one vehicle id or one driver id must
// be given and To-From must not exceed 45 days (MaxHistoryWindow).
type LocationQuery struct {
	// OnlyLatest is always sent explicitly: the API's default is true, so
	// leaving it out would silently turn a history query into a snapshot.
	OnlyLatest bool
	// FleetIDs (Catena fleet ids) and FleetRefs (your fleet references), at
	// most 100 each.
	FleetIDs, FleetRefs []string
	// ConnectionID limits the results to one TSP connection.
	ConnectionID string
	// From and To bound occurred_at to [From, To); the zero time is not sent
	// (the API then uses now-1d and now). Sent as RFC 3339 in UTC with
	// nanoseconds. Not sent with OnlyLatest, which ignores them.
	From, To time.Time
	// VehicleIDs and DriverIDs, at most 100 each; with OnlyLatest=false
	// exactly one id in total.
	VehicleIDs, DriverIDs []string
	// IncludeSourceData asks for the raw TSP payload in source_data.
	IncludeSourceData bool
	// Size is the page size, 1..1000; 0 means 1000 (not the API's 300).
	Size int
}

// encode validates q and returns its encoded query string (without cursor).
func (q *LocationQuery) encode() (string, error) {
	size, err := pageSize(q.Size)
	if err != nil {
		return "", err
	}
	if err := checkLists(namedList{"fleet_ids", q.FleetIDs}, namedList{"fleet_refs", q.FleetRefs},
		namedList{"vehicle_ids", q.VehicleIDs}, namedList{"driver_ids", q.DriverIDs}); err != nil {
		return "", err
	}
	if !q.OnlyLatest {
		if n := len(q.VehicleIDs) + len(q.DriverIDs); n != 1 {
			return "", fmt.Errorf("only_latest=false with %d vehicle_ids and %d driver_ids: the API requires exactly one vehicle id or one driver id per history request",
				len(q.VehicleIDs), len(q.DriverIDs))
		}
		if !q.From.IsZero() && !q.To.IsZero() {
			if q.To.Before(q.From) {
				return "", fmt.Errorf("to_datetime %s is before from_datetime %s", q.To.UTC().Format(time.RFC3339Nano), q.From.UTC().Format(time.RFC3339Nano))
			}
			if d := q.To.Sub(q.From); d > MaxHistoryWindow {
				return "", fmt.Errorf("to_datetime - from_datetime = %v: the API allows at most 45 days (%v) with only_latest=false; split the range with Windows", d, MaxHistoryWindow)
			}
		}
	}
	var b queryBuilder
	b.addBool("only_latest", q.OnlyLatest)
	b.addList("fleet_ids", q.FleetIDs)
	b.addList("fleet_refs", q.FleetRefs)
	if q.ConnectionID != "" {
		b.add("connection_id", q.ConnectionID)
	}
	if !q.OnlyLatest {
		if !q.From.IsZero() {
			b.addTime("from_datetime", q.From)
		}
		if !q.To.IsZero() {
			b.addTime("to_datetime", q.To)
		}
	}
	b.addList("vehicle_ids", q.VehicleIDs)
	b.addList("driver_ids", q.DriverIDs)
	if q.IncludeSourceData {
		b.addBool("include_source_data", true)
	}
	b.add("size", fmt.Sprint(size))
	return b.String(), nil
}

// Locations pages through GET /v2/telematics/vehicle-locations starting at
// cursor ("" = first page). Items are the raw JSON of each
// VehicleLocationRead, decoded elsewhere (internal/record).
//
// The query is checked before anything is sent: list filters hold at most
// 100 values, Size is 0..1000, and with OnlyLatest=false exactly one vehicle
// id or driver id is given and To-From is at most 45 days. A violation is
// returned by the first Next, naming the rule.
func (c *Client) Locations(q LocationQuery, cursor string) *Pager[json.RawMessage] {
	const op = "list_vehicle_locations"
	query, err := q.encode()
	if err != nil {
		err = fmt.Errorf("%s: invalid query: %w", op, err)
	}
	var p *Pager[json.RawMessage]
	p = newPager(op, cursor, err, func(ctx context.Context, cur string) (*Page[json.RawMessage], error) {
		scan := p.scan
		return fetchPage(ctx, c, op, EndpointVehicleLocations, query, cur, func(body []byte) (*Page[json.RawMessage], bool, error) {
			return takeRawPage(body, scan)
		})
	})
	return p
}

// LatestLocations is Locations with OnlyLatest=true: the latest location of
// every matching vehicle. From and To are not sent (the API ignores them).
func (c *Client) LatestLocations(q LocationQuery, cursor string) *Pager[json.RawMessage] {
	q.OnlyLatest = true
	return c.Locations(q, cursor)
}

// History returns a pager over one vehicle's locations in w (at most 45
// days), with only_latest=false, vehicle_ids=vehicleID and the window as
// from_datetime/to_datetime. The other filters of q (FleetIDs, FleetRefs,
// ConnectionID, IncludeSourceData, Size) apply; its OnlyLatest, From, To,
// VehicleIDs and DriverIDs are replaced.
func (c *Client) History(vehicleID string, w Window, q LocationQuery, cursor string) *Pager[json.RawMessage] {
	q.OnlyLatest = false
	q.VehicleIDs = []string{vehicleID}
	q.DriverIDs = nil
	q.From, q.To = w.From, w.To
	if vehicleID == "" {
		return newPager[json.RawMessage]("list_vehicle_locations", cursor,
			errors.New("list_vehicle_locations: invalid query: history: empty vehicle id"), nil)
	}
	if w.From.IsZero() || w.To.IsZero() {
		return newPager[json.RawMessage]("list_vehicle_locations", cursor,
			fmt.Errorf("list_vehicle_locations: invalid query: history of vehicle %q: window %v: both ends must be set", vehicleID, w), nil)
	}
	return c.Locations(q, cursor)
}

// Window is the half-open time range [From, To).
type Window struct{ From, To time.Time }

// String renders w as [from, to) in RFC 3339, UTC.
func (w Window) String() string {
	return "[" + w.From.UTC().Format(time.RFC3339Nano) + ", " + w.To.UTC().Format(time.RFC3339Nano) + ")"
}

// Windows splits [from, to) into consecutive windows of at most max each;
// the last one may be shorter. max is clamped to (0, MaxHistoryWindow]: 0 or
// a negative max means MaxHistoryWindow. An empty or inverted range
// (from >= to) yields no window.
func Windows(from, to time.Time, max time.Duration) []Window {
	if max <= 0 || max > MaxHistoryWindow {
		max = MaxHistoryWindow
	}
	if !from.Before(to) {
		return nil
	}
	n := int(to.Sub(from)/max) + 1
	ws := make([]Window, 0, n)
	for s := from; s.Before(to); {
		e := s.Add(max)
		if e.After(to) {
			e = to
		}
		ws = append(ws, Window{From: s, To: e})
		s = e
	}
	return ws
}
