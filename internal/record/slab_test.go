package record

import (
	"math/rand/v2"
	"testing"
)

// TestSlabStringsNeverChange: strings handed out by a Slab keep their
// bytes while it hands out many more, across blocks, including one longer
// than a block.
func TestSlabStringsNeverChange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var s Slab
	var got, want []string
	for i := range 5000 {
		n := r.IntN(300)
		if i == 2500 {
			n = slabBlock + 100
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		got = append(got, s.str(b))
		want = append(want, string(b))
		clear(b) // the slab copied it
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d changed: %.20q, want %.20q", i, got[i], want[i])
		}
	}
}

// TestDecodeItemIntoSlabAllocs: with a Slab and reused Values, decoding a
// record allocates nothing but the slab's blocks (one per about 150 of the
// sample's records).
func TestDecodeItemIntoSlabAllocs(t *testing.T) {
	raw := []byte(compactSample())
	var (
		l    Location
		v    Values
		slab Slab
	)
	n := testing.AllocsPerRun(1000, func() {
		if _, err := DecodeItemInto(raw, &l, &v, &slab); err != nil {
			t.Fatal(err)
		}
	})
	if n > 0.05 {
		t.Fatalf("DecodeItemInto with a Slab allocates %v times a record, want about 0", n)
	}
	var want Location
	if err := Decode(raw, &want); err != nil {
		t.Fatal(err)
	}
	if dump(&l) != dump(&want) {
		t.Fatalf("with a Slab:\n%s\nDecode:\n%s", dump(&l), dump(&want))
	}
}

// TestDecodeItemIntoClearsValues: a record decoded into Values that held
// another record's optional strings leaves none of them there. A string
// left in a slot the new record does not fill would keep the old record's
// slab block alive for as long as the Values are reused (a whole walk).
func TestDecodeItemIntoClearsValues(t *testing.T) {
	var (
		l    Location
		v    Values
		slab Slab
	)
	if _, err := DecodeItemInto([]byte(compactSample()), &l, &v, &slab); err != nil {
		t.Fatal(err)
	}
	if l.FleetRef == nil || l.VehicleID == nil {
		t.Fatalf("the sample has no optional strings: %s", dump(&l))
	}
	bare := `{"id":"b3b9b6fa-100b-4add-b853-ed95c9a4513b","fleet_id":"95e67e61-f9ac-4e95-99d6-101d6a08159f"}`
	if _, err := DecodeItemInto([]byte(bare), &l, &v, &slab); err != nil {
		t.Fatal(err)
	}
	for j, s := range v.b.s {
		if s != "" {
			t.Fatalf("slot %d still holds %q from the record before", j, s)
		}
	}
}
