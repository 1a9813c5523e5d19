package catena

import (
	"encoding/json"
	"errors"
	"fmt"
)

// decodeRawPage is decodePage for json.RawMessage items, the hot path of
// every location page. encoding/json would scan the body twice (validation,
// then decoding) and allocate a copy per item. Here the body is validated
// once with json.Valid, then walked by a splitter that can assume valid
// JSON, and the items are sub-slices of a single copy of the items array.
// Items are still full, validated JSON values; what the splitter skips is
// only the envelope's other fields.
func decodeRawPage(body []byte) (*Page[json.RawMessage], error) {
	if !json.Valid(body) {
		// Let encoding/json describe the syntax error.
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, fmt.Errorf("page envelope is a JSON %s, not an object", kind(body[i]))
	}
	p := &Page[json.RawMessage]{}
	var sawItems bool
	i = skipSpace(body, i+1)
	for body[i] != '}' {
		// Key. Keys with escapes are decoded properly, plain ones compared
		// in place.
		kEnd := skipValue(body, i)
		key := body[i+1 : kEnd-1]
		if hasEscape(key) {
			var k string
			if err := json.Unmarshal(body[i:kEnd], &k); err != nil {
				return nil, err
			}
			key = []byte(k)
		}
		i = skipSpace(body, kEnd)
		i = skipSpace(body, i+1) // ':'
		vEnd := skipValue(body, i)
		val := body[i:vEnd]
		switch string(key) {
		case "items":
			switch val[0] {
			case '[':
				sawItems = true
				p.Items = splitArray(val)
			case 'n':
				sawItems = true
			default:
				return nil, fmt.Errorf(`page envelope "items" is a JSON %s, not an array`, kind(val[0]))
			}
		case "total":
			if err := json.Unmarshal(val, &p.Total); err != nil {
				return nil, fmt.Errorf(`page envelope "total": %w`, err)
			}
		case "next_page":
			var next *string
			if err := json.Unmarshal(val, &next); err != nil {
				return nil, fmt.Errorf(`page envelope "next_page": %w`, err)
			}
			if next != nil {
				p.NextPage = *next
			}
		}
		i = skipSpace(body, vEnd)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	if !sawItems {
		return nil, errNoItems
	}
	if p.Items == nil {
		p.Items = []json.RawMessage{}
	}
	return p, nil
}

// splitArray returns the elements of the valid JSON array arr as sub-slices
// of one copy of it.
func splitArray(arr []byte) []json.RawMessage {
	arr = append([]byte(nil), arr...) // one copy: body is a pooled buffer
	items := make([]json.RawMessage, 0, 16)
	i := skipSpace(arr, 1)
	for arr[i] != ']' {
		end := skipValue(arr, i)
		items = append(items, arr[i:end:end])
		i = skipSpace(arr, end)
		if arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return items
}

// skipValue returns the index just past the JSON value starting at b[i].
// b must be valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
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
