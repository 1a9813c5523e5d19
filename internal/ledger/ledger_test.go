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
		{Job: "tail", From: h(10), Seq: 5},                                       // open-ended, every fleet
		{Job: "bf-a", From: h(0), To: h(12), FleetIDs: []string{"A"}, Seq: 7},    // fleet A only
		{Job: "bf-ref", From: h(0), To: h(6), FleetRefs: []string{"r1"}, Seq: 9}, // by fleet_ref
		{Job: "bf-all", From: h(2), To: h(20), Seq: 11},
		{Job: "later", From: h(0), To: h(30), Seq: 20}, // after bf-all: irrelevant to it
	}
	self := all[3]
	v := NewView(self, all)
	for _, tc := range []struct {
		name     string
		id, ref  string
		at       time.Time
		wantOwns bool
	}{
		{"before its range", "B", "", h(1), false},
		{"mine: no earlier claim", "B", "", h(3), true},
		{"fleet A's backfill came first", "A", "", h(3), false},
		{"fleet A after A's range, before the tail", "A", "", h(10).Add(-time.Nanosecond), false},
		{"fleet_ref r1 claimed first", "C", "r1", h(5), false},
		{"fleet_ref r1 after its range", "C", "r1", h(6), true},
		{"record without ref is not r1's", "C", "", h(5), true},
		{"the tail came first", "B", "", h(10), false},
		{"end is exclusive", "B", "", h(20), false},
	} {
		if got := v.Owns(tc.id, tc.ref, tc.at); got != tc.wantOwns {
			t.Errorf("%s: Owns(%q, %q, %v) = %v, want %v", tc.name, tc.id, tc.ref, tc.at, got, tc.wantOwns)
		}
	}
	if got := len(v.Earlier()); got != 3 {
		t.Errorf("earlier claims = %d, want 3 (the later one and itself excluded)", got)
	}
}

func TestFetch(t *testing.T) {
	all := []Claim{
		{Job: "tail", From: h(10), Seq: 1},
		{Job: "bf-a", From: h(0), To: h(4), FleetIDs: []string{"A"}, Seq: 2},
		{Job: "bf-ref", From: h(4), To: h(6), FleetRefs: []string{"r1"}, Seq: 3},
		{Job: "me", From: h(0), To: h(24), Seq: 4},
	}
	v := NewView(all[3], all)
	for _, tc := range []struct {
		name  string
		fleet string
		w     Span
		want  []Span
	}{
		{"fleet A: skip A's range and the tail's", "A", Span{h(0), h(24)}, []Span{{h(4), h(10)}}},
		{"fleet B: only the tail's taken; ref claims are decided per record", "B", Span{h(0), h(24)}, []Span{{h(0), h(10)}}},
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

func TestSubtractOpen(t *testing.T) {
	got := subtract([]Span{{From: h(0)}}, Span{h(2), h(3)})
	want := []Span{{h(0), h(2)}, {From: h(3)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subtract = %v, want %v", got, want)
	}
}
