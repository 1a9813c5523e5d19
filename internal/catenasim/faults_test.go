package catenasim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestRateLimit(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{RateLimitEvery: 3, RetryAfter: 1500 * time.Millisecond}})
	var got []int
	for i := 0; i < 9; i++ {
		r := h.get(locPath)
		got = append(got, r.status)
		if r.status != 429 {
			continue
		}
		if ra := r.header.Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After = %q, want 2 (1.5s rounded up)", ra)
		}
		var body struct {
			Code    int
			Message string
			Detail  struct {
				RetryAfterSeconds *int    `json:"retry_after_seconds"`
				Message           *string `json:"message"`
			}
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Code != 429 || body.Message != "Too Many Requests" || body.Detail.RetryAfterSeconds == nil ||
			*body.Detail.RetryAfterSeconds != 2 || body.Detail.Message == nil {
			t.Fatalf("429 body %s", r.body)
		}
	}
	if want := []int{200, 200, 429, 200, 200, 429, 200, 200, 429}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	// The token endpoint is not counted.
	for i := 0; i < 5; i++ {
		h.fetchToken()
	}
	if st := h.s.Stats(); st.Faults[FaultRateLimit] != 3 || st.Requests[EndpointVehicleLocations] != 9 || st.Requests[EndpointToken] != 6 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerErrors(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{ServerErrorEvery: 2}})
	var got []int
	for i := 0; i < 8; i++ {
		r := h.get(locPath)
		got = append(got, r.status)
		switch r.status {
		case 500:
			if string(r.body) != `{"message":"Internal Server Error"}` {
				t.Fatalf("500 body %s", r.body)
			}
		case 502:
			if !strings.Contains(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("502 content type %q", r.header.Get("Content-Type"))
			}
		case 503:
			var b map[string]any
			if json.Unmarshal(r.body, &b) != nil || b["message"] == nil {
				t.Fatalf("503 body %s", r.body)
			}
		}
	}
	if want := []int{200, 500, 200, 502, 200, 503, 200, 500}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if n := h.s.Stats().Faults[FaultServerError]; n != 4 {
		t.Fatalf("server_error count %d", n)
	}
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Clock: NewManualClock(t0), Faults: Faults{Latency: 250 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if d := time.Since(start); d != 250*time.Millisecond || rec.Code != 200 {
			t.Fatalf("took %v (status %d), want 250ms", d, rec.Code)
		}
		// A cancelled request stops waiting.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil).WithContext(ctx))
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("cancelled request took %v", d)
		}
		if n := s.Stats().Faults[FaultLatency]; n != 2 {
			t.Fatalf("latency count %d", n)
		}
	})
}

func TestDuplicates(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{DuplicateEvery: 2}})
	v := h.s.Vehicles()[6]
	from, to := t0.Add(-2*time.Hour), t0
	items, totals, pages := h.all(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "10",
		"from_datetime", ts(from), "to_datetime", ts(to)))
	want := pointIDs(visiblePoints(h.s, v.ID, from, to, t0, false))
	got := ids(items)
	// Page n+1 repeats the last record of page n at every 2nd boundary.
	var dedup []string
	dups := 0
	for i, id := range got {
		if i > 0 && got[i-1] == id {
			dups++
			continue
		}
		dedup = append(dedup, id)
	}
	if !slices.Equal(dedup, want) {
		t.Fatalf("after removing repeats: %d ids, want %d", len(dedup), len(want))
	}
	if dups != (pages-1)/2 || dups == 0 {
		t.Fatalf("%d duplicates over %d pages, want %d", dups, pages, (pages-1)/2)
	}
	if totals[0] != int64(len(want)) {
		t.Fatalf("total %d counts duplicates", totals[0])
	}
	if n := h.s.Stats().Faults[FaultDuplicate]; n != int64(dups) {
		t.Fatalf("duplicate count %d, want %d", n, dups)
	}
	// The duplicate is exactly at the start of pages 3, 5, ...
	pg1 := h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "10", "from_datetime", ts(from), "to_datetime", ts(to)))
	pg2 := h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "10", "from_datetime", ts(from), "to_datetime", ts(to), "cursor", *pg1.NextPage))
	pg3 := h.getPage(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "size", "10", "from_datetime", ts(from), "to_datetime", ts(to), "cursor", *pg2.NextPage))
	if pg2.Items[0]["id"] == pg1.Items[9]["id"] || pg3.Items[0]["id"] != pg2.Items[9]["id"] {
		t.Fatal("duplicate not at the start of page 3")
	}
}

