package record

import "time"

// parseTime parses an RFC 3339 date-time as the API writes it:
// YYYY-MM-DDTHH:MM:SS, optional fraction (any number of digits, beyond
// nanoseconds truncated), then "Z", "+HH:MM" or "-HH:MM". The result is in
// UTC. 'T' and 'Z' may be lower case, and a space may separate date and time
// (RFC 3339 §5.6 allows both).
//
// A date-time without offset is accepted and read as UTC: the API documents
// all its times as UTC, and Python servers serialize naive datetimes without
// one. Publishing such a record beats sending it to the dead-letter topic.
//
// It does not allocate (time.Parse allocates a zone for each offset).
func parseTime(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	cent, ok1 := digits2(b[0], b[1])
	yy, ok2 := digits2(b[2], b[3])
	month, ok3 := digits2(b[5], b[6])
	day, ok4 := digits2(b[8], b[9])
	hour, ok5 := digits2(b[11], b[12])
	minute, ok6 := digits2(b[14], b[15])
	sec, ok7 := digits2(b[17], b[18])
	year := cent*100 + yy
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	b = b[19:]
	nsec := 0
	if len(b) > 0 && b[0] == '.' {
		// Digits beyond nanoseconds are read and dropped (truncation).
		i := 1
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if i <= 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		if i <= 9 {
			nsec *= nsecScale[i-1] // i-1 digits read
		}
		b = b[i:]
	}
	offset := 0
	switch {
	case len(b) == 0:
	case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		oh, okh := digits2(b[1], b[2])
		om, okm := digits2(b[4], b[5])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	// time.Date normalizes its arguments and looks up the zone: a fifth of
	// parsing a time. The fields are checked already, so the Unix time
	// follows by arithmetic; time.Unix(...).UTC() is the same Time value
	// as time.Date in UTC (TestParseTimeMatchesTimeDate).
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysFromCivil returns the days from 1970-01-01 to the proleptic Gregorian
// date y-m-d (year 0 to 9999, month and day valid), by Howard Hinnant's
// algorithm (https://howardhinnant.github.io/date_algorithms.html): years
// start in March, so that the leap day is a year's last.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400 // [0, 399]
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// nsecScale[n] turns a fraction of n digits into nanoseconds.
var nsecScale = [10]int{1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1}

// digits2 reads two decimal digits.
func digits2(a, b byte) (int, bool) {
	x, y := a-'0', b-'0'
	return int(x)*10 + int(y), x < 10 && y < 10
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
