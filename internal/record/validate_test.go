package record

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		mutate func(*Location)
		field  string // "" = valid
		reason string
		value  string
	}{
		{name: "sample", raw: sample},
		{name: "no position", raw: withField("location", "null")},
		{name: "no h3", raw: withField("h3_index_11", "null")},
		{name: "neither", raw: withField("location", "null"), mutate: func(l *Location) { l.H3[11] = 0 }},
		{name: "upper-case uuid", raw: withField("id", `"9B2D6F1E-8A3C-4D5E-B6F7-0A1B2C3D4E5F"`)},
		{name: "edges", raw: withField("location", `{"type":"Point","coordinates":[-180,90]}`), mutate: func(l *Location) { l.H3[11] = 0 }},
		{name: "edges 2", raw: withField("location", `{"type":"Point","coordinates":[180,-90,-12.5]}`), mutate: func(l *Location) { l.H3[11] = 0 }},
		{name: "missing id", raw: withField("id", ""), field: "id", reason: ReasonMissingID, value: "null"},
		{name: "null id", raw: withField("id", "null"), field: "id", reason: ReasonMissingID, value: "null"},
		{name: "empty id", raw: withField("id", `""`), field: "id", reason: ReasonMissingID, value: "null"},
		{name: "short id", raw: withField("id", `"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5"`), field: "id", reason: ReasonBadID, value: `"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5"`},
		{name: "id no dashes", raw: withField("id", `"9b2d6f1e8a3c4d5eb6f70a1b2c3d4e5f0000"`), field: "id", reason: ReasonBadID},
		{name: "id non-hex", raw: withField("id", `"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5g"`), field: "id", reason: ReasonBadID},
		{name: "null fleet", raw: withField("fleet_id", "null"), field: "fleet_id", reason: ReasonMissingFleetID, value: "null"},
		{name: "absent fleet", raw: withField("fleet_id", ""), field: "fleet_id", reason: ReasonMissingFleetID, value: "null"},
		{name: "bad fleet", raw: withField("fleet_id", `"acme"`), field: "fleet_id", reason: ReasonBadFleetID, value: `"acme"`},
		{name: "no created_at", raw: withField("created_at", "null"), field: "created_at", reason: ReasonMissingTimestamp, value: "null"},
		{name: "no updated_at", raw: withField("updated_at", ""), field: "updated_at", reason: ReasonMissingTimestamp, value: "null"},
		{name: "lat > 90", raw: withField("location", `{"type":"Point","coordinates":[10,90.5]}`), field: "location.coordinates", reason: ReasonBadCoordinates, value: "[10,90.5]"},
		{name: "lat < -90", raw: withField("location", `{"type":"Point","coordinates":[10,-91]}`), field: "location.coordinates", reason: ReasonBadCoordinates, value: "[10,-91]"},
		{name: "swapped", raw: withField("location", `{"type":"Point","coordinates":[37.7,-122.4]}`), field: "location.coordinates", reason: ReasonBadCoordinates, value: "[37.7,-122.4]"},
		{name: "lon > 180", raw: withField("location", `{"type":"Point","coordinates":["180.0001",0,1]}`), field: "location.coordinates", reason: ReasonBadCoordinates, value: "[180.0001,0,1]"},
		{name: "NaN", raw: sample, mutate: func(l *Location) { l.Latitude = math.NaN() }, field: "location.coordinates", reason: ReasonBadCoordinates},
		{name: "Inf", raw: sample, mutate: func(l *Location) { l.Longitude = math.Inf(-1) }, field: "location.coordinates", reason: ReasonBadCoordinates},
		{name: "Inf altitude", raw: sample, mutate: func(l *Location) { a := math.Inf(1); l.Altitude = &a }, field: "location.coordinates", reason: ReasonBadCoordinates},
		{name: "h3 not a cell", raw: withField("h3_index_11", "12345"), field: "h3_index_11", reason: ReasonInvalidH3, value: "12345"},
		{name: "h3 res 10", raw: withField("h3_index_11", `"8a283082800ffff"`), field: "h3_index_11", reason: ReasonInvalidH3, value: "622203769584680959"},
		{name: "h3 bad digit", raw: withField("h3_index_11", `"8b283082800ffff"`), field: "h3_index_11", reason: ReasonInvalidH3},
		{name: "h3 > MaxInt64", raw: withField("h3_index_11", "18446744073709551615"), field: "h3_index_11", reason: ReasonInvalidH3, value: "18446744073709551615"},
		{name: "no connection_id", raw: withField("connection_id", "null"), field: "connection_id", reason: ReasonMissingField, value: "null"},
		{name: "bad connection_id", raw: withField("connection_id", `"conn-1"`), field: "connection_id", reason: ReasonBadUUID, value: `"conn-1"`},
		{name: "no source_name", raw: withField("source_name", ""), field: "source_name", reason: ReasonMissingField, value: "null"},
		{name: "empty source_id", raw: withField("source_id", `""`), field: "source_id", reason: ReasonMissingField, value: "null"},
		{name: "no source_data_hash", raw: withField("source_data_hash", "null"), field: "source_data_hash", reason: ReasonMissingField, value: "null"},
		{name: "bad vehicle_id", raw: withField("vehicle_id", `"truck 7"`), field: "vehicle_id", reason: ReasonBadUUID, value: `"truck 7"`},
		{name: "bad tsp_id", raw: withField("tsp_id", `"samsara"`), field: "tsp_id", reason: ReasonBadUUID, value: `"samsara"`},
		{name: "null driver_id", raw: withField("driver_id", "null")},
		// Precedence: the first problem in the documented order wins.
		{name: "id before fleet", raw: withField("id", "null"), mutate: func(l *Location) { l.FleetID = "" }, field: "id", reason: ReasonMissingID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustDecode(t, tt.raw)
			if tt.mutate != nil {
				tt.mutate(l)
			}
			err := l.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("Validate() = %v, want *Invalid", err)
			}
			if inv.Field != tt.field || inv.Reason != tt.reason || (tt.value != "" && inv.Value != tt.value) {
				t.Errorf("Validate() = %#v, want Field %q Reason %q Value %q", inv, tt.field, tt.reason, tt.value)
			}
		})
	}
}

