package catena

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// decodeRawPage is decodePage for json.RawMessage items, the hot path of
// every location page. It is one scan over the body: the envelope is checked
// as it is split, and the items array is cut into items without a second
// validating pass (json.Valid over the whole body cost as much as decoding
// the records). The items are sub-slices of a single copy of the items array.
//
// What is checked where:
//   - here: the envelope's grammar (an object of string keys, ':' and ','
//     between members, nothing after it), every envelope value other than
//     the items (total and next_page decoded, the others checked with
//     json.Valid: they are a few bytes), and the items array's own grammar
//     between items (',' and ']'); an item's extent is found by its
//     brackets and strings, so a body that ends inside an item is an error;
//   - by the record decoder (internal/record), every item's own syntax, as
//     strictly as encoding/json: an item that is not valid JSON is refused
//     there, with its field and value, and becomes a dead letter.
//
// So a page whose only fault is inside an item is no longer refused whole:
// its other items are published and the bad item is dead-lettered.
func decodeRawPage(body []byte) (*Page[json.RawMessage], error) {
	return scanRawPage(body, nil)
}

// ItemScanner reads the items of a location page as the page is split
// (Pager.ScanItems), so that a record decoder that finds where each record
// ends (record.DecodeItem) spares the splitter its own pass over the items:
// each byte is then scanned once.
//
// It is called with each item in turn: i is the item's index in the page's
// Items, and b runs from the item's first byte to the end of the memory the
// page's items are cut from (the response body itself for Pager.ScanItems;
// past the item, past the items array). It returns the
// item's length n, or 0 to leave finding the end to the splitter (an item
// that is not valid JSON, for instance: the splitter then finds its end by
// its brackets and strings, as without a scanner). b[:n] is then Items[i]:
// the same memory, under the same rules (ReleaseItems). The scanner must
// not modify b.
//
// What the scanner reads is only the page's when Next returns it: the
// items of a page that is then refused (a broken envelope) were scanned
// too, and a body that repeats "items" has its items scanned again from
// index 0.
type ItemScanner func(i int, b []byte) int

// scanRawPage is decodeRawPage with each item read by scan (nil: none).
func scanRawPage(body []byte, scan ItemScanner) (*Page[json.RawMessage], error) {
	p, ok, err := splitRawPage(body, scan, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, describeSyntax(body)
	}
	return p, nil
}

// takeRawPage is scanRawPage whose items, with a scanner, are cut from
// body itself rather than from a copy: took reports that the page keeps
// body's memory, which the caller must then neither reuse nor modify
// (Client.do gives its buffer other memory); ReleaseItems gives it back
// to the pool of items arrays. Copying a 1.3 MB page was a thirtieth of
// the CPU of reading, splitting and decoding it (scripts/cpubench).
func takeRawPage(body []byte, scan ItemScanner) (p *Page[json.RawMessage], took bool, err error) {
	p, ok, err := splitRawPage(body, scan, scan != nil)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, describeSyntax(body)
	}
	return p, scan != nil && len(p.Items) > 0, nil
}

// describeSyntax returns encoding/json's description of what is wrong with a
// body the splitter refused (it is only called on the error path).
func describeSyntax(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	// The body is valid JSON the splitter could not cut (it never happens
	// for a JSON object; any other top-level value is named below).
	i := skipSpace(body, 0)
	if i < len(body) && body[i] != '{' {
		return fmt.Errorf("page envelope is a JSON %s, not an object", kind(body[i]))
	}
	return errors.New("invalid page envelope")
}

