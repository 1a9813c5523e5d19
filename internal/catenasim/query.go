package catenasim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// validationDetail is one ValidationErrorDetail of a 422 body.
type validationDetail struct {
	Path      string `json:"path"`
	Input     string `json:"input"`
	Message   string `json:"message"`
	ErrorType string `json:"error_type"`
}

type verrs []validationDetail

func (e *verrs) add(path, input, typ, format string, args ...any) {
	*e = append(*e, validationDetail{Path: path, Input: input, Message: fmt.Sprintf(format, args...), ErrorType: typ})
}

// Query parameters follow FastAPI: the last value of a scalar parameter
// wins; array parameters are repeated (explode: true).

func last(q url.Values, name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func qBool(q url.Values, name string, def bool, e *verrs) bool {
	s, ok := last(q, name)
	if !ok {
		return def
	}
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	case "false", "0", "no", "off", "f", "n":
		return false
	}
	e.add("query."+name, s, "bool_parsing", "Input should be a valid boolean, unable to interpret input")
	return def
}

func qInt(q url.Values, name string, def, lo, hi int, e *verrs) int {
	s, ok := last(q, name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		e.add("query."+name, s, "int_parsing", "Input should be a valid integer, unable to parse string as an integer")
		return def
	case n < lo:
		e.add("query."+name, s, "greater_than_equal", "Input should be greater than or equal to %d", lo)
		return def
	case n > hi:
		e.add("query."+name, s, "less_than_equal", "Input should be less than or equal to %d", hi)
		return def
	}
	return n
}

const maxListItems = 100

// qList returns the values of an array parameter (nil when absent).
func qList(q url.Values, name string, e *verrs) []string {
	vs := q[name]
	if len(vs) > maxListItems {
		e.add("query."+name, strings.Join(vs, ","), "too_long",
			"List should have at most %d items after validation, not %d", maxListItems, len(vs))
		return nil
	}
	return vs
}

func qUUIDList(q url.Values, name string, e *verrs) []string {
	vs := qList(q, name, e)
	var out []string
	for i, s := range vs {
		u, ok := parseUUID(s)
		if !ok {
			e.add(fmt.Sprintf("query.%s.%d", name, i), s, "uuid_parsing", "Input should be a valid UUID, invalid character or length")
			continue
		}
		out = append(out, u)
	}
	return out
}

func qUUID(q url.Values, name string, e *verrs) (string, bool) {
	s, ok := last(q, name)
	if !ok {
		return "", false
	}
	u, ok := parseUUID(s)
	if !ok {
		e.add("query."+name, s, "uuid_parsing", "Input should be a valid UUID, invalid character or length")
		return "", false
	}
	return u, true
}

// parseUUID accepts the hyphenated and the 32-hex-digit forms, any case,
// and returns the lower-case hyphenated form.
func parseUUID(s string) (string, bool) {
	var hex [32]byte
	n := 0
	switch len(s) {
	case 36:
		for i := 0; i < 36; i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if c != '-' {
					return "", false
				}
				continue
			}
			hex[n] = c
			n++
		}
	case 32:
		copy(hex[:], s)
	default:
		return "", false
	}
	out := make([]byte, 0, 36)
	for i, c := range hex {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		if i == 8 || i == 12 || i == 16 || i == 20 {
			out = append(out, '-')
		}
		out = append(out, c)
	}
	return string(out), true
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999", // naive: UTC, as the contract says
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func qTime(q url.Values, name string, e *verrs) (time.Time, bool) {
	s, ok := last(q, name)
	if !ok {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	e.add("query."+name, s, "datetime_from_date_parsing", "Input should be a valid datetime or date, invalid character in date")
	return time.Time{}, false
}

// set is a small membership set of parameter values.
type set map[string]struct{}

func toSet(vs []string) set {
	if vs == nil {
		return nil
	}
	m := make(set, len(vs))
	for _, v := range vs {
		m[v] = struct{}{}
	}
	return m
}

// has reports whether the filter admits v: a nil set admits everything,
// which is how FastAPI treats an absent array parameter.
func (m set) has(v string) bool {
	if m == nil {
		return true
	}
	_, ok := m[v]
	return ok
}
