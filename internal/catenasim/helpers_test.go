package catenasim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is a fixed "now" for tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	s     *Server
	clk   *ManualClock
	ts    *httptest.Server
	token string

	id, secret string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := NewManualClock(t0)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	h := &harness{t: t, s: s, clk: clk, ts: ts, id: s.cfg.ClientID, secret: s.cfg.ClientSecret}
	h.token = h.fetchToken()
	return h
}

func (h *harness) fetchToken() string {
	h.t.Helper()
	resp, err := http.PostForm(h.ts.URL+"/realms/catena/protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {h.id}, "client_secret": {h.secret}, "scope": {"organization"}})
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&tr) != nil || tr.AccessToken == "" {
		h.t.Fatalf("token: status %d", resp.StatusCode)
	}
	return tr.AccessToken
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// decode decodes the body generically, numbers as json.Number.
func (r response) decode(t *testing.T) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (h *harness) do(method, path string, body []byte, auth bool) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (h *harness) get(path string) response { h.t.Helper(); return h.do("GET", path, nil, true) }

// page is a decoded page envelope.
type page struct {
	Items                []map[string]any
	Total                int64
	CurrentPage          *string
	CurrentPageBackwards *string
	PreviousPage         *string
	NextPage             *string
}

func (h *harness) getPage(path string) page {
	h.t.Helper()
	r := h.get(path)
	if r.status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return decodePage(h.t, r.body)
}

func decodePage(t *testing.T, b []byte) page {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var raw struct {
		Items                []map[string]any `json:"items"`
		Total                *json.Number     `json:"total"`
		CurrentPage          *string          `json:"current_page"`
		CurrentPageBackwards *string          `json:"current_page_backwards"`
		PreviousPage         *string          `json:"previous_page"`
		NextPage             *string          `json:"next_page"`
	}
	if err := d.Decode(&raw); err != nil {
		t.Fatalf("decode page: %v", err)
	}
	if raw.Items == nil || raw.Total == nil {
		t.Fatalf("page without items or total: %s", b)
	}
	n, err := raw.Total.Int64()
	if err != nil || n < 0 {
		t.Fatalf("total = %v: not a non-negative integer", raw.Total)
	}
	return page{raw.Items, n, raw.CurrentPage, raw.CurrentPageBackwards, raw.PreviousPage, raw.NextPage}
}

// all follows next_page from path (which must not carry a cursor) and
// returns every item and the total of each page.
func (h *harness) all(path string) (items []map[string]any, totals []int64, pages int) {
	h.t.Helper()
	cur := ""
	seen := map[string]bool{}
	for {
		p := path
		if cur != "" {
			p += "&cursor=" + url.QueryEscape(cur)
		}
		pg := h.getPage(p)
		pages++
		items = append(items, pg.Items...)
		totals = append(totals, pg.Total)
		if pg.NextPage == nil || *pg.NextPage == "" {
			return
		}
		if seen[*pg.NextPage] {
			h.t.Fatalf("cursor %q repeated", *pg.NextPage)
		}
		seen[*pg.NextPage] = true
		cur = *pg.NextPage
		if pages > 10000 {
			h.t.Fatal("too many pages")
		}
	}
}

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["id"].(string)
	}
	return out
}

func pointIDs(ps []Point) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// visiblePoints is the expected history: Points filtered by visibility.
func visiblePoints(s *Server, vehicleID string, from, to, now time.Time, byDriver bool) []Point {
	var out []Point
	for _, p := range s.Points(vehicleID, from, to) {
		if !p.VisibleAt.After(now) && (!byDriver || p.DriverID != "") {
			out = append(out, p)
		}
	}
	return out
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func ts(t time.Time) string { return t.Format(time.RFC3339Nano) }

func decodeSeg(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func splitJWT(tok string) []string { return strings.Split(tok, ".") }

func containsInt(b []byte, n int64) bool {
	return strings.Contains(string(b), strconv.FormatInt(n, 10))
}
