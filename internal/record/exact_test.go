package record

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compactSample is the sample record in the API's key order, compact, so
// that Decode takes its guessed-key and in-place location paths.
func compactSample() string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(sample)); err != nil {
		panic(err)
	}
	return b.String()
}

// TestNumbersMatchStrconv decodes crafted numbers (and numeric
// strings) through speed and the coordinates, against strconv.ParseFloat
// after the JSON grammar: the same bits, and a refusal exactly when the
// grammar or the range refuses.
func TestNumbersMatchStrconv(t *testing.T) {
	s := compactSample()
	nums := []string{"0", "-0", "-0.0", "0.0", "01", "-01", "1e", "1.", ".5", "+1", "1e400", "-1e400", "1e-400", "4.9e-324", "5e-324",
		"2.2250738585072014e-308", "2.2250738585072011e-308", "123456789012345", "1234567890123456", "12345678901234567",
		"0.1234567890123456789", "9007199254740993", "999999999999999.5", "999999999999999", "1.7976931348623157e308",
		"1.7976931348623159e308", "0.000000000000001", "0.0000000000000001", "100000000000000000000000", "1E5", "1e+5", "1e-5",
		"1.5e", "-", "--1", "-.5", "0.e1", "00", "1.0000000000000001", "9999999999999999", "0.30000000000000004",
		"-122.3713918", "37.7280622", "1577582825.4", "123456789012345678901234567890", "-123456789012345.6", "-99999999999999.9",
		"0.000000000000000000000000000001", "18446744073709551616", "18446744073709551615.5"}
	grammar := func(x string) bool { return len(x) > 0 && numberLen([]byte(x)) == len(x) }
	for _, n := range nums {
		for _, quoted := range []bool{false, true} {
			v := n
			if quoted {
				v = strconv.Quote(" " + n + "\t")
			}
			raw := strings.Replace(s, `"speed":13.4112`, `"speed":`+v, 1)
			if raw == s {
				t.Fatal("speed not replaced")
			}
			var l Location
			err := Decode([]byte(raw), &l)
			want, perr := strconv.ParseFloat(n, 64)
			ok := grammar(n) && perr == nil
			if !quoted && !grammar(n) {
				// Not JSON: a syntax error, whatever the field.
				if err == nil {
					t.Errorf("speed %s: accepted", v)
				}
				continue
			}
			if ok != (err == nil) {
				t.Errorf("speed %s: Decode error %v; grammar %v, strconv %v", v, err, grammar(n), perr)
				continue
			}
			if ok && (l.Speed == nil || math.Float64bits(*l.Speed) != math.Float64bits(want)) {
				t.Errorf("speed %s: %v, strconv %v (%x)", v, l.Speed, want, math.Float64bits(want))
			}
			if !ok {
				inv, _ := err.(*Invalid)
				if inv == nil || inv.Reason != ReasonBadNumber || inv.Field != "speed" {
					t.Errorf("speed %s: error %#v, want bad_number on speed", v, err)
				}
			}
		}
	}
}

// TestTimesMatchReference decodes crafted date-times through
// created_at against parseTimeRef (the time.Date parser the arithmetic
// replaced): the same Time value (==), and the same refusals.
func TestTimesMatchReference(t *testing.T) {
	s := compactSample()
	times := []string{"2025-03-14T09:26:53Z", "2025-03-14t09:26:53z", "2025-03-14 09:26:53", "2025-03-14T09:26:53", "2025-03-14T09:26:60Z",
		"2025-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2025-04-31T00:00:00Z",
		"2025-03-14T24:00:00Z", "0000-01-01T00:00:00Z", "0000-01-01T00:00:00+00:01", "0001-01-01T00:00:00Z",
		"0001-01-01T00:00:00.0000000001Z", "0001-01-01T00:00:00-00:00", "0001-01-01T00:00:01+00:01", "9999-12-31T23:59:59.999999999Z",
		"9999-12-31T23:59:59-23:59", "2025-03-14T09:26:53+05:30", "2025-03-14T09:26:53-00:00", "2025-03-14T09:26:53+24:00",
		"2025-03-14T09:26:53+23:60", "2025-03-14T09:26:53.Z", "2025-03-14T09:26:53.1Z", "2025-03-14T09:26:53.123456789Z",
		"2025-03-14T09:26:53.1234567891Z", "2025-03-14T09:26:53.12345678912345678912345Z", "2025-03-14T09:26:53,5Z",
		"2025-03-14T09:26:53+0530", "2025-03-14T09:26:53+5:30", "2025-3-14T09:26:53Z", "2025-03-14T09:26Z", "2025-03-14", "",
		"2025-03-14T09:26:53ZZ", "-025-03-14T09:26:53Z", "2025-00-14T09:26:53Z", "2025-13-01T00:00:00Z", "2025-03-00T09:26:53Z",
		"1969-12-31T23:59:59.999999999Z", "1885-01-01T00:00:00Z", "2158-01-01T00:00:00Z", "2025-03-14T09:26:5\u0661Z"}
	for _, ts := range times {
		raw := strings.Replace(s, `"created_at":"2025-03-14T09:26:53.589793Z"`, `"created_at":`+strconv.Quote(ts), 1)
		var l Location
		err := Decode([]byte(raw), &l)
		want, ok := parseTimeRef([]byte(ts))
		if ok && want.IsZero() {
			ok = false // the zero time is refused
		}
		if ok != (err == nil) {
			t.Errorf("created_at %q: Decode error %v, reference ok %v", ts, err, ok)
			continue
		}
		if ok && l.CreatedAt != want {
			t.Errorf("created_at %q: %#v, reference %#v", ts, l.CreatedAt, want)
		}
		if ok {
			if std, err := time.Parse(time.RFC3339Nano, ts); err == nil && !std.Equal(l.CreatedAt) {
				t.Errorf("created_at %q: %v, time.Parse %v", ts, l.CreatedAt, std)
			}
		}
	}
}

// TestNoReadPastLen decodes the sample and every prefix of it from a
// slice whose spare capacity holds what would complete it: Decode and
// DecodeItem must answer as for an exact-capacity copy (no reliance on
// bytes past len, which under catena's aliasing are the next item's).
func TestNoReadPastLen(t *testing.T) {
	s := compactSample()
	for cut := 0; cut <= len(s); cut++ {
		exact := []byte(s[:cut])
		spare := make([]byte, len(s)+64)
		copy(spare, s)
		copy(spare[len(s):], `,"type":"Point","coordinates":[1,2]}}]`)
		b := spare[:cut]
		var l1, l2 Location
		e1 := Decode(exact, &l1)
		e2 := Decode(b, &l2)
		if errString(e1) != errString(e2) || dump(&l1) != dump(&l2) {
			t.Fatalf("cut %d: %v / %v", cut, e1, e2)
		}
		n1, e1 := DecodeItem(exact, &l1)
		n2, e2 := DecodeItem(b, &l2)
		if n1 != n2 || errString(e1) != errString(e2) || dump(&l1) != dump(&l2) {
			t.Fatalf("item cut %d: %d %v / %d %v", cut, n1, e1, n2, e2)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
