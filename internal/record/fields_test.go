package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestFieldAddedInOnePlace: a field added to the table is decoded, kept
// apart from the others, and cleared by null, with no other edit to the
// decoder. The fixture's "vin" field goes into SourceVehicleID (Location has
// no field of its own for it, and the test must not add one).
func TestFieldAddedInOnePlace(t *testing.T) {
	specs := append(fields[:len(fields):len(fields)],
		fieldSpec{name: "vin", kind: kOptString, optStr: func(l *Location) **string { return &l.SourceVehicleID }})
	tbl, err := newTable(specs)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(raw string) (Location, error) {
		var l Location
		d := decoder{t: tbl}
		d.data = []byte(raw)
		l.Raw = d.data
		err := d.record(&l)
		d.finish(&l)
		return l, err
	}
	base := strings.TrimSuffix(strings.TrimSpace(sample), "}")
	l, err := decode(base + `,"source_vehicle_id":null,"vin":"1HGCM82633A004352"}`)
	if err != nil {
		t.Fatal(err)
	}
	if l.SourceVehicleID == nil || *l.SourceVehicleID != "1HGCM82633A004352" || l.ID == "" || l.FleetRef == nil {
		t.Fatalf("vin not decoded next to the other fields: %+v", l)
	}
	if l, _ := decode(base + `,"source_vehicle_id":null,"vin":null}`); l.SourceVehicleID != nil {
		t.Fatalf("vin null left %q", *l.SourceVehicleID)
	}
	if _, err := decode(base + `,"vin":42}`); err == nil || !strings.Contains(err.Error(), "vin") {
		t.Fatalf("vin of the wrong type: %v, want an error naming vin", err)
	}
}

// TestTableRefusesBadSpecs: a spec without its kind's accessor, or a member
// of an unknown object, is refused when the table is built, not at decode.
func TestTableRefusesBadSpecs(t *testing.T) {
	for _, sp := range []fieldSpec{
		{name: "x", kind: kOptString},
		{name: "nowhere.x", kind: kOptString, optStr: func(l *Location) **string { return &l.TspSlug }},
	} {
		if _, err := newTable(append(fields[:len(fields):len(fields)], sp)); err == nil {
			t.Errorf("spec %q accepted", sp.name)
		}
	}
}

// TestKeyOrderDoesNotMatter: Decode guesses each key from the table's order
// (the API's); a record whose keys come in another order (here sorted, as
// encoding/json writes a map, and reversed) decodes to the same Location.
func TestKeyOrderDoesNotMatter(t *testing.T) {
	want := mustDecode(t, sample)
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sample), &m); err != nil {
		t.Fatal(err)
	}
	sorted, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.Reverse(keys)
	var rev strings.Builder
	for i, k := range keys {
		rev.WriteString(map[bool]string{true: "{", false: ","}[i == 0])
		fmt.Fprintf(&rev, "%q:%s", k, m[k])
	}
	rev.WriteString("}")
	for _, raw := range []string{string(sorted), rev.String()} {
		got := mustDecode(t, raw)
		// The raw values are the same JSON, compacted by Marshal.
		for _, v := range [][2]json.RawMessage{{got.Extras, want.Extras}, {got.SourceData, want.SourceData}} {
			var a, b bytes.Buffer
			_, _ = json.Compact(&a, v[0]), json.Compact(&b, v[1])
			if a.String() != b.String() {
				t.Errorf("raw value %s, want %s", v[0], v[1])
			}
		}
		got.Raw, got.Extras, got.SourceData = want.Raw, want.Extras, want.SourceData
		if !reflect.DeepEqual(got, want) {
			t.Errorf("keys in another order decode to\n%+v\nwant\n%+v", got, want)
		}
	}
}
