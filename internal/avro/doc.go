// Package avro is the one place that knows how catena-bridge encodes its
// events: it loads the VehicleLocation schema, encodes a record.Location as
// Avro binary, frames it for the Schema Registry (Confluent wire format) or
// without one (Avro single-object encoding), registers the schema, and decodes
// framed values back for inspection (`catena-bridge tail`).
//
// The encoder writes Avro binary by hand with append (zigzag varints, union
// branch indexes, little-endian doubles) instead of going through a reflective
// codec: it is on the hot path of every published record, and measured about
// five times faster than hamba's Marshal of a tagged struct (including the
// copy from record.Location), with no allocations against hamba's 17 (see
// BenchmarkAppendEvent and BenchmarkHambaMarshal). Its output is checked
// byte for byte against hamba/avro and decoded by a second implementation
// (twmb/avro) in the tests. Because the encoder is written for one field
// layout, NewCodec refuses a schema whose fields differ from that layout:
// changing the .avsc requires changing layout.go and AppendEvent together.
package avro
