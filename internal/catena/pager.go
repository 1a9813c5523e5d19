package catena

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Page is one page of a cursor-paginated list.
type Page[T any] struct {
	Items []T
	// Total is the response's "total"; the contract does not say whether it
	// counts the page or the whole result set.
	Total int
	// Cursor is the cursor this page was requested with; "" for the first.
	Cursor string
	// NextPage is the cursor of the next page; "" on the last page (the API
	// sent null, nothing or "").
	NextPage string
}

// Pager walks a cursor-paginated list one page at a time, strictly in
// sequence. A Pager is not safe for concurrent use. Its memory grows by one
// cursor per page (the cursors it has seen, to detect loops).
type Pager[T any] struct {
	op    string
	fetch func(ctx context.Context, cursor string) (*Page[T], error)
	next  string
	seen  map[string]struct{}
	done  bool
	err   error       // sticky: invalid query or cursor loop
	scan  ItemScanner // location pages: reads the items as they are split
}

// ScanItems has the items of every page Next fetches from now on read by
// scan as the page is split (see ItemScanner); nil stops it. It applies to
// the pagers of location pages (Locations, LatestLocations, History) and
// is ignored by the others.
func (p *Pager[T]) ScanItems(scan ItemScanner) { p.scan = scan }

func newPager[T any](op, cursor string, err error, fetch func(context.Context, string) (*Page[T], error)) *Pager[T] {
	return &Pager[T]{op: op, fetch: fetch, next: cursor, err: err}
}

// Next returns the next page, or (nil, nil) after the last one.
//
// The first call requests the cursor the pager was created with. Each page's
// NextPage is sent as the cursor of the following call, with the same
// filters and size. A next_page equal to the cursor just sent, or to any
// cursor this pager already requested, is an error wrapping
// ErrCursorRepeated; that error, like an invalid query, is returned by every
// later call. Other errors (the request failed after its retries) are not
// sticky: calling Next again retries the same cursor.
func (p *Pager[T]) Next(ctx context.Context) (*Page[T], error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.done {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cur := p.next
	page, err := p.fetch(ctx, cur)
	if err != nil {
		return nil, fmt.Errorf("%s: fetch page %q: %w", p.op, cur, err)
	}
	page.Cursor = cur
	if page.NextPage == "" {
		p.done = true
		return page, nil
	}
	if p.seen == nil {
		p.seen = make(map[string]struct{})
	}
	p.seen[cur] = struct{}{}
	if _, ok := p.seen[page.NextPage]; ok {
		p.err = fmt.Errorf("%s: page %q returned next_page %q, which was already requested: %w",
			p.op, cur, page.NextPage, ErrCursorRepeated)
		return nil, p.err
	}
	p.next = page.NextPage
	return page, nil
}

// Cursor returns the cursor the next call to Next will request ("" before
// the first page of a pager started at the beginning, or after the last page).
func (p *Pager[T]) Cursor() string {
	if p.done {
		return ""
	}
	return p.next
}

// Done reports whether the last page has been returned.
func (p *Pager[T]) Done() bool { return p.done }

// envelope is _CursorPage_<Item>_. previous_page and the current page
// cursors are not needed to page forward and are not decoded.
type envelope[T any] struct {
	Items    []T     `json:"items"`
	Total    int     `json:"total"`
	NextPage *string `json:"next_page"`
}

var errNoItems = errors.New(`page envelope has no "items" array`)

// decodePage decodes a page envelope. Items of type json.RawMessage are
// copied out of body, which the caller may reuse afterwards.
func decodePage[T any](body []byte) (*Page[T], error) {
	var zero T
	if _, ok := any(zero).(json.RawMessage); ok {
		p, err := decodeRawPage(body)
		if err != nil {
			return nil, err
		}
		return any(p).(*Page[T]), nil
	}
	var env envelope[T]
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if env.Items == nil {
		// "items" is required: a missing array means this is not a page
		// (wrong URL, a proxy's answer), not an empty one.
		if !bytes.Contains(body, []byte(`"items"`)) {
			return nil, errNoItems
		}
		env.Items = []T{}
	}
	p := &Page[T]{Items: env.Items, Total: env.Total}
	if env.NextPage != nil {
		p.NextPage = *env.NextPage
	}
	return p, nil
}

// getPage fetches and decodes one page of a list endpoint.
func getPage[T any](ctx context.Context, c *Client, op, endpoint, query, cursor string) (*Page[T], error) {
	return fetchPage(ctx, c, op, endpoint, query, cursor, func(body []byte) (*Page[T], bool, error) {
		p, err := decodePage[T](body)
		return p, false, err
	})
}

// fetchPage fetches one page of a list endpoint and decodes it with decode,
// which reports whether the page keeps the body's memory (request.tookBody).
func fetchPage[T any](ctx context.Context, c *Client, op, endpoint, query, cursor string, decode func([]byte) (*Page[T], bool, error)) (*Page[T], error) {
	r := request{op: op, method: "GET", endpoint: endpoint, url: c.listURL(endpoint, query, cursor)}
	var page *Page[T]
	err := c.do(ctx, &r, func(_ int, body []byte) error {
		var err error
		page, r.tookBody, err = decode(body)
		return err
	})
	return page, err
}

// listURL builds the URL of a list request: the encoded filters, then the
// cursor.
func (c *Client) listURL(endpoint, query, cursor string) string {
	u := c.baseURL + endpoint
	if query != "" {
		u += "?" + query
	}
	if cursor != "" {
		if query == "" {
			u += "?"
		} else {
			u += "&"
		}
		u += "cursor=" + queryEscape(cursor)
	}
	return u
}
