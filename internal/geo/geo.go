// Package geo enriches records with coarser H3 cells.
//
// The Catena API sends one H3 cell per record, at resolution 11
// (h3_index_11). Consumers group by coarser cells, so the Enricher derives the
// parents of that cell at the configured resolutions (DefaultResolutions:
// 9, 7 and 5). When the API sent no cell but the record has a position, the
// resolution-11 cell is first derived from the coordinates.
//
// Parents are computed by bit arithmetic on the index (the same operation as
// H3's cellToParent, which only rewrites the resolution field and fills the
// unused digits), so enrichment of a record that carries h3_index_11 costs a
// few nanoseconds and no cgo call. Deriving a cell from coordinates goes
// through github.com/uber/h3-go/v4 (cgo).
package geo

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/uber/h3-go/v4"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

// SourceResolution is the resolution of the cell the API sends (h3_index_11).
const SourceResolution = 11

// MaxResolution is the finest resolution an Enricher may be configured
// with: parents must be strictly coarser than the source cell.
const MaxResolution = SourceResolution - 1

// DefaultResolutions are the parent resolutions filled when none are
// configured.
var DefaultResolutions = []int{9, 7, 5}

// Enricher fills coarser H3 cells of a record. It holds no mutable state, so
// one Enricher may be shared by any number of goroutines.
type Enricher struct {
	res []int // sorted descending, deduplicated, each 0..MaxResolution
}

// NewEnricher returns an Enricher filling the given resolutions; nil or empty
// means DefaultResolutions. Duplicates are dropped and the resolutions are
// sorted finest first. The error names the bad value:
// `H3 resolution 12: must be 0..10`.
func NewEnricher(resolutions []int) (*Enricher, error) {
	if len(resolutions) == 0 {
		resolutions = DefaultResolutions
	}
	for _, r := range resolutions {
		if r < 0 || r > MaxResolution {
			return nil, fmt.Errorf("H3 resolution %d: must be 0..%d", r, MaxResolution)
		}
	}
	res := slices.Clone(resolutions)
	slices.Sort(res)
	res = slices.Compact(res)
	slices.Reverse(res)
	return &Enricher{res: res}, nil
}

// ParseResolutions parses a comma-separated list of resolutions such as
// "9,7,5" (spaces around items allowed), deduplicated and sorted finest
// first. An empty string yields DefaultResolutions. The error names the bad
// item: `H3 resolution "x": not an integer`, `H3 resolution 12: must be 0..10`.
func ParseResolutions(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(DefaultResolutions), nil
	}
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		r, err := strconv.Atoi(item)
		if err != nil {
			return nil, fmt.Errorf("H3 resolution %q: not an integer", item)
		}
		if r < 0 || r > MaxResolution {
			return nil, fmt.Errorf("H3 resolution %d: must be 0..%d", r, MaxResolution)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	slices.Reverse(out)
	return out, nil
}

// Resolutions returns the configured resolutions, finest first. The caller
// must not modify the returned slice.
func (e *Enricher) Resolutions() []int { return e.res }

// Enrich fills l.H3 at each configured resolution with the parent of
// l.H3[11].
//
// When l.H3[11] is 0 and l.HasPosition, the resolution-11 cell is first
// derived from (l.Latitude, l.Longitude) and stored in l.H3[11]. A record
// with neither keeps all cells 0, as does one whose coordinates are not
// finite. Enrich expects a validated record: if l.H3[11] is not a
// resolution-11 cell (Location.Validate rejects such records), the parents
// are left 0 rather than computed from garbage.
//
// Enrich does not allocate when the record carries h3_index_11; deriving the
// cell from coordinates costs a cgo call (~1.7µs) and two small allocations
// inside h3-go.
func (e *Enricher) Enrich(l *record.Location) {
	if l.H3[SourceResolution] == 0 && l.HasPosition && finite(l.Latitude) && finite(l.Longitude) {
		c := h3.LatLngToCell(h3.LatLng{Lat: l.Latitude, Lng: l.Longitude}, SourceResolution)
		l.H3[SourceResolution] = int64(c)
	}
	cell := l.H3[SourceResolution]
	if !isCellAtRes(cell, SourceResolution) {
		return
	}
	for _, r := range e.res {
		l.H3[r] = parent(cell, r)
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// H3 index layout (https://h3geo.org/docs/core-library/h3Indexing): bit 63
// reserved (0), bits 59..62 mode (1 = cell), bits 56..58 reserved, bits
// 52..55 resolution, bits 45..51 base cell, then 15 digits of 3 bits, digit 1
// highest; digits finer than the resolution are 7.
const (
	modeOffset  = 59
	resOffset   = 52
	modeCell    = 1
	resMask     = uint64(15) << resOffset
	digitBits   = 3
	maxH3Res    = 15
	headerMask  = uint64(0xff) << 56 // reserved bit, mode, reserved bits
	headerValue = uint64(modeCell) << modeOffset
)

// isCellAtRes is a cheap structural check (header and resolution bits), not
// a full validity check: Validate does that (record.validCell, H3's
// isValidCell in Go).
func isCellAtRes(c int64, res int) bool {
	u := uint64(c)
	return u&headerMask == headerValue && int((u&resMask)>>resOffset) == res
}

// parent is H3's cellToParent for a cell of a finer resolution than res: set
// the resolution field and fill the digits finer than res with 7.
func parent(c int64, res int) int64 {
	u := uint64(c)
	fill := uint64(1)<<((maxH3Res-res)*digitBits) - 1
	u = u&^resMask | uint64(res)<<resOffset | fill
	return int64(u)
}
