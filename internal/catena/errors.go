package catena

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrUnavailable is wrapped by the error of a request that kept failing in a
// way that may pass (the API unreachable, timing out, answering 429 or 5xx)
// until RetryMaxElapsed ran out. A caller that must not give up (a backfill)
// can wait and call again; anything else (an invalid request, 4xx,
// ErrUnauthorized, ErrCursorRepeated) will fail the same way again.
var ErrUnavailable = errors.New("catena: API unavailable")

// APIError is a non-2xx answer from the API that was not retried (400, 403,
// 404, 405, 409, 422, 501, ...) or was still failing when retries ran out.
//
// The API's error bodies come in several shapes, all decoded here:
// {code, message, detail: string} for most statuses, detail as an array of
// {path, input, message, error_type} for 422, detail as {retry_after_seconds,
// message} for 429, and just {message} for 500. Every field may be absent.
type APIError struct {
	Op     string // operation id, e.g. "list_vehicle_locations"
	Method string // HTTP method
	URL    string // request URL; the API's queries carry no secrets
	Status int    // HTTP status code

	Code    int             // body "code" (0 when absent)
	Message string          // body "message"; the status text when absent, a body excerpt when the body is not JSON
	Detail  json.RawMessage // body "detail" as sent (nil when absent)

	// RetryAfter is the wait the server asked for (Retry-After header or
	// detail.retry_after_seconds, the larger), 0 when none.
	RetryAfter time.Duration
}

// Error renders e as "METHOD /path: status message: detail", for example
// `GET /v2/telematics/vehicle-locations: 422 Invalid Request Body: query.size:
// Input should be less than or equal to 1000 (input "5000")`.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	if u, err := url.Parse(e.URL); err == nil && u.Path != "" {
		b.WriteString(u.Path)
	} else {
		b.WriteString(e.URL)
	}
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Status))
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if msg != "" {
		b.WriteByte(' ')
		b.WriteString(msg)
	}
	if d := detailText(e.Detail); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// errorBody is the union of the API's error body shapes, plus the OAuth
// {error, error_description} shape in case a gateway answers with it.
type errorBody struct {
	Code             int             `json:"code"`
	Message          string          `json:"message"`
	Detail           json.RawMessage `json:"detail"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// newAPIError builds the error for a non-2xx response. body is only read.
func newAPIError(op, method, rawURL string, status int, header http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Op: op, Method: method, URL: rawURL, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil {
		e.Code = eb.Code
		e.Message = eb.Message
		if eb.Message == "" && eb.Error != "" {
			e.Message = eb.Error
			if eb.ErrorDescription != "" {
				e.Message += ": " + eb.ErrorDescription
			}
		}
		if len(eb.Detail) > 0 && !bytes.Equal(eb.Detail, []byte("null")) {
			e.Detail = eb.Detail
		}
	} else if excerpt := bodyExcerpt(body); excerpt != "" {
		e.Message = excerpt
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.RetryAfter = max(retryAfterHeader(header.Get("Retry-After"), now), retryAfterDetail(e.Detail))
	return e
}

// retryAfterHeader parses Retry-After as delay-seconds or an HTTP-date.
func retryAfterHeader(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0 // nonsense; let the back-off decide
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// retryAfterDetail reads detail.retry_after_seconds of a 429 body.
func retryAfterDetail(detail json.RawMessage) time.Duration {
	if len(detail) == 0 || detail[0] != '{' {
		return 0
	}
	var d struct {
		RetryAfterSeconds float64 `json:"retry_after_seconds"`
	}
	if json.Unmarshal(detail, &d) != nil || d.RetryAfterSeconds <= 0 || d.RetryAfterSeconds > 24*3600 {
		return 0
	}
	return time.Duration(d.RetryAfterSeconds * float64(time.Second))
}

// detailText renders an error detail of any of the API's shapes.
func detailText(detail json.RawMessage) string {
	if len(detail) == 0 {
		return ""
	}
	switch detail[0] {
	case '"':
		var s string
		if json.Unmarshal(detail, &s) == nil {
			return s
		}
	case '[':
		var items []struct {
			Path      string          `json:"path"`
			Input     json.RawMessage `json:"input"`
			Message   string          `json:"message"`
			ErrorType string          `json:"error_type"`
		}
		if json.Unmarshal(detail, &items) == nil {
			parts := make([]string, 0, len(items))
			for _, it := range items {
				var p strings.Builder
				if it.Path != "" {
					p.WriteString(it.Path)
					p.WriteString(": ")
				}
				msg := it.Message
				if msg == "" {
					msg = it.ErrorType
				}
				p.WriteString(msg)
				if in := inputText(it.Input); in != "" {
					fmt.Fprintf(&p, " (input %s)", in)
				}
				parts = append(parts, p.String())
			}
			return strings.Join(parts, "; ")
		}
	case '{':
		var ra struct {
			RetryAfterSeconds *float64 `json:"retry_after_seconds"`
			Message           string   `json:"message"`
		}
		if json.Unmarshal(detail, &ra) == nil && (ra.RetryAfterSeconds != nil || ra.Message != "") {
			switch {
			case ra.RetryAfterSeconds == nil:
				return ra.Message
			case ra.Message == "":
				return fmt.Sprintf("retry after %vs", *ra.RetryAfterSeconds)
			default:
				return fmt.Sprintf("%s (retry after %vs)", ra.Message, *ra.RetryAfterSeconds)
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, detail) == nil {
		return truncate(buf.String(), 512)
	}
	return truncate(string(detail), 512)
}

// inputText renders a validation error's input: the contract says string,
// but FastAPI-style servers send the raw input value of any type.
func inputText(in json.RawMessage) string {
	if len(in) == 0 || bytes.Equal(in, []byte("null")) {
		return ""
	}
	if in[0] == '"' {
		var s string
		if json.Unmarshal(in, &s) == nil {
			return strconv.Quote(truncate(s, 200))
		}
	}
	return truncate(string(in), 200)
}

// bodyExcerpt returns the start of a non-JSON body (an HTML error page from
// a proxy, say) as one printable line.
func bodyExcerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return truncate(s, 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
