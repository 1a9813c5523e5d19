package catenasim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendTime appends t (Unix ns) the way the upstream (pydantic) serialises
// a UTC datetime: seconds precision, a 6-digit fraction only when the
// microseconds are not zero, and a Z.
func appendTime(b []byte, ns int64) []byte {
	t := time.Unix(0, ns).UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		for d := 100000; d > 0; d /= 10 {
			b = append(b, byte('0'+us/d%10))
		}
	}
	return append(b, 'Z', '"')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }

// appendCoord appends a coordinate, as a JSON string when asString: the
// contract types coordinate items as {} and upstream has been seen sending
// strings.
func appendCoord(b []byte, f float64, asString bool) []byte {
	if asString {
		b = append(b, '"')
		b = appendFloat(b, f)
		return append(b, '"')
	}
	return appendFloat(b, f)
}

func appendNullable(b []byte, f float64, null bool) []byte {
	if null {
		return append(b, "null"...)
	}
	return appendFloat(b, f)
}

func appendNullableString(b []byte, s string, null bool) []byte {
	if null {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendLocation appends p as a VehicleLocationRead object.
func (s *Server) appendLocation(b []byte, p *pt, includeSource bool) []byte {
	v, f := p.v, p.v.fleet
	n := p.nulls
	b = append(b, `{"fleet_id":`...)
	if p.malformed == malMissingFleet {
		b = append(b, "null"...)
	} else {
		b = appendString(b, f.ID)
	}
	b = append(b, `,"fleet_ref":`...)
	b = appendString(b, f.Ref)
	b = append(b, `,"id":"`...)
	b = s.pointID(v, p.k).appendTo(b)
	b = append(b, `","created_at":`...)
	b = appendTime(b, p.vis)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, p.vis)
	b = append(b, `,"deleted_at":`...)
	if bits(n, bitDeleted, 6) == 0 {
		b = appendTime(b, p.vis)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"connection_id":`...)
	b = appendString(b, f.ConnectionID)
	b = append(b, `,"tsp_id":`...)
	b = appendString(b, f.tspID)
	b = append(b, `,"tsp_slug":`...)
	b = appendString(b, f.SourceName)
	b = append(b, `,"source_name":`...)
	b = appendString(b, f.SourceName)
	if includeSource {
		b = append(b, `,"source_data":`...)
		b = s.appendSourceData(b, p)
	}
	b = append(b, `,"source_id":"`...)
	b = append(b, f.SourceName...)
	b = append(b, '-')
	b = append(b, v.srcVehicleID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, p.occ/int64(time.Millisecond), 10)
	b = append(b, `","source_data_hash":"`...)
	// Upstream hashes the raw payload with SHA-256; consumers cannot
	// recompute it, so 64 deterministic hex digits stand in for it.
	for i := uint64(0); i < 4; i++ {
		h := hash3(s.seed, tagHash+i<<8, uint64(v.idx), uint64(p.k))
		b = appendHex64(b, h)
	}
	b = append(b, `","occurred_at":`...)
	b = appendTime(b, p.occ)
	b = append(b, `,"execution_id":`...)
	if bits(n, bitExecNull, 2) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = makeUUID(hash3(s.seed, tagExec, uint64(v.idx), uint64(p.k/10)), p.r2).appendTo(b)
		b = append(b, '"')
	}
	b = append(b, `,"schedule_id":null,"extras":`...)
	switch bits(n, bitExtras, 2) {
	case 0:
		b = append(b, "null"...)
	case 1:
		b = append(b, "{}"...)
	default:
		b = append(b, `{"ignition":`...)
		if p.parked {
			b = append(b, `"off"}`...)
		} else {
			b = append(b, `"on"}`...)
		}
	}
	b = append(b, `,"vehicle_id":`...)
	b = appendString(b, v.id)
	b = append(b, `,"driver_id":`...)
	b = appendNullableString(b, v.driverID, p.driverNull())
	coDriver := bits(n, bitCoDriver, 4) == 0 && !p.driverNull()
	b = append(b, `,"co_driver_id":`...)
	if coDriver {
		b = append(b, '"')
		b = makeUUID(hash3(s.seed, tagExec^0xc0, uint64(v.idx), 0), p.r2).appendTo(b)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"source_driver_id":`...)
	b = appendNullableString(b, v.srcDriverID, p.driverNull())
	b = append(b, `,"source_vehicle_id":`...)
	b = appendString(b, v.srcVehicleID)
	b = append(b, `,"source_co_driver_id":`...)
	if coDriver {
		b = appendString(b, v.srcDriverID+"-co")
	} else {
		b = append(b, "null"...)
	}
	if p.noLocation {
		b = append(b, `,"location":null,"h3_index_11":null`...)
		return s.appendMeasures(b, p)
	}
	b = append(b, `,"location":{"type":"Point","coordinates":[`...)
	str := bits(n, bitStringCoords, 3) == 0
	b = appendCoord(b, p.lon, str)
	b = append(b, ',')
	b = appendCoord(b, p.lat, str)
	if bits(n, bitAltitude, 3) == 0 {
		b = append(b, ',')
		b = appendCoord(b, p.alt, str)
	}
	b = append(b, ']')
	if bits(n, bitBbox, 3) == 0 {
		b = append(b, `,"bbox":null`...)
	}
	b = append(b, `},"h3_index_11":`...)
	if p.h3 == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, p.h3, 10)
	}
	return s.appendMeasures(b, p)
}

// appendMeasures appends the fields after h3_index_11 and closes the object.
func (s *Server) appendMeasures(b []byte, p *pt) []byte {
	v, f, n := p.v, p.v.fleet, p.nulls
	b = append(b, `,"speed":`...)
	b = appendNullable(b, p.speed, bits(n, bitSpeedNull, 4) == 0)
	b = append(b, `,"odometer":`...)
	b = appendNullable(b, p.odometer, bits(n, bitOdoNull, 3) == 0)
	b = append(b, `,"fuel_level":`...)
	b = appendNullable(b, p.fuelLevel, bits(n, bitFuelNull, 3) == 0)
	b = append(b, `,"fuel_value":`...)
	b = appendNullable(b, float64(int64(p.fuelLevel/100*v.tank*1e4))/1e4, bits(n, bitFuelValNull, 2) == 0)
	b = append(b, `,"engine_hours":`...)
	b = appendNullable(b, p.engHours, bits(n, bitEngNull, 3) == 0)
	oil, cool := 0.0, 300.0
	if !p.parked {
		oil, cool = float64(260000+p.r2%40000), 355+float64(p.r2>>20%80)/10
	}
	b = append(b, `,"oil_pressure":`...)
	b = appendNullable(b, oil, bits(n, bitOilNull, 2) == 0)
	b = append(b, `,"coolant_temperature":`...)
	b = appendNullable(b, cool, bits(n, bitCoolNull, 2) == 0)
	b = append(b, `,"inferred_address":{"city":`...)
	b = appendNullableString(b, f.city.name, bits(n, bitCityNull, 3) == 0)
	b = append(b, `,"province":`...)
	b = appendNullableString(b, f.city.province, bits(n, bitProvNull, 3) == 0)
	b = append(b, `,"country_code":`...)
	b = appendNullableString(b, f.city.country, bits(n, bitCountryNull, 4) == 0)
	b = append(b, `},"speed_unit":"m/s","odometer_unit":"m","fuel_value_unit":"m3","oil_pressure_unit":"Pa","coolant_temperature_unit":"K"}`...)
	return b
}

// appendSourceData appends a provider-shaped raw payload (imperial units, as
// providers send them; the normalised fields are SI).
func (s *Server) appendSourceData(b []byte, p *pt) []byte {
	v := p.v
	b = append(b, `{"vehicle":{"id":`...)
	b = appendString(b, v.srcVehicleID)
	b = append(b, `,"name":`...)
	b = appendString(b, v.name)
	b = append(b, `,"vin":`...)
	b = appendString(b, v.vin)
	b = append(b, `},"time":`...)
	b = appendTime(b, p.occ)
	b = append(b, `,"gps":{"latitude":`...)
	b = appendFloat(b, p.lat)
	b = append(b, `,"longitude":`...)
	b = appendFloat(b, p.lon)
	b = append(b, `,"speedMilesPerHour":`...)
	b = appendFloat(b, float64(int64(p.speed*2.2369363*100))/100)
	b = append(b, `},"odometerMeters":`...)
	b = strconv.AppendInt(b, int64(p.odometer), 10)
	return append(b, '}')
}
