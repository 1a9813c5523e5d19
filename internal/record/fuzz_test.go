package record

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzDecode checks that Decode never panics, that it only accepts valid
// JSON, that every error is an *Invalid, and that a record that passes
// Decode and Validate decodes again to the same record.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"location":{"type":"Point","coordinates":["1","2","3"]},"h3_index_11":"8b283082800bfff"}`))
	f.Add([]byte(`{"id":"\ud83d\ude9a","created_at":"2025-03-14T09:26:53.5-08:00"}`))
	r := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		f.Add([]byte(genRecord(r)))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var l Location
		err := Decode(raw, &l)
		if err != nil {
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("Decode error %T %v is not *Invalid", err, err)
			}
			_ = inv.Error()
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("Decode accepted invalid JSON %q", raw)
		}
		if err := l.Validate(); err != nil {
			if !errors.As(err, new(*Invalid)) {
				t.Fatalf("Validate error %T %v is not *Invalid", err, err)
			}
			return
		}
		var again Location
		if err := Decode(raw, &again); err != nil {
			t.Fatalf("second Decode failed: %v", err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("record re-validates with %v", err)
		}
		if dump(&l) != dump(&again) {
			t.Fatalf("decoding is not deterministic")
		}
	})
}
