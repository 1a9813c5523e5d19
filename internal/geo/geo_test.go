package geo

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/uber/h3-go/v4"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

func TestNewEnricher(t *testing.T) {
	tests := []struct {
		in      []int
		want    []int
		wantErr string
	}{
		{nil, []int{9, 7, 5}, ""},
		{[]int{}, []int{9, 7, 5}, ""},
		{[]int{0, 10, 5, 5}, []int{10, 5, 0}, ""},
		{[]int{12}, nil, "H3 resolution 12: must be 0..10"},
		{[]int{11}, nil, "H3 resolution 11: must be 0..10"},
		{[]int{9, -1}, nil, "H3 resolution -1: must be 0..10"},
	}
	for _, tt := range tests {
		e, err := NewEnricher(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("NewEnricher(%v) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewEnricher(%v): %v", tt.in, err)
		}
		if !slices.Equal(e.Resolutions(), tt.want) {
			t.Errorf("NewEnricher(%v).Resolutions() = %v, want %v", tt.in, e.Resolutions(), tt.want)
		}
	}
}

func TestNewEnricherDoesNotAliasInput(t *testing.T) {
	in := []int{5, 9}
	e, err := NewEnricher(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0] = 1
	if !slices.Equal(e.Resolutions(), []int{9, 5}) {
		t.Fatalf("Resolutions() = %v after caller modified its slice", e.Resolutions())
	}
}

