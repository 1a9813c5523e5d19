package avro

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	twmb "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/catena-bridge/catena-bridge/schemas"
)

// expectedDecoded is expectedEvent with timestamps as UTC time.Time, which is
// what Decoder.Decode returns.
func expectedDecoded(t *testing.T, i int) map[string]any {
	f := fixtures(t)[i]
	m := expectedEvent(f.loc, f.ingestedAt)
	for _, spec := range layout {
		if us, ok := m[spec.name].(int64); ok && spec.kind == kTimestamp {
			m[spec.name] = time.UnixMicro(us).UTC()
		}
	}
	return m
}

func TestDecodeRoundTrip(t *testing.T) {
	_, cl := newRegistry(t)
	c := newTestCodec(t)
	id, err := Register(context.Background(), cl, testSubject, c)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(cl, c)
	for i, f := range fixtures(t) {
		for _, fr := range []struct {
			name string
			f    Framing
		}{{"confluent", ConfluentFraming(id)}, {"soe", SingleObjectFraming(c)}} {
			t.Run(f.name+"/"+fr.name, func(t *testing.T) {
				val, err := NewEncoder(c, fr.f).Append(nil, f.loc, f.ingestedAt)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.Decode(context.Background(), val)
				if err != nil {
					t.Fatal(err)
				}
				want := expectedDecoded(t, i)
				if !reflect.DeepEqual(got, want) {
					for k := range want {
						if !reflect.DeepEqual(got[k], want[k]) {
							t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
						}
					}
					t.Fatalf("decoded event differs (%d fields, want %d)", len(got), len(want))
				}
			})
		}
	}
}

// TestDecodeCachesWriterSchema: the writer schema is fetched once per id.
func TestDecodeCachesWriterSchema(t *testing.T) {
	reg, cl := newRegistry(t)
	var fetches atomic.Int32
	reg.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			fetches.Add(1)
		}
		return false
	})
	c := newTestCodec(t)
	id, err := Register(context.Background(), cl, testSubject, c)
	if err != nil {
		t.Fatal(err)
	}
	f := fixtures(t)[1]
	val, _ := NewEncoder(c, ConfluentFraming(id)).Append(nil, f.loc, f.ingestedAt)
	d := NewDecoder(cl, c)
	for range 3 {
		if _, err := d.Decode(context.Background(), val); err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("fetched the schema %d times, want 1", n)
	}
}