// splitRawPage cuts body into a page. ok is false when the envelope's
// grammar is broken (the caller describes it); err is a well-formed envelope
// whose fields are wrong. alias (with a scanner only) cuts the items from
// body itself (takeRawPage).
func splitRawPage(body []byte, scan ItemScanner, alias bool) (p *Page[json.RawMessage], ok bool, err error) {
	i := skipSpace(body, 0)
	if i >= len(body) {
		return nil, false, nil
	}
	if body[i] != '{' {
		if !json.Valid(body) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("page envelope is a JSON %s, not an object", kind(body[i]))
	}
	p = &Page[json.RawMessage]{}
	var sawItems bool
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			// Key. Keys with escapes (or control characters, which
			// are invalid) go through encoding/json, plain ones are
			// compared in place.
			if i >= len(body) || body[i] != '"' {
				return nil, false, nil
			}
			kEnd, ok := skipString(body, i)
			if !ok {
				return nil, false, nil
			}
			key := body[i+1 : kEnd-1]
			if !plainKey(key) {
				var k string
				if err := json.Unmarshal(body[i:kEnd], &k); err != nil {
					return nil, false, nil
				}
				key = []byte(k)
			}
			i = skipSpace(body, kEnd)
			if i >= len(body) || body[i] != ':' {
				return nil, false, nil
			}
			i = skipSpace(body, i+1)
			if i >= len(body) {
				return nil, false, nil
			}
			var vEnd int
			if string(key) == "items" && !itemsValid(p.Items) {
				// A repeated "items": the last one counts (as in
				// encoding/json), and the dropped items, which no
				// decoder will see, are checked here.
				return nil, false, nil
			}
			switch string(key) {
			case "items":
				switch body[i] {
				case '[':
					items, end, ok := splitArray(body, i, scan, alias)
					if !ok {
						return nil, false, nil
					}
					sawItems = true
					p.Items, vEnd = items, end
				case 'n':
					if vEnd, ok = skipValue(body, i); !ok || string(body[i:vEnd]) != "null" {
						return nil, false, nil
					}
					sawItems = true
					p.Items = nil
				default:
					if vEnd, ok = skipValue(body, i); !ok || !json.Valid(body[i:vEnd]) {
						return nil, false, nil
					}
					return nil, false, fmt.Errorf(`page envelope "items" is a JSON %s, not an array`, kind(body[i]))
				}
			default:
				if vEnd, ok = skipValue(body, i); !ok {
					return nil, false, nil
				}
				val := body[i:vEnd]
				if !json.Valid(val) {
					return nil, false, nil
				}
				switch string(key) {
				case "total":
					if err := json.Unmarshal(val, &p.Total); err != nil {
						return nil, false, fmt.Errorf(`page envelope "total": %w`, err)
					}
				case "next_page":
					var next *string
					if err := json.Unmarshal(val, &next); err != nil {
						return nil, false, fmt.Errorf(`page envelope "next_page": %w`, err)
					}
					p.NextPage = ""
					if next != nil {
						p.NextPage = *next
					}
				}
			}
			i = skipSpace(body, vEnd)
			if i >= len(body) {
				return nil, false, nil
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return nil, false, nil
			}
			i = skipSpace(body, i+1)
		}
	}
	if skipSpace(body, i) != len(body) {
		return nil, false, nil
	}
	if !sawItems {
		return nil, false, errNoItems
	}
	if p.Items == nil {
		p.Items = []json.RawMessage{}
	}
	return p, true, nil
}

