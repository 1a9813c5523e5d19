package record

import "strings"

// Slab holds the strings of many decoded records in shared blocks of
// memory, so that a record's strings cost no allocation of their own
// (DecodeItemInto). A block lives as long as any string in it: a Slab is
// for records none of whose strings are kept once their batch is done with
// (a backfill page), since one string kept keeps its whole block (64 KiB)
// alive; DecodeItemInto clears the Values it reuses, so they keep none.
// Nothing in a block is written twice, so its strings never change.
//
// The zero Slab is ready to use. A Slab is not safe for concurrent use, and
// must not be copied once used.
//
// The allocation of each record's strings, and the collector's work for
// it, were 2-6% of the bridge's CPU before Kafka (cpubench's stages in
// alternated runs: 1.82 against 1.71 µs a record on average over three
// pairs, 1.86 against 1.82 over four), and one allocation a record of the
// 1.04 it had.
type Slab struct{ b strings.Builder }

// slabBlock is the size of a Slab's blocks.
const slabBlock = 64 << 10

// str returns a string of b's bytes, held in the slab's current block (a
// new one when b does not fit). strings.Builder allocates a block without
// clearing it.
func (s *Slab) str(b []byte) string {
	if s.b.Cap()-s.b.Len() < len(b) {
		s.b = strings.Builder{}
		s.b.Grow(max(slabBlock, len(b)))
	}
	n := s.b.Len()
	s.b.Write(b)
	return s.b.String()[n:]
}
