package avro

import (
	"strings"
	"testing"

	hamba "github.com/hamba/avro/v2"
	twmb "github.com/twmb/avro"

	"github.com/catena-bridge/catena-bridge/schemas"
)

// TestSchemaBackwardCompatibleWithV1 guards consumers: the embedded schema
// must read everything written with the first published version
// (testdata/vehicle_location.v1.avsc, never edited). Both Avro
// implementations must agree.
func TestSchemaBackwardCompatibleWithV1(t *testing.T) {
	v1 := string(readFile(t, "testdata/vehicle_location.v1.avsc"))
	if err := backwardCompatible(schemas.VehicleLocation, v1); err != nil {
		t.Fatalf("schemas/vehicle_location.avsc breaks readers of v1: %v", err)
	}
}

// TestBackwardCheckCanFail shows the check above catches the edits that
// break consumers, and lets through the one that does not.
func TestBackwardCheckCanFail(t *testing.T) {
	v1 := string(readFile(t, "testdata/vehicle_location.v1.avsc"))
	for _, tc := range []struct {
		name, old, new string
		compatible     bool
	}{
		{"optional field added", `"fields": [`, `"fields": [{"name": "new_one", "type": ["null", "string"], "default": null},`, true},
		{"required field added", `"fields": [`, `"fields": [{"name": "new_one", "type": "string"},`, false},
		{"default removed from added field", `"fields": [`, `"fields": [{"name": "new_one", "type": ["null", "string"]},`, false},
		{"type changed", `{"name": "speed", "type": ["null", "double"]`, `{"name": "speed", "type": ["null", "string"]`, false},
		{"long narrowed", `{"name": "h3_index_5", "type": ["null", "long"]`, `{"name": "h3_index_5", "type": ["null", "int"]`, false},
		{"record renamed", `"name": "VehicleLocation"`, `"name": "VehicleLocation2"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(v1, tc.old) {
				t.Fatalf("v1 does not contain %q", tc.old)
			}
			next := strings.Replace(v1, tc.old, tc.new, 1)
			err := backwardCompatible(next, v1)
			if tc.compatible && err != nil {
				t.Fatalf("want compatible, got %v", err)
			}
			if !tc.compatible && err == nil {
				t.Fatal("want incompatible, got compatible")
			}
		})
	}
}

// backwardCompatible reports whether reader can read data written with
// writer, by hamba and by twmb/avro; it fails if they disagree.
func backwardCompatible(reader, writer string) error {
	hr, err := hamba.ParseWithCache(reader, "", &hamba.SchemaCache{})
	if err != nil {
		return err
	}
	hw, err := hamba.ParseWithCache(writer, "", &hamba.SchemaCache{})
	if err != nil {
		return err
	}
	tr, err := twmb.Parse(reader)
	if err != nil {
		return err
	}
	tw, err := twmb.Parse(writer)
	if err != nil {
		return err
	}
	herr := hamba.NewSchemaCompatibility().Compatible(hr, hw)
	terr := twmb.CheckCompatibility(tw, tr)
	switch {
	case herr == nil && terr == nil:
		return nil
	case herr != nil && terr != nil:
		return herr
	case herr != nil:
		return &disagreement{"hamba says incompatible (" + herr.Error() + "), twmb/avro compatible"}
	default:
		return &disagreement{"twmb/avro says incompatible (" + terr.Error() + "), hamba compatible"}
	}
}

type disagreement struct{ msg string }

func (d *disagreement) Error() string { return d.msg }
