package avro

import (
	"encoding/binary"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

// Framing writes the header that precedes the Avro body of every Kafka value,
// telling readers which schema wrote it. Use exactly one of
// ConfluentFraming (with a Schema Registry) and SingleObjectFraming (without).
type Framing interface {
	// AppendHeader appends the header to dst and returns the extended slice.
	AppendHeader(dst []byte) []byte
}

// Header sizes and magic bytes.
const (
	confluentMagic     byte = 0x00
	confluentHeaderLen int  = 5 // magic + 4-byte big-endian schema id

	soeMagic0    byte = 0xC3
	soeMagic1    byte = 0x01
	soeHeaderLen int  = 10 // 2 magic bytes + 8-byte little-endian fingerprint
)

type headerFraming []byte

func (h headerFraming) AppendHeader(dst []byte) []byte { return append(dst, h...) }

// ConfluentFraming returns the Confluent wire format header: the magic byte
// 0x00 and schemaID as a 4-byte big-endian integer. schemaID is the id
// Register returned.
func ConfluentFraming(schemaID int) Framing {
	h := make(headerFraming, confluentHeaderLen)
	h[0] = confluentMagic
	binary.BigEndian.PutUint32(h[1:], uint32(schemaID))
	return h
}

// SingleObjectFraming returns the Avro single-object encoding header: the
// marker 0xC3 0x01 and the codec's CRC-64-AVRO fingerprint, little-endian.
// Readers need the schema out of band (there is no registry to ask).
func SingleObjectFraming(c *Codec) Framing {
	h := make(headerFraming, 0, soeHeaderLen)
	h = append(h, soeMagic0, soeMagic1)
	h = append(h, c.fp[:]...)
	return h
}

// Encoder is a Codec with a Framing: it writes complete Kafka values. It holds
// no mutable state and is safe for concurrent use.
type Encoder struct {
	codec   *Codec
	framing Framing
}

// NewEncoder returns an Encoder writing f's header and then c's body.
func NewEncoder(c *Codec, f Framing) *Encoder {
	return &Encoder{codec: c, framing: f}
}

// Append appends the framed event of l (header + Avro body) to dst and
// returns the extended slice. On error dst is returned unchanged (same
// length).
func (e *Encoder) Append(dst []byte, l *record.Location, ingestedAt time.Time) ([]byte, error) {
	b, err := e.codec.AppendEvent(e.framing.AppendHeader(dst), l, ingestedAt)
	if err != nil {
		return dst, err
	}
	return b, nil
}