// TestDecodeNewerWriter decodes an event written by a newer schema version
// (one more optional field) with that version, fetched by id: tail shows
// what was written, including fields this binary does not know.
func TestDecodeNewerWriter(t *testing.T) {
	reg, cl := newRegistry(t)
	c := newTestCodec(t)
	v2 := strings.Replace(schemas.VehicleLocation, `    {"name": "ingested_at"`,
		`    {"name": "battery_level", "type": ["null", "double"], "default": null, "doc": "new in v2"},
    {"name": "ingested_at"`, 1)
	id, _, err := reg.RegisterSchema(testSubject, sr.Schema{Schema: v2})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := twmb.Parse(v2)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedDecoded(t, 1)
	in := expectedEvent(fixtures(t)[1].loc, fixtures(t)[1].ingestedAt)
	in["battery_level"] = 0.75
	want["battery_level"] = 0.75
	body, err := ts.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewDecoder(cl, c).Decode(context.Background(), append(ConfluentFraming(id).AppendHeader(nil), body...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	js, err := JSON(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(js, []byte(`"ingested_at":"2025-03-14T09:30:00Z","battery_level":0.75}`)) {
		t.Fatalf("unknown fields must come last, after the schema's: %s", js)
	}
}

func TestDecodeErrors(t *testing.T) {
	_, cl := newRegistry(t)
	c := newTestCodec(t)
	id, err := Register(context.Background(), cl, testSubject, c)
	if err != nil {
		t.Fatal(err)
	}
	f := fixtures(t)[0]
	conf, _ := NewEncoder(c, ConfluentFraming(id)).Append(nil, f.loc, f.ingestedAt)
	soe, _ := NewEncoder(c, SingleObjectFraming(c)).Append(nil, f.loc, f.ingestedAt)
	badFP := bytes.Clone(soe)
	badFP[5] ^= 0xFF

	for _, tc := range []struct {
		name  string
		noReg bool
		value []byte
		want  string
	}{
		{"empty", false, nil, "empty value"},
		{"unknown framing", false, []byte{0x7B, 0x22}, "unknown framing (first bytes 7b 22)"},
		{"short confluent header", false, []byte{0, 0, 1}, "unknown framing"},
		{"unknown schema id", false, append([]byte{0, 0, 0, 0x30, 0x39}, conf[5:]...), "fetch schema id 12345"},
		{"confluent without registry", true, conf, "schema id 1, but no schema registry is configured"},
		{"wrong fingerprint", false, badFP, "single-object fingerprint"},
		{"truncated", false, conf[:len(conf)-3], "decode event body"},
		{"trailing bytes", false, append(bytes.Clone(soe), 0), "bytes left after the record"},
		{"bad union branch", false, append(bytes.Clone(soe[:10]), soeBodyWithBadUnion()...), "field fleet_ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scl := cl
			if tc.noReg {
				scl = nil
			}
			_, err := NewDecoder(scl, c).Decode(context.Background(), tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// soeBodyWithBadUnion is a body whose fleet_ref union index is 2 (of 2).
func soeBodyWithBadUnion() []byte {
	var b []byte
	b = appendString(b, "0b5e1c4a-3f6d-4e8a-9c2b-7d1e5f3a9b04")
	b = appendString(b, "5f0c7d2e-8a1b-4c3d-9e6f-2a4b6c8d0e1f")
	return appendLong(b, 2)
}

func TestJSON(t *testing.T) {
	c := newTestCodec(t)
	d := NewDecoder(nil, c)
	f := fixtures(t)[0]
	val, err := NewEncoder(c, SingleObjectFraming(c)).Append(nil, f.loc, f.ingestedAt)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Decode(context.Background(), val)
	if err != nil {
		t.Fatal(err)
	}
	js, err := JSON(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(js, []byte(`{"id":"0b5e1c4a-3f6d-4e8a-9c2b-7d1e5f3a9b04","fleet_id":"5f0c7d2e-8a1b-4c3d-9e6f-2a4b6c8d0e1f",`)) {
		t.Errorf("fields not in schema order: %s", js)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, js)
	}
	for k, want := range map[string]any{
		"created_at":          "2025-03-14T09:26:53.589793Z",
		"updated_at":          "2025-03-14T09:27:01.123456Z",
		"occurred_at":         "2025-03-14T08:26:53.000001Z",
		"ingested_at":         "2025-03-14T09:30:00.5Z",
		"h3_index_11":         json.Number("626707369226039295"),
		"latitude":            json.Number("47.376887"),
		"altitude":            json.Number("-12.5"),
		"fleet_ref":           "north-depot",
		"extras":              `{"ignition":true,"note":"Zürich → Genève"}`,
		"coolant_temperature": json.Number("363.15"),
	} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	if len(m) != len(layout) {
		t.Errorf("%d keys, want %d", len(m), len(layout))
	}

	// Nulls are null, not absent and not wrapped.
	val, _ = NewEncoder(c, SingleObjectFraming(c)).Append(nil, fixtures(t)[1].loc, fixtures(t)[1].ingestedAt)
	ev, _ = d.Decode(context.Background(), val)
	js, _ = JSON(ev)
	for _, frag := range []string{`"fleet_ref":null,`, `"latitude":null,`, `"h3_index_11":null,`, `"created_at":"1969-12-31T23:59:59.999999Z"`} {
		if !bytes.Contains(js, []byte(frag)) {
			t.Errorf("JSON lacks %s: %s", frag, js)
		}
	}
}
