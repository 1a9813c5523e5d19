package catenasim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Cursor kinds: a cursor from one listing is rejected by another.
const (
	curLatest     byte = 'L'
	curHistory    byte = 'H'
	curVehicles   byte = 'V'
	curInvitation byte = 'I'
)

// cursor is a page position. Cursors carry the position in the data (a tick
// or vehicle index), never a server-side handle, so they survive restarts
// and work on any Server with the same seed.
//
// Forward cursors (back=false) point at the first position of the page;
// backward cursors point just past the last position of the page. page is
// the 1-based number of the forward page the cursor leads to; it drives
// Faults.DuplicateEvery.
type cursor struct {
	kind byte
	back bool
	pos  int64
	page int64
}

const cursorVersion = 1

var errBadCursor = errors.New("invalid cursor")

// encode returns base64url(version, kind, dir, uvarint pos, uvarint page,
// crc32 of all that and the seed). The checksum rejects edited cursors and
// cursors of a differently seeded simulator.
func (s *Server) encodeCursor(c cursor) string {
	var buf [32]byte
	b := append(buf[:0], cursorVersion, c.kind, 0)
	if c.back {
		b[2] = 1
	}
	b = binary.AppendUvarint(b, uint64(c.pos))
	b = binary.AppendUvarint(b, uint64(c.page))
	b = binary.BigEndian.AppendUint32(b, s.cursorSum(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) cursorSum(b []byte) uint32 {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], s.seed)
	return crc32.Update(crc32.ChecksumIEEE(seed[:]), crc32.IEEETable, b)
}

func (s *Server) decodeCursor(str string, kind byte) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(str)
	if err != nil || len(b) < 3+2+4 {
		return cursor{}, errBadCursor
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if s.cursorSum(body) != sum || body[0] != cursorVersion || body[1] != kind || body[2] > 1 {
		return cursor{}, errBadCursor
	}
	c := cursor{kind: kind, back: body[2] == 1}
	rest := body[3:]
	pos, n := binary.Uvarint(rest)
	if n <= 0 || pos > 1<<62 {
		return cursor{}, errBadCursor
	}
	rest = rest[n:]
	page, n := binary.Uvarint(rest)
	if n <= 0 || n != len(rest) || page > 1<<62 {
		return cursor{}, errBadCursor
	}
	c.pos, c.page = int64(pos), int64(page)
	return c, nil
}

// seq is an ordered listing: positions [lo, hi) of which incl selects the
// items.
type seq struct {
	lo, hi int64
	incl   func(int64) bool
}

func (q seq) nextIncl(p int64) int64 {
	for p = max(p, q.lo); p < q.hi; p++ {
		if q.incl(p) {
			return p
		}
	}
	return q.hi
}

// prevIncl returns the last included position < p, or lo-1.
func (q seq) prevIncl(p int64) int64 {
	for p = min(p, q.hi) - 1; p >= q.lo; p-- {
		if q.incl(p) {
			return p
		}
	}
	return q.lo - 1
}

// pageRes is one computed page.
type pageRes struct {
	pos          []int64
	cur, curBack string
	prev, next   string // "" = null
	dup          bool   // the first item repeats the previous page's last
}

// page computes the page that c (nil = first page) designates, with at most
// size items. dupEvery > 0 shifts every dupEvery-th forward page boundary
// back by one item.
func (s *Server) page(q seq, kind byte, c *cursor, size int, dupEvery int) pageRes {
	var r pageRes
	first := cursor{kind: kind, pos: q.lo, page: 1}
	if c == nil {
		c = &first
	}
	pageNo := max(c.page, 1)
	var start, end int64
	if c.back {
		end = min(c.pos, q.hi)
		p := end
		for len(r.pos) < size {
			p = q.prevIncl(p)
			if p < q.lo {
				break
			}
			r.pos = append(r.pos, p)
		}
		for i, j := 0, len(r.pos)-1; i < j; i, j = i+1, j-1 {
			r.pos[i], r.pos[j] = r.pos[j], r.pos[i]
		}
		start = end
		if len(r.pos) > 0 {
			start = r.pos[0]
		}
	} else {
		start = max(c.pos, q.lo)
		if dupEvery > 0 && size > 1 && pageNo > 1 && (pageNo-1)%int64(dupEvery) == 0 {
			if p := q.prevIncl(start); p >= q.lo {
				start, r.dup = p, true
			}
		}
		p := start
		for len(r.pos) < size {
			p = q.nextIncl(p)
			if p >= q.hi {
				break
			}
			r.pos = append(r.pos, p)
			p++
		}
		end = p
		if len(r.pos) > 0 {
			end = r.pos[len(r.pos)-1] + 1
		}
	}
	r.cur = s.encodeCursor(*c)
	r.curBack = s.encodeCursor(cursor{kind: kind, back: true, pos: end, page: pageNo})
	if q.prevIncl(start) >= q.lo {
		r.prev = s.encodeCursor(cursor{kind: kind, back: true, pos: start, page: max(pageNo-1, 1)})
	}
	if q.nextIncl(end) < q.hi {
		r.next = s.encodeCursor(cursor{kind: kind, pos: end, page: pageNo + 1})
	}
	return r
}

// appendEnvelope appends the page fields after the items array.
func appendEnvelope(b []byte, total int64, r *pageRes) []byte {
	b = append(b, `],"total":`...)
	b = appendInt(b, total)
	b = append(b, `,"current_page":`...)
	b = appendNullableString(b, r.cur, r.cur == "")
	b = append(b, `,"current_page_backwards":`...)
	b = appendNullableString(b, r.curBack, r.curBack == "")
	b = append(b, `,"previous_page":`...)
	b = appendNullableString(b, r.prev, r.prev == "")
	b = append(b, `,"next_page":`...)
	b = appendNullableString(b, r.next, r.next == "")
	return append(b, '}')
}
