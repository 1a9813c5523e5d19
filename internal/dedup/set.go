// Package dedup holds the ids of records already published, with memory
// bounded by what can still come back.
//
// The live tail re-reads every vehicle's latest record at each poll and
// re-reads recent history at each sweep, so most records it sees were
// already published. A Set answers "already published?" for them cheaply,
// and forgets ids once the API can no longer return them: ids are grouped
// in time buckets by a timestamp the caller supplies (the record's
// occurred_at), and EvictBefore drops whole buckets once the caller's
// lookback has moved past them. Memory is therefore proportional to the
// number of records inside the lookback, never to the length of a run.
//
// # Delivery guarantees
//
// A Set is a filter in memory, nothing more: it holds no state across
// restarts (the caller rebuilds it, e.g. from the ids in the events topic's
// record headers) and an id evicted too early is published again. The
// caller must therefore only evict buckets older than anything the API can
// still return for the reads it makes.
package dedup

import (
	"math"
	"time"
)

// DefaultBucket is the bucket width NewSet uses when given 0 or less.
const DefaultBucket = 10 * time.Minute

// Set is a set of IDs grouped by time bucket, for deduplication with
// bounded memory. The zero value is not usable; call NewSet.
//
// A Set is not safe for concurrent use: the pipeline owns one per goroutine,
// and a lock would cost more than a lookup.
//
// Memory: each id costs 20 to 30 bytes (an open-addressing table of raw
// 16-byte ids per bucket, see BenchmarkSetMemory), plus about 300 bytes per
// bucket.
type Set struct {
	width int64 // bucket width in nanoseconds
	// buckets is sorted by index. There are few (lookback / width, ~10):
	// a linear scan beats a map.
	buckets []*bucket
	n       int
}

type bucket struct {
	index int64 // start of the bucket = index * width, in Unix nanoseconds
	t     table
}

// NewSet returns an empty Set with buckets of the given width (DefaultBucket
// when bucket <= 0).
func NewSet(bucket time.Duration) *Set {
	if bucket <= 0 {
		bucket = DefaultBucket
	}
	return &Set{width: int64(bucket)}
}

// Times outside the range of UnixNano (years 1678 to 2262) are clamped to
// it: their ids land in the first or last bucket.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// index returns the bucket index of t: floor(t / width).
func (s *Set) index(at time.Time) int64 {
	ns := unixNano(at)
	i := ns / s.width
	if ns%s.width < 0 {
		i--
	}
	return i
}

// find returns the bucket with the given index and its position, or nil and
// the position where it would be inserted.
func (s *Set) find(index int64) (*bucket, int) {
	for i, b := range s.buckets {
		if b.index == index {
			return b, i
		}
		if b.index > index {
			return nil, i
		}
	}
	return nil, len(s.buckets)
}

// Contains reports whether id is in the set. at is the record's timestamp:
// its bucket is searched first, which is where a repeated record is found,
// then the others (so an id whose timestamp changed is still known). A miss
// therefore probes every bucket.
func (s *Set) Contains(id ID, at time.Time) bool {
	home, _ := s.find(s.index(at))
	if home != nil && home.t.contains(&id) {
		return true
	}
	return s.containsExcept(&id, home)
}

func (s *Set) containsExcept(id *ID, skip *bucket) bool {
	for _, b := range s.buckets {
		if b != skip && b.t.contains(id) {
			return true
		}
	}
	return false
}

// Add adds id in the bucket of at and reports whether it was added, that
// is, not already in the set under any timestamp. An id added with a
// timestamp before an earlier EvictBefore is held until the next one.
func (s *Set) Add(id ID, at time.Time) (added bool) {
	index := s.index(at)
	home, pos := s.find(index)
	if home != nil && home.t.contains(&id) {
		return false
	}
	if s.containsExcept(&id, home) {
		return false
	}
	if home == nil {
		home = &bucket{index: index}
		s.buckets = append(s.buckets, nil)
		copy(s.buckets[pos+1:], s.buckets[pos:])
		s.buckets[pos] = home
	}
	home.t.add(&id)
	s.n++
	return true
}

// EvictBefore drops every bucket that ends at or before t, that is, every
// bucket whose ids all have timestamps before t, and returns the number of
// ids dropped. Their memory is released to the garbage collector at once.
func (s *Set) EvictBefore(t time.Time) int {
	// Bucket i covers [i*width, (i+1)*width); it ends at or before t when
	// i+1 <= floor(t/width), i.e. i < index(t).
	limit := s.index(t)
	k := 0
	evicted := 0
	for k < len(s.buckets) && s.buckets[k].index < limit {
		evicted += s.buckets[k].t.len()
		k++
	}
	if k == 0 {
		return 0
	}
	n := copy(s.buckets, s.buckets[k:])
	clear(s.buckets[n:])
	s.buckets = s.buckets[:n]
	s.n -= evicted
	return evicted
}

// Len returns the number of ids in the set.
func (s *Set) Len() int { return s.n }

// Buckets returns the number of time buckets currently held.
func (s *Set) Buckets() int { return len(s.buckets) }
