package record

import (
	"strconv"
	"unsafe"
)

// parseFloat is strconv.ParseFloat(tok, 64) for a valid JSON number (as
// numberLen checks), with the exact fast path taken first: a number with at
// most 15 digits and no exponent is its digits as an integer (exact in a
// float64) divided by a power of ten up to 1e15 (exact too), and one
// correctly rounded division gives the correctly rounded result (Clinger's
// fast path, which strconv also takes, after a slower generic scan). Every
// other number goes to strconv.
func parseFloat(tok []byte) (float64, error) {
	if f, ok := fastFloat(tok); ok {
		return f, nil
	}
	// The string does not outlive the call.
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), 64)
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15}

func fastFloat(tok []byte) (float64, bool) {
	i := 0
	neg := false
	if i < len(tok) && tok[i] == '-' {
		neg = true
		i++
	}
	var m uint64
	digits, frac := 0, -1
	for ; i < len(tok); i++ {
		c := tok[i]
		switch {
		case '0' <= c && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default: // an exponent, or anything else: strconv decides
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m)
	if frac > 0 {
		f /= pow10[frac] // frac <= digits <= 15
	}
	if neg {
		f = -f
	}
	return f, true
}

// scanFloat reads the JSON number at the start of b in one pass: n is its
// length (0: b does not start with a JSON number, as numberLen), and when
// ok, f is its value, strconv.ParseFloat's bit for bit, by the fast path of
// fastFloat (at most 15 digits, no exponent). When !ok and n > 0, the caller
// parses b[:n] with parseFloat. It replaces numberLen, a scan for the point
// and fastFloat: three passes over each of a record's ten numbers were a
// tenth of decoding the simulator's records (BenchmarkDecodeSimPage).
func scanFloat(b []byte) (f float64, n int, ok bool) {
	i := 0
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		i++
	}
	var m uint64
	digits := 0
	switch {
	case i < len(b) && b[i] == '0':
		i++
		digits++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			m = m*10 + uint64(b[i]-'0')
			digits++
			i++
		}
	default:
		return 0, 0, false
	}
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			m = m*10 + uint64(b[i]-'0')
			i++
		}
		frac = i - d
		if frac == 0 {
			return 0, 0, false
		}
		digits += frac
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		// The exponent is rare: numberLen finds the end, strconv the value.
		return 0, numberLen(b), false
	}
	// m overflowed past 19 digits, but then digits > 15 and m is unused.
	if digits > 15 {
		return 0, i, false
	}
	f = float64(m)
	if frac > 0 {
		f /= pow10[frac] // frac <= digits <= 15
	}
	if neg {
		f = -f
	}
	return f, i, true
}
