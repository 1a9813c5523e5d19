package dedup

import (
	"encoding/binary"
	"math/bits"
)

// table is an open-addressing hash set of IDs with linear probing. It stores
// the 16 bytes of each id and nothing else: the all-zero ID marks an empty
// slot (the nil UUID itself is tracked by a flag). With a maximum load of
// 4/5 and 3/2 growth, the load stays between 8/15 and 4/5 once the table has
// grown, so memory is 20 to 30 bytes per id: a Go map[ID]struct{} costs
// about 38 (measured with Go 1.26), and probing a flat []ID is kinder to the
// cache than a map's groups.
//
// Slots are addressed by Lemire's multiply-shift range reduction, so the
// size need not be a power of two and growth can be 3/2 instead of 2.
type table struct {
	slots   []ID
	n       int // ids held in slots (the nil UUID excluded)
	hasZero bool
}

const (
	minSlots = 16
	// maxLoadNum/maxLoadDen is the load at which the table grows. Linear
	// probing at 0.8 costs about 3 probes for a hit and 13 for a miss, all
	// in adjacent slots.
	maxLoadNum = 4
	maxLoadDen = 5
)

func hash(id *ID) uint64 {
	a := binary.LittleEndian.Uint64(id[:8])
	b := binary.LittleEndian.Uint64(id[8:])
	// One 128-bit multiply mixes both halves (wyhash's mum). UUIDv7 ids
	// share their leading timestamp bytes, so neither half alone is enough.
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b^0xd1b54a32d192ed03)
	return hi ^ lo
}

func (t *table) len() int {
	if t.hasZero {
		return t.n + 1
	}
	return t.n
}

// home returns the first slot to probe for h.
func (t *table) home(h uint64) int {
	i, _ := bits.Mul64(h, uint64(len(t.slots)))
	return int(i)
}

func (t *table) contains(id *ID) bool {
	if *id == (ID{}) {
		return t.hasZero
	}
	if len(t.slots) == 0 {
		return false
	}
	i := t.home(hash(id))
	for {
		s := &t.slots[i]
		if *s == *id {
			return true
		}
		if *s == (ID{}) {
			return false
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// add inserts id and reports whether it was absent.
func (t *table) add(id *ID) bool {
	if *id == (ID{}) {
		added := !t.hasZero
		t.hasZero = true
		return added
	}
	if (t.n+1)*maxLoadDen > len(t.slots)*maxLoadNum {
		t.grow()
	}
	i := t.home(hash(id))
	for {
		s := &t.slots[i]
		if *s == *id {
			return false
		}
		if *s == (ID{}) {
			*s = *id
			t.n++
			return true
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

func (t *table) grow() {
	size := max(minSlots, len(t.slots)*3/2)
	old := t.slots
	t.slots = make([]ID, size)
	for k := range old {
		id := &old[k]
		if *id == (ID{}) {
			continue
		}
		i := t.home(hash(id))
		for t.slots[i] != (ID{}) {
			if i++; i == len(t.slots) {
				i = 0
			}
		}
		t.slots[i] = *id
	}
}