func TestParseResolutions(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"9,7,5", []int{9, 7, 5}, ""},
		{"5,7,9", []int{9, 7, 5}, ""},
		{" 5 , 9,5 ", []int{9, 5}, ""},
		{"0", []int{0}, ""},
		{"10", []int{10}, ""},
		{"", []int{9, 7, 5}, ""},
		{"9,x,5", nil, `H3 resolution "x": not an integer`},
		{"9,,5", nil, `H3 resolution "": not an integer`},
		{"9,12", nil, "H3 resolution 12: must be 0..10"},
		{"-3", nil, "H3 resolution -3: must be 0..10"},
	}
	for _, tt := range tests {
		got, err := ParseResolutions(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseResolutions(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseResolutions(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseResolutions(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func randomLatLng(r *rand.Rand) h3.LatLng {
	return h3.LatLng{Lat: r.Float64()*180 - 90, Lng: r.Float64()*360 - 180}
}

func allResolutions() *Enricher {
	e, err := NewEnricher([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if err != nil {
		panic(err)
	}
	return e
}

func TestEnrichParentsMatchH3(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	e := allResolutions()
	// Include pentagons: their parent digits differ from hexagons' (deleted
	// k-axis subsequence) and are a classic source of bit-twiddling bugs.
	cells := append([]h3.Cell(nil), h3.Pentagons(11)...)
	for range 20000 {
		cells = append(cells, h3.LatLngToCell(randomLatLng(r), 11))
	}
	for _, c := range cells {
		l := record.Location{H3: [12]int64{11: int64(c)}}
		e.Enrich(&l)
		for res := 0; res <= 10; res++ {
			if want := int64(c.Parent(res)); l.H3[res] != want {
				t.Fatalf("cell %s: H3[%d] = %x, want h3 Parent = %x", c, res, l.H3[res], want)
			}
		}
		if l.H3[11] != int64(c) {
			t.Fatalf("cell %s: H3[11] changed to %x", c, l.H3[11])
		}
	}
}

func TestEnrichFillsOnlyConfigured(t *testing.T) {
	e, err := NewEnricher(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := h3.LatLngToCell(h3.LatLng{Lat: 37.7749, Lng: -122.4194}, 11)
	l := record.Location{H3: [12]int64{11: int64(c)}}
	e.Enrich(&l)
	for res := range 11 {
		set := res == 9 || res == 7 || res == 5
		if (l.H3[res] != 0) != set {
			t.Errorf("H3[%d] = %x, set = %v, want set = %v", res, l.H3[res], l.H3[res] != 0, set)
		}
	}
}

func TestEnrichDerivesFromCoordinates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	e := allResolutions()
	for range 2000 {
		ll := randomLatLng(r)
		l := record.Location{HasPosition: true, Latitude: ll.Lat, Longitude: ll.Lng}
		e.Enrich(&l)
		want := h3.LatLngToCell(ll, 11)
		if l.H3[11] != int64(want) {
			t.Fatalf("%v: H3[11] = %x, want LatLngToCell = %s", ll, l.H3[11], want)
		}
		if l.H3[5] != int64(want.Parent(5)) {
			t.Fatalf("%v: H3[5] = %x, want %s", ll, l.H3[5], want.Parent(5))
		}
	}
}

func TestEnrichKeepsAPICell(t *testing.T) {
	// When the API sends h3_index_11 it wins over the coordinates, even if
	// they disagree: the bridge forwards what the API says.
	e := allResolutions()
	api := h3.LatLngToCell(h3.LatLng{Lat: 48.85, Lng: 2.35}, 11)
	l := record.Location{HasPosition: true, Latitude: -33.86, Longitude: 151.2, H3: [12]int64{11: int64(api)}}
	e.Enrich(&l)
	if l.H3[11] != int64(api) || l.H3[9] != int64(api.Parent(9)) {
		t.Fatalf("H3[11] = %x, H3[9] = %x; want API cell %s and its parent", l.H3[11], l.H3[9], api)
	}
}

func TestEnrichLeavesZeros(t *testing.T) {
	e := allResolutions()
	tests := []struct {
		name string
		l    record.Location
	}{
		{"no position no h3", record.Location{}},
		{"coordinates but no position flag", record.Location{Latitude: 10, Longitude: 10}},
		{"NaN latitude", record.Location{HasPosition: true, Latitude: math.NaN(), Longitude: 1}},
		{"Inf longitude", record.Location{HasPosition: true, Latitude: 1, Longitude: math.Inf(1)}},
		{"h3 at resolution 9", record.Location{H3: [12]int64{11: int64(h3.LatLngToCell(h3.LatLng{Lat: 1, Lng: 1}, 9))}}},
		{"h3 garbage", record.Location{H3: [12]int64{11: 12345}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l
			e.Enrich(&l)
			for res := range 11 {
				if l.H3[res] != 0 {
					t.Errorf("H3[%d] = %x, want 0", res, l.H3[res])
				}
			}
			if l.H3[11] != tt.l.H3[11] {
				t.Errorf("H3[11] = %x, want unchanged %x", l.H3[11], tt.l.H3[11])
			}
		})
	}
}

func TestEnrichAllocs(t *testing.T) {
	e, _ := NewEnricher(nil)
	c := int64(h3.LatLngToCell(h3.LatLng{Lat: 37.7749, Lng: -122.4194}, 11))
	var l record.Location
	if n := testing.AllocsPerRun(100, func() { l.H3 = [12]int64{11: c}; e.Enrich(&l) }); n != 0 {
		t.Fatalf("Enrich with h3_index_11 allocates %v times per call, want 0", n)
	}
}

func BenchmarkEnrich(b *testing.B) {
	e, _ := NewEnricher(nil)
	c := int64(h3.LatLngToCell(h3.LatLng{Lat: 37.7749, Lng: -122.4194}, 11))
	var l record.Location
	b.ReportAllocs()
	for b.Loop() {
		l.H3 = [12]int64{11: c}
		e.Enrich(&l)
	}
}

// BenchmarkEnrichDerive measures the path where the API sent no
// h3_index_11 and the cell is derived from coordinates (cgo).
func BenchmarkEnrichDerive(b *testing.B) {
	e, _ := NewEnricher(nil)
	l := record.Location{HasPosition: true, Latitude: 37.7749, Longitude: -122.4194}
	b.ReportAllocs()
	for b.Loop() {
		l.H3 = [12]int64{}
		e.Enrich(&l)
	}
}