// splitArray cuts the JSON array starting at body[i] == '[' into its
// elements, sub-slices of one copy of the array (body is a pooled buffer),
// and returns the index just past it. ok is false when the array's own
// grammar is broken: no ',' or ']' after an element, or the body ends
// inside it. The elements themselves are not validated.
//
// With a scanner, the rest of the body is copied first (unless alias: then
// body is the memory the elements keep) and each element is given to scan
// in the copy, the memory it keeps: where scan says the element ends, the
// splitter does not look for the end itself.
func splitArray(body []byte, i int, scan ItemScanner, alias bool) (items []json.RawMessage, end int, ok bool) {
	start := i
	type span struct{ a, b int } // relative to start
	spans := make([]span, 0, 1024)
	// src is what is scanned: body, or with a scanner the copy of
	// body[start:] (or body[start:] itself), where src[k] is body[k+off].
	src, off := body, 0
	var arr []byte
	if scan != nil {
		if alias {
			arr = body[start:]
		} else {
			arr = append(getItemsBuf(len(body)-start), body[start:]...)
		}
		src, off = arr, start
	}
	j := skipSpace(src, i+1-off)
	if j < len(src) && src[j] == ']' {
		if !alias {
			putItemsBuf(arr)
		}
		return []json.RawMessage{}, j + 1 + off, true
	}
	for k := 0; ; k++ {
		if j >= len(src) {
			return nil, 0, false
		}
		e := 0
		if scan != nil {
			if n := scan(k, src[j:]); n > 0 && n <= len(src)-j {
				e = j + n
			}
		}
		if e == 0 {
			var ok bool
			if e, ok = skipValue(src, j); !ok || e == j {
				return nil, 0, false
			}
		}
		spans = append(spans, span{j + off - start, e + off - start})
		j = skipSpace(src, e)
		if j >= len(src) {
			return nil, 0, false
		}
		if src[j] == ']' {
			j++
			break
		}
		if src[j] != ',' {
			return nil, 0, false
		}
		j = skipSpace(src, j+1)
	}
	i = j + off
	if scan == nil {
		// The end is known now, so that the copy is exact.
		arr = append(getItemsBuf(i-start), body[start:i]...)
	}
	// One hidden element past the end carries the array, for ReleaseItems.
	items = make([]json.RawMessage, len(spans), len(spans)+1)
	items[:len(spans)+1][len(spans)] = arr[:0]
	for k, s := range spans {
		items[k] = arr[s.a:s.b:s.b]
	}
	return items, i, true
}

// itemsPool recycles the arrays that location pages' items are cut from
// (about 1.3 MB a 1000-record page): the page body is a pooled buffer too,
// so without them every page allocated its size once.
var itemsPool sync.Pool

// maxPooledItems bounds the arrays kept: a page is at most 1000 records.
const maxPooledItems = 8 << 20

func getItemsBuf(n int) []byte {
	if p, ok := itemsPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

// putItemsBuf gives back an array no item refers to.
func putItemsBuf(arr []byte) {
	if arr != nil && cap(arr) <= maxPooledItems {
		b := arr[:0]
		itemsPool.Put(&b)
	}
}

// ReleaseItems gives back the memory of a location page's items (a page
// from Locations, LatestLocations or History) for the next page to reuse.
// The caller must not use the items, nor anything that aliases them
// (json.RawMessage sub-slices, record.Location.Raw, Extras and
// SourceData), afterwards. Releasing is optional: items never released
// are collected as usual. Releasing twice, or items of any other origin,
// is a no-op.
func ReleaseItems(items []json.RawMessage) {
	if cap(items) <= len(items) {
		return
	}
	ext := items[:len(items)+1]
	arr := ext[len(items)]
	if arr == nil || len(arr) != 0 {
		return // released already, or not a hidden array (appended to)
	}
	ext[len(items)] = nil
	putItemsBuf(arr)
}

// skipValue returns the index just past the JSON value starting at b[i]:
// a string, or an object or array by its balanced brackets (strings inside
// skipped), or a scalar up to the next delimiter. It checks only what it
// needs to find the end: ok is false when b ends first.
func skipValue(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	default: // number, true, false, null, or garbage the caller refuses
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r', '{', '[', '"', ':':
				return i, true
			}
		}
		return i, true
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// skipString returns the index just past the string starting at
// b[i] == '"'; ok is false when b ends inside it. It looks at eight bytes at
// a time for a quote or a backslash.
func skipString(b []byte, i int) (int, bool) {
	for i++; ; {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			q := w ^ (lsb * '"')
			s := w ^ (lsb * '\\')
			m := ((q-lsb)&^q | (s-lsb)&^s) & msb
			if m == 0 {
				i += 8
				continue
			}
			// The lowest flagged byte is a real match (a borrow only
			// flags bytes above one).
			i += bits.TrailingZeros64(m) / 8
			break
		}
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1, true
		default:
			i++
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func itemsValid(items []json.RawMessage) bool {
	for _, it := range items {
		if !json.Valid(it) {
			return false
		}
	}
	return true
}

// plainKey reports whether a key's content has neither escapes nor control
// characters.
func plainKey(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	return true
}

func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
