package record

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// parseTimeRef is parseTime as it was, by time.Date: the reference the
// arithmetic is checked against.
func parseTimeRef(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	b = b[19:]
	nsec := 0
	if len(b) > 0 && b[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			nsec += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		b = b[i:]
	}
	offset := 0
	switch {
	case len(b) == 0:
	case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		oh, okh := digits(b[1:3])
		om, okm := digits(b[4:6])
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
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func checkParseTime(t *testing.T, b []byte) {
	t.Helper()
	got, gok := parseTime(b)
	want, wok := parseTimeRef(b)
	// == compares the Time values themselves (wall, ext, location), not
	// only the instants: the decoded record must be the same value.
	if gok != wok || got != want || got.IsZero() != want.IsZero() {
		t.Fatalf("parseTime(%q) = %v, %v; time.Date gives %v, %v", b, got, gok, want, wok)
	}
}

// TestParseTimeMatchesTimeDate checks parseTime against time.Date on random
// days of years 0 to 9999 at random times, fractions and offsets, and on
// the edges: leap days, year 1 (Go's zero time), offsets across midnight
// and the year.
func TestParseTimeMatchesTimeDate(t *testing.T) {
	for _, s := range []string{"0001-01-01T00:00:00Z", "0000-01-01T00:00:00+23:59", "0000-03-01T00:00:00Z", "0000-02-29T12:00:00Z",
		"1900-02-29T00:00:00Z", "2000-02-29T23:59:59.999999999Z", "2024-02-29T00:00:00-00:01", "1969-12-31T23:59:59.5Z",
		"1970-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999999-23:59", "9999-12-31T23:59:59+00:01", "2025-03-14T09:26:53+00:00",
		"2026-12-05T08:16:48.042000Z", "2026-12-05t08:16:48z", "2026-12-05 08:16:48", "2026-13-05T08:16:48Z", "2026-12-32T08:16:48Z",
		"2026-12-05T24:00:00Z", "2026-12-05T08:16:48.Z", "2026-12-05T08:16:48+1:00", "2026-12-05T08:16:48+24:00", "0001-01-01T00:00:00+00:01"} {
		checkParseTime(t, []byte(s))
	}
	r := rand.New(rand.NewPCG(3, 3))
	day := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	for day.Year() < 10000 {
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", day.Year(), day.Month(), day.Day(), r.IntN(24), r.IntN(60), r.IntN(60))
		if r.IntN(2) == 0 {
			s += "." + fmt.Sprintf("%09d", r.IntN(1_000_000_000))[:1+r.IntN(9)]
		}
		switch r.IntN(3) {
		case 0:
			s += "Z"
		case 1:
			s += fmt.Sprintf("%c%02d:%02d", "+-"[r.IntN(2)], r.IntN(24), r.IntN(60))
		}
		checkParseTime(t, []byte(s))
		day = day.AddDate(0, 0, 1+r.IntN(40))
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-12-05T08:16:48.042000Z", "0001-01-01T00:00:00Z", "0000-02-29T12:00:00-23:59", "9999-12-31T23:59:59+00:01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseTime)
}

func BenchmarkParseTime(b *testing.B) {
	ts := []byte("2026-12-05T08:16:48.042000Z")
	b.Run("arithmetic", func(b *testing.B) {
		for b.Loop() {
			_, _ = parseTime(ts)
		}
	})
	b.Run("time.Date", func(b *testing.B) {
		for b.Loop() {
			_, _ = parseTimeRef(ts)
		}
	})
}
