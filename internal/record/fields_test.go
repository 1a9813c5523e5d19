package record

import (
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
