package avro

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Decoder decodes framed event values back into generic maps, for inspection
// (`catena-bridge tail`); the pipeline itself never decodes events.
//
// Confluent-framed values are decoded with the writer schema their id names,
// fetched from the registry once and cached; single-object values must carry
// the fingerprint of the decoder's codec (there is no registry to look other
// fingerprints up in). A Decoder is safe for concurrent use.
type Decoder struct {
	cl    *sr.Client
	codec *Codec

	mu   sync.Mutex
	byID map[int]hamba.Schema
}

// NewDecoder returns a Decoder. cl may be nil when there is no registry; the
// Decoder then decodes only single-object values of c's schema.
func NewDecoder(cl *sr.Client, c *Codec) *Decoder {
	return &Decoder{cl: cl, codec: c, byID: make(map[int]hamba.Schema)}
}

// Decode decodes one framed value into a map keyed by field name. Values are
// plain Go values, without union wrappers: nil for null, string (uuids too),
// int64, float64, time.Time in UTC for timestamp-micros, and nested
// map[string]any for records. It fails on an unknown framing, an unknown
// schema id or fingerprint, a truncated body, or bytes left after the record.
func (d *Decoder) Decode(ctx context.Context, value []byte) (map[string]any, error) {
	var (
		s    hamba.Schema
		body []byte
		err  error
	)
	switch {
	case len(value) >= confluentHeaderLen && value[0] == confluentMagic:
		id := int(binary.BigEndian.Uint32(value[1:confluentHeaderLen]))
		if s, err = d.schemaByID(ctx, id); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		body = value[confluentHeaderLen:]
	case len(value) >= soeHeaderLen && value[0] == soeMagic0 && value[1] == soeMagic1:
		if fp := value[2:soeHeaderLen]; !bytes.Equal(fp, d.codec.fp[:]) {
			return nil, fmt.Errorf("decode event: single-object fingerprint %x is not the fingerprint of the event schema (%x)", fp, d.codec.fp)
		}
		s, body = d.codec.schema, value[soeHeaderLen:]
	case len(value) == 0:
		return nil, errors.New("decode event: empty value")
	default:
		return nil, fmt.Errorf("decode event: unknown framing (first bytes % x): neither Confluent (0x00 + schema id) nor single-object (0xC3 0x01 + fingerprint)", value[:min(len(value), 2)])
	}

	r := hamba.NewReader(nil, 0).Reset(body)
	v := readValue(r, s)
	if r.Error != nil {
		return nil, fmt.Errorf("decode event body (%d bytes) as %s: %w", len(body), schemaName(s), r.Error)
	}
	if r.Peek(); r.Error == nil {
		return nil, fmt.Errorf("decode event body (%d bytes) as %s: bytes left after the record", len(body), schemaName(s))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode event: writer schema is %s, not a record", s.Type())
	}
	return m, nil
}

// schemaByID returns the writer schema registered under id, from the cache or
// the registry.
func (d *Decoder) schemaByID(ctx context.Context, id int) (hamba.Schema, error) {
	d.mu.Lock()
	s, ok := d.byID[id]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	if d.cl == nil {
		return nil, fmt.Errorf("value is Confluent-framed with schema id %d, but no schema registry is configured", id)
	}
	// Fetched outside the lock: a slow registry must not block decodes of
	// cached ids. Two concurrent misses fetch twice, which is harmless.
	rs, err := d.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("fetch schema id %d: %w", id, err)
	}
	if rs.Type != sr.TypeAvro {
		return nil, fmt.Errorf("schema id %d is a %s schema, not Avro", id, rs.Type)
	}
	if s, err = hamba.ParseWithCache(rs.Schema, "", &hamba.SchemaCache{}); err != nil {
		return nil, fmt.Errorf("parse schema id %d: %w", id, err)
	}
	d.mu.Lock()
	d.byID[id] = s
	d.mu.Unlock()
	return s, nil
}

// readValue reads one value of schema s, unwrapping unions (hamba's
// ReadNext wraps a non-null union value as {"type": value}).
func readValue(r *hamba.Reader, s hamba.Schema) any {
	switch s := s.(type) {
	case *hamba.UnionSchema:
		types := s.Types()
		idx := r.ReadLong()
		if idx < 0 || idx >= int64(len(types)) {
			r.ReportError("read union", fmt.Sprintf("branch %d out of range [0, %d)", idx, len(types)))
			return nil
		}
		return readValue(r, types[idx])
	case *hamba.RecordSchema:
		fields := s.Fields()
		m := make(map[string]any, len(fields))
		for _, f := range fields {
			m[f.Name()] = readValue(r, f.Type())
			if r.Error != nil {
				r.Error = fmt.Errorf("field %s: %w", f.Name(), r.Error)
				return nil
			}
		}
		return m
	case *hamba.RefSchema:
		return readValue(r, s.Schema())
	case *hamba.NullSchema:
		return nil
	case *hamba.ArraySchema:
		var out []any
		r.ReadArrayCB(func(r *hamba.Reader) bool {
			out = append(out, readValue(r, s.Items()))
			return r.Error == nil
		})
		return out
	case *hamba.MapSchema:
		out := map[string]any{}
		r.ReadMapCB(func(r *hamba.Reader, k string) bool {
			out[k] = readValue(r, s.Values())
			return r.Error == nil
		})
		return out
	}
	return r.ReadNext(s)
}

func schemaName(s hamba.Schema) string {
	if n, ok := s.(hamba.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// JSON renders a decoded event (from Decoder.Decode) as one JSON object: the
// fields of the event schema in schema order, then any other fields (from a
// newer writer schema) sorted by name. Timestamps are RFC 3339 with
// nanoseconds in UTC, longs are exact (H3 cells exceed 2^53), null is null;
// extras and source_data stay JSON strings, as in the event.
func JSON(event map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(event))
	seen := make(map[string]bool, len(layout))
	for _, f := range layout {
		if _, ok := event[f.name]; ok {
			keys = append(keys, f.name)
			seen[f.name] = true
		}
	}
	var rest []string
	for k := range event {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	keys = append(keys, rest...)

	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(append(b, kb...), ':')
		v := event[k]
		if t, ok := v.(time.Time); ok {
			b = append(append(append(b, '"'), t.UTC().Format(time.RFC3339Nano)...), '"')
			continue
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("render field %s = %v as JSON: %w", k, v, err)
		}
		b = append(b, vb...)
	}
	return append(b, '}'), nil
}
