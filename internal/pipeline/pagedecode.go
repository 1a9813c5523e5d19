package pipeline

import (
	"encoding/json"
	"sync"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/record"
)

// pageDecoder decodes a location page's records while the client splits
// the page (catena.Pager.ScanItems with scan): the record decoder finds
// where each record ends, so the splitter does not scan the items a second
// time. Splitting and decoding were two passes over every byte, the larger
// part of the CPU a record costs before Kafka.
//
// It serves one walk at a time (it is not safe for concurrent use).
type pageDecoder struct {
	// items are the records scanned since the last index 0, in order.
	items []decoded
	// values[i] holds the values behind items[i].loc's pointer fields
	// (record.DecodeItemInto): a page's records are done with before the
	// next page is scanned, so they need no allocation of their own.
	values []record.Values
	// used is how many entries of items and values any page filled since
	// the last reset.
	used int
	// slab, when not nil, holds the records' strings (record.Slab): set
	// for a walk whose records' strings are not kept once their page is
	// committed (the backfill's). The live tail keeps vehicle ids for its
	// per-vehicle state, which would keep a slab's blocks alive: its walks
	// allocate each record's strings.
	slab *record.Slab
	strs record.Slab
}

// scan is the catena.ItemScanner: it decodes item i, which starts b.
func (pd *pageDecoder) scan(i int, b []byte) int {
	if i == 0 {
		pd.items = pd.items[:0] // a new page (or its "items" again)
	}
	if i != len(pd.items) {
		return 0 // out of order: decoded() decodes it
	}
	pd.items = append(pd.items, decoded{})
	if i >= len(pd.values) {
		pd.values = append(pd.values, record.Values{})
	}
	pd.used = max(pd.used, len(pd.items))
	d := &pd.items[i]
	n, err := record.DecodeItemInto(b, &d.loc, &pd.values[i], pd.slab)
	if n == 0 {
		// Not valid JSON: the splitter finds its end, decoded() the
		// error, which names the record's bytes exactly.
		return 0
	}
	d.raw, d.err = b[:n:n], err
	return n
}

// decoded returns the page's items decoded and validated, as decodeAll
// does: those scan read as they were cut, and the others now. The result,
// and the values behind its records' pointer fields, are valid until the
// next page is scanned: the stages copy what they keep.
func (pd *pageDecoder) decoded(items []json.RawMessage) []decoded {
	for len(pd.items) < len(items) {
		pd.items = append(pd.items, decoded{})
	}
	pd.used = max(pd.used, len(pd.items))
	out := pd.items[:len(items)]
	for i, raw := range items {
		d := &out[i]
		if len(d.raw) == 0 || len(d.raw) != len(raw) || &d.raw[0] != &raw[0] {
			d.raw = raw
			d.err = record.Decode(raw, &d.loc)
		}
		if d.err == nil {
			d.err = d.loc.Validate()
		}
	}
	pd.items = pd.items[:0]
	return out
}

// reset drops the decoder's references to its last pages, before it goes
// back to the pool: an idle decoder would otherwise keep their records'
// strings and an item buffer alive (each concurrent sweep or gap fill of
// the live tail holds one), and its entries could be taken for a later
// walk's.
func (pd *pageDecoder) reset() {
	clear(pd.items[:pd.used])
	clear(pd.values[:min(pd.used, len(pd.values))])
	pd.items, pd.used = pd.items[:0], 0
	pd.slab, pd.strs = nil, record.Slab{}
}

// pageDecoders recycles the decoders of finished walks: a page's decoded
// records and their values are about 1.1 MB, sized at once for a full page rather than grown
// (and copied) record by record.
var pageDecoders = sync.Pool{New: func() any {
	return &pageDecoder{items: make([]decoded, 0, catena.MaxPageSize), values: make([]record.Values, catena.MaxPageSize)}
}}
