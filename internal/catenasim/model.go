package catenasim

import (
	"fmt"
	"math"
	"time"

	"github.com/uber/h3-go/v4"
)

// Malformed kinds, as reported in Point.Malformed.
const (
	MalformedMissingFleetID = "missing_fleet_id"         // fleet_id is JSON null
	MalformedCoordinates    = "coordinates_out_of_range" // latitude 123.4
	MalformedInvalidH3      = "invalid_h3"               // h3_index_11 is a resolution-9 cell or 12345
)

// malformed kinds in the order Faults.MalformedEvery cycles them.
const (
	malNone = iota
	malMissingFleet
	malCoords
	malInvalidH3
	malH3Null // valid data: h3_index_11 null, coordinates valid
)

var malformedNames = [...]string{"", MalformedMissingFleetID, MalformedCoordinates, MalformedInvalidH3, ""}

// Point is the ground truth of one vehicle location as the simulator serves
// it. Fields hold the wire values.
type Point struct {
	ID        string
	FleetID   string // "" when the wire fleet_id is null (MalformedMissingFleetID)
	FleetRef  string
	VehicleID string
	DriverID  string // "" when the wire driver_id is null (the vehicle is parked)

	OccurredAt time.Time
	VisibleAt  time.Time // OccurredAt, or OccurredAt+Faults.LateBy for late points; also created_at on the wire
	Late       bool

	Lat, Lon float64 // wire coordinates (GeoJSON [lon, lat]); Lat is 123.4 for MalformedCoordinates
	// H3 is the wire h3_index_11: the true resolution-11 cell of (Lat, Lon),
	// 0 when the wire value is null (H3NullOnWire), the invalid value sent for
	// MalformedInvalidH3, and the cell of the true position for
	// MalformedCoordinates.
	H3           uint64
	H3NullOnWire bool
	// NoLocation: location (and h3_index_11) null on the wire; Lat and Lon
	// are the position the vehicle was at, which the record does not carry.
	NoLocation bool
	Malformed  string // "" or one of the Malformed* constants
	Speed      float64
}

// Vehicle is one simulated vehicle.
type Vehicle struct {
	ID, FleetID, FleetRef, Name string
	DriverID                    string // the vehicle's driver (driver_id while moving)
	ConnectionID                string
	SourceName                  string // TspEnum value of the fleet's connection
}

// Fleet is one simulated fleet; it has one TSP connection.
type Fleet struct {
	ID, Ref, Name string
	ConnectionID  string
	SourceName    string
	City          string
}

type city struct {
	name, province, country string
	lat, lon                float64
}

// Cities span both hemispheres and both signs of longitude, so coordinate
// decoding is exercised with every sign combination.
var cities = [...]city{
	{"San Francisco", "CA", "USA", 37.7749, -122.4194},
	{"Chicago", "IL", "USA", 41.8781, -87.6298},
	{"Sydney", "NSW", "AUS", -33.8688, 151.2093},
	{"Dallas", "TX", "USA", 32.7767, -96.7970},
	{"São Paulo", "SP", "BRA", -23.5505, -46.6333},
	{"Berlin", "BE", "DEU", 52.5200, 13.4050},
	{"Atlanta", "GA", "USA", 33.7490, -84.3880},
	{"Toronto", "ON", "CAN", 43.6532, -79.3832},
}

var tsps = [...]string{"samsara", "motive", "geotab", "verizon_connect", "omnitracs"}

// Parking cycle: every vehicle is parked (speed 0, driver_id null) for
// parkTicks of every cycleTicks ticks, with a per-vehicle phase.
const (
	cycleTicks = 120
	parkTicks  = 20
)

// hash tags, one per derived quantity, so no two quantities share bits.
const (
	tagFleet uint64 = iota + 1
	tagConn
	tagTSP
	tagVehicle
	tagDriver
	tagPoint
	tagPoint2
	tagExec
	tagVehicleParams
	tagNulls
	tagPartner
	tagInvitation
	tagToken
	tagHash
)