func TestInvalidError(t *testing.T) {
	tests := []struct {
		err  Invalid
		want string
	}{
		{Invalid{Field: "h3_index_11", Value: "12345", Reason: ReasonInvalidH3}, "h3_index_11 = 12345: not a valid resolution-11 H3 cell"},
		{Invalid{Field: "fleet_id", Value: "null", Reason: ReasonMissingFleetID}, "fleet_id = null: required"},
		{Invalid{Field: "id", Value: `"x"`, Reason: ReasonBadID}, `id = "x": not a UUID`},
		{Invalid{Field: "location.coordinates", Value: "[1,91]", Reason: ReasonBadCoordinates, Msg: "latitude out of range -90..90"}, "location.coordinates = [1,91]: latitude out of range -90..90"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestInvalidValueTruncated(t *testing.T) {
	var l Location
	big := `{"speed":"` + string(make([]byte, 0)) + `0123456789012345678901234567890123456789012345678901234567890123456789x"}`
	err := Decode([]byte(big), &l)
	var inv *Invalid
	if !errors.As(err, &inv) || len(inv.Value) > maxValueLen+len("…") {
		t.Fatalf("Decode = %#v, want Value truncated to %d bytes", err, maxValueLen)
	}
}

func TestValidateAllocs(t *testing.T) {
	l := mustDecode(t, sample)
	if n := testing.AllocsPerRun(100, func() { _ = l.Validate() }); n != 0 {
		t.Fatalf("Validate of a valid record allocates %v times, want 0", n)
	}
}

// TestValidatePushed: a webhook's record has no source_data_hash; pushed, it
// is valid without one, and everything else is checked as for a polled one.
func TestValidatePushed(t *testing.T) {
	var l Location
	if err := Decode([]byte(withField("source_data_hash", "null")), &l); err != nil {
		t.Fatal(err)
	}
	if err := l.ValidatePushed(); err != nil {
		t.Errorf("pushed record without source_data_hash: %v", err)
	}
	if err := l.Validate(); err == nil {
		t.Error("polled record without source_data_hash: valid")
	}
	l = Location{}
	if err := Decode([]byte(withField("fleet_id", "null")), &l); err != nil {
		t.Fatal(err)
	}
	if err := l.ValidatePushed(); err == nil {
		t.Error("pushed record without fleet_id: valid")
	}
}

func TestIsUUID(t *testing.T) {
	good := "6f1d3a2e-3b5c-4a8e-9F1d-2c3b4a5e6f70"
	if !IsUUID(good) {
		t.Fatalf("IsUUID(%q) = false", good)
	}
	for i := range len(good) {
		for _, c := range []byte("-0aAgG z\x00\xff") {
			b := []byte(good)
			b[i] = c
			dash := i == 8 || i == 13 || i == 18 || i == 23
			want := dash && c == '-' || !dash && hexVal(c) >= 0
			if got := IsUUID(string(b)); got != want {
				t.Fatalf("IsUUID(%q) = %v, want %v", b, got, want)
			}
		}
	}
	for _, s := range []string{"", good[:35], good + "0"} {
		if IsUUID(s) {
			t.Fatalf("IsUUID(%q) = true", s)
		}
	}
}

// isUUIDRef is IsUUID byte by byte: the reference of the word-wise one.
func isUUIDRef(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if hexVal(s[i]) < 0 {
			return false
		}
	}
	return true
}

// TestIsUUIDMatchesBytewise checks IsUUID against isUUIDRef with every
// byte value at every position of a UUID, and with random bytes drawn
// mostly from near the hexadecimal digits' edges.
func TestIsUUIDMatchesBytewise(t *testing.T) {
	good := []byte("6f1d3a2e-3b5c-4a8e-9F1d-2c3b4a5e6f70")
	for i := range good {
		for c := range 256 {
			b := append([]byte(nil), good...)
			b[i] = byte(c)
			if got, want := IsUUID(string(b)), isUUIDRef(string(b)); got != want {
				t.Fatalf("IsUUID(%q) = %v, want %v", b, got, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(4, 4))
	edges := []byte("/09:@AFG`afg-\x00\x7f\x80\xff")
	b := make([]byte, 36)
	for range 200_000 {
		copy(b, good)
		for range 1 + r.IntN(4) {
			if r.IntN(2) == 0 {
				b[r.IntN(36)] = edges[r.IntN(len(edges))]
			} else {
				b[r.IntN(36)] = byte(r.IntN(256))
			}
		}
		if got, want := IsUUID(string(b)), isUUIDRef(string(b)); got != want {
			t.Fatalf("IsUUID(%q) = %v, want %v", b, got, want)
		}
	}
}

func FuzzIsUUID(f *testing.F) {
	f.Add("6f1d3a2e-3b5c-4a8e-9F1d-2c3b4a5e6f70")
	f.Add("6f1d3a2e-3b5c-4a8e-9F1d-2c3b4a5e6g70")
	f.Add("6f1d3a2e\x003b5c-4a8e-9F1d-2c3b4a5e6f70")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsUUID(s), isUUIDRef(s); got != want {
			t.Fatalf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	})
}

func BenchmarkIsUUID(b *testing.B) {
	s := "6f1d3a2e-3b5c-4a8e-9f1d-2c3b4a5e6f70"
	for b.Loop() {
		if !IsUUID(s) {
			b.Fatal("not a uuid")
		}
	}
}
