package schemas

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's field table from vehicle_location.avsc")

const (
	readme     = "../README.md"
	tableBegin = "<!-- fields: generated from schemas/vehicle_location.avsc by schemas/reference_test.go; go test ./schemas -update -->\n"
	tableEnd   = "<!-- fields: end -->\n"
)

// TestReadmeFieldTable keeps the README's field reference equal to the
// schema: a field added, renamed or documented anew in the .avsc fails here
// until the table is regenerated (go test ./schemas -update).
func TestReadmeFieldTable(t *testing.T) {
	want, err := fieldTable(VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(tableBegin)), bytes.Index(doc, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("%s has no field table between %q and %q", readme, tableBegin, tableEnd)
	}
	got := string(doc[i+len(tableBegin) : j])
	if got == want {
		return
	}
	if *update {
		out := append(append(append([]byte{}, doc[:i+len(tableBegin)]...), want...), doc[j:]...)
		if err := os.WriteFile(readme, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the README's field table differs from vehicle_location.avsc; run go test ./schemas -update\n--- got\n%s\n--- want\n%s", got, want)
}

// unitRe finds a unit a field's doc states: "(SI: m/s)", "in degrees",
// "in metres".
var unitRe = regexp.MustCompile(`\(SI: ([^)]+)\)|\bin (degrees|metres)\b`)

// fieldTable renders the schema's fields as a Markdown table: name, Avro
// type, nullability, unit and meaning (the field's doc).
func fieldTable(avsc string) (string, error) {
	var rec struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
			Doc  string          `json:"doc"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(avsc), &rec); err != nil {
		return "", fmt.Errorf("parse vehicle_location.avsc: %w", err)
	}
	var b strings.Builder
	b.WriteString("| field | type | null | unit | meaning |\n|---|---|---|---|---|\n")
	for _, f := range rec.Fields {
		typ, nullable, err := typeName(f.Type)
		if err != nil {
			return "", fmt.Errorf("field %s: %w", f.Name, err)
		}
		unit := ""
		switch {
		case typ == "timestamp-micros":
			unit = "µs since the epoch, UTC"
		case strings.HasPrefix(f.Name, "h3_index_"):
			unit = "H3 index"
		default:
			if m := unitRe.FindStringSubmatch(f.Doc); m != nil {
				unit = m[1] + m[2]
			}
		}
		null := ""
		if nullable {
			null = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, typ, null, unit, strings.ReplaceAll(f.Doc, "|", `\|`))
	}
	return b.String(), nil
}

// typeName names an Avro field type as a reader sees it: a logical type
// over its base, and whether it is a ["null", T] union.
func typeName(raw json.RawMessage) (name string, nullable bool, err error) {
	var union []json.RawMessage
	if json.Unmarshal(raw, &union) == nil {
		if len(union) != 2 || string(union[0]) != `"null"` {
			return "", false, fmt.Errorf("union %s: only [\"null\", T] is used", raw)
		}
		name, _, err = typeName(union[1])
		return name, true, err
	}
	var prim string
	if json.Unmarshal(raw, &prim) == nil {
		return prim, false, nil
	}
	var complexType struct {
		Type        string `json:"type"`
		LogicalType string `json:"logicalType"`
	}
	if err := json.Unmarshal(raw, &complexType); err != nil {
		return "", false, fmt.Errorf("type %s: %w", raw, err)
	}
	if complexType.LogicalType != "" {
		if complexType.LogicalType == "uuid" {
			return "string (uuid)", false, nil
		}
		return complexType.LogicalType, false, nil
	}
	return complexType.Type, false, nil
}
