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
		randDecimal(r, &b, 18, false)
		check(b.String())
	}
}

// randDecimal writes into b (reset first) a random decimal: an optional
// minus, 1 to maxDigits digits, and a point anywhere after the first.
// Unless leadingZero, a zero never leads more integer digits (JSON refuses
// it).
func randDecimal(r *rand.Rand, b *strings.Builder, maxDigits int, leadingZero bool) {
	b.Reset()
	if r.IntN(2) == 0 {
		b.WriteByte('-')
	}
	n := 1 + r.IntN(maxDigits)
	point := r.IntN(n + 1)
	for k := range n {
		if k == point && k > 0 {
			b.WriteByte('.')
		}
		d := byte('0' + r.IntN(10))
		if !leadingZero && k == 0 && n > 1 && point != 1 && d == '0' {
			d = '1'
		}
		b.WriteByte(d)
	}
}

// checkScanFloat checks scanFloat(b) against numberLen and strconv: the same
// length, and when the fast path answers, the same bits.
func checkScanFloat(t *testing.T, b []byte) {
	t.Helper()
	f, n, ok := scanFloat(b)
	if want := numberLen(b); n != want {
		t.Fatalf("scanFloat(%q) length %d, numberLen %d", b, n, want)
	}
	if n == 0 && ok {
		t.Fatalf("scanFloat(%q) ok without a number", b)
	}
	if !ok {
		return
	}
	want, err := strconv.ParseFloat(string(b[:n]), 64)
	if err != nil || math.Float64bits(f) != math.Float64bits(want) {
		t.Fatalf("scanFloat(%q) = %v (%b); strconv %v (%b), %v", b, f, math.Float64bits(f), want, math.Float64bits(want), err)
	}
}

// TestScanFloat checks scanFloat on numbers followed by what ends them in a
// record, on what is no number, and on random decimals as above.
func TestScanFloat(t *testing.T) {
	for _, s := range []string{"", "-", "0", "-0", "01", "-01", "0.", "0.e1", ".5", "1.5,", "13.4}", "1e5", "1.5E-3,",
		"-2.5e+10]", "1e", "1e+", "9007199254740993", "999999999999999.5", "123456789012345", "1234567890123456",
		"0.000000000000001", "00", "1.2.3", "-122.3713918,37.7280622]", "1577582825.4,", "12345678901234567890123"} {
		checkScanFloat(t, []byte(s))
	}
	r := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	for range 300_000 {
		randDecimal(r, &b, 20, true)
		if r.IntN(8) == 0 {
			b.WriteString([]string{"e5", "E-3", "e", ",", "]", "}", "x"}[r.IntN(7)])
		}
		checkScanFloat(t, []byte(b.String()))
	}
}

func FuzzScanFloat(f *testing.F) {
	for _, s := range []string{"0", "-122.3713918", "1e5", "0.000000000000001", "01", "1.", "999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkScanFloat)
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

// BenchmarkScanFloat is the one-pass scan and parse of a record's numbers
// against the three passes it replaced (numberLen, a search for the point
// or exponent, parseFloat).
func BenchmarkScanFloat(b *testing.B) {
	toks := [][]byte{[]byte("-122.3713918,"), []byte("37.7280622,"), []byte("13.64,"), []byte("1577583601.3,"), []byte("278710,")}
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			for _, t := range toks {
				_, _, _ = scanFloat(t)
			}
		}
	})
	b.Run("three-pass", func(b *testing.B) {
		for b.Loop() {
			for _, t := range toks {
				s := scanner{data: t}
				tok, _, _ := s.number()
				_, _ = parseFloat(tok)
			}
		}
	})
}
