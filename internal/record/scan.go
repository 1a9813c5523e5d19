package record

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// scanner is a minimal JSON tokenizer over one record. It validates syntax
// as strictly as encoding/json (RFC 8259 grammar, control characters in
// strings, escapes, nesting depth) but produces spans of the input instead
// of values, so decoding allocates nothing until the strings are
// materialized.
type scanner struct {
	data []byte
	pos  int
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

func (s *scanner) ws() {
	// Compact JSON has no whitespace: one test for the common case.
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return
	}
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (s *scanner) peek() byte {
	// Compact JSON has no whitespace: one test for the common case.
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return s.data[s.pos]
	}
	s.ws()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// str scans a string at s.pos (which holds '"'). It returns the content
// between the quotes; raw reports that the content has escapes or non-ASCII
// bytes and so must go through unquote.
func (s *scanner) str() (content []byte, raw bool, ok bool) {
	start := s.pos + 1
	i := start
	for {
		if i = plainRun(s.data, i); i >= len(s.data) {
			return nil, false, false
		}
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return s.data[start:i], raw, true
		case c == '\\':
			raw = true
			if i+1 >= len(s.data) {
				return nil, false, false
			}
			switch s.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.data) || !isHex4(s.data[i+2:i+6]) {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default: // >= 0x80
			raw = true
			i++
		}
	}
}

// plainEnd returns the index of the quote that ends the string whose
// content starts at data[i], when that content is plain (no escape,
// control character or byte >= 0x80), and -1 otherwise (str then scans
// it). It is str's fast path, for the decoder's values: two ints in and
// one out, where str's slice and flags were a fifth of its instructions.
func plainEnd(data []byte, i int) int {
	if i = plainRun(data, i); i < len(data) && data[i] == '"' {
		return i
	}
	return -1
}

// plainRun returns the index of the first byte from data[i] on that ends a
// string's plain run: a quote, a backslash, a control character or a byte
// >= 0x80; len(data) when there is none. It reads sixteen, then eight bytes
// at a time, through the slice's pointer past the bounds check the loop
// condition makes: with the checks of slicing, the loop was twice the
// instructions (a sixth of decoding a record).
func plainRun(data []byte, i int) int {
	p := unsafe.Pointer(unsafe.SliceData(data))
	for i+16 <= len(data) {
		m := special(load64(p, i))
		if m2 := special(load64(p, i+8)); m|m2 == 0 {
			i += 16
			continue
		} else if m == 0 {
			i, m = i+8, m2
		}
		// The lowest flagged byte is a real one: a borrow only flags
		// bytes above a match.
		return i + bits.TrailingZeros64(m)/8
	}
	if i+8 <= len(data) {
		if m := special(load64(p, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for ; i < len(data); i++ {
		if c := data[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}

// special flags (in the high bit of each byte) the bytes of w, eight bytes
// of a string in memory order, that end its plain run: a quote, a
// backslash, a control character or a byte >= 0x80. A byte above a flagged
// one may be flagged too (a borrow); the lowest flagged byte is always a
// real one.
func special(w uint64) uint64 {
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	return ((q-lsb)&^q | (b-lsb)&^b | (w - lsb*0x20) | w) & msb
}

// load64 is the little-endian word at p+i, which the caller has checked is
// within its slice.
func load64(p unsafe.Pointer, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, i))[:])
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// number scans a JSON number at s.pos. isInt is true when it has neither a
// fraction nor an exponent.
func (s *scanner) number() (tok []byte, isInt bool, ok bool) {
	n := numberLen(s.data[s.pos:])
	if n <= 0 {
		return nil, false, false
	}
	tok = s.data[s.pos : s.pos+n]
	s.pos += n
	for _, c := range tok {
		if c == '.' || c == 'e' || c == 'E' {
			return tok, false, true
		}
	}
	return tok, true, true
}

// numberLen returns the length of the JSON number at the start of b, or 0.
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	return i
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// skip scans any JSON value at s.pos (after whitespace).
func (s *scanner) skip(depth int) bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		if depth >= maxDepth {
			return false
		}
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return true
		}
		for {
			if s.peek() != '"' {
				return false
			}
			if _, _, ok := s.str(); !ok {
				return false
			}
			if s.peek() != ':' {
				return false
			}
			s.pos++
			if !s.skip(depth + 1) {
				return false
			}
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				return true
			default:
				return false
			}
		}
	case '[':
		if depth >= maxDepth {
			return false
		}
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return true
			default:
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if s.pos < len(s.data) {
			_, _, ok := s.number()
			return ok
		}
		return false
	}
}

// unquote appends the decoded content of a JSON string (as returned by str)
// to dst. Like encoding/json, invalid UTF-8 and unpaired surrogates become
// U+FFFD.
func unquote(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\':
			switch b[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := rune4(b[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2 = rune4(b[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, b[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, b[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func rune4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}
