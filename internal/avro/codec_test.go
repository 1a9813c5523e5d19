package avro

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// TestAppendEventMatchesHamba pins the hand-written encoder to hamba/avro's
// reflective one, byte for byte.
func TestAppendEventMatchesHamba(t *testing.T) {
	c := newTestCodec(t)
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			got, err := c.AppendEvent(nil, f.loc, f.ingestedAt)
			if err != nil {
				t.Fatal(err)
			}
			var e hambaEvent
			toHamba(&e, f.loc, f.ingestedAt)
			want, err := hambaAPI.Marshal(c.Schema(), &e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("hand-written encoding differs from hamba:\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestAppendEventAppends checks that the body is appended after what dst
// holds, and that an error leaves dst's length as it was.
func TestAppendEventAppends(t *testing.T) {
	c := newTestCodec(t)
	f := fixtures(t)[0]
	body, err := c.AppendEvent(nil, f.loc, f.ingestedAt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AppendEvent([]byte("prefix"), f.loc, f.ingestedAt)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("prefix"), body...); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}

	for _, tc := range []struct {
		name   string
		mutate func(*record.Location)
		want   string
	}{
		{"no id", func(l *record.Location) { l.ID = "" }, "id is empty"},
		{"no fleet_id", func(l *record.Location) { l.FleetID = "" }, "fleet_id is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := *f.loc
			tc.mutate(&l)
			dst := []byte("keep")
			out, err := c.AppendEvent(dst, &l, f.ingestedAt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed to %q", out)
			}
			enc := NewEncoder(c, ConfluentFraming(1))
			if out, err = enc.Append(dst, &l, f.ingestedAt); err == nil || string(out) != "keep" {
				t.Fatalf("Encoder.Append = %q, %v; want dst unchanged and an error", out, err)
			}
		})
	}
}

// TestGolden pins the framed bytes of the fixtures. Run with -update after an
// intended change of the encoding, and review the diff.
func TestGolden(t *testing.T) {
	c := newTestCodec(t)
	framings := []struct {
		name string
		f    Framing
	}{
		{"confluent", ConfluentFraming(7)},
		{"soe", SingleObjectFraming(c)},
	}
	for _, f := range fixtures(t) {
		for _, fr := range framings {
			name := f.name + "." + fr.name
			t.Run(name, func(t *testing.T) {
				got, err := NewEncoder(c, fr.f).Append(nil, f.loc, f.ingestedAt)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", name+".golden")
				if *update {
					writeGolden(t, path, got)
				}
				want := readGolden(t, path)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: encoding changed (run go test -update if intended):\n got %x\nwant %x", path, got, want)
				}
			})
		}
	}
}

