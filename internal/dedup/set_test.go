package dedup

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func idN(n uint64) ID {
	var id ID
	for i := range 8 {
		id[i] = byte(n >> (8 * i))
	}
	id[15] = 1 // never the nil UUID unless asked
	return id
}

func randomID(r *rand.Rand) ID {
	var id ID
	a, b := r.Uint64(), r.Uint64()
	for i := range 8 {
		id[i], id[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return id
}

func TestSet(t *testing.T) {
	type op struct {
		kind string // add, has, evict
		id   ID
		at   time.Duration // offset from t0
		want int           // add/has: 1 true, 0 false; evict: count
		len  int
	}
	a, b, c, zero := idN(1), idN(2), idN(3), ID{}
	tests := []struct {
		name string
		ops  []op
	}{
		{"add twice", []op{
			{"add", a, 0, 1, 1},
			{"add", a, 0, 0, 1},
			{"has", a, 0, 1, 1},
			{"has", b, 0, 0, 1},
		}},
		{"nil UUID is an id like any other", []op{
			{"has", zero, 0, 0, 0},
			{"add", zero, 0, 1, 1},
			{"add", zero, time.Hour, 0, 1},
			{"has", zero, 0, 1, 1},
			{"evict", ID{}, 10 * time.Minute, 1, 0},
			{"has", zero, 0, 0, 0},
		}},
		{"id known under another timestamp", []op{
			{"add", a, 0, 1, 1},
			{"add", a, 3 * time.Hour, 0, 1},
			{"has", a, 5 * time.Hour, 1, 1},
		}},
		{"eviction boundary: bucket [0,10m) ends at 10m", []op{
			{"add", a, 0, 1, 1},
			{"add", b, 10*time.Minute - 1, 1, 2},
			{"add", c, 10 * time.Minute, 1, 3},
			{"evict", ID{}, 10*time.Minute - 1, 0, 3},
			{"evict", ID{}, 10 * time.Minute, 2, 1},
			{"has", a, 0, 0, 1},
			{"has", b, 10*time.Minute - 1, 0, 1},
			{"has", c, 10 * time.Minute, 1, 1},
			{"evict", ID{}, 20*time.Minute - 1, 0, 1},
			{"evict", ID{}, 20 * time.Minute, 1, 0},
		}},
		{"evict with nothing held", []op{
			{"evict", ID{}, time.Hour, 0, 0},
		}},
		{"evicted id is new again", []op{
			{"add", a, 0, 1, 1},
			{"evict", ID{}, time.Hour, 1, 0},
			{"add", a, 0, 1, 1},
		}},
		{"buckets before the epoch", []op{
			{"add", a, -time.Duration(t0.UnixNano()) - time.Nanosecond, 1, 1}, // 1969-12-31T23:59:59.999999999
			{"add", b, -time.Duration(t0.UnixNano()), 1, 2},                   // 1970-01-01T00:00:00
			{"evict", ID{}, -time.Duration(t0.UnixNano()), 1, 1},
			{"has", b, 0, 1, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(10 * time.Minute)
			for i, o := range tt.ops {
				at := t0.Add(o.at)
				var got int
				switch o.kind {
				case "add":
					got = b2i(s.Add(o.id, at))
				case "has":
					got = b2i(s.Contains(o.id, at))
				case "evict":
					got = s.EvictBefore(at)
				}
				if got != o.want || s.Len() != o.len {
					t.Fatalf("op %d %s(%v, %v) = %d, Len %d; want %d, Len %d", i, o.kind, o.id, at, got, s.Len(), o.want, o.len)
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSetDefaultsAndExtremeTimes(t *testing.T) {
	s := NewSet(0)
	if s.width != int64(DefaultBucket) {
		t.Fatalf("NewSet(0) width = %v, want %v", time.Duration(s.width), DefaultBucket)
	}
	a, b := idN(1), idN(2)
	if !s.Add(a, time.Time{}) || !s.Add(b, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("Add with extreme times failed")
	}
	if !s.Contains(a, time.Time{}) || !s.Contains(b, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("Contains with extreme times failed")
	}
	if n := s.EvictBefore(t0); n != 1 || s.Contains(a, time.Time{}) {
		t.Fatalf("EvictBefore(now) = %d, want the year-1 id evicted", n)
	}
}

// TestSetMatchesMap runs random operations against a map-based model.
func TestSetMatchesMap(t *testing.T) {
	const width = time.Minute
	r := rand.New(rand.NewPCG(9, 9))
	s := NewSet(width)
	model := map[ID]int64{} // id -> bucket index
	var pool []ID
	floor := func(at time.Time) int64 {
		ns := at.UnixNano()
		i := ns / int64(width)
		if ns%int64(width) < 0 {
			i--
		}
		return i
	}
	now := t0
	for step := range 100000 {
		at := now.Add(-time.Duration(r.Int64N(int64(30 * time.Minute))))
		var id ID
		if len(pool) > 0 && r.IntN(3) > 0 {
			id = pool[r.IntN(len(pool))]
		} else {
			id = randomID(r)
			if r.IntN(1000) == 0 {
				id = ID{}
			}
			pool = append(pool, id)
		}
		switch k := r.IntN(100); {
		case k < 50:
			_, had := model[id]
			if !had {
				model[id] = floor(at)
			}
			if got := s.Add(id, at); got == had {
				t.Fatalf("step %d: Add = %v, model had = %v", step, got, had)
			}
		case k < 98:
			_, had := model[id]
			if got := s.Contains(id, at); got != had {
				t.Fatalf("step %d: Contains = %v, model = %v", step, got, had)
			}
		default:
			now = now.Add(time.Duration(r.Int64N(int64(5 * time.Minute))))
			cut := now.Add(-20 * time.Minute).Add(time.Duration(r.Int64N(int64(time.Minute))))
			want := 0
			for id, b := range model {
				if (b+1)*int64(width) <= cut.UnixNano() {
					delete(model, id)
					want++
				}
			}
			if got := s.EvictBefore(cut); got != want {
				t.Fatalf("step %d: EvictBefore = %d, model evicted %d", step, got, want)
			}
			if len(pool) > 10000 {
				pool = pool[len(pool)-5000:]
			}
		}
		if s.Len() != len(model) {
			t.Fatalf("step %d: Len = %d, model %d", step, s.Len(), len(model))
		}
	}
}

func TestTableGrowth(t *testing.T) {
	// Many ids in one bucket: every one must survive each growth.
	var tb table
	for i := range uint64(100000) {
		if !tb.add(new(idN(i))) {
			t.Fatalf("id %d reported present", i)
		}
	}
	for i := range uint64(100000) {
		if !tb.contains(new(idN(i))) {
			t.Fatalf("id %d lost", i)
		}
		if tb.contains(new(idN(i + 100000))) {
			t.Fatalf("id %d found but never added", i+100000)
		}
	}
	if load := float64(tb.n) / float64(len(tb.slots)); load > 0.8 || load < 8.0/15-0.01 {
		t.Fatalf("load %.3f outside [8/15, 4/5]", load)
	}
}

func TestSetAllocs(t *testing.T) {
	s := NewSet(10 * time.Minute)
	r := rand.New(rand.NewPCG(1, 1))
	ids := make([]ID, 1000)
	for i := range ids {
		ids[i] = randomID(r)
		s.Add(ids[i], t0.Add(time.Duration(i)*time.Minute/100))
	}
	miss := randomID(r)
	n := testing.AllocsPerRun(100, func() {
		for i, id := range ids {
			s.Contains(id, t0.Add(time.Duration(i)*time.Minute/100))
			s.Add(id, t0.Add(time.Duration(i)*time.Minute/100))
		}
		s.Contains(miss, t0)
	})
	if n != 0 {
		t.Fatalf("Contains/Add of held ids allocate %v times", n)
	}
}

// fill adds n random ids spread over the given number of buckets.
func fill(s *Set, r *rand.Rand, n, buckets int, width time.Duration) {
	for i := range n {
		s.Add(randomID(r), t0.Add(time.Duration(i%buckets)*width+time.Duration(r.Int64N(int64(width)))))
	}
}

// BenchmarkSetMemory adds 10M random ids over 10 buckets and reports the
// heap they hold per id.
func BenchmarkSetMemory(b *testing.B) {
	const n, buckets, width = 10_000_000, 10, 10 * time.Minute
	var perID float64
	for b.Loop() {
		r := rand.New(rand.NewPCG(1, 2))
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		s := NewSet(width)
		fill(s, r, n, buckets, width)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if s.Len() != n {
			b.Fatalf("Len = %d", s.Len())
		}
		perID = float64(ms.HeapAlloc-before) / float64(n)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perID, "bytes/id")
}

// benchSet is a set holding 1M ids over 10 buckets, as after an hour of
// live tail over a large fleet.
func benchSet(b *testing.B) (*Set, []ID, []time.Time) {
	const n, buckets, width = 1_000_000, 10, 10 * time.Minute
	r := rand.New(rand.NewPCG(3, 4))
	s := NewSet(width)
	ids := make([]ID, n)
	ats := make([]time.Time, n)
	for i := range ids {
		ids[i] = randomID(r)
		ats[i] = t0.Add(time.Duration(i%buckets)*width + time.Duration(r.Int64N(int64(width))))
		s.Add(ids[i], ats[i])
	}
	return s, ids, ats
}

func BenchmarkContainsHit(b *testing.B) {
	s, ids, ats := benchSet(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !s.Contains(ids[i], ats[i]) {
			b.Fatal("miss")
		}
		if i++; i == len(ids) {
			i = 0
		}
	}
}

func BenchmarkContainsMiss(b *testing.B) {
	s, _, ats := benchSet(b)
	r := rand.New(rand.NewPCG(5, 6))
	miss := make([]ID, 4096)
	for i := range miss {
		miss[i] = randomID(r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if s.Contains(miss[i&4095], ats[i&4095]) {
			b.Fatal("hit")
		}
		i++
	}
}

// BenchmarkAdd adds new ids to a set of 1M (the cost of a record seen for
// the first time, growth included).
func BenchmarkAdd(b *testing.B) {
	s, _, ats := benchSet(b)
	r := rand.New(rand.NewPCG(7, 8))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(randomID(r), ats[i&4095])
		i++
	}
}

// BenchmarkAddRepeat adds ids already held: the common case of the live tail.
func BenchmarkAddRepeat(b *testing.B) {
	s, ids, ats := benchSet(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if s.Add(ids[i], ats[i]) {
			b.Fatal("added")
		}
		if i++; i == len(ids) {
			i = 0
		}
	}
}
