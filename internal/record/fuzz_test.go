package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// FuzzDecodeItem checks DecodeItem against Decode: the record it finds at
// the start of a longer input decodes exactly as Decode decodes that
// extent, and it refuses (n = 0) only what Decode refuses as invalid JSON.
func FuzzDecodeItem(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"a"} x`))
	f.Add([]byte(`{"location":{"type":"Point","coordinates":[1,"x"]},"h3_index_11":"8b283082800bfff"}`))
	r := rand.New(rand.NewPCG(2, 2))
	for range 20 {
		f.Add([]byte(genRecord(r)))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimLeft(raw, " \t\r\n") // the splitter calls it at an item's first byte
		b := append(raw[:len(raw):len(raw)], `,{"id":"next"}]`...)
		var item, whole, exact Location
		n, ierr := DecodeItem(b, &item)
		werr := Decode(raw, &whole)
		var inv *Invalid
		malformed := errors.As(werr, &inv) && inv.Reason == ReasonDecode
		if n == 0 {
			if !malformed {
				t.Fatalf("DecodeItem refused %q, which Decode decodes (error %v)", raw, werr)
			}
			return
		}
		eerr := Decode(b[:n], &exact)
		if fmt.Sprint(ierr) != fmt.Sprint(eerr) || dump(&item) != dump(&exact) || string(item.Raw) != string(b[:n]) {
			t.Fatalf("DecodeItem of %q: %v, %s\nDecode of its %d bytes: %v, %s", raw, ierr, dump(&item), n, eerr, dump(&exact))
		}
		// Into Values used before, by another record, with the strings
		// in a Slab the other record's are in: the same record.
		var into Location
		vals, slab := new(Values), new(Slab)
		_, _ = DecodeItemInto([]byte(sample), &into, vals, slab)
		if n2, err2 := DecodeItemInto(b, &into, vals, slab); n2 != n || fmt.Sprint(err2) != fmt.Sprint(ierr) || dump(&into) != dump(&item) {
			t.Fatalf("DecodeItemInto of %q: %d, %v, %s\nDecodeItem: %d, %v, %s", raw, n2, err2, dump(&into), n, ierr, dump(&item))
		}
		if !malformed && n != len(bytes.TrimRight(raw, " \t\r\n")) {
			t.Fatalf("DecodeItem of %q: %d bytes, want the whole record", raw, n)
		}
	})
}