// Golden files are hex, 32 bytes a line, so diffs are readable.
func writeGolden(t *testing.T, path string, b []byte) {
	t.Helper()
	var sb strings.Builder
	for len(b) > 0 {
		n := min(len(b), 32)
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	if err := osWriteFile(path, []byte(sb.String())); err != nil {
		t.Fatal(err)
	}
}

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(string(readFile(t, path)), "\n", ""))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestFraming checks the two headers against the wire formats.
func TestFraming(t *testing.T) {
	c := newTestCodec(t)
	fp := c.Fingerprint()
	for _, tc := range []struct {
		name string
		f    Framing
		want []byte
	}{
		{"confluent id 1", ConfluentFraming(1), []byte{0, 0, 0, 0, 1}},
		{"confluent id 0x01020304", ConfluentFraming(0x01020304), []byte{0, 1, 2, 3, 4}},
		{"single object", SingleObjectFraming(c), append([]byte{0xC3, 0x01}, fp[:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.AppendHeader([]byte{0xAA}); !bytes.Equal(got, append([]byte{0xAA}, tc.want...)) {
				t.Fatalf("AppendHeader = %x, want aa%x", got, tc.want)
			}
		})
	}
}

// TestNewCodecRejectsOtherLayouts checks that a schema the hand-written
// encoder does not write is refused, naming the offending field.
func TestNewCodecRejectsOtherLayouts(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"not json", `{`, `[`, "parse event schema"},
		{"renamed record", `"name": "VehicleLocation"`, `"name": "Other"`, "catena.telematics.v1.Other"},
		{"renamed field", `"name": "speed_unit"`, `"name": "speed_units"`, `"speed_units"`},
		{"changed type", `{"name": "speed", "type": ["null", "double"]`, `{"name": "speed", "type": ["null", "float"]`, "field speed"},
		{"union order", `{"name": "fleet_ref", "type": ["null", "string"]`, `{"name": "fleet_ref", "type": ["string", "null"]`, "field fleet_ref"},
		{"required made optional", `{"name": "source_id", "type": "string"`, `{"name": "source_id", "type": ["null", "string"], "default": null`, "field source_id"},
		{"uuid dropped", `{"name": "id", "type": {"type": "string", "logicalType": "uuid"}`, `{"name": "id", "type": "string"`, "field id"},
		{"extra field", `"fields": [`, `"fields": [{"name": "x", "type": ["null", "string"], "default": null},`, `field 0 is "x"`},
		{"field removed", `    {"name": "ingested_at"`, `    {"name": "ingested_at_removed"`, "ingested_at_removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := schemas.VehicleLocation
			if tc.old == `{` {
				text = tc.new
			} else {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("schema does not contain %q", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			_, err := NewCodec(text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewCodec err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAppendEventAllocs(t *testing.T) {
	c := newTestCodec(t)
	f := fixtures(t)[0]
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if _, err = c.AppendEvent(buf[:0], f.loc, f.ingestedAt); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendEvent allocates %.1f times per event, want 0", allocs)
	}
}

var sinkBytes []byte

// BenchmarkAppendEvent measures the hot path: the hand-written encoder into a
// reused buffer.
func BenchmarkAppendEvent(b *testing.B) {
	c := newTestCodec(b)
	for _, f := range fixtures(b)[:2] {
		b.Run(f.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = c.AppendEvent(buf[:0], f.loc, f.ingestedAt); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			sinkBytes = buf
		})
	}
}

// BenchmarkHambaMarshal is the alternative AppendEvent was measured against:
// hamba's reflective encoder (it pools its writers internally) on a struct
// with avro tags. "with_copy" includes filling that struct from
// record.Location (what the bridge would have to do per event);
// "marshal_only" is hamba alone.
func BenchmarkHambaMarshal(b *testing.B) {
	c := newTestCodec(b)
	for _, f := range fixtures(b)[:2] {
		b.Run(f.name+"/with_copy", func(b *testing.B) {
			var e hambaEvent
			b.ReportAllocs()
			for b.Loop() {
				toHamba(&e, f.loc, f.ingestedAt)
				out, err := hambaAPI.Marshal(c.Schema(), &e)
				if err != nil {
					b.Fatal(err)
				}
				sinkBytes = out
			}
		})
		b.Run(f.name+"/marshal_only", func(b *testing.B) {
			var e hambaEvent
			toHamba(&e, f.loc, f.ingestedAt)
			b.ReportAllocs()
			for b.Loop() {
				out, err := hambaAPI.Marshal(c.Schema(), &e)
				if err != nil {
					b.Fatal(err)
				}
				sinkBytes = out
			}
		})
	}
}

// TestAppendLong checks the zigzag varint against the standard library's
// (binary.AppendVarint is Avro's long encoding) at the edges.
func TestAppendLong(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, 1 << 53, 626707369226039295,
		math.MaxInt64, math.MinInt64, math.MaxInt32, math.MinInt32} {
		want := binary.AppendVarint([]byte{9}, v)
		if got := appendLong([]byte{9}, v); !bytes.Equal(got, want) {
			t.Errorf("appendLong(%d) = %x, want %x", v, got, want)
		}
	}
}