// mix is the splitmix64 finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const (
	golden  = 0x9e3779b97f4a7c15
	golden2 = 0xc2b2ae3d27d4eb4f
)

func hash3(seed, tag, a, b uint64) uint64 {
	x := mix(seed*golden + tag)
	x = mix(x ^ (a + golden))
	return mix(x ^ (b + golden2))
}

// unit maps h to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// uuid is a v4-formatted UUID built from two hashes.
type uuid [16]byte

func makeUUID(h1, h2 uint64) uuid {
	var u uuid
	for i := 0; i < 8; i++ {
		u[i] = byte(h1 >> (56 - 8*i))
		u[8+i] = byte(h2 >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

const hexdigits = "0123456789abcdef"

func (u uuid) appendTo(b []byte) []byte {
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return b
}

func (u uuid) String() string { return string(u.appendTo(make([]byte, 0, 36))) }

func (s *Server) uuidFor(tag, a, b uint64) string {
	return makeUUID(hash3(s.seed, tag, a, b), hash3(s.seed, tag^0xff00, a, b)).String()
}

type fleet struct {
	Fleet
	idx       int
	tspID     string
	city      *city
	createdAt time.Time
}

type vehicle struct {
	idx   int
	fleet *fleet
	id    string
	pid   uuid // id bytes, for cheap per-point ids
	name  string

	driverID     string
	srcVehicleID string
	srcDriverID  string
	vin          string
	plate        string
	modelYear    int

	offset    int64 // ns after the tick boundary, < interval, whole ms
	latePhase int64
	malPhase  int64
	parkPhase int64

	// Route: an epicycle around (lat0, lon0), in metres.
	lat0, lon0, mPerDegLon float64
	r1, w1, p1             float64
	r2, w2, p2             float64
	meanSpeed              float64
	odoBase, engBase       float64
	tauRef                 float64 // moving seconds at odoEpoch: odometer and engine hours count from there
	tank                   float64 // m3
	altBase                float64
}

func (s *Server) buildModel() {
	cfg := &s.cfg
	s.fleets = make([]*fleet, cfg.Fleets)
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for f := range s.fleets {
		uf := uint64(f)
		c := &cities[f%len(cities)]
		src := tsps[f%len(tsps)]
		s.fleets[f] = &fleet{
			Fleet: Fleet{
				ID:           s.uuidFor(tagFleet, uf, 0),
				Ref:          fmt.Sprintf("fleet-%03d", f+1),
				Name:         fmt.Sprintf("%s Freight %d", c.name, f+1),
				ConnectionID: s.uuidFor(tagConn, uf, 0),
				SourceName:   src,
				City:         c.name,
			},
			idx:       f,
			tspID:     s.uuidFor(tagTSP, uint64(f%len(tsps)), 0),
			city:      c,
			createdAt: epoch.Add(time.Duration(f) * 24 * time.Hour),
		}
	}
	n := cfg.Fleets * cfg.VehiclesPerFleet
	s.vehicles = make([]*vehicle, n)
	s.vehicleByID = make(map[string]int, n)
	s.vehicleByDriver = make(map[string]int, n)
	interval := int64(cfg.ReportInterval)
	for i := range s.vehicles {
		ui := uint64(i)
		fl := s.fleets[i/cfg.VehiclesPerFleet]
		r := func(j uint64) float64 { return unit(hash3(s.seed, tagVehicleParams, ui, j)) }
		h := func(j uint64) uint64 { return hash3(s.seed, tagVehicleParams, ui, j) }
		pid := makeUUID(hash3(s.seed, tagVehicle, ui, 0), hash3(s.seed, tagVehicle^0xff00, ui, 0))
		v := &vehicle{
			idx:          i,
			fleet:        fl,
			id:           pid.String(),
			pid:          pid,
			name:         fmt.Sprintf("Truck %03d-%02d", fl.idx+1, i%cfg.VehiclesPerFleet+1),
			driverID:     s.uuidFor(tagDriver, ui, 0),
			srcVehicleID: fmt.Sprintf("%d", 281474976710000+h(1)%1000000),
			srcDriverID:  fmt.Sprintf("%d", 52000000+h(2)%1000000),
			vin:          makeVIN(h(3)),
			plate:        fmt.Sprintf("%c%c%c%04d", 'A'+h(4)%26, 'A'+h(5)%26, 'A'+h(6)%26, h(7)%10000),
			modelYear:    2015 + int(h(8)%10),
			offset:       int64(h(9)%uint64(interval)) / int64(time.Millisecond) * int64(time.Millisecond),
			parkPhase:    int64(h(10) % cycleTicks),
		}
		if cfg.Faults.LateEvery > 0 {
			v.latePhase = int64(h(11) % uint64(cfg.Faults.LateEvery))
		}
		if cfg.Faults.MalformedEvery > 0 {
			v.malPhase = int64(h(12) % uint64(cfg.Faults.MalformedEvery))
		}
		// Depot within ~3 km of the city centre.
		ang, dist := 2*math.Pi*r(13), 3000*r(14)
		v.mPerDegLon = 111320 * math.Cos(c2r(fl.city.lat))
		v.lat0 = fl.city.lat + dist*math.Sin(ang)/111320
		v.lon0 = fl.city.lon + dist*math.Cos(ang)/v.mPerDegLon
		v.mPerDegLon = 111320 * math.Cos(c2r(v.lat0))
		v.r1 = 2500 + 5500*r(15)
		v1 := 8 + 8*r(16)
		v.w1 = v1 / v.r1
		v.p1 = 2 * math.Pi * r(17)
		v.r2 = 200 + 700*r(18)
		v2 := 1 + 3*r(19)
		v.w2 = -v2 / v.r2
		v.p2 = 2 * math.Pi * r(20)
		v.meanSpeed = math.Sqrt(v1*v1 + v2*v2)
		v.odoBase = 5e7 + 4e8*r(21)
		v.engBase = 2000 + 20000*r(22)
		v.tank = 0.3 + 0.5*r(23)
		xr := s.kCeil(v, odoEpoch.UnixNano()) + v.parkPhase
		v.tauRef = float64(xr-parkedBefore(xr)) * s.intervalSec
		v.altBase = 10 + 300*r(24)
		s.vehicles[i] = v
		s.vehicleByID[v.id] = i
		s.vehicleByDriver[v.driverID] = i
	}
}

func c2r(d float64) float64 { return d * math.Pi / 180 }

// odoEpoch is when odometers read odoBase, so present-day readings are
// plausible (tens to hundreds of thousands of km).
var odoEpoch = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

const vinChars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"

func makeVIN(h uint64) string {
	b := make([]byte, 17)
	for i := range b {
		h = mix(h + golden)
		b[i] = vinChars[h%uint64(len(vinChars))]
	}
	return string(b)
}

// occ returns occurred_at of tick k in Unix nanoseconds.
func (s *Server) occ(v *vehicle, k int64) int64 { return k*s.interval + v.offset }

// kCeil returns the first tick whose occurred_at is >= t (Unix ns), >= 0.
func (s *Server) kCeil(v *vehicle, t int64) int64 {
	d := t - v.offset
	if d <= 0 {
		return 0
	}
	return (d + s.interval - 1) / s.interval
}

func (s *Server) isLate(v *vehicle, k int64) bool {
	n := int64(s.cfg.Faults.LateEvery)
	return n > 0 && (k+v.latePhase)%n == 0
}

// visibleAt returns the Unix ns at which tick k becomes visible.
func (s *Server) visibleAt(v *vehicle, k int64) int64 {
	t := s.occ(v, k)
	if s.isLate(v, k) {
		t += s.lateBy
	}
	return t
}

func (s *Server) visible(v *vehicle, k, now int64) bool { return s.visibleAt(v, k) <= now }

func parked(v *vehicle, k int64) bool { return (k+v.parkPhase)%cycleTicks < parkTicks }

// parkedBefore counts parked ticks among x in [0, x) of the phased tick axis.
func parkedBefore(x int64) int64 { return x/cycleTicks*parkTicks + min(x%cycleTicks, parkTicks) }

// parkedCount counts parked ticks k in [a, b).
func parkedCount(v *vehicle, a, b int64) int64 {
	if b <= a {
		return 0
	}
	return parkedBefore(b+v.parkPhase) - parkedBefore(a+v.parkPhase)
}

func (s *Server) malformedKind(v *vehicle, k int64) int {
	n := int64(s.cfg.Faults.MalformedEvery)
	if n <= 0 || (k+v.malPhase)%n != 0 {
		return malNone
	}
	return 1 + int((k+v.malPhase)/n%4)
}

// pt is one computed point: everything the wire format needs.
type pt struct {
	v         *vehicle
	k         int64
	occ, vis  int64
	late      bool
	parked    bool
	malformed int

	lat, lon  float64 // wire
	alt       float64
	h3        uint64 // wire; 0 = null
	speed     float64
	odometer  float64
	engHours  float64
	fuelLevel float64
	nulls     uint64 // per-point random bits deciding optional nulls and shapes
	// noLocation: location and h3_index_11 are null on the wire (a valid
	// record without a position).
	noLocation bool
	r2         uint64
}

// Per-point shape decisions, taken from bits of pt.nulls. Each field is null
// with probability about 1/8 (3 bits) unless noted.
const (
	bitStringCoords = 0  // 3 bits == 0: coordinates as JSON strings (~12%)
	bitAltitude     = 3  // 3 bits == 0: 3 coordinates (~12%)
	bitSpeedNull    = 6  // 4 bits == 0 (~6%)
	bitOdoNull      = 10 // 3 bits
	bitFuelNull     = 13
	bitFuelValNull  = 16 // 2 bits (~25%)
	bitEngNull      = 18
	bitOilNull      = 21 // 2 bits
	bitCoolNull     = 23 // 2 bits
	bitCityNull     = 25
	bitProvNull     = 28
	bitCountryNull  = 31 // 4 bits
	bitExecNull     = 35 // 2 bits
	bitExtras       = 37 // 2 bits: 0 null, 1 {}, else object
	bitBbox         = 39 // 3 bits == 0: "bbox": null present
	bitInvalidH3    = 42 // 1 bit: res-9 cell or 12345
	bitLocNull      = 43 // 5 bits == 0: no location and no h3_index_11 (~3%), on otherwise well-formed points
	bitCoDriver     = 48 // 4 bits == 0: a co-driver (~6%)
	bitDeleted      = 52 // 6 bits == 0: deleted_at set (~2%)
)

func bits(x uint64, at, n uint) uint64 { return x >> at & (1<<n - 1) }

// point computes tick k of v. The H3 call is the only non-arithmetic step.
func (s *Server) point(v *vehicle, k int64) pt {
	p := pt{v: v, k: k, occ: s.occ(v, k)}
	p.late = s.isLate(v, k)
	p.vis = p.occ
	if p.late {
		p.vis += s.lateBy
	}
	p.parked = parked(v, k)
	p.malformed = s.malformedKind(v, k)
	p.nulls = hash3(s.seed, tagNulls, uint64(v.idx), uint64(k))
	p.r2 = hash3(s.seed, tagPoint2, uint64(v.idx), uint64(k))

	// Moving time before tick k: parked ticks do not advance the route.
	x := k + v.parkPhase
	tau := float64(x-parkedBefore(x)) * s.intervalSec
	t1 := v.w1*tau + v.p1
	t2 := v.w2*tau + v.p2
	s1, c1 := math.Sincos(t1)
	s2, c2 := math.Sincos(t2)
	dx := v.r1*c1 + v.r2*c2
	dy := v.r1*s1 + v.r2*s2
	lat := math.Round((v.lat0+dy/111320)*1e7) / 1e7
	lon := math.Round((v.lon0+dx/v.mPerDegLon)*1e7) / 1e7
	if !p.parked {
		a, b := v.r1*v.w1, v.r2*v.w2
		p.speed = math.Round(math.Sqrt(a*a+b*b+2*a*b*math.Cos(t1-t2))*100) / 100
	}
	// Clamped at 0 before odoEpoch, which keeps both monotonic.
	p.odometer = math.Round(max(0, v.odoBase+(tau-v.tauRef)*v.meanSpeed)*10) / 10
	p.engHours = math.Round(max(0, v.engBase+(tau-v.tauRef)/3600)*100) / 100
	// Fuel: a sawtooth over ~2000 moving minutes, refilled to 100%.
	const refill = 120000.0
	p.fuelLevel = math.Round((100-90*math.Mod(tau+float64(v.idx)*7919, refill)/refill)*10) / 10
	p.alt = math.Round((v.altBase+20*s1)*10) / 10

	cell := uint64(h3.LatLngToCell(h3.NewLatLng(lat, lon), 11))
	p.lat, p.lon, p.h3 = lat, lon, cell
	switch p.malformed {
	case malCoords:
		p.lat = 123.4
	case malInvalidH3:
		if bits(p.nulls, bitInvalidH3, 1) == 0 {
			p.h3 = uint64(h3.Cell(cell).Parent(9))
		} else {
			p.h3 = 12345
		}
	case malH3Null:
		p.h3 = 0
	case 0:
		p.noLocation = bits(p.nulls, bitLocNull, 5) == 0
		if p.noLocation {
			p.h3 = 0
		}
	}
	return p
}

func (p *pt) driverNull() bool { return p.parked }

func (s *Server) truth(p *pt) Point {
	v := p.v
	q := Point{
		ID:           s.pointID(v, p.k).String(),
		FleetID:      v.fleet.ID,
		FleetRef:     v.fleet.Ref,
		VehicleID:    v.id,
		DriverID:     v.driverID,
		OccurredAt:   time.Unix(0, p.occ).UTC(),
		VisibleAt:    time.Unix(0, p.vis).UTC(),
		Late:         p.late,
		Lat:          p.lat,
		Lon:          p.lon,
		H3:           p.h3,
		H3NullOnWire: p.h3 == 0 && !p.noLocation,
		NoLocation:   p.noLocation,
		Malformed:    malformedNames[p.malformed],
		Speed:        p.speed,
	}
	if p.malformed == malMissingFleet {
		q.FleetID = ""
	}
	if p.driverNull() {
		q.DriverID = ""
	}
	return q
}

func (s *Server) pointID(v *vehicle, k int64) uuid {
	return makeUUID(hash3(s.seed, tagPoint, uint64(v.idx), uint64(k)), hash3(s.seed, tagPoint^0xff00, uint64(v.idx), uint64(k)))
}

// Vehicles returns every simulated vehicle, in the order of the API.
func (s *Server) Vehicles() []Vehicle {
	out := make([]Vehicle, len(s.vehicles))
	for i, v := range s.vehicles {
		out[i] = Vehicle{
			ID: v.id, FleetID: v.fleet.ID, FleetRef: v.fleet.Ref, Name: v.name,
			DriverID: v.driverID, ConnectionID: v.fleet.ConnectionID, SourceName: v.fleet.SourceName,
		}
	}
	return out
}

// Fleets returns every simulated fleet.
func (s *Server) Fleets() []Fleet {
	out := make([]Fleet, len(s.fleets))
	for i, f := range s.fleets {
		out[i] = f.Fleet
	}
	return out
}

// Points returns every point of a vehicle with OccurredAt in [from, to), in
// order, regardless of visibility. It returns nil for an unknown vehicle.
func (s *Server) Points(vehicleID string, from, to time.Time) []Point {
	i, ok := s.vehicleByID[vehicleID]
	if !ok {
		return nil
	}
	v := s.vehicles[i]
	lo, hi := s.kCeil(v, from.UnixNano()), s.kCeil(v, to.UnixNano())
	if hi <= lo {
		return nil
	}
	out := make([]Point, 0, hi-lo)
	for k := lo; k < hi; k++ {
		p := s.point(v, k)
		out = append(out, s.truth(&p))
	}
	return out
}
