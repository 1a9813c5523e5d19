package record

import (
	"math/rand/v2"
	"testing"

	"github.com/uber/h3-go/v4"
)

// TestValidCellMatchesH3 checks the pure-Go validity check against h3-go's
// (the C library's isValidCell) over real cells of every resolution, their
// neighbours by one bit and one digit, every base cell and resolution with
// random digits, and random words.
func TestValidCellMatchesH3(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 11))
	n, valid := 0, 0
	check := func(c uint64) {
		n++
		want := h3.Cell(c).IsValid()
		if want {
			valid++
		}
		if got := validCell(c); got != want {
			t.Fatalf("validCell(%#x) = %v, h3-go says %v", c, got, want)
		}
	}
	for range 20000 {
		ll := h3.NewLatLng(r.Float64()*180-90, r.Float64()*360-180)
		res := r.IntN(16)
		c := uint64(h3.LatLngToCell(ll, res))
		check(c)
		for bit := range 64 {
			check(c ^ 1<<bit)
		}
		for range 8 {
			d := uint(r.IntN(15)) * 3
			check(c&^(7<<d) | uint64(r.IntN(8))<<d)
		}
	}
	// Every base cell (pentagons among them) and resolution, digits random
	// but mostly 0 and 1 (the pentagon rule), valid or 7 past res.
	for base := range uint64(128) {
		for res := range uint64(16) {
			for range 200 {
				c := uint64(1)<<59 | res<<52 | base<<45
				for k := uint64(1); k <= 15; k++ {
					var d uint64
					switch {
					case k > res && r.IntN(50) != 0:
						d = 7
					case r.IntN(3) == 0:
						d = uint64(r.IntN(8))
					default:
						d = uint64(r.IntN(2))
					}
					c |= d << ((15 - k) * 3)
				}
				check(c)
			}
		}
	}
	for range 200000 {
		check(r.Uint64())
	}
	for _, c := range h3.Res0Cells() {
		check(uint64(c))
		kids := c.Children(3)
		for _, k := range kids {
			check(uint64(k))
		}
	}
	if valid < n/10 {
		t.Fatalf("only %d of %d cases valid: the cases miss the valid side", valid, n)
	}
	t.Logf("%d cases, %d valid", n, valid)
}

func BenchmarkValidCell(b *testing.B) {
	c := uint64(h3.LatLngToCell(h3.NewLatLng(37.77, -122.42), 11))
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			if !validCell(c) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("h3-go", func(b *testing.B) {
		for b.Loop() {
			if !h3.Cell(c).IsValid() {
				b.Fatal("invalid")
			}
		}
	})
}
