package catenasim

import (
	"net/http"
	"time"
)

// maxWindow is the contract's limit on to_datetime - from_datetime.
const maxWindow = 45 * 24 * time.Hour

// vfilter is the vehicle-level filter of a listing. Fleet filters apply to
// the vehicle's fleet, not to the record's wire fleet_id, so records with a
// null fleet_id (MalformedMissingFleetID) still reach a fleet-filtered
// poll, as a consumer must be ready for.
type vfilter struct {
	fleetIDs, fleetRefs, vehicleIDs, driverIDs, sourceIDs set
	connID                                                string
}

func (f *vfilter) match(v *vehicle) bool {
	return f.fleetIDs.has(v.fleet.ID) && f.fleetRefs.has(v.fleet.Ref) &&
		f.vehicleIDs.has(v.id) && f.driverIDs.has(v.driverID) &&
		f.sourceIDs.has(v.srcVehicleID) &&
		(f.connID == "" || f.connID == v.fleet.ConnectionID)
}

// scope returns the index range [lo, hi) of the vehicles f can admit and,
// when it can tell without a walk, how many it admits (n = -1 otherwise).
// It works from the fleets (vehicles are stored fleet by fleet) and the
// listed vehicle or driver ids (at most 100), so a listing of 100,000
// vehicles does not visit each one per page.
func (s *Server) scope(f *vfilter) (lo, hi, n int64) {
	per := int64(s.cfg.VehiclesPerFleet)
	lo, hi, n = int64(len(s.vehicles)), 0, 0
	for _, fl := range s.fleets {
		if f.fleetIDs.has(fl.ID) && f.fleetRefs.has(fl.Ref) && (f.connID == "" || f.connID == fl.ConnectionID) {
			lo, hi = min(lo, int64(fl.idx)*per), max(hi, int64(fl.idx+1)*per)
			n += per
		}
	}
	var ids set
	var index map[string]int
	switch {
	case f.vehicleIDs != nil:
		ids, index = f.vehicleIDs, s.vehicleByID
	case f.driverIDs != nil:
		ids, index = f.driverIDs, s.vehicleByDriver
	case f.sourceIDs != nil:
		return lo, hi, -1 // source ids are not unique nor indexed
	default:
		return lo, max(hi, lo), n
	}
	lo, hi, n = int64(len(s.vehicles)), 0, 0
	for id := range ids {
		if i, ok := index[id]; ok && f.match(s.vehicles[i]) {
			lo, hi = min(lo, int64(i)), max(hi, int64(i)+1)
			n++
		}
	}
	return lo, max(hi, lo), n
}

// allReportedAt is the time (Unix ns) from which every vehicle has a visible
// point, and one with a driver: tick 0 of every vehicle, late or not, and the
// end of the first parking cycle are past. From then on the snapshot admits
// exactly the vehicles its filter does.
func (s *Server) allReportedAt() int64 { return (cycleTicks+1)*s.interval + s.lateBy }

func (s *Server) handleLocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var e verrs
	onlyLatest := qBool(q, "only_latest", true, &e)
	var f vfilter
	f.fleetIDs = toSet(qUUIDList(q, "fleet_ids", &e))
	f.fleetRefs = toSet(qList(q, "fleet_refs", &e))
	f.connID, _ = qUUID(q, "connection_id", &e)
	from, hasFrom := qTime(q, "from_datetime", &e)
	to, hasTo := qTime(q, "to_datetime", &e)
	driverIDs := qUUIDList(q, "driver_ids", &e)
	vehicleIDs := qUUIDList(q, "vehicle_ids", &e)
	f.driverIDs, f.vehicleIDs = toSet(driverIDs), toSet(vehicleIDs)
	includeSource := qBool(q, "include_source_data", false, &e)
	size := qInt(q, "size", 300, 1, 1000, &e)
	cur, hasCur := last(q, "cursor")

	now := s.clock.Now()
	if len(e) == 0 && !onlyLatest {
		// Upstream checks these only where from/to apply.
		nv, nd := len(q["vehicle_ids"]), len(q["driver_ids"])
		if !(nv == 1 && nd == 0 || nv == 0 && nd == 1) {
			e.add("query.vehicle_ids", "", "value_error",
				"Value error, with only_latest=false exactly one vehicle_ids or one driver_ids value is required (got %d vehicle_ids, %d driver_ids)", nv, nd)
		}
		if !hasTo {
			to = now
		}
		if !hasFrom {
			from = now.Add(-24 * time.Hour) // the contract's default, whatever to is
		}
		switch {
		case from.After(to):
			e.add("query.from_datetime", from.Format(time.RFC3339Nano), "value_error",
				"Value error, from_datetime must be before to_datetime")
		case to.Sub(from) > maxWindow:
			e.add("query.to_datetime", to.Format(time.RFC3339Nano), "value_error",
				"Value error, to_datetime - from_datetime must not exceed 45 days (got %s)", to.Sub(from))
		}
	}
	if len(e) > 0 {
		write422(w, e)
		return
	}
	kind := curLatest
	if !onlyLatest {
		kind = curHistory
	}
	var c *cursor
	if hasCur && cur != "" {
		cc, err := s.decodeCursor(cur, kind)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid cursor value")
			return
		}
		c = &cc
	}
	if onlyLatest {
		s.serveLatest(w, &f, c, size, includeSource, now.UnixNano())
		return
	}
	s.serveHistory(w, &f, len(driverIDs) == 1, c, size, includeSource, from.UnixNano(), to.UnixNano(), now.UnixNano())
}

