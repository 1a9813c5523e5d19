package ledger

import (
	"reflect"
	"testing"
	"time"
)

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func h(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

func TestOwns(t *testing.T) {
	all := []Claim{
		{Job: "tail", From: h(10), Seq: 5}, // open-ended, every fleet
		{Job: "bf-a", From: h(0), To: h(12), FleetIDs: []string{"A"}, Fleets: []string{"A"}, Seq: 7},
		{Job: "bf-ref", From: h(0), To: h(6), FleetRefs: []string{"r1"}, Fleets: []string{"C"}, Seq: 9}, // r1 resolved to fleet C
		{Job: "bf-all", From: h(2), To: h(20), Seq: 11},
		{Job: "later", From: h(0), To: h(30), Seq: 20},                               // after bf-all: irrelevant to it
		{Job: "inverted", From: h(5), To: h(1), Seq: 3},                              // holds nothing
		{Job: "bf-none", From: h(0), To: h(30), FleetRefs: []string{"gone"}, Seq: 4}, // a filter that resolved to no fleet
	}
	v := NewView(all[3], all)
	for _, tc := range []struct {
		name     string
		fleet    string
		at       time.Time
		wantOwns bool
	}{
		{"before its range", "B", h(1), false},
		{"mine: no earlier claim", "B", h(3), true},
		{"fleet A's backfill came first", "A", h(3), false},
		{"fleet A after A's range, before the tail", "A", h(10).Add(-time.Nanosecond), false},
		{"fleet_ref r1, resolved to C, claimed first", "C", h(5), false},
		{"fleet C after r1's range", "C", h(6), true},
		{"unknown fleet: only claims of every fleet select it", "", h(5), true},
		{"the tail came first", "B", h(10), false},
		{"end is exclusive", "B", h(20), false},
	} {
		if got := v.Owns(tc.fleet, tc.at); got != tc.wantOwns {
			t.Errorf("%s: Owns(%q, %v) = %v, want %v", tc.name, tc.fleet, tc.at, got, tc.wantOwns)
		}
	}
	if got := len(v.Earlier()); got != 4 {
		t.Errorf("earlier claims = %d, want 4 (the later, the inverted one and itself excluded)", got)
	}
}

func TestFetch(t *testing.T) {
	all := []Claim{
		{Job: "tail", From: h(10), Seq: 1},
		{Job: "bf-a", From: h(0), To: h(4), FleetIDs: []string{"A"}, Fleets: []string{"A"}, Seq: 2},
		{Job: "bf-ref", From: h(4), To: h(6), FleetRefs: []string{"r1"}, Fleets: []string{"A"}, Seq: 3},
		{Job: "me", From: h(0), To: h(24), Seq: 4},
	}
	v := NewView(all[3], all)
	for _, tc := range []struct {
		name  string
		fleet string
		w     Span
		want  []Span
	}{
		{"fleet A: skip A's ranges and the tail's", "A", Span{h(0), h(24)}, []Span{{h(6), h(10)}}},
		{"fleet B: only the tail's taken", "B", Span{h(0), h(24)}, []Span{{h(0), h(10)}}},
		{"unknown fleet", "", Span{h(0), h(24)}, []Span{{h(0), h(10)}}},
		{"window outside the claim", "B", Span{h(30), h(40)}, nil},
		{"window inside the tail's", "B", Span{h(11), h(12)}, nil},
	} {
		if got := v.Fetch(tc.fleet, tc.w); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Fetch = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A second tail gets only what no claim before it holds; "me" came
	// after it.
	tail := NewView(Claim{Job: "tail2", From: h(0), Seq: 3}, all)
	got := tail.Fetch("A", Span{h(0), h(48)})
	want := []Span{{h(4), h(10)}}
	if got := NewView(Claim{Job: "tail3", From: h(0), Seq: 9}, all).Fetch("B", Span{h(0), h(48)}); len(got) != 0 {
		t.Errorf("tail after every claim, fleet B: Fetch = %v, want nothing", got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("second tail: Fetch = %v, want %v", got, want)
	}
}

func TestSpans(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []Span
		want []Span
	}{
		{"open minus closed", subtract([]Span{{From: h(0)}}, Span{h(2), h(3)}), []Span{{h(0), h(2)}, {From: h(3)}}},
		{"minus an inverted span: unchanged", subtract([]Span{{h(0), h(4)}}, Span{h(3), h(1)}), []Span{{h(0), h(4)}}},
		{"within an inverted span: nothing", intersect([]Span{{h(0), h(4)}}, Span{h(3), h(1)}), nil},
		{"closed minus open", subtract([]Span{{h(0), h(4)}}, Span{From: h(2)}), []Span{{h(0), h(2)}}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
