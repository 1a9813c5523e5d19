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