func TestMalformedCycle(t *testing.T) {
	s, _ := New(Config{Clock: NewManualClock(t0), Faults: Faults{MalformedEvery: 3}})
	for _, v := range s.Vehicles() {
		ps := s.Points(v.ID, t0.Add(-2*time.Hour), t0)
		var seq []string
		for i, p := range ps {
			bad := p.Malformed != "" || p.H3NullOnWire
			if bad {
				kind := p.Malformed
				if p.H3NullOnWire {
					kind = "h3_null"
					if p.Malformed != "" || p.H3 != 0 {
						t.Fatalf("h3 null point: %+v", p)
					}
				}
				seq = append(seq, kind)
				if i+3 < len(ps) && ps[i+3].Malformed == "" && !ps[i+3].H3NullOnWire {
					t.Fatalf("point %d malformed but point %d (3 later) is not", i, i+3)
				}
			}
		}
		if len(seq) < 20 {
			t.Fatalf("%d malformed of %d", len(seq), len(ps))
		}
		cycle := []string{MalformedMissingFleetID, MalformedCoordinates, MalformedInvalidH3, "h3_null"}
		start := slices.Index(cycle, seq[0])
		for i, k := range seq {
			if k != cycle[(start+i)%4] {
				t.Fatalf("kind %d = %s, want %s (cycle)", i, k, cycle[(start+i)%4])
			}
		}
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, Config{TokenTTL: time.Hour})
	for _, tc := range []struct {
		name, header string
	}{
		{"missing", ""},
		{"not bearer", "Basic ZGVtbzpkZW1v"},
		{"garbage", "Bearer abc"},
		{"tampered", "Bearer " + h.token[:len(h.token)-3] + "AAA"},
	} {
		req, _ := http.NewRequest("GET", h.ts.URL+locPath, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body["code"] != 401.0 || body["message"] != "Unauthorized" {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, body)
		}
		if d, _ := body["detail"].(string); strings.Contains(d, h.token[:20]) {
			t.Errorf("%s: token echoed in detail", tc.name)
		}
	}
	// Every API endpoint needs a token except GET /v2/orgs/invitations/{id}.
	for _, ep := range []struct{ method, path string }{
		{"GET", "/v2/telematics/vehicles"}, {"GET", "/v2/orgs/invitations"}, {"POST", "/v2/orgs/invitations"},
	} {
		if r := h.do(ep.method, ep.path, []byte(`{"fleet_ref":"x"}`), false); r.status != 401 {
			t.Errorf("%s %s without token: %d", ep.method, ep.path, r.status)
		}
	}
	// Expiry follows the simulator clock.
	h.clk.Advance(time.Hour - time.Second)
	if r := h.get(locPath); r.status != 200 {
		t.Fatalf("token rejected before expiry: %d", r.status)
	}
	h.clk.Advance(time.Second)
	if r := h.get(locPath); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	if n := h.s.Stats().Faults[FaultUnauthorized]; n != 8 {
		t.Fatalf("unauthorized count %d, want 8", n)
	}
	// A restarted simulator (same seed, same credentials) accepts earlier tokens.
	h2 := newHarness(t, Config{})
	h2.token = h.fetchToken()
	if r := h2.get(locPath); r.status != 200 {
		t.Fatalf("token of an identical server: %d", r.status)
	}
	h3 := newHarness(t, Config{ClientSecret: "other"})
	h3.token = h2.token
	if r := h3.get(locPath); r.status != 401 {
		t.Fatalf("token of a server with another secret: %d", r.status)
	}
}

