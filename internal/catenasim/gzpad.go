package catenasim

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// writeGzipPadded writes one gzip member whose content is head, pad spaces,
// then tail, without compressing anything: head and tail go in stored
// blocks, the spaces in a hand-built dynamic Huffman block of 2-bit
// (length 258, distance 1) matches, DEFLATE's best ratio (about 1032:1).
// It is how the Oversized and Bomb faults produce hundreds of MiB of
// decompressed body at the cost of a few hundred KiB of output and no
// memory.
func writeGzipPadded(w io.Writer, head []byte, pad int64, tail []byte) error {
	bw := &bitWriter{w: w}
	bw.buf = append(bw.buf, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
	bw.stored(head, false)
	if pad > 0 {
		bw.spaces(pad)
	}
	bw.stored(tail, true)
	crc := crc32.Update(0, crc32.IEEETable, head)
	for n := pad; n > 0; n -= int64(len(spaces)) {
		crc = crc32.Update(crc, crc32.IEEETable, spaces[:min(n, int64(len(spaces)))])
	}
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	bw.buf = binary.LittleEndian.AppendUint32(bw.buf, crc)
	bw.buf = binary.LittleEndian.AppendUint32(bw.buf, uint32(int64(len(head))+pad+int64(len(tail))))
	return bw.flush()
}

// bitWriter packs DEFLATE bits, least significant first.
type bitWriter struct {
	w   io.Writer
	acc uint64
	n   uint
	buf []byte
	err error
}

func (b *bitWriter) bits(v uint64, n uint) {
	b.acc |= v << b.n
	b.n += n
	for b.n >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.n -= 8
	}
	if len(b.buf) >= 32<<10 {
		b.flush()
	}
}

// code writes a Huffman code, most significant bit first.
func (b *bitWriter) code(c uint64, n uint) {
	var r uint64
	for i := uint(0); i < n; i++ {
		r |= (c >> i & 1) << (n - 1 - i)
	}
	b.bits(r, n)
}

func (b *bitWriter) align() {
	if b.n > 0 {
		b.bits(0, 8-b.n)
	}
}

func (b *bitWriter) flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return b.err
}

// stored writes p as stored blocks (at least one); final marks the last.
func (b *bitWriter) stored(p []byte, final bool) {
	for {
		n := min(len(p), 65535)
		last := n == len(p)
		if final && last {
			b.bits(1, 1)
		} else {
			b.bits(0, 1)
		}
		b.bits(0, 2) // BTYPE 00
		b.align()
		b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(n))
		b.buf = binary.LittleEndian.AppendUint16(b.buf, ^uint16(n))
		b.buf = append(b.buf, p[:n]...)
		p = p[n:]
		if last {
			return
		}
	}
}

// spaces writes a non-final dynamic block of n > 0 spaces. Literal/length
// code: 285 (length 258) "0", ' ' "10", end of block "11"; distance code 0
// (distance 1) "0". The code lengths are sent with the code-length codes
// 18 (a run of zeros) "0", 1 "10", 2 "11".
func (b *bitWriter) spaces(n int64) {
	b.bits(0, 1)  // not final
	b.bits(2, 2)  // BTYPE 10, dynamic
	b.bits(29, 5) // HLIT: 286 literal/length codes
	b.bits(0, 5)  // HDIST: 1 distance code
	b.bits(14, 4) // HCLEN: 18 code-length code lengths
	// In the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1.
	for _, l := range [...]uint64{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2} {
		b.bits(l, 3)
	}
	zeros := func(k uint64) { b.code(0, 1); b.bits(k-11, 7) } // code 18: 11..138 zeros
	one, two := func() { b.code(2, 2) }, func() { b.code(3, 2) }
	zeros(32) // 0..31
	two()     // ' '
	zeros(138)
	zeros(85)    // 33..255
	two()        // end of block
	zeros(28)    // 257..284
	one()        // 285
	one()        // distance code 0
	b.code(2, 2) // the first space, a literal
	n--
	m := n / 258
	for ; m >= 16; m -= 16 {
		b.bits(0, 32) // 16 matches of 258 at distance 1
	}
	b.bits(0, uint(2*m))
	for r := n % 258; r > 0; r-- {
		b.code(2, 2)
	}
	b.code(3, 2) // end of block
}