// latestK returns the tick of the latest visible point of v at now, or -1.
// With byDriver only ticks with a non-null driver_id count.
func (s *Server) latestK(v *vehicle, now int64, byDriver bool) int64 {
	k := s.kCeil(v, now+1) - 1 // last tick with occurred_at <= now
	for ; k >= 0; k-- {
		if s.visible(v, k, now) && !(byDriver && parked(v, k)) {
			return k
		}
	}
	return -1
}

// serveLatest writes the snapshot: the latest visible point of every
// matching vehicle, ordered by vehicle. The cursor position is the vehicle
// index, so paging stays consistent while the snapshot moves.
func (s *Server) serveLatest(w http.ResponseWriter, f *vfilter, c *cursor, size int, includeSource bool, now int64) {
	byDriver := f.driverIDs != nil
	lo, hi, total := s.scope(f)
	everyone := now >= s.allReportedAt()
	q := seq{lo: lo, hi: hi, incl: func(i int64) bool {
		v := s.vehicles[i]
		return f.match(v) && (everyone || s.latestK(v, now, byDriver) >= 0)
	}}
	if total < 0 || !everyone {
		total = 0
		for i := q.lo; i < q.hi; i++ {
			if q.incl(i) {
				total++
			}
		}
	}
	pg := s.page(q, curLatest, c, size, 0)
	bp := s.getBuf()
	defer s.putBuf(bp)
	b := append((*bp)[:0], `{"items":[`...)
	for j, i := range pg.pos {
		if j > 0 {
			b = append(b, ',')
		}
		v := s.vehicles[i]
		p := s.point(v, s.latestK(v, now, byDriver))
		b = s.appendServed(b, &p, includeSource)
	}
	b = appendEnvelope(b, total, &pg)
	*bp = b
	s.served.Add(int64(len(pg.pos)))
	writeBody(w, b)
}

func (s *Server) appendServed(b []byte, p *pt, includeSource bool) []byte {
	switch {
	case p.malformed == malH3Null:
		s.faults[fH3Null].Add(1)
	case p.malformed != malNone:
		s.faults[fMalformed].Add(1)
	}
	if p.late {
		s.faults[fLate].Add(1)
	}
	return s.appendLocation(b, p, includeSource)
}

// historySeq is the listing of one vehicle's visible points with
// occurred_at in [from, to), by tick.
func (s *Server) historySeq(v *vehicle, byDriver bool, from, to, now int64) seq {
	lo := s.kCeil(v, from)
	hi := min(s.kCeil(v, to), s.kCeil(v, now+1)) // nothing after now is visible
	return seq{lo: lo, hi: max(hi, lo), incl: func(k int64) bool {
		return s.visible(v, k, now) && !(byDriver && parked(v, k))
	}}
}

// historyTotal counts the included positions of q without walking the
// window: all ticks, minus parked ones (driver listings), minus late ticks
// not yet visible (which can only be within LateBy of now).
func (s *Server) historyTotal(v *vehicle, q seq, byDriver bool, now int64) int64 {
	n := q.hi - q.lo
	if byDriver {
		n -= parkedCount(v, q.lo, q.hi)
	}
	if s.cfg.Faults.LateEvery > 0 {
		for k := max(q.lo, s.kCeil(v, now-s.lateBy+1)); k < q.hi; k++ {
			if !s.visible(v, k, now) && !(byDriver && parked(v, k)) {
				n--
			}
		}
	}
	return n
}

func (s *Server) serveHistory(w http.ResponseWriter, f *vfilter, byDriver bool, c *cursor, size int, includeSource bool, from, to, now int64) {
	var v *vehicle
	if byDriver {
		for d := range f.driverIDs {
			if i, ok := s.vehicleByDriver[d]; ok {
				v = s.vehicles[i]
			}
		}
	} else {
		for id := range f.vehicleIDs {
			if i, ok := s.vehicleByID[id]; ok {
				v = s.vehicles[i]
			}
		}
	}
	var q seq
	var total int64
	if v != nil && f.match(v) {
		q = s.historySeq(v, byDriver, from, to, now)
		total = s.historyTotal(v, q, byDriver, now)
	} else {
		q = seq{incl: func(int64) bool { return false }}
	}
	pg := s.page(q, curHistory, c, size, s.cfg.Faults.DuplicateEvery)
	if pg.dup {
		s.faults[fDuplicate].Add(1)
	}
	bp := s.getBuf()
	defer s.putBuf(bp)
	b := append((*bp)[:0], `{"items":[`...)
	for j, k := range pg.pos {
		if j > 0 {
			b = append(b, ',')
		}
		p := s.point(v, k)
		b = s.appendServed(b, &p, includeSource)
	}
	b = appendEnvelope(b, total, &pg)
	*bp = b
	s.served.Add(int64(len(pg.pos)))
	writeBody(w, b)
}