func TestTokenEndpoint(t *testing.T) {
	h := newHarness(t, Config{ClientID: "cid", ClientSecret: "s3cr&t", TokenTTL: 2 * time.Hour})
	tokURL := h.ts.URL + "/realms/catena/protocol/openid-connect/token"
	post := func(form string, basic bool) (int, map[string]any) {
		req, _ := http.NewRequest("POST", tokURL, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("cid", "s3cr%26t") // RFC 6749: url-encoded inside Basic
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		d := json.NewDecoder(resp.Body)
		d.UseNumber()
		var m map[string]any
		d.Decode(&m)
		return resp.StatusCode, m
	}
	good := q("grant_type", "client_credentials", "client_id", "cid", "client_secret", "s3cr&t", "scope", "organization")
	for _, tc := range []struct {
		name, form string
		basic      bool
		status     int
		errCode    string
	}{
		{"form credentials", good, false, 200, ""},
		{"basic credentials", q("grant_type", "client_credentials", "scope", "organization"), true, 200, ""},
		{"scope defaults", q("grant_type", "client_credentials", "client_id", "cid", "client_secret", "s3cr&t"), false, 200, ""},
		{"wrong secret", q("grant_type", "client_credentials", "client_id", "cid", "client_secret", "nope", "scope", "organization"), false, 401, "invalid_client"},
		{"wrong id", q("grant_type", "client_credentials", "client_id", "x", "client_secret", "s3cr&t"), false, 401, "invalid_client"},
		{"no grant_type", q("client_id", "cid", "client_secret", "s3cr&t"), false, 400, "invalid_request"},
		{"password grant", q("grant_type", "password", "client_id", "cid", "client_secret", "s3cr&t"), false, 400, "unsupported_grant_type"},
		{"bad scope", q("grant_type", "client_credentials", "client_id", "cid", "client_secret", "s3cr&t", "scope", "openid"), false, 400, "invalid_scope"},
	} {
		status, m := post(tc.form, tc.basic)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, status, tc.status, m)
			continue
		}
		if tc.errCode != "" {
			if m["error"] != tc.errCode {
				t.Errorf("%s: error %v, want %s", tc.name, m["error"], tc.errCode)
			}
			if tc.errCode == "invalid_client" && m["error_description"] != "Invalid client or Invalid client credentials" {
				t.Errorf("%s: error_description %v", tc.name, m["error_description"])
			}
			continue
		}
		tok, _ := m["access_token"].(string)
		if m["token_type"] != "Bearer" || m["expires_in"] != json.Number("7200") || m["scope"] != Scope {
			t.Errorf("%s: token response %v", tc.name, m)
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("%s: token is not header.payload.sig", tc.name)
		}
		var claims struct {
			Exp int64  `json:"exp"`
			Sub string `json:"sub"`
		}
		raw, err := decodeSeg(parts[1])
		if err != nil || json.Unmarshal(raw, &claims) != nil {
			t.Fatalf("%s: payload: %v", tc.name, err)
		}
		if claims.Exp != t0.Add(2*time.Hour).Unix() || claims.Sub == "" {
			t.Errorf("%s: claims %+v", tc.name, claims)
		}
		if strings.Contains(string(raw), "s3cr") {
			t.Errorf("%s: secret in token", tc.name)
		}
	}
	if r := h.do("GET", "/realms/catena/protocol/openid-connect/token", nil, false); r.status != 405 {
		t.Errorf("GET token: %d", r.status)
	}
}

func TestRouting(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/v2/nope", 404},
		{"DELETE", "/v2/telematics/vehicle-locations", 405},
		{"POST", "/v2/telematics/vehicles", 405},
	} {
		r := h.do(tc.method, tc.path, nil, true)
		if r.status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.status, tc.status)
		}
		if tc.status != 200 {
			var b struct{ Code int }
			if json.Unmarshal(r.body, &b) != nil || b.Code != tc.status {
				t.Errorf("%s %s: body %s", tc.method, tc.path, r.body)
			}
		}
	}
	st := h.s.Stats()
	if st.Requests[EndpointHealthz] != 1 || st.Requests[EndpointOther] != 3 {
		t.Fatalf("stats %+v", st.Requests)
	}
}

func TestStatsServed(t *testing.T) {
	h := newHarness(t, Config{Faults: Faults{MalformedEvery: 2, LateEvery: 2}})
	pg := h.getPage(locPath + q("only_latest", "false", "vehicle_ids", h.s.Vehicles()[0].ID, "size", "100"))
	st := h.s.Stats()
	if st.LocationsServed != int64(len(pg.Items)) || st.Faults[FaultMalformed]+st.Faults[FaultH3Null] != 50 || st.Faults[FaultLateServed] != 50 {
		t.Fatalf("served %d, stats %+v", len(pg.Items), st)
	}
	_ = strconv.Itoa
}
