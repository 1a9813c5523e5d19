package record

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestParseFloatMatchesStrconv checks the fast path bit for bit against
// strconv.ParseFloat on random decimals of 1 to 18 digits (the fast path
// takes up to 15) with the point anywhere, signs, and edge cases.
func TestParseFloatMatchesStrconv(t *testing.T) {
	check := func(s string) {
		want, werr := strconv.ParseFloat(s, 64)
		got, gerr := parseFloat([]byte(s))
		if (werr == nil) != (gerr == nil) || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseFloat(%q) = %v (%b), %v; strconv %v (%b), %v", s, got, math.Float64bits(got), gerr, want, math.Float64bits(want), werr)
		}
	}
	for _, s := range []string{"0", "-0", "0.0", "-0.000", "1", "-1", "0.1", "0.3", "68.5", "0.3252", "1697775356",
		"1655529554.2", "-122.5018175", "37.8164096", "999999999999999", "9999999999999999", "0.000000000000001",
		"123456789012345", "1234567890123456", "1e5", "1.5E-3", "-2.5e+10", "9007199254740993", "1.7976931348623157e308"} {
		check(s)
	}
	r := rand.New(rand.NewPCG(9, 9))
	var b strings.Builder
	for range 1_000_000 {
		b.Reset()
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		n := 1 + r.IntN(18)
		point := r.IntN(n + 1)
		for k := range n {
			if k == point && k > 0 {
				b.WriteByte('.')
			}
			d := byte('0' + r.IntN(10))
			if k == 0 && n > 1 && point != 1 && d == '0' {
				d = '1' // no leading zero before more integer digits
			}
			b.WriteByte(d)
		}
		check(b.String())
	}
}

func BenchmarkParseFloat(b *testing.B) {
	toks := [][]byte{[]byte("-122.5018175"), []byte("37.8164096"), []byte("1697775356"), []byte("68.5"), []byte("0.3252")}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			for _, t := range toks {
				_, _ = parseFloat(t)
			}
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			for _, t := range toks {
				_, _ = strconv.ParseFloat(string(t), 64)
			}
		}
	})
}
